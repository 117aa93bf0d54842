// A work queue of string keys (`namespace/name`), with the semantics of client-go's
// workqueue: a key waiting to be processed is queued once however often it is added, a
// key is never processed by two workers at once (added while it is being processed, it
// runs again afterwards), delayed adds keep the earliest time asked for, and failures
// are retried with per-key exponential backoff.
//
// Keys have one of three priorities, and a key is handed out only when no key of a higher
// one waits. "high": a change a user just made (a new spec, an action): acknowledged first
// even while a thousand rollouts write their progress, which is "normal" (their children's
// events, their checks' decisions). "low": the informers' first list and periodic relists
// add every object's key at once (10,000 at 10,000 ModelDeployments), and neither kind may
// wait behind them. A key added at a higher priority while it waits moves up; never down.
// At most maxLowInFlight low keys are processed at once, so that workers stay free for a
// change that comes while thousands of low keys wait, and the API requests of the low
// keys' reconciles do not fill the client-side rate limit that a change's requests queue in.
// And reservedForHigh workers take only high keys: with a thousand rollouts' progress
// waiting, every other worker may be in a reconcile that waits on the API server, and a
// change would wait for one of them to finish before it even starts.
//
// The clock and timers are injected, so tests can drive time by hand.

import { systemClock, type Clock, type TimerHandle } from "../clock.ts";

/** Called as the queue changes; metrics.ts turns these into Prometheus series. */
export interface QueueObserver {
  /** A key was put on the queue (not counted: adds of a key that was already waiting). */
  added?(key: string): void;
  /** addRateLimited was called for a key. */
  retried?(key: string): void;
  /** The number of keys waiting to be processed changed. */
  depthChanged?(depth: number): void;
}

export interface QueueOptions {
  clock?: Clock;
  /** First retry delay of addRateLimited (default 5 ms); doubles with every failure. */
  baseDelayMs?: number;
  /** Longest retry delay of addRateLimited (default 5 minutes). */
  maxDelayMs?: number;
  observer?: QueueObserver;
  /** A handler given to run() threw or rejected; the key has been re-added with addRateLimited. */
  onHandlerError?: (key: string, err: unknown) => void;
  /** Low-priority keys processed at once, at most (default: no limit but the workers). */
  maxLowInFlight?: number;
  /**
   * Workers kept for high-priority keys (default 0): at most `workers - reservedForHigh`
   * normal and low keys are processed at once. Must be less than the workers given to run().
   */
  reservedForHigh?: number;
}

export interface QueueStats {
  /** Keys waiting to be processed now. */
  depth: number;
  /** Keys being processed by a worker. */
  processing: number;
  /** Keys scheduled by addAfter / addRateLimited that are not due yet. */
  delayed: number;
  /** Keys put on the queue since it was created (deduplicated adds not counted). */
  adds: number;
  /** addRateLimited calls since the queue was created. */
  retries: number;
}

export type KeyHandler = (key: string) => Promise<void>;

/**
 * "high": a user's change; "normal": a rollout's progress; "low": a relist's keys. A key is
 * taken only when no key of a higher priority waits (see the top of this file).
 */
export type Priority = "high" | "normal" | "low";

/** The priorities, highest first. */
export const PRIORITIES: readonly Priority[] = ["high", "normal", "low"];

/** Is `a` a higher priority than `b`? */
export function higherPriority(a: Priority, b: Priority): boolean {
  return PRIORITIES.indexOf(a) < PRIORITIES.indexOf(b);
}

/** Resolves after the event loop's pending I/O callbacks and timers due now have run. */
function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

export const DEFAULT_BASE_DELAY_MS = 5;
export const DEFAULT_MAX_DELAY_MS = 5 * 60_000;

/** First-in first-out list of keys with O(1) push and shift. */
class Fifo {
  #items: string[] = [];
  #head = 0;
  get length(): number {
    return this.#items.length - this.#head;
  }
  push(key: string): void {
    this.#items.push(key);
  }
  shift(): string | undefined {
    if (this.#head >= this.#items.length) return undefined;
    const key = this.#items[this.#head++];
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return key;
  }
  clear(): void {
    this.#items = [];
    this.#head = 0;
  }
}

export class WorkQueue {
  readonly #clock: Clock;
  readonly #baseDelayMs: number;
  readonly #maxDelayMs: number;
  readonly #observer: QueueObserver;
  readonly #onHandlerError: ((key: string, err: unknown) => void) | undefined;

  /**
   * Keys ready to be handed to a worker, in order, by priority. An entry is current while
   * #queued has the key at that priority; a key that moved up leaves a stale entry in the
   * lower list, skipped when it comes up.
   */
  readonly #lists: Record<Priority, Fifo> = { high: new Fifo(), normal: new Fifo(), low: new Fifo() };
  /** Keys in a list, and at which priority: the queue's depth. */
  readonly #queued = new Map<string, Priority>();
  /**
   * Keys that need processing, and their priority: queued, or added again while being
   * processed (queued when their worker is done).
   */
  readonly #dirty = new Map<string, Priority>();
  /** The keys being processed, and the priority each was taken at. */
  readonly #processing = new Map<string, Priority>();
  /** How many of them were taken as low priority. */
  #processingLow = 0;
  readonly #maxLowInFlight: number;
  /** How many were taken as normal or low priority, and how many may be (set by run()). */
  #processingBelowHigh = 0;
  #maxBelowHighInFlight = Infinity;
  readonly #reservedForHigh: number;
  /** Delayed adds: when each key is due and its timer. */
  readonly #delayed = new Map<string, { at: number; timer: TimerHandle }>();
  readonly #failures = new Map<string, number>();
  /** Workers waiting for a key. */
  readonly #idle: ((key: string | undefined) => void)[] = [];
  #shuttingDown = false;
  #workers: Promise<void> | undefined;
  #adds = 0;
  #retries = 0;

  constructor(options: QueueOptions = {}) {
    this.#clock = options.clock ?? systemClock;
    this.#baseDelayMs = options.baseDelayMs ?? DEFAULT_BASE_DELAY_MS;
    this.#maxDelayMs = options.maxDelayMs ?? DEFAULT_MAX_DELAY_MS;
    this.#observer = options.observer ?? {};
    this.#onHandlerError = options.onHandlerError;
    this.#maxLowInFlight = options.maxLowInFlight ?? Infinity;
    if (!(this.#maxLowInFlight >= 1)) throw new RangeError("maxLowInFlight must be >= 1");
    this.#reservedForHigh = options.reservedForHigh ?? 0;
    if (!Number.isInteger(this.#reservedForHigh) || this.#reservedForHigh < 0) {
      throw new RangeError("reservedForHigh must be an integer >= 0");
    }
    if (!(this.#baseDelayMs > 0)) throw new RangeError("baseDelayMs must be > 0");
    if (!(this.#maxDelayMs >= this.#baseDelayMs)) throw new RangeError("maxDelayMs must be >= baseDelayMs");
  }

  /**
   * Queues `key` now. A key that is already waiting is not queued twice (an add at a higher
   * priority than the one it waits at moves it up). Ignored after shutdown().
   */
  add(key: string, priority: Priority = "normal"): void {
    if (this.#shuttingDown) return;
    const waiting = this.#dirty.get(key);
    if (waiting !== undefined) {
      if (higherPriority(priority, waiting)) {
        this.#dirty.set(key, priority);
        if (this.#queued.has(key)) this.#enqueue(key, priority);
        this.#dispatch();
      }
      return;
    }
    this.#dirty.set(key, priority);
    this.#adds++;
    this.#observer.added?.(key);
    // A key being processed is queued again when its worker is done with it.
    if (this.#processing.has(key)) return;
    this.#enqueue(key, priority);
    this.#dispatch();
  }

  /**
   * Queues `key` after `ms` milliseconds. When the key is already scheduled, the earlier
   * of the two times wins. `ms <= 0` is add(key).
   */
  addAfter(key: string, ms: number): void {
    if (this.#shuttingDown) return;
    if (!(ms > 0)) {
      this.add(key);
      return;
    }
    const at = this.#clock.now() + ms;
    const pending = this.#delayed.get(key);
    if (pending) {
      if (pending.at <= at) return;
      this.#clock.clearTimeout(pending.timer);
    }
    const timer = this.#clock.setTimeout(() => {
      const current = this.#delayed.get(key);
      if (current?.timer !== timer) return;
      this.#delayed.delete(key);
      this.add(key);
    }, ms);
    this.#delayed.set(key, { at, timer });
  }

  /**
   * Queues `key` after its backoff: baseDelayMs * 2^n, n being the number of times it was
   * retried since the last forget(key), capped at maxDelayMs.
   */
  addRateLimited(key: string): void {
    if (this.#shuttingDown) return;
    const delay = this.backoffMs(key);
    this.#failures.set(key, this.numRequeues(key) + 1);
    this.#retries++;
    this.#observer.retried?.(key);
    this.addAfter(key, delay);
  }

  /** The delay the next addRateLimited(key) will use. */
  backoffMs(key: string): number {
    const n = this.numRequeues(key);
    return Math.min(this.#maxDelayMs, this.#baseDelayMs * 2 ** Math.min(n, 64));
  }

  /** Resets the backoff of `key` (call after it was processed successfully). */
  forget(key: string): void {
    this.#failures.delete(key);
  }

  /** How many times addRateLimited was called for `key` since its last forget. */
  numRequeues(key: string): number {
    return this.#failures.get(key) ?? 0;
  }

  /** The priority `key` was taken at, while a worker processes it; undefined when it is not being processed. */
  processingPriority(key: string): Priority | undefined {
    return this.#processing.get(key);
  }

  get depth(): number {
    return this.#queued.size;
  }

  get shuttingDown(): boolean {
    return this.#shuttingDown;
  }

  stats(): QueueStats {
    return {
      depth: this.#queued.size,
      processing: this.#processing.size,
      delayed: this.#delayed.size,
      adds: this.#adds,
      retries: this.#retries,
    };
  }

  /**
   * Starts `workers` concurrent workers that take keys and call `handler`. A handler that
   * throws or rejects gets its key re-added with addRateLimited (and onHandlerError is
   * called); otherwise the handler decides itself: forget(key) on success, addAfter for a
   * planned wait, addRateLimited for an error it caught. Resolves when the workers have
   * stopped, after shutdown().
   */
  run(workers: number, handler: KeyHandler): Promise<void> {
    if (!Number.isInteger(workers) || workers < 1) throw new RangeError("workers must be an integer >= 1");
    if (this.#workers) throw new Error("the queue is already running");
    if (this.#reservedForHigh >= workers) {
      throw new RangeError(
        `reservedForHigh (${this.#reservedForHigh}) must be less than the workers (${workers})`,
      );
    }
    this.#maxBelowHighInFlight = workers - this.#reservedForHigh;
    const loops: Promise<void>[] = [];
    for (let i = 0; i < workers; i++) loops.push(this.#work(handler));
    this.#workers = Promise.all(loops).then(() => undefined);
    return this.#workers;
  }

  /**
   * Stops taking work: adds are ignored, delayed adds are dropped, queued keys stay
   * unprocessed (the controller is level-triggered; the next start reconciles everything).
   * Resolves when every handler that was running has finished.
   */
  async shutdown(): Promise<void> {
    if (!this.#shuttingDown) {
      this.#shuttingDown = true;
      for (const { timer } of this.#delayed.values()) this.#clock.clearTimeout(timer);
      this.#delayed.clear();
      for (const list of Object.values(this.#lists)) list.clear();
      this.#queued.clear();
      this.#dirty.clear();
      this.#observer.depthChanged?.(0);
      for (const wake of this.#idle.splice(0)) wake(undefined);
    }
    await this.#workers;
  }

  async #work(handler: KeyHandler): Promise<void> {
    for (;;) {
      const key = await this.#next();
      if (key === undefined) return;
      try {
        await handler(key);
      } catch (err) {
        this.addRateLimited(key);
        this.#onHandlerError?.(key, err);
      } finally {
        this.#done(key);
      }
      // A handler that awaited only settled promises (a reconcile that read caches, wrote
      // nothing and asked to run again at once) would otherwise hand the next key over in
      // the same microtask chain: timers, watch events and HTTP requests (probes, metrics,
      // a deletion that would end the loop) would never get a turn. One macrotask turn
      // per key keeps the process responsive whatever a handler does.
      await yieldToEventLoop();
    }
  }

  #next(): Promise<string | undefined> {
    if (this.#shuttingDown) return Promise.resolve(undefined);
    const key = this.#take();
    if (key !== undefined) return Promise.resolve(key);
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  #enqueue(key: string, priority: Priority): void {
    this.#queued.set(key, priority);
    this.#lists[priority].push(key);
  }

  /** The next current entry of `list`, stale ones dropped. */
  #shiftCurrent(list: Fifo, priority: Priority): string | undefined {
    for (;;) {
      const key = list.shift();
      if (key === undefined || this.#queued.get(key) === priority) return key;
    }
  }

  #take(): string | undefined {
    let key: string | undefined;
    let priority: Priority = "high";
    for (priority of PRIORITIES) {
      if (priority !== "high" && this.#processingBelowHigh >= this.#maxBelowHighInFlight) break;
      if (priority === "low" && this.#processingLow >= this.#maxLowInFlight) break;
      key = this.#shiftCurrent(this.#lists[priority], priority);
      if (key !== undefined) break;
    }
    if (key === undefined) return undefined;
    if (priority !== "high") this.#processingBelowHigh++;
    if (priority === "low") this.#processingLow++;
    this.#queued.delete(key);
    this.#dirty.delete(key);
    this.#processing.set(key, priority);
    this.#observer.depthChanged?.(this.#queued.size);
    return key;
  }

  #dispatch(): void {
    this.#observer.depthChanged?.(this.#queued.size);
    while (this.#idle.length > 0 && this.#queued.size > 0) {
      // What waits may not be taken now (the low cap, or the workers kept for high keys are
      // the only ones idle): they stay idle until a key of a capped kind is done or a high one comes.
      const key = this.#take();
      if (key === undefined) return;
      this.#idle.shift()?.(key);
    }
  }

  #done(key: string): void {
    const taken = this.#processing.get(key);
    this.#processing.delete(key);
    if (taken !== "high") this.#processingBelowHigh--;
    if (taken === "low") this.#processingLow--;
    const priority = this.#dirty.get(key);
    if (this.#shuttingDown) return;
    if (priority !== undefined) this.#enqueue(key, priority);
    // A capped key done may let another capped key go.
    if (priority !== undefined || taken !== "high") this.#dispatch();
  }
}
