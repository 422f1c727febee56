// In-process accounting of transfers into import staging (uploads, link fetches, attachments): at most
// N at once per user, and the bytes they have written so far (not yet in the database's byte_size), so
// the staged-bytes quotas also cover transfers still in progress.
import { QuotaExceeded } from "../storage/quotas.js";

export interface StagingSlot {
  /** Counts bytes as they arrive. */
  add(n: number): void;
  release(): void;
}

export class StagingSlots {
  private readonly active = new Map<string, Set<{ bytes: number }>>();

  constructor(private readonly perUser: number) {}

  /** Takes a slot for `owner` or throws QuotaExceeded. */
  acquire(owner: string): StagingSlot {
    const mine = this.active.get(owner) ?? new Set();
    if (mine.size >= this.perUser) {
      throw new QuotaExceeded(
        `you already have ${mine.size} transfers in progress (the limit is ${this.perUser}); ` +
          "wait for them to finish and try again",
      );
    }
    const entry = { bytes: 0 };
    mine.add(entry);
    this.active.set(owner, mine);
    let released = false;
    return {
      add: (n) => {
        entry.bytes += n;
      },
      release: () => {
        if (released) return;
        released = true;
        mine.delete(entry);
        if (mine.size === 0) this.active.delete(owner);
      },
    };
  }

  /** Bytes in flight for one owner, or for every owner on a host. */
  inFlight(who: { owner: string } | { host: string }): number {
    let total = 0;
    for (const [owner, set] of this.active) {
      const match = "owner" in who ? owner === who.owner : owner.endsWith(`@${who.host}`);
      if (match) for (const e of set) total += e.bytes;
    }
    return total;
  }
}
