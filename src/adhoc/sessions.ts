// Ad-hoc command sessions (XEP-0050 §3): bound to the requester's full JID ("valid only between one
// requester/responder pair"), expiring, with a short-lived tombstone so a late request on a finished
// or timed-out session gets session-expired instead of bad-sessionid.
import { randomBytes } from "node:crypto";

export type Lookup<S> = { ok: true; state: S } | { ok: false; reason: "bad-sessionid" | "session-expired" };

interface Entry<S> {
  owner: string;
  node: string;
  state: S;
  expiresAt: number;
}

export interface SessionStoreOptions {
  ttlMs: number;
  /** Injectable clock for tests. */
  now?: () => number;
  /** Bound on live sessions, so a client cannot exhaust memory. */
  maxSessions?: number;
}

export class SessionStore<S> {
  private readonly live = new Map<string, Entry<S>>();
  private readonly ended = new Map<string, { owner: string; until: number }>();
  private readonly now: () => number;
  private readonly max: number;

  constructor(private readonly opts: SessionStoreOptions) {
    this.now = opts.now ?? Date.now;
    this.max = opts.maxSessions ?? 10_000;
  }

  create(owner: string, node: string, state: S): string {
    this.sweep();
    if (this.live.size >= this.max) {
      // Drop the oldest session rather than refuse: the newest request is the one a person is looking at.
      const oldest = this.live.keys().next().value;
      if (oldest !== undefined) this.end(oldest);
    }
    const id = `${node}:${randomBytes(12).toString("base64url")}`;
    this.live.set(id, { owner, node, state, expiresAt: this.now() + this.opts.ttlMs });
    return id;
  }

  get(id: string, requester: string, node: string): Lookup<S> {
    const e = this.live.get(id);
    if (e) {
      if (e.owner !== requester || e.node !== node) return { ok: false, reason: "bad-sessionid" };
      if (e.expiresAt <= this.now()) {
        this.end(id);
        return { ok: false, reason: "session-expired" };
      }
      return { ok: true, state: e.state };
    }
    const t = this.ended.get(id);
    if (t && t.owner === requester && t.until > this.now()) return { ok: false, reason: "session-expired" };
    return { ok: false, reason: "bad-sessionid" };
  }

  update(id: string, state: S): void {
    const e = this.live.get(id);
    if (!e) return;
    e.state = state;
    e.expiresAt = this.now() + this.opts.ttlMs;
  }

  end(id: string): void {
    const e = this.live.get(id);
    if (!e) return;
    this.live.delete(id);
    this.ended.set(id, { owner: e.owner, until: this.now() + this.opts.ttlMs });
  }

  get size(): number {
    return this.live.size;
  }

  private sweep(): void {
    const now = this.now();
    for (const [id, e] of this.live) if (e.expiresAt <= now) this.end(id);
    for (const [id, t] of this.ended) if (t.until <= now) this.ended.delete(id);
  }
}
