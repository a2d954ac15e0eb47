/**
 * GHL's per-location limits: a burst of N requests per interval (sliding window, so 150 requests
 * in 10 s get exactly 100 answers) and a daily cap. Rejected requests do not consume quota.
 */
export interface RateLimits {
  burst: number;
  intervalMs: number;
  daily: number;
}
export const defaultLimits: RateLimits = { burst: 100, intervalMs: 10_000, daily: 200_000 };

interface Bucket {
  /** Accepted request times, oldest first; `head` skips expired ones without shifting. */
  times: number[];
  head: number;
  day: number;
  dailyUsed: number;
}

export interface RateDecision {
  allowed: boolean;
  headers: Record<string, string>;
}

export class RateLimiter {
  private buckets = new Map<string, Bucket>();
  limits: RateLimits = { ...defaultLimits };

  check(key: string, now = Date.now()): RateDecision {
    const { burst, intervalMs, daily } = this.limits;
    const day = Math.floor(now / 86_400_000); // UTC day number; the daily quota resets at midnight UTC
    let b = this.buckets.get(key);
    if (!b) {
      b = { times: [], head: 0, day, dailyUsed: 0 };
      this.buckets.set(key, b);
    }
    if (b.day !== day) {
      b.day = day;
      b.dailyUsed = 0;
    }
    while (b.head < b.times.length && b.times[b.head]! <= now - intervalMs) b.head++;
    if (b.head > 1024) {
      b.times = b.times.slice(b.head);
      b.head = 0;
    }
    const inWindow = b.times.length - b.head;
    const allowed = inWindow < burst && b.dailyUsed < daily;
    if (allowed) {
      b.times.push(now);
      b.dailyUsed++;
    }
    return {
      allowed,
      headers: {
        'x-ratelimit-max': String(burst),
        'x-ratelimit-remaining': String(Math.max(0, burst - (inWindow + (allowed ? 1 : 0)))),
        'x-ratelimit-interval-milliseconds': String(intervalMs),
        'x-ratelimit-limit-daily': String(daily),
        'x-ratelimit-daily-remaining': String(Math.max(0, daily - b.dailyUsed)),
      },
    };
  }

  reset(): void {
    this.buckets.clear();
    this.limits = { ...defaultLimits };
  }
}
