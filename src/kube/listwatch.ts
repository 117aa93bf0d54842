// The API server as a ListWatchSource: lists (all pages) and watches of one kind, through
// the operator's own requests (kube/request.ts): JSON for lists, a stream of JSON lines for
// watches, both with the operator's user agent, rate limit and request metrics. (client-node's
// Watch needs its KubeConfig, which loads client-node's whole generated API: kube/kubeconfig.ts.) The informer
// (controller/informer.ts) keeps its cache from a ListWatchSource; tests give it a fake one.
import type { KubernetesObject } from "@kubernetes/client-node";
import type { ClientRequest, IncomingMessage } from "node:http";
import { statusCodeOf } from "./errors.ts";
import type { KubeConnection } from "./kubeconfig.ts";
import type { RateLimiter } from "./ratelimit.ts";
import { apiErrorOf, prepareRequest, requestJson, type RequestTraffic } from "./request.ts";

export type WatchEventType = "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" | "ERROR";

export interface WatchEvent<T> {
  type: WatchEventType;
  /** The object; for ERROR a metav1.Status. */
  object: T;
}

export interface ListResult<T> {
  items: T[];
  /** The resourceVersion of the list, to watch from. */
  resourceVersion: string;
}

/** Where an informer gets its objects from. */
export interface ListWatchSource<T extends KubernetesObject> {
  /** What is listed and watched, for logs ("apps/v1 deployments in all namespaces"). */
  readonly description: string;
  /** Lists every object (all pages). Rejects on any error. */
  list(signal: AbortSignal): Promise<ListResult<T>>;
  /**
   * Watches from `resourceVersion`, giving each event to `onEvent`. Resolves when the watch
   * ends cleanly (the server closed it, or `signal` aborted); rejects when it fails (a
   * GoneError when the resourceVersion is too old).
   */
  watch(resourceVersion: string, onEvent: (event: WatchEvent<T>) => void, signal: AbortSignal): Promise<void>;
}

/** The resourceVersion to watch from is gone (HTTP 410): the informer must list again. */
export class GoneError extends Error {
  constructor(message = "resourceVersion too old (410 Gone)") {
    super(message);
    this.name = "GoneError";
  }
}

/**
 * A watch with no byte (event or bookmark) for this long ends and is reopened. The API
 * server sends a bookmark about every minute on watches that ask for them; 90 s still
 * notices a dead connection without reopening idle watches twice a minute.
 */
export const WATCH_IDLE_TIMEOUT_MS = 90_000;

/** A kind of object, as the API server serves it. */
export interface ResourceType {
  /** "v1", "apps/v1", "mlops.dev/v1alpha1". */
  apiVersion: string;
  kind: string;
  /** The resource name in URLs: "deployments". */
  plural: string;
  /** Default true. */
  namespaced?: boolean;
}

export interface KubeListWatchOptions {
  /** Watch one namespace; undefined = all namespaces. Ignored for cluster-scoped kinds. */
  namespace?: string;
  /** e.g. "app.kubernetes.io/managed-by=model-rollout-operator". */
  labelSelector?: string;
  fieldSelector?: string;
  /** Objects per list page (default 500). */
  pageSize?: number;
  /** Per-request timeout of list pages in ms (default 60 s). */
  listTimeoutMs?: number;
  /** Called once per request (list page, watch) with its method and status code (0: no answer). */
  onRequest?: (method: string, code: number) => void;
  /** Every list page and watch waits for a token first (--kube-api-qps). */
  rateLimiter?: RateLimiter;
  /** A watch silent for this long ends cleanly (default WATCH_IDLE_TIMEOUT_MS). */
  watchIdleTimeoutMs?: number;
}

/** The URL path of a kind's collection: /api/v1/namespaces/ns/services, /apis/apps/v1/deployments. */
export function collectionPath(resource: ResourceType, namespace?: string): string {
  const root = resource.apiVersion.includes("/")
    ? `/apis/${resource.apiVersion}`
    : `/api/${resource.apiVersion}`;
  const ns = (resource.namespaced ?? true) && namespace ? `/namespaces/${encodeURIComponent(namespace)}` : "";
  return `${root}${ns}/${resource.plural}`;
}

interface ListPage<T> {
  items?: T[];
  metadata?: { resourceVersion?: string; continue?: string };
}

/** Lists and watches one kind on the API server of `kc` (its current context). */
export function kubeListWatch<T extends KubernetesObject>(
  kc: KubeConnection,
  resource: ResourceType,
  options: KubeListWatchOptions = {},
): ListWatchSource<T> {
  const namespaced = resource.namespaced ?? true;
  const namespace = namespaced ? options.namespace : undefined;
  const path = collectionPath(resource, namespace);
  const pageSize = options.pageSize ?? 500;
  const listTimeoutMs = options.listTimeoutMs ?? 60_000;
  const selectors: Record<string, string> = {};
  if (options.labelSelector) selectors.labelSelector = options.labelSelector;
  if (options.fieldSelector) selectors.fieldSelector = options.fieldSelector;
  const scope = !namespaced ? "" : namespace ? ` in namespace ${namespace}` : " in all namespaces";
  const selectorText = options.labelSelector ? ` with labels ${options.labelSelector}` : "";

  return {
    description: `${resource.apiVersion} ${resource.plural}${scope}${selectorText}`,

    async list(signal) {
      const items: T[] = [];
      let resourceVersion = "";
      let cont: string | undefined;
      do {
        const query: Record<string, string> = { ...selectors, limit: String(pageSize) };
        if (cont) query.continue = cont;
        const page = await getJson<ListPage<T>>(kc, path, query, signal, listTimeoutMs, options);
        // List items carry neither apiVersion nor kind; watch events do. Make them alike.
        for (const item of page.items ?? [])
          items.push({ ...item, apiVersion: resource.apiVersion, kind: resource.kind });
        if (!resourceVersion) resourceVersion = page.metadata?.resourceVersion ?? "";
        cont = page.metadata?.continue || undefined;
      } while (cont);
      return { items, resourceVersion };
    },

    watch: (resourceVersion, onEvent, signal) =>
      watchOnce(kc, path, { ...selectors, resourceVersion }, onEvent, signal, options),
  };
}

/**
 * One watch from `query.resourceVersion`: resolves when it ends cleanly (the server's timeout,
 * no byte for the idle timeout, `signal`), rejects with GoneError on 410 and with the error
 * otherwise. Waits for the rate limit first, and counts the request once it is answered.
 */
function watchOnce<T extends KubernetesObject>(
  kc: KubeConnection,
  path: string,
  query: Record<string, string>,
  onEvent: (event: WatchEvent<T>) => void,
  signal: AbortSignal,
  options: KubeListWatchOptions,
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal.aborted) return resolve();
    let request: ClientRequest | undefined;
    let idle: NodeJS.Timeout | undefined;
    let settled = false;
    let answered = false;
    const finish = (err?: unknown) => {
      if (settled) return;
      settled = true;
      signal.removeEventListener("abort", onAbort);
      clearTimeout(idle);
      request?.destroy();
      if (signal.aborted || !err) resolve();
      else if (statusCodeOf(err) === 410) reject(new GoneError());
      else reject(err instanceof Error ? err : new Error(String(err)));
    };
    const onAbort = () => finish();
    signal.addEventListener("abort", onAbort, { once: true });
    // Server-side timeout of 5 to 10 minutes, spread like client-go's reflector.
    const timeoutSeconds = 300 + Math.floor(Math.random() * 300);
    const watchQuery = {
      ...query,
      watch: "true",
      allowWatchBookmarks: "true",
      timeoutSeconds: String(timeoutSeconds),
    };
    const idleMs = options.watchIdleTimeoutMs ?? WATCH_IDLE_TIMEOUT_MS;

    const onResponse = (res: IncomingMessage) => {
      const code = res.statusCode ?? 0;
      answered = true;
      options.onRequest?.("GET", code);
      if (code !== 200) {
        readWatchError(res, code, path, finish);
        return;
      }
      idle = readWatchEvents(res, path, idleMs, onEvent, finish, () => settled);
    };

    void (options.rateLimiter?.acquire(signal) ?? Promise.resolve(0))
      .then(async () => {
        if (settled) return;
        const {
          url,
          options: reqOptions,
          transport,
        } = await prepareRequest(kc, "GET", path, watchQuery, {}, "watches");
        if (settled) return;
        request = transport.request(url, reqOptions, onResponse);
        request.on("error", (err) => {
          if (!answered && !settled && !signal.aborted) options.onRequest?.("GET", 0);
          finish(err);
        });
        request.end();
      })
      .catch((err: unknown) => finish(err ?? new Error("watch failed")));
  });
}

/** A watch answered other than 200: its body, as the error the watch ends with. */
function readWatchError(
  res: IncomingMessage,
  code: number,
  path: string,
  finish: (err?: unknown) => void,
): void {
  const chunks: Buffer[] = [];
  res.on("data", (c: Buffer) => chunks.push(c));
  res.on("end", () => finish(apiErrorOf(code, `watch ${path}`, Buffer.concat(chunks).toString("utf8"))));
  res.on("error", finish);
}

/**
 * A watch answered 200: one event per JSON line to `onEvent` until the watch is settled, the
 * stream ends, or no byte comes for `idleMs`. Returns the idle timer, for `finish` to clear.
 */
function readWatchEvents<T extends KubernetesObject>(
  res: IncomingMessage,
  path: string,
  idleMs: number,
  onEvent: (event: WatchEvent<T>) => void,
  finish: (err?: unknown) => void,
  settled: () => boolean,
): NodeJS.Timeout {
  // One timer per watch, pushed back by every chunk (refresh() does not allocate).
  const idle = setTimeout(() => finish(), idleMs);
  res.setEncoding("utf8");
  let pending = "";
  res.on("data", (chunk: string) => {
    idle.refresh();
    pending += chunk;
    let nl: number;
    while (!settled() && (nl = pending.indexOf("\n")) >= 0) {
      const line = pending.slice(0, nl).trim();
      pending = pending.slice(nl + 1);
      if (!line) continue;
      let event: WatchEvent<T>;
      try {
        event = JSON.parse(line) as WatchEvent<T>;
      } catch (err) {
        finish(new Error(`watch ${path}: invalid JSON: ${(err as Error).message}`));
        return;
      }
      onEvent(event);
    }
  });
  res.on("end", () => finish());
  res.on("error", finish);
  res.on("close", () => finish(res.complete ? undefined : new Error(`watch ${path}: connection closed`)));
  return idle;
}

/** GET `path` on the API server of `kc`, with its credentials; parses the JSON answer. */
export function getJson<R>(
  kc: KubeConnection,
  path: string,
  query: Record<string, string>,
  signal: AbortSignal,
  timeoutMs: number,
  traffic: RequestTraffic = {},
): Promise<R> {
  return requestJson<R>(kc, { method: "GET", path, query, signal, timeoutMs }, traffic);
}
