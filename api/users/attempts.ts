/**
 * Counts attempts per key (email + client IP) in a fixed window, in a bounded LRU map: the least
 * recently touched key is dropped when full. Per process: each API replica counts on its own, so
 * N replicas allow up to N times the budget (the per-key API rate limit still applies).
 */
export class AttemptLimiter {
  private readonly entries = new Map<string, { count: number; windowStart: number }>();

  constructor(private readonly opts: { max: number; windowMs: number; capacity: number; now?: () => number }) {}

  private now() {
    return this.opts.now?.() ?? Date.now();
  }

  private live(key: string) {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (this.now() - entry.windowStart >= this.opts.windowMs) {
      this.entries.delete(key);
      return undefined;
    }
    return entry;
  }

  /** Seconds until `key` may try again, or 0 when it may now. */
  blockedFor(key: string): number {
    const entry = this.live(key);
    if (!entry || entry.count < this.opts.max) return 0;
    return Math.max(1, Math.ceil((entry.windowStart + this.opts.windowMs - this.now()) / 1000));
  }

  /** Counts one attempt against `key`. */
  hit(key: string): void {
    const entry = this.live(key) ?? { count: 0, windowStart: this.now() };
    entry.count += 1;
    this.entries.delete(key);
    this.entries.set(key, entry);
    while (this.entries.size > this.opts.capacity) {
      const oldest = this.entries.keys().next().value;
      if (oldest === undefined) break;
      this.entries.delete(oldest);
    }
  }

  clear(key: string): void {
    this.entries.delete(key);
  }
}
