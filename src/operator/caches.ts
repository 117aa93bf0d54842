// The operator's caches: the informers of the kinds it watches, the handlers that put the
// owning ModelDeployment's key on the queue and index the children by owner, and the
// HTTPRoute and InferencePool caches started on demand.
import type {
  KubernetesObject,
  V1Deployment,
  V1EndpointSlice,
  V1Pod,
  V1Service,
} from "@kubernetes/client-node";
import {
  ANNOTATION_ACTION,
  API_VERSION,
  KIND,
  LABEL_MANAGED_BY,
  LABEL_READINESS_GATE,
  LABEL_ROLE,
  OPERATOR_NAME,
  PLURAL,
} from "../api/constants.ts";
import type { ModelDeployment } from "../api/types.ts";
import type { Config } from "../config.ts";
import { controllerUid, IndexBy, modelKeyOfPod, serviceKeyOfSlice } from "../controller/index-by.ts";
import { InformerSet } from "../controller/informer-set.ts";
import type { OwnWrites } from "../controller/own-writes.ts";
import { Informer, objectKey, type EventOrigin } from "../controller/informer.ts";
import type { Priority, WorkQueue } from "../controller/queue.ts";
import type { Shard } from "../controller/shard.ts";
import { PodCache } from "../controller/pod-cache.ts";
import { RouteCache } from "../controller/route-cache.ts";
import { isNotFound } from "../kube/client.ts";
import { isForbidden } from "../kube/errors.ts";
import type { KubeConnection } from "../kube/kubeconfig.ts";
import { kubeListWatch, type ResourceType } from "../kube/listwatch.ts";
import type { RateLimiter } from "../kube/ratelimit.ts";
import { requestJson } from "../kube/request.ts";
import { childLogger, type Logger } from "../observability/log.ts";
import type { OperatorMetrics } from "../observability/metrics.ts";
import {
  GRPCROUTE_KIND,
  GRPCROUTE_PLURAL,
  HTTPROUTE_API_VERSION,
  HTTPROUTE_KIND,
  type HTTPRoute,
} from "../plan/routers/httproute.ts";
import {
  INFERENCEPOOL_API_VERSION,
  INFERENCEPOOL_KIND,
  INFERENCEPOOL_PLURAL,
  type InferencePool,
} from "../plan/routers/inference-pool.ts";

const MANAGED = `${LABEL_MANAGED_BY}=${OPERATOR_NAME}`;
/** The clients' Services the operator manages (childLabels: role "clients"), and their slices. */
export const CLIENTS_SERVICES = `${MANAGED},${LABEL_ROLE}=clients`;

/** The informers of the kinds the operator always watches, each one set per watched namespace (pods: createPodCache). */
export function createCaches(
  config: Config,
  kc: KubeConnection,
  logger: Logger,
  traffic: { onRequest: (method: string, code: number) => void; rateLimiter: RateLimiter },
) {
  const informer = <T extends KubernetesObject>(resource: ResourceType, labelSelector?: string) =>
    new InformerSet<T>(
      (namespace) =>
        new Informer<T>({
          source: kubeListWatch<T>(kc, resource, { namespace, labelSelector, ...traffic }),
          resyncPeriodMs: config.resyncPeriodMs,
          logger: childLogger(logger, { informer: resource.plural, namespace }),
        }),
      config.watchNamespaces,
    );
  const caches = {
    // A shard lists and watches only its own (--watch-label-selector): a ModelDeployment whose
    // label moves out arrives as a DELETED event, one whose label moves in as ADDED. The
    // children below are not filtered by shard (they carry no shard label); their events
    // name an owner, and an owner this shard does not hold is not in its cache.
    modelDeployments: informer<ModelDeployment>(
      { apiVersion: API_VERSION, kind: KIND, plural: PLURAL },
      config.watchLabelSelector?.text,
    ),
    deployments: informer<V1Deployment>(
      { apiVersion: "apps/v1", kind: "Deployment", plural: "deployments" },
      MANAGED,
    ),
    services: informer<V1Service>({ apiVersion: "v1", kind: "Service", plural: "services" }, MANAGED),
    // The EndpointSlice controller copies the Service's labels onto its slices. A reconcile
    // reads only the clients' Service's slices (status.traffic, readiness): those of each
    // version's own Service and of the preview Service are not even listed (at 10,000
    // ModelDeployments, 10,000 or more slices the cache would hold for nothing).
    endpointSlices: informer<V1EndpointSlice>(
      { apiVersion: "discovery.k8s.io/v1", kind: "EndpointSlice", plural: "endpointslices" },
      CLIENTS_SERVICES,
    ),
  };
  const informers: Informer<KubernetesObject>[] = [
    ...(caches.modelDeployments.informers as readonly Informer<KubernetesObject>[]),
    ...(caches.deployments.informers as readonly Informer<KubernetesObject>[]),
    ...(caches.services.informers as readonly Informer<KubernetesObject>[]),
    ...(caches.endpointSlices.informers as readonly Informer<KubernetesObject>[]),
  ];
  return { ...caches, informers };
}

export type Caches = ReturnType<typeof createCaches>;

/**
 * The queue priority of an informer event: what the first list and the periodic relists
 * replay goes after every real change (queue.ts).
 */
export function priorityOf(origin: EventOrigin = "watch"): Priority {
  return origin === "initial" || origin === "resync" ? "low" : "normal";
}

/**
 * Does a child's update (Deployment, Service, EndpointSlice) queue its ModelDeployment? Not
 * the unchanged objects of a periodic relist ("resync"): the ModelDeployments' own resync
 * reconciles every one of them, and a child the relist found changed comes as "list". (Each
 * kind queuing its owners reconciled every ModelDeployment four times a period: 40,000
 * reconciles every 5 minutes at 10,000.)
 */
export function childUpdateQueuesOwner(origin: EventOrigin | undefined): boolean {
  return origin !== "resync";
}

/**
 * Is this watch event a user's change of the ModelDeployment: a new spec (its generation
 * moved) or an action (the annotation set to something new)? The operator writes neither:
 * it writes status and only ever removes the action.
 */
export function isUsersChange(old: ModelDeployment, md: ModelDeployment): boolean {
  const action = md.metadata?.annotations?.[ANNOTATION_ACTION];
  return (
    md.metadata?.generation !== old.metadata?.generation ||
    (action !== undefined && action !== old.metadata?.annotations?.[ANNOTATION_ACTION])
  );
}

/** The queue priority of a ModelDeployment's add: created while the operator runs, a user's change (high). */
export function priorityOfCreate(origin: EventOrigin | undefined): Priority {
  const byOrigin = priorityOf(origin);
  return byOrigin === "normal" ? "high" : byOrigin;
}

/**
 * The queue priority of a ModelDeployment's update: a user's change is high, the echo of
 * the operator's own write goes at the priority of the reconcile that made it (own-writes.ts,
 * at most normal: what follows from a change is the rollout's progress), anything else by
 * its origin.
 */
export function priorityOfUpdate(
  old: ModelDeployment,
  md: ModelDeployment,
  origin: EventOrigin | undefined,
  ownWrites: OwnWrites | undefined,
): Priority {
  const echo = ownWrites?.echoPriority(objectKey(md), md.metadata?.resourceVersion);
  if (echo === "low") return "low";
  const byOrigin = priorityOf(origin);
  return byOrigin === "normal" && isUsersChange(old, md) ? "high" : byOrigin;
}

/**
 * The ModelDeployment an EndpointSlice's event is about: the clients' Service is named after
 * its ModelDeployment, so the slice's Service key is its owner's. A reconcile reads only the
 * clients' Service's slices: those of a version's own Service (NAME-VERSION), named after no
 * ModelDeployment, give undefined rather than a key with nothing to do (one more key per
 * ModelDeployment: 10,000 at 10,000).
 */
export function modelKeyOfSlice(
  slice: KubernetesObject,
  isModelDeployment: (namespace: string, name: string) => boolean,
): string | undefined {
  const key = serviceKeyOfSlice(slice);
  const [namespace = "", name = ""] = key?.split("/") ?? [];
  return key && isModelDeployment(namespace, name) ? key : undefined;
}

/**
 * Puts the key of the owning ModelDeployment on the queue for every event, keeps the rollout
 * metrics, and indexes the children by owner so that a reconcile reads only its own.
 */
export function routeEvents(
  caches: Caches,
  queue: WorkQueue,
  metrics: OperatorMetrics,
  reconciling: () => boolean,
  shard?: Shard,
  ownWrites?: OwnWrites,
) {
  const enqueue = (obj: KubernetesObject, origin?: EventOrigin) =>
    queue.add(objectKey(obj), priorityOf(origin));
  const enqueueOwner = (obj: KubernetesObject, origin?: EventOrigin) => {
    const owner = obj.metadata?.ownerReferences?.find((r) => r.controller && r.kind === KIND);
    if (owner && obj.metadata?.namespace)
      queue.add(`${obj.metadata.namespace}/${owner.name}`, priorityOf(origin));
  };
  const enqueueSliceOwner = (obj: KubernetesObject, origin?: EventOrigin) => {
    const key = modelKeyOfSlice(obj, (ns, name) => caches.modelDeployments.get(ns, name) !== undefined);
    if (key) queue.add(key, priorityOf(origin));
  };
  caches.modelDeployments.addEventHandler({
    add: (md, origin) => {
      shard?.arrived(objectKey(md), md);
      queue.add(objectKey(md), priorityOfCreate(origin));
    },
    // Also called on every periodic relist: a level-triggered safety net. A user's change
    // goes first; the echo of the operator's own write at the priority of the reconcile
    // that made it.
    update: (old, obj, origin) => queue.add(objectKey(obj), priorityOfUpdate(old, obj, origin, ownWrites)),
    delete: enqueue,
  });
  // Rollout metrics follow the status as the API server has it; only the leader counts
  // the rollouts that end, so that summing over replicas counts each once.
  const mdName = (md: ModelDeployment) => [md.metadata?.namespace ?? "", md.metadata?.name ?? ""] as const;
  caches.modelDeployments.addEventHandler({
    add: (md) => metrics.observeStatus(...mdName(md), md.status),
    update: (old, md) => {
      metrics.observeStatus(...mdName(md), md.status);
      if (reconciling()) metrics.observeTransition(...mdName(md), old.status, md.status);
    },
    delete: (md) => metrics.forgetModelDeployment(...mdName(md)),
  });
  for (const set of [caches.deployments, caches.services] as InformerSet<KubernetesObject>[]) {
    set.addEventHandler({
      add: enqueueOwner,
      update: (_o, n, origin) => childUpdateQueuesOwner(origin) && enqueueOwner(n, origin),
      delete: enqueueOwner,
    });
  }
  caches.endpointSlices.addEventHandler({
    add: enqueueSliceOwner,
    update: (_o, n, origin) => childUpdateQueuesOwner(origin) && enqueueSliceOwner(n, origin),
    delete: enqueueSliceOwner,
  });

  // Children by owner uid, EndpointSlices by their Service: a reconcile reads only its own.
  const index = {
    deployments: new IndexBy<V1Deployment>(controllerUid),
    services: new IndexBy<V1Service>(controllerUid),
    endpointSlices: new IndexBy<V1EndpointSlice>(serviceKeyOfSlice),
  };
  caches.deployments.addEventHandler(index.deployments.handlers);
  caches.services.addEventHandler(index.services.handlers);
  caches.endpointSlices.addEventHandler(index.endpointSlices.handlers);
  return { enqueue, index };
}

/**
 * The pods behind the readiness gate (pod-cache.ts), whose condition the operator sets: their
 * watch opens when a ModelDeployment with spec.strategy.canary.readinessGate is reconciled, and
 * then holds only pods with the gate's label, without managedFields.
 */
export function createPodCache(
  config: Config,
  kc: KubeConnection,
  logger: Logger,
  traffic: { onRequest: (method: string, code: number) => void; rateLimiter: RateLimiter },
  queue: WorkQueue,
  usingGate: () => readonly ModelDeployment[],
): PodCache {
  return new PodCache({
    source: (namespace) =>
      kubeListWatch<V1Pod>(
        kc,
        { apiVersion: "v1", kind: "Pod", plural: "pods" },
        { namespace, labelSelector: LABEL_READINESS_GATE, ...traffic },
      ),
    namespaces: config.watchNamespaces,
    resyncPeriodMs: config.resyncPeriodMs,
    logger: childLogger(logger, { informer: "pods" }),
    // A gated pod's ModelDeployment is named by its label mlops.dev/model.
    onEvent: (pod) => {
      const key = modelKeyOfPod(pod);
      if (key) queue.add(key);
    },
    onAvailable: () => {
      for (const md of usingGate()) queue.add(objectKey(md));
    },
  });
}

/**
 * The HTTPRoute cache (route-cache.ts): started when a ModelDeployment with spec.traffic is
 * reconciled and the API server serves gateway.networking.k8s.io/v1 httproutes. With `kind`
 * GRPCRoute, the same cache of grpcroutes (spec.traffic.gatewayAPI.grpcRoute), with its own
 * discovery probe: a cluster may serve HTTPRoutes without GRPCRoutes.
 */
export function createRouteCache(
  config: Config,
  kc: KubeConnection,
  logger: Logger,
  traffic: { onRequest: (method: string, code: number) => void; rateLimiter: RateLimiter },
  queue: WorkQueue,
  usingTraffic: () => readonly ModelDeployment[],
  kind: typeof HTTPROUTE_KIND | typeof GRPCROUTE_KIND = HTTPROUTE_KIND,
): RouteCache {
  const resource: ResourceType = {
    apiVersion: HTTPROUTE_API_VERSION,
    kind,
    plural: kind === GRPCROUTE_KIND ? GRPCROUTE_PLURAL : "httproutes",
  };
  return new RouteCache({
    logger,
    what: { objects: `${kind}s`, api: `the Gateway API's ${resource.plural}` },
    probe: async () => {
      try {
        const list = await requestJson<{ resources?: { name?: string }[] }>(
          kc,
          { method: "GET", path: `/apis/${HTTPROUTE_API_VERSION}`, timeoutMs: 10_000 },
          traffic,
        );
        return (list.resources ?? []).some((r) => r.name === resource.plural);
      } catch (err) {
        if (isNotFound(err)) return false;
        throw err;
      }
    },
    makeInformers: () =>
      new InformerSet<HTTPRoute>(
        (namespace) =>
          new Informer<HTTPRoute>({
            // No label selector: a route the user owns (httpRouteRef) carries none of ours.
            source: kubeListWatch<HTTPRoute>(kc, resource, { namespace, ...traffic }),
            resyncPeriodMs: config.resyncPeriodMs,
            logger: childLogger(logger, { informer: resource.plural, namespace }),
          }),
        config.watchNamespaces,
      ),
    onEvent: (route) => {
      const owner = route.metadata?.ownerReferences?.find((r) => r.controller && r.kind === KIND);
      if (owner && route.metadata?.namespace) queue.add(`${route.metadata.namespace}/${owner.name}`);
      // The ModelDeployments that name it (a route that appears later is picked up by them).
      for (const md of usingTraffic())
        if (
          kind === HTTPROUTE_KIND &&
          md.metadata?.namespace === route.metadata?.namespace &&
          md.spec.traffic?.gatewayAPI?.httpRouteRef?.name === route.metadata?.name
        )
          queue.add(objectKey(md));
    },
    onAvailable: () => {
      for (const md of usingTraffic()) queue.add(objectKey(md));
    },
  });
}

/**
 * The InferencePool cache (the same RouteCache, for pools): started when a ModelDeployment
 * with spec.traffic is reconciled and the operator can list inference.networking.k8s.io/v1
 * inferencepools. It holds only the operator's own pools (label managed-by): it writes them
 * whole and deletes those of retired versions. The probe lists them (limit 1) rather than ask
 * discovery, so that an operator without the RBAC rule (the chart's
 * rbac.inferencePools=false) sees "missing", with a condition, instead of a watch that fails.
 */
export function createInferencePoolCache(
  config: Config,
  kc: KubeConnection,
  logger: Logger,
  traffic: { onRequest: (method: string, code: number) => void; rateLimiter: RateLimiter },
  queue: WorkQueue,
  usingPools: () => readonly ModelDeployment[],
): RouteCache<InferencePool> {
  const resource: ResourceType = {
    apiVersion: INFERENCEPOOL_API_VERSION,
    kind: INFERENCEPOOL_KIND,
    plural: INFERENCEPOOL_PLURAL,
  };
  const namespace = config.watchNamespaces?.[0];
  const listPath = `/apis/${INFERENCEPOOL_API_VERSION}${namespace ? `/namespaces/${namespace}` : ""}/${INFERENCEPOOL_PLURAL}?limit=1`;
  return new RouteCache<InferencePool>({
    logger,
    what: { objects: "InferencePools", api: "the InferencePool API" },
    probe: async () => {
      try {
        await requestJson(kc, { method: "GET", path: listPath, timeoutMs: 10_000 }, traffic);
        return true;
      } catch (err) {
        if (isNotFound(err) || isForbidden(err)) return false;
        throw err;
      }
    },
    makeInformers: () =>
      new InformerSet<InferencePool>(
        (ns) =>
          new Informer<InferencePool>({
            source: kubeListWatch<InferencePool>(kc, resource, {
              namespace: ns,
              labelSelector: MANAGED,
              ...traffic,
            }),
            resyncPeriodMs: config.resyncPeriodMs,
            logger: childLogger(logger, { informer: INFERENCEPOOL_PLURAL, namespace: ns }),
          }),
        config.watchNamespaces,
      ),
    onEvent: (pool) => {
      const owner = pool.metadata?.ownerReferences?.find((r) => r.controller && r.kind === KIND);
      if (owner && pool.metadata?.namespace) queue.add(`${pool.metadata.namespace}/${owner.name}`);
    },
    onAvailable: () => {
      for (const md of usingPools()) queue.add(objectKey(md));
    },
  });
}
