// Admission of inbound moved notices. Verifying one costs a statement fetch from another server, so
// each notice is charged on arrival to two token buckets, its sender's bare JID and (sender domain,
// local user), and refunded when it verifies: only failing notices use up an allowance. A forger
// empties its own buckets and those of the users it targets, never another sender's or another user's,
// and a burst of genuine notices (a provider closing down) is never throttled for long: a notice whose
// buckets are empty waits, in order, for a refund or a refill, up to a deadline. A notice still not
// admitted then is delivered to the user unchanged (the module does that), so nothing is lost.
// FetchSlots caps the statement fetches running at once, across all senders.

export interface BucketOptions {
  /** Tokens a key starts with and can save up. */
  burst: number;
  /** Tokens added per minute. */
  perMinute: number;
}

export interface AdmissionOptions {
  perSender: BucketOptions;
  perDomainUser: BucketOptions;
  /** Notices waiting for a token at once; beyond that they are not admitted at once. */
  maxWaiting: number;
  now?: () => number;
  /** Bound on tracked keys per bucket set (least recently used are forgotten: full again). */
  maxKeys?: number;
}

/** Token buckets by key, refilled continuously. */
export class TokenBuckets {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    private readonly o: BucketOptions & { maxKeys?: number },
    private readonly now: () => number,
  ) {}

  private bucket(key: string): { tokens: number; at: number } {
    const now = this.now();
    const b = this.buckets.get(key) ?? { tokens: this.o.burst, at: now };
    b.tokens = Math.min(this.o.burst, b.tokens + ((now - b.at) * this.o.perMinute) / 60_000);
    b.at = now;
    this.buckets.delete(key);
    this.buckets.set(key, b); // most recently used last
    if (this.buckets.size > (this.o.maxKeys ?? 10_000)) {
      const oldest = this.buckets.keys().next().value;
      if (oldest !== undefined) this.buckets.delete(oldest);
    }
    return b;
  }

  tokens(key: string): number {
    return this.bucket(key).tokens;
  }

  take(key: string): void {
    this.bucket(key).tokens -= 1;
  }

  give(key: string): void {
    const b = this.bucket(key);
    b.tokens = Math.min(this.o.burst, b.tokens + 1);
  }

  /** Milliseconds until `key` has a whole token again. */
  msUntilToken(key: string): number {
    const missing = 1 - this.bucket(key).tokens;
    return missing <= 0 ? 0 : Math.ceil((missing * 60_000) / this.o.perMinute);
  }
}

export interface NoticeKeys {
  /** Sender's bare JID. */
  sender: string;
  /** Sender's domain. */
  domain: string;
  /** Local user (bare JID). */
  user: string;
}

/** Held while a notice is verified; refund() when it verified. */
export interface Ticket {
  refund(): void;
}

interface Waiter {
  keys: NoticeKeys;
  resolve: (t: Ticket | null) => void;
  timer: NodeJS.Timeout;
}

export class NoticeAdmission {
  private readonly senders: TokenBuckets;
  private readonly domainUsers: TokenBuckets;
  private readonly waiting: Waiter[] = [];
  private wakeTimer: NodeJS.Timeout | null = null;

  constructor(private readonly o: AdmissionOptions) {
    const now = o.now ?? Date.now;
    this.senders = new TokenBuckets({ ...o.perSender, maxKeys: o.maxKeys }, now);
    this.domainUsers = new TokenBuckets({ ...o.perDomainUser, maxKeys: o.maxKeys }, now);
  }

  private tryTake(k: NoticeKeys): Ticket | null {
    const du = `${k.domain} ${k.user}`;
    if (this.senders.tokens(k.sender) < 1 || this.domainUsers.tokens(du) < 1) return null;
    this.senders.take(k.sender);
    this.domainUsers.take(du);
    let refunded = false;
    return {
      refund: () => {
        if (refunded) return;
        refunded = true;
        this.senders.give(k.sender);
        this.domainUsers.give(du);
        this.wake();
      },
    };
  }

  /** Charges the notice's buckets now, or waits up to `waitMs` for them; null when not admitted. */
  admit(keys: NoticeKeys, waitMs: number): Promise<Ticket | null> {
    const now = this.tryTake(keys);
    if (now) return Promise.resolve(now);
    if (waitMs <= 0 || this.waiting.length >= this.o.maxWaiting) return Promise.resolve(null);
    return new Promise((resolve) => {
      const w: Waiter = {
        keys,
        resolve,
        timer: setTimeout(() => {
          this.waiting.splice(this.waiting.indexOf(w), 1);
          resolve(null);
        }, waitMs),
      };
      this.waiting.push(w);
      this.wake();
    });
  }

  /** Admits waiters in order where their buckets allow (a waiter blocked on its keys does not block others). */
  private wake(): void {
    for (const w of [...this.waiting]) {
      const t = this.tryTake(w.keys);
      if (!t) continue;
      this.waiting.splice(this.waiting.indexOf(w), 1);
      clearTimeout(w.timer);
      w.resolve(t);
    }
    if (this.wakeTimer) clearTimeout(this.wakeTimer);
    this.wakeTimer = null;
    if (this.waiting.length === 0) return;
    // Refills are continuous: look again when the soonest waiter's buckets hold a token.
    const ms = Math.min(
      ...this.waiting.map((w) =>
        Math.max(
          this.senders.msUntilToken(w.keys.sender),
          this.domainUsers.msUntilToken(`${w.keys.domain} ${w.keys.user}`),
        ),
      ),
    );
    if (!Number.isFinite(ms)) return; // no refill: only a refund can admit them
    this.wakeTimer = setTimeout(() => this.wake(), Math.max(ms, 10));
    this.wakeTimer.unref();
  }

  /** Notices waiting for a token. */
  get waitingCount(): number {
    return this.waiting.length;
  }
}

/** At most `size` holders at once; others wait in order, up to a deadline. */
export class FetchSlots {
  private used = 0;
  private readonly queue: { grant: () => void }[] = [];

  constructor(private readonly size: number) {}

  /** A release function, or null when no slot freed up within `waitMs`. */
  acquire(waitMs: number): Promise<(() => void) | null> {
    const release = (): void => {
      const next = this.queue.shift();
      if (next) next.grant();
      else this.used--;
    };
    if (this.used < this.size) {
      this.used++;
      return Promise.resolve(once(release));
    }
    return new Promise((resolve) => {
      const entry = {
        grant: () => {
          clearTimeout(timer);
          resolve(once(release));
        },
      };
      const timer = setTimeout(() => {
        this.queue.splice(this.queue.indexOf(entry), 1);
        resolve(null);
      }, waitMs);
      this.queue.push(entry);
    });
  }
}

function once(f: () => void): () => void {
  let done = false;
  return () => {
    if (done) return;
    done = true;
    f();
  };
}
