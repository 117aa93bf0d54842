// The API server as a ListWatchSource: lists (all pages) and watches of one kind, through
// the operator's requestJson (kube/request.ts) for lists and client-node's Watch for watches,
// both with the operator's user agent, rate limit and request metrics. The informer
// (controller/informer.ts) keeps its cache from a ListWatchSource; tests give it a fake one.
import { Watch, type KubeConfig, type KubernetesObject } from "@kubernetes/client-node";
import { statusCodeOf } from "./errors.ts";
import type { RateLimiter } from "./ratelimit.ts";
import { requestJson, USER_AGENT, type RequestTraffic } from "./request.ts";

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

/** A watch with no byte (event or bookmark) for this long is reopened. */
export const WATCH_IDLE_TIMEOUT_MS = 90_000;

/**
 * client-node ends a watch after 30 s without a byte, so an idle informer reopened its
 * watch twice a minute. The API server sends a bookmark about every minute on watches that
 * ask for them; 90 s still notices a dead connection. client-node 2.x has no option for it,
 * only the private field `requestTimeoutMs` (set in Watch's constructor), so this writes
 * that field, and refuses to run when a client-node release has renamed it: an upgrade then
 * fails at once (and in test/unit/listwatch.test.ts) instead of quietly going back to 30 s.
 */
export function setWatchIdleTimeout(watcher: Watch, ms: number): void {
  const fields = watcher as unknown as Record<string, unknown>;
  if (typeof fields.requestTimeoutMs !== "number") {
    throw new Error(
      "@kubernetes/client-node's Watch no longer has requestTimeoutMs: see setWatchIdleTimeout in src/kube/listwatch.ts",
    );
  }
  fields.requestTimeoutMs = ms;
}

/** `kc` whose authenticated requests (client-node's Watch) also carry USER_AGENT. */
function withUserAgent(kc: KubeConfig): KubeConfig {
  const wrapped = Object.create(kc) as KubeConfig;
  wrapped.applySecurityAuthentication = async (context) => {
    await kc.applySecurityAuthentication(context);
    context.setHeaderParam("User-Agent", USER_AGENT);
  };
  return wrapped;
}

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
  kc: KubeConfig,
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
  const watcher = new Watch(withUserAgent(kc));
  setWatchIdleTimeout(watcher, WATCH_IDLE_TIMEOUT_MS);

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
      watchOnce(watcher, path, { ...selectors, resourceVersion }, onEvent, signal, options),
  };
}

/**
 * One watch from `query.resourceVersion`: resolves when it ends cleanly (the server's timeout,
 * `signal`), rejects with GoneError on 410 and with the error otherwise. Waits for the rate
 * limit first, and counts the request once it is answered.
 */
function watchOnce<T extends KubernetesObject>(
  watcher: Watch,
  path: string,
  query: Record<string, string>,
  onEvent: (event: WatchEvent<T>) => void,
  signal: AbortSignal,
  options: KubeListWatchOptions,
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal.aborted) return resolve();
    let controller: AbortController | undefined;
    let settled = false;
    const finish = (err?: unknown) => {
      if (settled) return;
      settled = true;
      signal.removeEventListener("abort", onAbort);
      controller?.abort();
      if (signal.aborted || !err || isTimeout(err)) resolve();
      else if (statusCodeOf(err) === 410) reject(new GoneError());
      else reject(err instanceof Error ? err : new Error(String(err)));
    };
    const onAbort = () => finish();
    signal.addEventListener("abort", onAbort, { once: true });
    // Server-side timeout of 5 to 10 minutes, spread like client-go's reflector.
    const timeoutSeconds = 300 + Math.floor(Math.random() * 300);
    let answered = false;
    const count = (err?: unknown) => {
      if (answered) return;
      answered = true;
      options.onRequest?.("GET", err === undefined ? 200 : (statusCodeOf(err) ?? 0));
    };
    void (options.rateLimiter?.acquire(signal) ?? Promise.resolve(0))
      .then(() => {
        if (settled) return undefined;
        return watcher.watch(
          path,
          { ...query, allowWatchBookmarks: true, timeoutSeconds },
          (type: string, object: T) => {
            if (!settled) onEvent({ type: type as WatchEventType, object });
          },
          (err: unknown) => {
            count(err ?? undefined);
            finish(err);
          },
        );
      })
      .then(
        (c) => {
          if (!c) return;
          count();
          controller = c;
          if (settled) c.abort();
        },
        (err: unknown) => finish(err ?? new Error("watch failed")),
      );
  });
}

function isTimeout(err: unknown): boolean {
  return typeof err === "object" && err !== null && (err as { name?: string }).name === "TimeoutError";
}

/** GET `path` on the API server of `kc`, with its credentials; parses the JSON answer. */
export function getJson<R>(
  kc: KubeConfig,
  path: string,
  query: Record<string, string>,
  signal: AbortSignal,
  timeoutMs: number,
  traffic: RequestTraffic = {},
): Promise<R> {
  return requestJson<R>(kc, { method: "GET", path, query, signal, timeoutMs }, traffic);
}
