// An informer: a local cache of one kind of object, kept current by list + watch, that
// tells event handlers about additions, updates and deletions.
//
// - It lists, then watches from the list's resourceVersion. A watch that ends cleanly
//   (server timeout) is reopened at once from the last resourceVersion seen; a watch or
//   list that fails is retried with exponential backoff, one attempt at a time; "410 Gone"
//   (the resourceVersion is too old) relists at once.
// - Every resyncPeriodMs it lists everything again and hands every object to the update
//   handlers, so a missed event is healed within one period. That relist runs beside the
//   open watch: a list of thousands of objects takes seconds in pages, and a change made
//   meanwhile must not wait for it. Where the list and the watch disagree, the newer
//   resourceVersion wins (they are ordered: kube/resource-version.ts); an API server whose
//   resourceVersions cannot be ordered gets the watch stopped and a list in its place.
// - Objects in the cache are deep-frozen: callers must clone before they change one
//   (structuredClone), and a mutation throws a TypeError instead of corrupting the cache.
// - Objects are the API server's JSON as sent: timestamps are RFC 3339 strings (the
//   client-node types say Date; do not rely on Date methods on cached objects).
//
// The transport is a ListWatchSource: kubeListWatch() (kube/listwatch.ts) talks to the API
// server; tests give a fake one.
import type { KubernetesObject } from "@kubernetes/client-node";
import { describeError } from "../kube/errors.ts";
import { GoneError, type ListResult, type ListWatchSource, type WatchEvent } from "../kube/listwatch.ts";
import { KubeApiError } from "../kube/request.ts";
import { compareResourceVersions, isOrderedResourceVersion, olderThan } from "../kube/resource-version.ts";
import { discardLogs, type LogSink } from "../observability/log.ts";
import { sleep, systemClock, type Clock } from "../clock.ts";

/** An error answer of the API server (also what a watch's ERROR event becomes). */
export const ApiStatusError = KubeApiError;
export type ApiStatusError = KubeApiError;

/**
 * Where an event came from:
 * - "watch": the API server told of a change;
 * - "initial": the first list, at start (everything is new to a fresh cache);
 * - "list": a later list found the object added, changed or gone (a change the watch missed);
 * - "resync": a periodic relist found the object unchanged (the same resourceVersion).
 * A queue can take "initial" and "resync" events after the others: they tell of nothing
 * new, and at thousands of objects they would otherwise hold up every real change.
 */
export type EventOrigin = "watch" | "initial" | "list" | "resync";

export interface EventHandlers<T> {
  /** (origin is always given by an informer; optional for callers that replay events themselves: "watch".) */
  add?(obj: T, origin?: EventOrigin): void;
  /** Also called for every object on a periodic relist (old and new may be the same version: origin "resync"). */
  update?(oldObj: T, newObj: T, origin?: EventOrigin): void;
  /** The last state the informer knew of the deleted object. */
  delete?(obj: T, origin?: EventOrigin): void;
}

export interface InformerOptions<T extends KubernetesObject> {
  source: ListWatchSource<T>;
  /** Full relist period in ms (default 5 minutes); 0 disables periodic relists. */
  resyncPeriodMs?: number;
  /** First retry delay after a failed list or watch (default 1 s); doubles up to maxBackoffMs. */
  initialBackoffMs?: number;
  /** Longest retry delay (default 30 s). */
  maxBackoffMs?: number;
  /** A watch that ends cleanly sooner than this after it was opened, with no event, counts as a failure (default 1 s). */
  minWatchMs?: number;
  clock?: Clock;
  logger?: LogSink;
  /**
   * What is kept of each object, applied to every listed and watched object before it is
   * cached (e.g. without managedFields). Must not change the object it is given.
   */
  transform?: (obj: T) => T;
}

/** Freezes `value` and everything reachable from it; returns it. */
export function deepFreeze<T>(value: T): T {
  if (value === null || typeof value !== "object" || Object.isFrozen(value)) return value;
  Object.freeze(value);
  for (const key of Reflect.ownKeys(value)) {
    deepFreeze((value as Record<PropertyKey, unknown>)[key]);
  }
  return value;
}

/** `namespace/name`, or `name` for cluster-scoped objects: the key of an object in caches and queues. */
export function objectKey(obj: KubernetesObject): string {
  const ns = obj.metadata?.namespace;
  const name = obj.metadata?.name ?? "";
  return ns ? `${ns}/${name}` : name;
}

/** Exponential backoff of the informer's retries. */
interface Backoff {
  /** The wait before the next attempt. */
  ms(): number;
  /** Waits, and doubles the next wait up to the maximum. */
  wait(): Promise<void>;
  /** A success: the next failure waits the initial time again. */
  reset(): void;
}

export const DEFAULT_RESYNC_PERIOD_MS = 5 * 60_000;

export class Informer<T extends KubernetesObject> {
  readonly #source: ListWatchSource<T>;
  readonly #resyncPeriodMs: number;
  readonly #initialBackoffMs: number;
  readonly #maxBackoffMs: number;
  readonly #minWatchMs: number;
  readonly #clock: Clock;
  readonly #log: LogSink;
  /** (Typed over KubernetesObject so that an Informer<T> still reads as an Informer<KubernetesObject>.) */
  readonly #transform: (obj: KubernetesObject) => KubernetesObject;

  /** namespace ("" for cluster-scoped) -> name -> object. */
  readonly #cache = new Map<string, Map<string, T>>();
  readonly #handlers = new Set<EventHandlers<T>>();
  #resourceVersion = "";
  #synced = false;
  #syncWaiters: { resolve: () => void; reject: (err: Error) => void }[] = [];
  #stop: AbortController | undefined;
  #loop: Promise<void> | undefined;
  #lists = 0;
  #watchRestarts = 0;
  /** The open watch's controller, so that a relist that cannot be merged can end it. */
  #watchStop: AbortController | undefined;
  #relistRequested = false;
  /** While a relist runs beside the watch: the keys the watch deleted meanwhile, at which resourceVersion. */
  #deletedWhileListing: Map<string, string> | undefined;
  /**
   * The resourceVersion of the last relist merged beside the watch. A watch event at or
   * below it for an object the cache lacks is older than that list (which found the object
   * gone), and is dropped.
   */
  #mergedListRv: string | undefined;

  constructor(options: InformerOptions<T>) {
    this.#source = options.source;
    this.#resyncPeriodMs = options.resyncPeriodMs ?? DEFAULT_RESYNC_PERIOD_MS;
    this.#initialBackoffMs = options.initialBackoffMs ?? 1000;
    this.#maxBackoffMs = options.maxBackoffMs ?? 30_000;
    this.#minWatchMs = options.minWatchMs ?? 1000;
    this.#clock = options.clock ?? systemClock;
    this.#log = options.logger ?? discardLogs;
    this.#transform =
      (options.transform as ((obj: KubernetesObject) => KubernetesObject) | undefined) ?? ((obj) => obj);
    if (!(this.#resyncPeriodMs >= 0)) throw new RangeError("resyncPeriodMs must be >= 0");
  }

  /** What this informer lists and watches, e.g. "apps/v1 deployments in all namespaces". */
  get name(): string {
    return this.#source.description;
  }

  /** Registers handlers; returns a function that unregisters them. */
  addEventHandler(handlers: EventHandlers<T>): () => void {
    this.#handlers.add(handlers);
    return () => this.#handlers.delete(handlers);
  }

  /** Starts listing and watching in the background. */
  start(): void {
    if (this.#loop) throw new Error(`informer for ${this.#source.description} already started`);
    this.#stop = new AbortController();
    this.#loop = this.#run(this.#stop.signal);
  }

  /** Stops watching; resolves when the list/watch loop has ended. The cache keeps its last state. */
  async stop(): Promise<void> {
    this.#stop?.abort();
    await this.#loop;
    for (const w of this.#syncWaiters.splice(0)) w.reject(new Error("informer stopped before it synced"));
  }

  /** True once the first list has filled the cache. */
  hasSynced(): boolean {
    return this.#synced;
  }

  /** Resolves when the first list has filled the cache; rejects if the informer is stopped first. */
  waitForSync(): Promise<void> {
    if (this.#synced) return Promise.resolve();
    if (this.#stop?.signal.aborted) return Promise.reject(new Error("informer stopped before it synced"));
    return new Promise((resolve, reject) => this.#syncWaiters.push({ resolve, reject }));
  }

  /** Every cached object, or those of one namespace. Frozen: clone before changing. */
  list(namespace?: string): readonly T[] {
    if (namespace !== undefined) return [...(this.#cache.get(namespace)?.values() ?? [])];
    const all: T[] = [];
    for (const objects of this.#cache.values()) all.push(...objects.values());
    return all;
  }

  /** One cached object ("" as namespace for cluster-scoped kinds). Frozen: clone before changing. */
  get(namespace: string, name: string): T | undefined {
    return this.#cache.get(namespace)?.get(name);
  }

  /** The last resourceVersion seen (list, event or bookmark). */
  get resourceVersion(): string {
    return this.#resourceVersion;
  }

  /** How many full lists and how many watch restarts after a failure there were. */
  stats(): { lists: number; watchRestarts: number; objects: number } {
    let objects = 0;
    for (const m of this.#cache.values()) objects += m.size;
    return { lists: this.#lists, watchRestarts: this.#watchRestarts, objects };
  }

  async #run(stop: AbortSignal): Promise<void> {
    const what = this.#source.description;
    const backoff = this.#backoff(stop);
    let needList = true;
    let resyncs: Promise<void> | undefined;
    while (!stop.aborted) {
      if (needList) {
        const listed = await this.#list(stop, backoff);
        if (stop.aborted) break;
        if (!listed) continue; // failed; backed off
        needList = false;
        if (!resyncs && this.#resyncPeriodMs > 0) resyncs = this.#resyncLoop(stop);
      }
      // A relist in place of the watch (resourceVersions that cannot be ordered), asked for
      // during the last watch, which it stopped, or during a backoff: before the next watch.
      if (this.#relistRequested) {
        this.#relistRequested = false;
        needList = true;
        continue;
      }
      const watch = await this.#watch(stop);
      if (stop.aborted) break;

      if (watch.error instanceof GoneError) {
        this.#log.info("watch expired (410 Gone); relisting", { source: what });
        needList = true;
        continue;
      }
      if (watch.error) {
        this.#watchRestarts++;
        this.#log.warn("watch failed; restarting with backoff", {
          source: what,
          error: describeError(watch.error),
          retryInMs: backoff.ms(),
        });
        await backoff.wait();
        continue;
      }
      // Clean end (server-side timeout, or stopped for a relist in its place): reopen from
      // the last resourceVersion, or relist at once.
      if (this.#relistRequested || watch.events > 0 || watch.lastedMs >= this.#minWatchMs) {
        backoff.reset();
      } else {
        this.#watchRestarts++;
        this.#log.debug("watch closed at once; reopening with backoff", {
          source: what,
          retryInMs: backoff.ms(),
        });
        await backoff.wait();
      }
    }
    await resyncs;
  }

  /** Every resync period, a relist beside the watch, until `stop`. */
  async #resyncLoop(stop: AbortSignal): Promise<void> {
    while (!stop.aborted) {
      await sleep(this.#clock, this.#resyncPeriodMs, stop);
      if (stop.aborted) return;
      await this.#relistBesideWatch(stop);
    }
  }

  /**
   * Lists everything while the watch goes on, and merges the list into the cache: what the
   * watch has already brought newer stays, the rest is healed as a relist heals it.
   */
  async #relistBesideWatch(stop: AbortSignal): Promise<void> {
    const what = this.#source.description;
    const listsBefore = this.#lists;
    const deleted = new Map<string, string>();
    this.#deletedWhileListing = deleted;
    let result: ListResult<T>;
    try {
      result = await this.#source.list(stop);
    } catch (err) {
      if (!stop.aborted) {
        this.#log.warn("relist failed; the watch goes on, and the next relist is in one period", {
          source: what,
          error: describeError(err),
        });
      }
      return;
    } finally {
      this.#deletedWhileListing = undefined;
    }
    // A full list (after a failed watch) overtook this one: it is the fresher.
    if (stop.aborted || this.#lists !== listsBefore) return;
    if (!isOrderedResourceVersion(result.resourceVersion)) {
      this.#log.info("resourceVersions cannot be ordered; relisting in place of the watch", { source: what });
      this.#relistRequested = true;
      this.#watchStop?.abort();
      return;
    }
    this.#merge(result.items, "list", result.resourceVersion, deleted);
    // Until the watch passes this list, its events may be older than what the cache holds.
    this.#mergedListRv = result.resourceVersion;
    this.#lists++;
    this.#log.debug("informer relisted beside the watch", { source: what, objects: this.stats().objects });
  }

  /** Exponential backoff between failed attempts, one at a time, cut short by `stop`. */
  #backoff(stop: AbortSignal): Backoff {
    let backoffMs = this.#initialBackoffMs;
    return {
      ms: () => backoffMs,
      wait: async () => {
        const ms = backoffMs;
        backoffMs = Math.min(backoffMs * 2, this.#maxBackoffMs);
        await sleep(this.#clock, ms, stop);
      },
      reset: () => {
        backoffMs = this.#initialBackoffMs;
      },
    };
  }

  /**
   * Lists everything into the cache, for the watch to start from. Returns false when the
   * list failed (after backing off).
   */
  async #list(stop: AbortSignal, backoff: Backoff): Promise<boolean> {
    const what = this.#source.description;
    try {
      const result = await this.#source.list(stop);
      if (stop.aborted) return false;
      // No watch is open: nothing in the cache is newer than this list.
      this.#merge(result.items, this.#synced ? "list" : "initial", result.resourceVersion, new Map());
      this.#resourceVersion = result.resourceVersion;
      // The watch starts from this list: none of its events can be older.
      this.#mergedListRv = undefined;
      this.#lists++;
      backoff.reset();
      if (!this.#synced) {
        this.#synced = true;
        for (const w of this.#syncWaiters.splice(0)) w.resolve();
        this.#log.info("informer synced", { source: what, objects: this.stats().objects });
      } else {
        this.#log.debug("informer relisted", { source: what, objects: this.stats().objects });
      }
      return true;
    } catch (err) {
      if (stop.aborted) return false;
      this.#log.warn("list failed; retrying with backoff", {
        source: what,
        error: describeError(err),
        retryInMs: backoff.ms(),
      });
      await backoff.wait();
      return false;
    }
  }

  /** Watches until the watch ends or fails, or a relist in its place is asked for. */
  async #watch(stop: AbortSignal): Promise<{ error: Error | undefined; events: number; lastedMs: number }> {
    const watchStop = new AbortController();
    this.#watchStop = watchStop;
    const onStop = () => watchStop.abort();
    stop.addEventListener("abort", onStop, { once: true });
    let error: Error | undefined;
    let events = 0;
    const openedAt = this.#clock.now();
    try {
      await this.#source.watch(
        this.#resourceVersion,
        (event) => {
          if (watchStop.signal.aborted) return;
          events++;
          const failure = this.#apply(event);
          if (failure) {
            error = failure;
            watchStop.abort();
          }
        },
        watchStop.signal,
      );
    } catch (err) {
      error = err instanceof Error ? err : new Error(String(err));
    } finally {
      this.#watchStop = undefined;
      stop.removeEventListener("abort", onStop);
    }
    return { error, events, lastedMs: this.#clock.now() - openedAt };
  }

  /** Applies one watch event to the cache; returns an error that must end the watch. */
  #apply(event: WatchEvent<T>): Error | undefined {
    const rv = event.object?.metadata?.resourceVersion;
    switch (event.type) {
      case "ADDED":
      case "MODIFIED": {
        if (this.#stale(event.object)) break;
        const obj = deepFreeze(this.#transform(event.object) as T);
        const old = this.#put(obj);
        if (!old) this.#emit("watch", "add", obj);
        else if (old.metadata?.resourceVersion !== rv) this.#emit("watch", "update", old, obj);
        break;
      }
      case "DELETED": {
        if (rv) this.#deletedWhileListing?.set(objectKey(event.object), rv);
        if (this.#stale(event.object)) break;
        const obj = deepFreeze(this.#transform(event.object) as T);
        const old = this.#remove(obj);
        if (old) this.#emit("watch", "delete", obj);
        break;
      }
      case "BOOKMARK":
        break;
      case "ERROR": {
        const status = event.object as unknown as { code?: number; message?: string; reason?: string };
        if (status.code === 410) return new GoneError(status.message);
        return new ApiStatusError(
          status.code ?? 0,
          `watch error: ${status.message ?? status.reason ?? "unknown"}`,
        );
      }
      default:
        return undefined;
    }
    if (rv) this.#resourceVersion = rv;
    return undefined;
  }

  /**
   * Is this watch event older than what the cache holds? Only after a relist merged beside
   * the watch: the cache holds a newer version of the object, or the object is absent and
   * the event is no newer than the list that found it gone. (The watch then catches up.)
   */
  #stale(event: KubernetesObject): boolean {
    if (this.#mergedListRv === undefined) return false;
    const rv = event.metadata?.resourceVersion;
    const cached = this.get(event.metadata?.namespace ?? "", event.metadata?.name ?? "");
    if (cached) return olderThan(rv, cached.metadata?.resourceVersion);
    const order = compareResourceVersions(rv, this.#mergedListRv);
    return order === -1 || order === 0;
  }

  /**
   * Merges a full list into the cache: add for new objects, update for every other one
   * (a resync when its version is the cached one), delete for the gone. A list made beside
   * the watch may be older than what the watch has already brought: a newer cached version
   * stays, an object the watch saw deleted after the listed version is not brought back,
   * and one created after the list's snapshot is not removed. (After a list with no watch
   * open, none of these can happen.)
   */
  #merge(
    items: readonly T[],
    origin: "initial" | "list",
    listRv: string,
    deletedMeanwhile: ReadonlyMap<string, string>,
  ): void {
    const seen = new Set<string>();
    for (const item of items) {
      const obj = deepFreeze(this.#transform(item) as T);
      const key = objectKey(obj);
      seen.add(key);
      const rv = obj.metadata?.resourceVersion;
      const old = this.get(obj.metadata?.namespace ?? "", obj.metadata?.name ?? "");
      if (old) {
        const same = old.metadata?.resourceVersion === rv;
        if (!same && olderThan(rv, old.metadata?.resourceVersion)) continue;
        this.#put(obj);
        this.#emit(same && origin === "list" ? "resync" : origin, "update", old, obj);
      } else {
        const deletedAt = deletedMeanwhile.get(key);
        if (deletedAt !== undefined && !olderThan(deletedAt, rv)) continue;
        this.#put(obj);
        this.#emit(origin, "add", obj);
      }
    }
    for (const objects of [...this.#cache.values()]) {
      for (const obj of [...objects.values()]) {
        if (seen.has(objectKey(obj)) || olderThan(listRv, obj.metadata?.resourceVersion)) continue;
        this.#remove(obj);
        this.#emit(origin, "delete", obj);
      }
    }
  }

  #put(obj: T): T | undefined {
    const ns = obj.metadata?.namespace ?? "";
    const name = obj.metadata?.name ?? "";
    let objects = this.#cache.get(ns);
    if (!objects) this.#cache.set(ns, (objects = new Map()));
    const old = objects.get(name);
    objects.set(name, obj);
    return old;
  }

  #remove(obj: T): T | undefined {
    const ns = obj.metadata?.namespace ?? "";
    const name = obj.metadata?.name ?? "";
    const objects = this.#cache.get(ns);
    const old = objects?.get(name);
    if (objects && old) {
      objects.delete(name);
      if (objects.size === 0) this.#cache.delete(ns);
    }
    return old;
  }

  #emit(origin: EventOrigin, kind: "add", obj: T): void;
  #emit(origin: EventOrigin, kind: "update", old: T, obj: T): void;
  #emit(origin: EventOrigin, kind: "delete", obj: T): void;
  #emit(origin: EventOrigin, kind: "add" | "update" | "delete", a: T, b?: T): void {
    for (const h of this.#handlers) {
      try {
        if (kind === "add") h.add?.(a, origin);
        else if (kind === "update") h.update?.(a, b as T, origin);
        else h.delete?.(a, origin);
      } catch (err) {
        this.#log.error("informer event handler threw", {
          source: this.#source.description,
          event: kind,
          key: objectKey(a),
          error: describeError(err),
        });
      }
    }
  }
}
