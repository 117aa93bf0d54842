// The operator assembled: caches, work queue, reconciler, probes, metrics, leader
// election. main.ts parses flags and handles signals; tests and benchmarks use this.
import { randomUUID } from "node:crypto";
import {
  KubeConfig,
  type KubernetesObject,
  type V1Deployment,
  type V1EndpointSlice,
  type V1Service,
} from "@kubernetes/client-node";
import { API_VERSION, KIND, LABEL_MANAGED_BY, OPERATOR_NAME, PLURAL } from "./api/constants.ts";
import type { ModelDeployment } from "./api/types.ts";
import type { Config } from "./config.ts";
import { controllerUid, IndexBy, serviceKeyOfSlice } from "./controller/index-by.ts";
import { InformerSet } from "./controller/informer-set.ts";
import { Informer, kubeListWatch, objectKey, type ResourceType } from "./controller/informer.ts";
import { WorkQueue } from "./controller/queue.ts";
import { Reconciler } from "./controller/reconciler.ts";
import { Measurer } from "./controller/measurer.ts";
import { ConditionPool, DestinationPolicyJudge, measureCheck } from "./health/index.ts";
import { apiServerAddresses } from "./kube/api-server-address.ts";
import { isConflict, isNotFound, kubeClient } from "./kube/client.ts";
import { kubeLeaseClient, LeaderElector } from "./kube/leader.ts";
import { rateLimiter } from "./kube/ratelimit.ts";
import { childLogger, type Logger } from "./observability/log.ts";
import { OperatorMetrics } from "./observability/metrics.ts";
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

export function loadKubeConfig(file: string | undefined): KubeConfig {
  const kc = new KubeConfig();
  if (file) kc.loadFromFile(file);
  else kc.loadFromDefault();
  return kc;
}

export async function startOperator(
  config: Config,
  logger: Logger,
  kc: KubeConfig = loadKubeConfig(config.kubeconfig),
): Promise<RunningOperator> {
  const metrics = new OperatorMetrics({ leaderElectionId: config.leaderElectionId });
  // One rate limit for every request but the Lease's; every request counted by code and method.
  const limiter = rateLimiter(config.kubeApiQps, config.kubeApiBurst);
  const onRequest = (method: string, code: number) => metrics.countRequest(method, code);
  const client = kubeClient(kc, { onRequest, rateLimiter: limiter });
  const informer = <T extends KubernetesObject>(resource: ResourceType, labelSelector?: string) =>
    new InformerSet<T>(
      (namespace) =>
        new Informer<T>({
          source: kubeListWatch<T>(kc, resource, {
            namespace,
            labelSelector,
            onRequest,
            rateLimiter: limiter,
          }),
          resyncPeriodMs: config.resyncPeriodMs,
          logger: childLogger(logger, { informer: resource.plural, namespace }),
        }),
      config.watchNamespaces,
    );

  const modelDeployments = informer<ModelDeployment>({ apiVersion: API_VERSION, kind: KIND, plural: PLURAL });
  const deployments = informer<V1Deployment>(
    { apiVersion: "apps/v1", kind: "Deployment", plural: "deployments" },
    MANAGED,
  );
  const services = informer<V1Service>({ apiVersion: "v1", kind: "Service", plural: "services" }, MANAGED);
  // The EndpointSlice controller copies the Service's labels onto its slices.
  const endpointSlices = informer<V1EndpointSlice>(
    { apiVersion: "discovery.k8s.io/v1", kind: "EndpointSlice", plural: "endpointslices" },
    MANAGED,
  );
  const informers: Informer<KubernetesObject>[] = [
    ...(modelDeployments.informers as readonly Informer<KubernetesObject>[]),
    ...(deployments.informers as readonly Informer<KubernetesObject>[]),
    ...(services.informers as readonly Informer<KubernetesObject>[]),
    ...(endpointSlices.informers as readonly Informer<KubernetesObject>[]),
  ];

  const queueMetrics = metrics.queueObserver(CONTROLLER);
  metrics.setWorkers(CONTROLLER, config.workers);
  const queue = new WorkQueue({
    observer: queueMetrics,
    onHandlerError: (key, err) => logger.error("reconcile failed", { key, err: (err as Error).message }),
  });

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
  modelDeployments.addEventHandler({
    add: enqueue,
    // Also called on every periodic relist: a level-triggered safety net.
    update: (_old, obj) => enqueue(obj),
    delete: enqueue,
  });
  // Rollout metrics follow the status as the API server has it; only the leader counts
  // the rollouts that end, so that summing over replicas counts each once.
  const mdName = (md: ModelDeployment) => [md.metadata?.namespace ?? "", md.metadata?.name ?? ""] as const;
  modelDeployments.addEventHandler({
    add: (md) => metrics.observeStatus(...mdName(md), md.status),
    update: (old, md) => {
      metrics.observeStatus(...mdName(md), md.status);
      if (workers) metrics.observeTransition(...mdName(md), old.status, md.status);
    },
    delete: (md) => metrics.forgetModelDeployment(...mdName(md)),
  });
  for (const set of [deployments, services] as InformerSet<KubernetesObject>[]) {
    set.addEventHandler({ add: enqueueOwner, update: (_o, n) => enqueueOwner(n), delete: enqueueOwner });
  }
  endpointSlices.addEventHandler({
    add: enqueueSliceOwner,
    update: (_o, n) => enqueueSliceOwner(n),
    delete: enqueueSliceOwner,
  });

  // Children by owner uid, EndpointSlices by their Service: a reconcile reads only its own.
  const index = {
    deployments: new IndexBy<V1Deployment>(controllerUid),
    services: new IndexBy<V1Service>(controllerUid),
    endpointSlices: new IndexBy<V1EndpointSlice>(serviceKeyOfSlice),
  };
  deployments.addEventHandler(index.deployments.handlers);
  services.addEventHandler(index.services.handlers);
  endpointSlices.addEventHandler(index.endpointSlices.handlers);

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
  // Measurements run beside the queue; each one done is a new reconcile of its key.
  const measurer = new Measurer({
    measure: async (due) => {
      const m = await measureCheck(due, () => new Date(), {
        conditions,
        responseMessages: config.checkResponseMessages,
        destinations,
      });
      metrics.countHealthCheckMeasurement(due.vars.namespace, due.vars.name, m.name, m.phase);
      return m;
    },
    onMeasured: (key) => queue.add(key),
    maxConcurrent: config.checkConcurrency,
    maxPerDestination: config.checkConcurrencyPerDestination,
  });
  const reconciler = new Reconciler({
    client,
    modelDeployments,
    logger,
    metrics,
    index,
    measurer,
    destinations,
    checkBudget: { minIntervalMs: config.checkMinIntervalMs, maxTimeoutMs: config.checkMaxTimeoutMs },
  });

  for (const inf of informers) inf.start();

  let elector: LeaderElector | undefined;
  let resolveLost: () => void = () => {};
  const lostLeadership = new Promise<void>((r) => (resolveLost = r));

  let workers: Promise<void> | undefined;
  let startWorkers: () => void = () => {};
  if (config.leaderElect) {
    elector = new LeaderElector({
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
        startWorkers();
      },
      onStoppedLeading: () => {
        metrics.setLeader(false);
        logger.error("lost the leader Lease: stopping");
        resolveLost();
      },
    });
  }

  startWorkers = () => {
    if (workers) return;
    workers = (async () => {
      await Promise.all(informers.map((i) => i.waitForSync()));
      logger.info("caches synced, reconciling", { modelDeployments: modelDeployments.list().length });
      for (const md of modelDeployments.list()) enqueue(md);
      await queue.run(config.workers, async (key) => {
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
      });
    })().catch((err: unknown) => {
      logger.error("the controller stopped", { err: (err as Error).message });
      resolveLost();
    });
  };

  const probes = await startProbeServers({
    metricsAddress: config.metricsBindAddress,
    healthAddress: config.healthProbeBindAddress,
    metrics: {
      render: async () => ({
        contentType: metrics.registry.contentType,
        body: await metrics.registry.metrics(),
      }),
    },
    readiness: elector
      ? [cachesSyncedCheck(informers), leaderElectionCheck(elector)]
      : [cachesSyncedCheck(informers)],
    logger,
  });

  if (elector) void elector.run();
  else {
    metrics.setLeader(true);
    startWorkers();
  }

  return {
    metrics,
    probes,
    lostLeadership,
    async stop() {
      probes.setShuttingDown();
      // First: a measurement cut short below must not reach a plan as an Error.
      measurer.close();
      await queue.shutdown();
      await conditions.close();
      await elector?.stop();
      await Promise.all(informers.map((i) => i.stop()));
      await probes.close();
    },
  };
}
