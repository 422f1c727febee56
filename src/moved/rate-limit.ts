// Token bucket per key (sender domain), charged only for notices that fail verification: a domain
// sending forged or stale notices costs at most `burst` roster reads and PEP fetches, then `perMinute`,
// while genuine moves (a whole provider closing down) are never throttled. Dropping a notice loses
// nothing: the user's client still receives the subscription request.
export interface RateLimiterOptions {
  burst: number;
  perMinute: number;
  now?: () => number;
  /** Bound on tracked keys. */
  maxKeys?: number;
}

export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  private readonly now: () => number;

  constructor(private readonly o: RateLimiterOptions) {
    this.now = o.now ?? Date.now;
  }

  private bucket(key: string): { tokens: number; at: number } {
    const now = this.now();
    const refill = this.o.perMinute / 60_000;
    const b = this.buckets.get(key) ?? { tokens: this.o.burst, at: now };
    b.tokens = Math.min(this.o.burst, b.tokens + (now - b.at) * refill);
    b.at = now;
    this.buckets.delete(key);
    this.buckets.set(key, b); // most recently used last
    if (this.buckets.size > (this.o.maxKeys ?? 10_000)) {
      const oldest = this.buckets.keys().next().value;
      if (oldest !== undefined) this.buckets.delete(oldest);
    }
    return b;
  }

  /** False while `key` has used up its allowance. */
  allows(key: string): boolean {
    return this.bucket(key).tokens >= 1;
  }

  /** Spends one token of `key` (a notice from it was rejected). */
  charge(key: string): void {
    const b = this.bucket(key);
    b.tokens = Math.max(0, b.tokens - 1);
  }
}
