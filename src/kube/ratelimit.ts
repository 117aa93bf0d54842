// Client-side rate limit of the operator's requests to the API server, like client-go's
// token bucket (rest.Config QPS and Burst): up to `burst` requests at once, then `qps`
// per second on average. Callers wait their turn in order, those of low-priority work
// (requestPriority) after the others; nothing is dropped.
//
// Leader election does not go through it (as in client-go, where the Lease has a client
// of its own), so a busy controller can never make the leader miss its renewal.
import { AsyncLocalStorage } from "node:async_hooks";
import { systemClock, type Clock, type TimerHandle } from "../clock.ts";

export interface RateLimiter {
  /**
   * Resolves when the caller may send one request, with how long it waited in ms.
   * Rejects with the signal's reason when `signal` aborts first (the token is given back).
   */
  acquire(signal?: AbortSignal): Promise<number>;
}

/** No limit. */
export const unlimited: RateLimiter = { acquire: () => Promise.resolve(0) };

/**
 * The priority of the requests made in the current async context: a reconcile runs in the
 * priority its work-queue key was taken at (operator/workers.ts), and its requests wait for
 * the rate limit behind those of higher-priority work. Requests outside any reconcile (the
 * informers' lists and watches) are normal.
 */
export const requestPriority = new AsyncLocalStorage<RequestPriority>();

/** The work queue's priorities (controller/queue.ts), which this layer does not import. */
export type RequestPriority = "high" | "normal" | "low";

/** Highest first: the order waiters are served in. */
const ORDER: readonly RequestPriority[] = ["high", "normal", "low"];

interface Waiter {
  since: number;
  resolve: (waitMs: number) => void;
  /** Removes its abort listener once it has its token. */
  settled?: () => void;
}

export class TokenBucket implements RateLimiter {
  readonly qps: number;
  readonly burst: number;
  readonly #clock: Clock;
  /** Tokens available at #last (fractional between refills). */
  #tokens: number;
  #last: number;
  /**
   * Callers waiting for a token, in order, by priority: one is served before any of a lower
   * priority, whenever it came. With 1000 rollouts writing their progress, a user's change
   * still gets the next token.
   */
  readonly #waiting: Record<RequestPriority, Waiter[]> = { high: [], normal: [], low: [] };
  #timer: TimerHandle | undefined;

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
    return this.#tokens - this.#queued();
  }

  acquire(signal?: AbortSignal): Promise<number> {
    if (signal?.aborted) return Promise.reject(signal.reason as Error);
    this.#refill();
    if (this.#queued() === 0 && this.#tokens >= 1) {
      this.#tokens -= 1;
      return Promise.resolve(0);
    }
    const list = this.#waiting[requestPriority.getStore() ?? "normal"];
    return new Promise((resolve, reject) => {
      const waiter: Waiter = { since: this.#clock.now(), resolve };
      list.push(waiter);
      if (signal) {
        const onAbort = () => {
          const i = list.indexOf(waiter);
          if (i >= 0) list.splice(i, 1);
          reject(signal.reason as Error);
        };
        signal.addEventListener("abort", onAbort, { once: true });
        waiter.settled = () => signal.removeEventListener("abort", onAbort);
      }
      this.#schedule();
    });
  }

  #queued(): number {
    return ORDER.reduce((n, p) => n + this.#waiting[p].length, 0);
  }

  /** One timer for the next token while anyone waits. */
  #schedule(): void {
    if (this.#timer !== undefined || this.#queued() === 0) return;
    const waitMs = Math.max(0, Math.ceil(((1 - this.#tokens) / this.qps) * 1000));
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = undefined;
      this.#grant();
      this.#schedule();
    }, waitMs);
  }

  #grant(): void {
    this.#refill();
    // Float sums of the refill may land a hair below a whole token at the time it is due.
    while (this.#tokens >= 1 - 1e-9) {
      const first = ORDER.find((p) => this.#waiting[p].length > 0);
      if (first === undefined) return;
      const waiter = this.#waiting[first].shift()!;
      this.#tokens -= 1;
      waiter.settled?.();
      waiter.resolve(this.#clock.now() - waiter.since);
    }
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
