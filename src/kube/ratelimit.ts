// Client-side rate limit of the operator's requests to the API server, like client-go's
// token bucket (rest.Config QPS and Burst): up to `burst` requests at once, then `qps`
// per second on average. Callers wait their turn in order; nothing is dropped.
//
// Leader election does not go through it (as in client-go, where the Lease has a client
// of its own), so a busy controller can never make the leader miss its renewal.
import { systemClock, type Clock } from "../clock.ts";

export interface RateLimiter {
  /**
   * Resolves when the caller may send one request, with how long it waited in ms.
   * Rejects with the signal's reason when `signal` aborts first (the token is given back).
   */
  acquire(signal?: AbortSignal): Promise<number>;
}

/** No limit. */
export const unlimited: RateLimiter = { acquire: () => Promise.resolve(0) };

export class TokenBucket implements RateLimiter {
  readonly qps: number;
  readonly burst: number;
  readonly #clock: Clock;
  /** Tokens available at #last; negative when callers are waiting for future tokens. */
  #tokens: number;
  #last: number;

  constructor(qps: number, burst: number, clock: Clock = systemClock) {
    if (!(qps > 0) || !Number.isFinite(qps)) throw new RangeError("qps must be a number > 0");
    if (!Number.isInteger(burst) || burst < 1) throw new RangeError("burst must be an integer >= 1");
    this.qps = qps;
    this.burst = burst;
    this.#clock = clock;
    this.#tokens = burst;
    this.#last = clock.now();
  }

  /** Tokens available now (negative: requests are waiting). */
  available(): number {
    this.#refill();
    return this.#tokens;
  }

  acquire(signal?: AbortSignal): Promise<number> {
    if (signal?.aborted) return Promise.reject(signal.reason as Error);
    this.#refill();
    this.#tokens -= 1;
    if (this.#tokens >= 0) return Promise.resolve(0);
    const waitMs = Math.ceil((-this.#tokens / this.qps) * 1000);
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        this.#clock.clearTimeout(timer);
        this.#tokens += 1;
        reject(signal?.reason as Error);
      };
      const timer = this.#clock.setTimeout(() => {
        signal?.removeEventListener("abort", onAbort);
        resolve(waitMs);
      }, waitMs);
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  #refill(): void {
    const now = this.#clock.now();
    const elapsed = Math.max(0, now - this.#last);
    this.#last = now;
    this.#tokens = Math.min(this.burst, this.#tokens + (elapsed * this.qps) / 1000);
  }
}

/** `limiter`, telling `onWait` how long each request waited for its turn (ms; 0: at once). */
export function observedRateLimiter(limiter: RateLimiter, onWait: (waitMs: number) => void): RateLimiter {
  return {
    acquire: async (signal) => {
      const waitMs = await limiter.acquire(signal);
      onWait(waitMs);
      return waitMs;
    },
  };
}

/** A TokenBucket, or no limit when qps is 0. */
export function rateLimiter(qps: number, burst: number, clock?: Clock): RateLimiter {
  return qps === 0 ? unlimited : new TokenBucket(qps, burst, clock);
}
