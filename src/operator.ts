// The operator assembled: caches, work queue, reconciler, probes, metrics, leader
// election. main.ts parses flags and handles signals; tests and benchmarks use this.
import { randomUUID } from "node:crypto";
import type {
  KubernetesObject,
  V1Deployment,
  V1EndpointSlice,
  V1Pod,
  V1Service,
} from "@kubernetes/client-node";
import {
  API_VERSION,
  KIND,
  LABEL_MANAGED_BY,
  LABEL_READINESS_GATE,
  OPERATOR_NAME,
  PLURAL,
} from "./api/constants.ts";
import type { ModelDeployment } from "./api/types.ts";
import type { Config } from "./config.ts";
import { controllerUid, IndexBy, modelKeyOfPod, serviceKeyOfSlice } from "./controller/index-by.ts";
import { InformerSet } from "./controller/informer-set.ts";
import { Informer, objectKey } from "./controller/informer.ts";
import { kubeListWatch, type ResourceType } from "./kube/listwatch.ts";
import { WorkQueue } from "./controller/queue.ts";
import { Reconciler } from "./controller/reconciler.ts";
import { RouteCache } from "./controller/route-cache.ts";
import { requestJson } from "./kube/request.ts";
import { HTTPROUTE_API_VERSION, HTTPROUTE_KIND, type HTTPRoute } from "./plan/routers/httproute.ts";
import {
  checkFetch,
  ConditionPool,
  CredentialFiles,
  CredentialPolicy,
  DestinationPolicyJudge,
  measureCheck,
  promqlNamespaceRule,
  type PromqlNamespaceRule,
} from "./health/index.ts";
import { Measurer } from "./controller/measurer.ts";
import { apiServerAddresses } from "./kube/api-server-address.ts";
import { isConflict, isNotFound, kubeClient } from "./kube/client.ts";
import { loadKubeConnection, type KubeConnection } from "./kube/kubeconfig.ts";
import { kubeLeaseClient, LeaderElector } from "./kube/leader.ts";
import { rateLimiter, type RateLimiter } from "./kube/ratelimit.ts";
import { childLogger, type Logger } from "./observability/log.ts";
import { OperatorMetrics } from "./observability/metrics.ts";
import { kubeAccessReviewer } from "./kube/access-review.ts";
import {
  inMemoryCertificate,
  readCertificateFiles,
  watchCertificateFiles,
} from "./observability/cert-files.ts";
import { MetricsAuthorizer } from "./observability/metrics-auth.ts";
import {
  cachesSyncedCheck,
  leaderElectionCheck,
  startProbeServers,
  type ProbeServers,
} from "./observability/probes.ts";

export const CONTROLLER = "modeldeployment";
const MANAGED = `${LABEL_MANAGED_BY}=${OPERATOR_NAME}`;

export interface RunningOperator {
  readonly metrics: OperatorMetrics;
  readonly probes: ProbeServers;
  /** Graceful stop: readiness fails, the reconcile in flight finishes, the Lease is released. */
  stop(): Promise<void>;
  /** Resolves when leadership is lost (the process should exit non-zero) — never with leader election off. */
  readonly lostLeadership: Promise<void>;
}

/** The informers of the kinds the operator watches (pods only behind the readiness gate), each one set per watched namespace. */
function createCaches(
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
    modelDeployments: informer<ModelDeployment>({ apiVersion: API_VERSION, kind: KIND, plural: PLURAL }),
    deployments: informer<V1Deployment>(
      { apiVersion: "apps/v1", kind: "Deployment", plural: "deployments" },
      MANAGED,
    ),
    services: informer<V1Service>({ apiVersion: "v1", kind: "Service", plural: "services" }, MANAGED),
    // The EndpointSlice controller copies the Service's labels onto its slices.
    endpointSlices: informer<V1EndpointSlice>(
      { apiVersion: "discovery.k8s.io/v1", kind: "EndpointSlice", plural: "endpointslices" },
      MANAGED,
    ),
    // Only the pods behind the readiness gate (spec.strategy.canary.readinessGate), whose
    // condition the operator sets: a cluster without it caches no pod at all.
    pods: informer<V1Pod>({ apiVersion: "v1", kind: "Pod", plural: "pods" }, LABEL_READINESS_GATE),
  };
  const informers: Informer<KubernetesObject>[] = [
    ...(caches.modelDeployments.informers as readonly Informer<KubernetesObject>[]),
    ...(caches.deployments.informers as readonly Informer<KubernetesObject>[]),
    ...(caches.services.informers as readonly Informer<KubernetesObject>[]),
    ...(caches.endpointSlices.informers as readonly Informer<KubernetesObject>[]),
    ...(caches.pods.informers as readonly Informer<KubernetesObject>[]),
  ];
  return { ...caches, informers };
}

type Caches = ReturnType<typeof createCaches>;

/**
 * Puts the key of the owning ModelDeployment on the queue for every event, keeps the rollout
 * metrics, and indexes the children by owner so that a reconcile reads only its own.
 */
function routeEvents(caches: Caches, queue: WorkQueue, metrics: OperatorMetrics, reconciling: () => boolean) {
  const enqueue = (obj: KubernetesObject) => queue.add(objectKey(obj));
  const enqueueOwner = (obj: KubernetesObject) => {
    const owner = obj.metadata?.ownerReferences?.find((r) => r.controller && r.kind === KIND);
    if (owner && obj.metadata?.namespace) queue.add(`${obj.metadata.namespace}/${owner.name}`);
  };
  // The clients' Service is named after its ModelDeployment, so the slice's key is its owner's.
  const enqueueSliceOwner = (obj: KubernetesObject) => {
    const key = serviceKeyOfSlice(obj);
    if (key) queue.add(key);
  };
  caches.modelDeployments.addEventHandler({
    add: enqueue,
    // Also called on every periodic relist: a level-triggered safety net.
    update: (_old, obj) => enqueue(obj),
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
    set.addEventHandler({ add: enqueueOwner, update: (_o, n) => enqueueOwner(n), delete: enqueueOwner });
  }
  caches.endpointSlices.addEventHandler({
    add: enqueueSliceOwner,
    update: (_o, n) => enqueueSliceOwner(n),
    delete: enqueueSliceOwner,
  });
  // A gated pod's ModelDeployment is named by its label mlops.dev/model.
  const enqueuePodOwner = (obj: KubernetesObject) => {
    const key = modelKeyOfPod(obj);
    if (key) queue.add(key);
  };
  caches.pods.addEventHandler({
    add: enqueuePodOwner,
    update: (_o, n) => enqueuePodOwner(n),
    delete: enqueuePodOwner,
  });

  // Children by owner uid, EndpointSlices by their Service: a reconcile reads only its own.
  const index = {
    deployments: new IndexBy<V1Deployment>(controllerUid),
    services: new IndexBy<V1Service>(controllerUid),
    endpointSlices: new IndexBy<V1EndpointSlice>(serviceKeyOfSlice),
    pods: new IndexBy<V1Pod>(modelKeyOfPod),
  };
  caches.deployments.addEventHandler(index.deployments.handlers);
  caches.services.addEventHandler(index.services.handlers);
  caches.endpointSlices.addEventHandler(index.endpointSlices.handlers);
  caches.pods.addEventHandler(index.pods.handlers);
  return { enqueue, index };
}

/**
 * The HTTPRoute cache (route-cache.ts): started when a ModelDeployment with spec.traffic is
 * reconciled and the API server serves gateway.networking.k8s.io/v1 httproutes.
 */
function createRouteCache(
  config: Config,
  kc: KubeConnection,
  logger: Logger,
  traffic: { onRequest: (method: string, code: number) => void; rateLimiter: RateLimiter },
  queue: WorkQueue,
  usingTraffic: () => readonly ModelDeployment[],
): RouteCache {
  const resource: ResourceType = {
    apiVersion: HTTPROUTE_API_VERSION,
    kind: HTTPROUTE_KIND,
    plural: "httproutes",
  };
  return new RouteCache({
    logger,
    probe: async () => {
      try {
        const list = await requestJson<{ resources?: { name?: string }[] }>(
          kc,
          { method: "GET", path: `/apis/${HTTPROUTE_API_VERSION}`, timeoutMs: 10_000 },
          traffic,
        );
        return (list.resources ?? []).some((r) => r.name === "httproutes");
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
            logger: childLogger(logger, { informer: "httproutes", namespace }),
          }),
        config.watchNamespaces,
      ),
    onEvent: (route) => {
      const owner = route.metadata?.ownerReferences?.find((r) => r.controller && r.kind === KIND);
      if (owner && route.metadata?.namespace) queue.add(`${route.metadata.namespace}/${owner.name}`);
      // The ModelDeployments that name it (a route that appears later is picked up by them).
      for (const md of usingTraffic())
        if (
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

/** One reconcile of `key` as a queue worker runs it: timed, logged, requeued as the result or the error says. */
async function reconcileKey(
  key: string,
  reconciler: Reconciler,
  queue: WorkQueue,
  metrics: OperatorMetrics,
  queueMetrics: ReturnType<OperatorMetrics["queueObserver"]>,
  logger: Logger,
): Promise<void> {
  const workDone = queueMetrics.started(key);
  const workerDone = metrics.workerStarted(CONTROLLER);
  const started = process.hrtime.bigint();
  const log = childLogger(logger, {
    controller: CONTROLLER,
    modelDeployment: { namespace: key.split("/")[0], name: key.split("/")[1] },
    reconcileID: randomUUID(),
  });
  try {
    const result = await reconciler.reconcile(key, log);
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    queue.forget(key);
    if (result.requeueAfterMs !== undefined) {
      queue.addAfter(key, Math.max(0, result.requeueAfterMs));
      metrics.observeReconcile(CONTROLLER, "requeue_after", seconds);
    } else {
      metrics.observeReconcile(CONTROLLER, "success", seconds);
    }
    if (result.writes > 0)
      log.debug("reconciled", { writes: result.writes, requeueAfterMs: result.requeueAfterMs });
  } catch (err) {
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    metrics.observeReconcile(CONTROLLER, "error", seconds);
    // 409 Conflict: the cache was behind; 404: an object went away. Both are normal.
    if (isConflict(err) || isNotFound(err))
      log.debug("reconcile will be retried", { err: (err as Error).message });
    else log.error("reconcile failed", { err: (err as Error).message });
    queue.addRateLimited(key);
  } finally {
    workDone();
    workerDone();
  }
}

/** The Lease elector when leader election is on: it starts the workers on winning, reports losing. */
function createElector(
  config: Config,
  kc: KubeConnection,
  logger: Logger,
  metrics: OperatorMetrics,
  onRequest: (method: string, code: number) => void,
  on: { started: () => void; lost: () => void },
): LeaderElector | undefined {
  if (!config.leaderElect) return undefined;
  return new LeaderElector({
    client: kubeLeaseClient(kc, { onRequest }),
    namespace: config.leaderElectionNamespace ?? "default",
    name: config.leaderElectionId,
    identity: config.leaderElectionIdentity,
    leaseDurationMs: config.leaseDurationMs,
    renewDeadlineMs: config.renewDeadlineMs,
    retryPeriodMs: config.retryPeriodMs,
    logger,
    onStartedLeading: () => {
      metrics.setLeader(true);
      logger.info("became the leader");
      on.started();
    },
    onStoppedLeading: () => {
      metrics.setLeader(false);
      logger.error("lost the leader Lease: stopping");
      on.lost();
    },
  });
}

/**
 * The health-check machinery: the successCondition pool, the destination policy, the PromQL
 * namespace rule, the credentials checks may name, how checks connect, and the measurer that
 * runs them beside the queue.
 */
async function createChecks(
  config: Config,
  kc: KubeConnection,
  metrics: OperatorMetrics,
  queue: WorkQueue,
): Promise<{
  conditions: ConditionPool;
  destinations: DestinationPolicyJudge;
  promqlNamespace: PromqlNamespaceRule | undefined;
  credentials: CredentialPolicy;
  measurer: Measurer;
}> {
  // successConditions run on worker threads under the platform's budget, never on this loop.
  const conditions = new ConditionPool({
    timeoutMs: config.checkConditionTimeoutMs,
    memoryMb: config.checkConditionMemoryMb,
    workers: config.checkConditionWorkers,
  });
  // Where checks may go: the platform's policy; the API server's own address is always in it.
  const destinations = new DestinationPolicyJudge({
    mode: config.checkDestinations,
    allowCidrs: config.checkAllowCidrs,
    allowHosts: config.checkAllowHosts,
    apiServers: await apiServerAddresses(kc, process.env),
  });
  // Prometheus queries read only their own namespace's series where the platform says so.
  const promqlNamespace = promqlNamespaceRule(
    config.checkPromqlNamespace,
    config.checkDestinations,
    config.checkPromqlNamespaceLabel,
  );
  // Credentials checks may name: the platform's files, never Secrets read through the API.
  const credentials = { policy: new CredentialPolicy(config.checkCredentials), files: new CredentialFiles() };
  // How checks connect: names through --check-dns-server, only to --check-only-cidrs, and each
  // resolved address judged by the policy when the connection is made.
  const sendCheck = checkFetch({
    dnsServer: config.checkDnsServer,
    allowedCidrs: config.checkOnlyCidrs,
    judgeAddress: (address, port) => destinations.judgeAddress(address, port),
  });
  // Measurements run beside the queue; each one done is a new reconcile of its key.
  const measurer = new Measurer({
    measure: async (due) => {
      const m = await measureCheck(due, () => new Date(), {
        conditions,
        responseMessages: config.checkResponseMessages,
        destinations,
        promqlNamespace,
        credentials,
        send: sendCheck,
      });
      metrics.countHealthCheckMeasurement(due.vars.namespace, due.vars.name, m.name, m.phase);
      return m;
    },
    onMeasured: (key) => queue.add(key),
    maxConcurrent: config.checkConcurrency,
    maxPerDestination: config.checkConcurrencyPerDestination,
  });
  return { conditions, destinations, promqlNamespace, credentials: credentials.policy, measurer };
}

/** The reviews of a secure metrics request take at most this long; then the answer is 503. */
const METRICS_REVIEW_TIMEOUT_MS = 10_000;

/**
 * --metrics-secure: the certificate (from the files, else self-signed) and the authorizer that
 * asks the API server about each new token. Reviews have a rate limit of their own, so that a
 * flood of tokens never takes the reconciles' share of the API budget.
 */
function secureMetrics(
  config: Config,
  kc: KubeConnection,
  onRequest: (method: string, code: number) => void,
  logger: Logger,
): { tls: { cert: string; key: string }; authorizer: MetricsAuthorizer } | undefined {
  if (!config.metricsSecure || !config.metricsBindAddress) return undefined;
  const tls =
    config.metricsCertFile && config.metricsKeyFile
      ? readCertificateFiles(config.metricsCertFile, config.metricsKeyFile)
      : inMemoryCertificate();
  if (!config.metricsCertFile) logger.info("serving metrics with a self-signed certificate made at start");
  const reviewer = kubeAccessReviewer(
    kc,
    { onRequest, rateLimiter: rateLimiter(10, 20) },
    METRICS_REVIEW_TIMEOUT_MS,
  );
  return { tls, authorizer: new MetricsAuthorizer({ reviewer }) };
}

/** Serves a renewed --metrics-cert-file from the next connection on; returns stop. */
function watchMetricsCertificate(
  config: Config,
  probes: ProbeServers,
  logger: Logger,
): (() => void) | undefined {
  const { metricsCertFile, metricsKeyFile } = config;
  if (!config.metricsSecure || !metricsCertFile || !metricsKeyFile) return undefined;
  return watchCertificateFiles(metricsCertFile, metricsKeyFile, (pair) => {
    if (pair instanceof Error) {
      logger.error("the metrics certificate files changed but cannot be used: keeping the old one", {
        err: pair.message,
      });
      return;
    }
    probes.setMetricsCertificate(pair);
    logger.info("serving metrics with the renewed certificate", { file: metricsCertFile });
  });
}

/**
 * /metrics (with --metrics-secure over HTTPS, for reviewed tokens only), /healthz and /readyz;
 * ready once the caches are synced and, with leader election, the Lease is read and renewed.
 */
async function startProbes(
  config: Config,
  metrics: OperatorMetrics,
  informers: readonly Informer<KubernetesObject>[],
  elector: LeaderElector | undefined,
  logger: Logger,
  kc: KubeConnection,
  onRequest: (method: string, code: number) => void,
): Promise<ProbeServers> {
  const secure = secureMetrics(config, kc, onRequest, logger);
  const probes = await startProbeServers({
    metricsAddress: config.metricsBindAddress,
    metricsTls: secure?.tls,
    metricsAuthorizer: secure?.authorizer,
    healthAddress: config.healthProbeBindAddress,
    metrics,
    readiness: elector
      ? [cachesSyncedCheck(informers), leaderElectionCheck(elector)]
      : [cachesSyncedCheck(informers)],
    logger,
  });
  const stopWatching = watchMetricsCertificate(config, probes, logger);
  return {
    ...probes,
    close: async () => {
      stopWatching?.();
      await probes.close();
    },
  };
}

/** The stop sequence: readiness fails first, the Lease is released after the last reconcile. */
async function stopOperator(parts: {
  probes: ProbeServers;
  measurer: Measurer;
  queue: WorkQueue;
  conditions: ConditionPool;
  elector: LeaderElector | undefined;
  informers: readonly Informer<KubernetesObject>[];
  routes: RouteCache;
}): Promise<void> {
  const { probes, measurer, queue, conditions, elector, informers, routes } = parts;
  probes.setShuttingDown();
  // First: a measurement cut short below must not reach a plan as an Error.
  measurer.close();
  await queue.shutdown();
  await conditions.close();
  await elector?.stop();
  await Promise.all(informers.map((i) => i.stop()));
  await routes.stop();
  await probes.close();
}

export async function startOperator(
  config: Config,
  logger: Logger,
  connection?: KubeConnection,
): Promise<RunningOperator> {
  const kc = connection ?? (await loadKubeConnection(config.kubeconfig));
  const metrics = new OperatorMetrics({ leaderElectionId: config.leaderElectionId });
  // One rate limit for every request but the Lease's; every request counted by code and method.
  const limiter = rateLimiter(config.kubeApiQps, config.kubeApiBurst);
  const onRequest = (method: string, code: number) => metrics.countRequest(method, code);
  const client = kubeClient(kc, { onRequest, rateLimiter: limiter });
  const caches = createCaches(config, kc, logger, { onRequest, rateLimiter: limiter });
  const { informers, modelDeployments } = caches;

  const queueMetrics = metrics.queueObserver(CONTROLLER);
  metrics.setWorkers(CONTROLLER, config.workers);
  const queue = new WorkQueue({
    observer: queueMetrics,
    onHandlerError: (key, err) => logger.error("reconcile failed", { key, err: (err as Error).message }),
  });
  let workers: Promise<void> | undefined;
  const { enqueue, index } = routeEvents(caches, queue, metrics, () => workers !== undefined);
  const routes = createRouteCache(config, kc, logger, { onRequest, rateLimiter: limiter }, queue, () =>
    modelDeployments.list().filter((md) => md.spec.traffic !== undefined),
  );
  const { conditions, destinations, promqlNamespace, credentials, measurer } = await createChecks(
    config,
    kc,
    metrics,
    queue,
  );
  const reconciler = new Reconciler({
    client,
    modelDeployments,
    logger,
    metrics,
    index,
    routes,
    measurer,
    destinations,
    promqlNamespace,
    credentials,
    checkBudget: { minIntervalMs: config.checkMinIntervalMs, maxTimeoutMs: config.checkMaxTimeoutMs },
  });

  for (const inf of informers) inf.start();

  let resolveLost: () => void = () => {};
  const lostLeadership = new Promise<void>((r) => (resolveLost = r));
  const startWorkers = () => {
    if (workers) return;
    workers = (async () => {
      await Promise.all(informers.map((i) => i.waitForSync()));
      logger.info("caches synced, reconciling", { modelDeployments: modelDeployments.list().length });
      for (const md of modelDeployments.list()) enqueue(md);
      await queue.run(config.workers, (key) =>
        reconcileKey(key, reconciler, queue, metrics, queueMetrics, logger),
      );
    })().catch((err: unknown) => {
      logger.error("the controller stopped", { err: (err as Error).message });
      resolveLost();
    });
  };
  const elector = createElector(config, kc, logger, metrics, onRequest, {
    started: startWorkers,
    lost: () => resolveLost(),
  });

  const probes = await startProbes(config, metrics, informers, elector, logger, kc, onRequest);

  if (elector) void elector.run();
  else {
    metrics.setLeader(true);
    startWorkers();
  }

  return {
    metrics,
    probes,
    lostLeadership,
    stop: () => stopOperator({ probes, measurer, queue, conditions, elector, informers, routes }),
  };
}
