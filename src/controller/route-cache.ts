// The HTTPRoute cache, started only when it is needed: a ModelDeployment with spec.traffic
// asks for it, and the cluster serves the Gateway API (gateway.networking.k8s.io/v1
// httproutes). A cluster without the Gateway API CRDs costs nothing and breaks nothing: the
// reconciler reads "not available", the planner says so in a condition and an Event, and
// this cache looks again every recheckMs while some ModelDeployment wants it, so installing
// the CRDs later is noticed without a restart.
//
// The same cache, with its own probe and informers, holds the operator's InferencePools
// (spec.traffic.gatewayAPI.inferencePool; the Inference Extension's CRD): `what` names them.
import type { KubernetesObject } from "@kubernetes/client-node";
import type { HTTPRoute } from "../plan/routers/httproute.ts";
import type { Logger } from "../observability/log.ts";
import { controllerUid, IndexBy } from "./index-by.ts";
import type { InformerSet } from "./informer-set.ts";

/** After a failed question the API server is asked again this soon. */
const RETRY_MS = 5000;

export interface RouteCacheOptions<T extends KubernetesObject = HTTPRoute> {
  /** What the cache holds and which API serves it, for log messages (default HTTPRoutes of the Gateway API). */
  what?: { objects: string; api: string };
  /** Does the API server serve httproutes in gateway.networking.k8s.io/v1? */
  probe(): Promise<boolean>;
  /**
   * The informers of HTTPRoutes (one per watched namespace), not started. Every route of the
   * watched namespaces, not only the operator's: a route the user owns carries none of its
   * labels.
   */
  makeInformers(): InformerSet<T>;
  /** Every route event: put the keys of its owner and of the ModelDeployments that name it on the queue. */
  onEvent(route: KubernetesObject): void;
  /** The cache synced: reconcile every ModelDeployment that wanted it. */
  onAvailable(): void;
  logger: Logger;
  /** How often to look again for the API while it is missing (default 30 s). */
  recheckMs?: number;
}

export class RouteCache<T extends KubernetesObject = HTTPRoute> {
  readonly #o: RouteCacheOptions<T>;
  /** Routes by the uid of their controller owner. */
  readonly byOwner = new IndexBy<T>(controllerUid);
  #informers: InformerSet<T> | undefined;
  #available = false;
  #missing = false;
  #probing = false;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(options: RouteCacheOptions<T>) {
    this.#o = options;
  }

  /**
   * One route by namespace and name, whoever owns it: a route the user owns that a
   * ModelDeployment names (spec.traffic.gatewayAPI.httpRouteRef). Undefined before the cache
   * started.
   */
  get(namespace: string, name: string): T | undefined {
    return this.#informers?.get(namespace, name);
  }

  /** True once the HTTPRoute informers have synced. */
  available(): boolean {
    return this.#available;
  }

  /**
   * "available" once synced; "missing" when the API server said it does not serve
   * HTTPRoutes; "unknown" before the first answer, while the cache starts, and after a
   * failed question: then nothing is known to decide on.
   */
  state(): "unknown" | "missing" | "available" {
    return this.#available ? "available" : this.#missing ? "missing" : "unknown";
  }

  /** A ModelDeployment uses spec.traffic: start the cache, or look for the API, unless under way. */
  want(): void {
    if (this.#stopped || this.#informers || this.#probing || this.#timer) return;
    this.#probing = true;
    void this.#o
      .probe()
      .then(
        (served) => {
          this.#missing = !served;
          return served ? this.#start() : this.#recheckLater();
        },
        (err: unknown) => {
          this.#o.logger.warn(`could not ask the API server for ${this.#o.what?.api ?? "the Gateway API"}`, {
            err: (err as Error).message,
          });
          this.#recheckLater(RETRY_MS);
        },
      )
      .finally(() => (this.#probing = false));
  }

  #recheckLater(ms = this.#o.recheckMs ?? 30_000): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.want();
    }, ms);
    this.#timer.unref();
  }

  async #start(): Promise<void> {
    if (this.#stopped) return;
    const informers = this.#o.makeInformers();
    this.#informers = informers;
    informers.addEventHandler(this.byOwner.handlers);
    informers.addEventHandler({
      add: (r) => this.#o.onEvent(r),
      update: (_o, r) => this.#o.onEvent(r),
      delete: (r) => this.#o.onEvent(r),
    });
    for (const i of informers.informers) i.start();
    const what = this.#o.what ?? { objects: "HTTPRoutes", api: "the Gateway API" };
    this.#o.logger.info(`${what.api} is served: watching ${what.objects}`);
    await Promise.all(informers.informers.map((i) => i.waitForSync())).catch(() => undefined);
    if (this.#stopped) return;
    this.#available = true;
    this.#o.onAvailable();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    await Promise.all((this.#informers?.informers ?? []).map((i) => i.stop()));
  }
}
