// The operator assembled: caches, work queue, reconciler, probes, metrics, leader
// election. main.ts parses flags and handles signals; tests and benchmarks use this. Its
// parts are in operator/.
import type { Config } from "./config.ts";
import { OwnWrites } from "./controller/own-writes.ts";
import { WorkQueue } from "./controller/queue.ts";
import { Reconciler } from "./controller/reconciler.ts";
import { Shard } from "./controller/shard.ts";
import { kubeClient } from "./kube/client.ts";
import { loadKubeConnection, type KubeConnection } from "./kube/kubeconfig.ts";
import { readinessGateOf } from "./plan/readiness-gate.ts";
import { GRPCROUTE_KIND } from "./plan/routers/httproute.ts";
import { observedRateLimiter, rateLimiter } from "./kube/ratelimit.ts";
import type { Logger } from "./observability/log.ts";
import { OperatorMetrics } from "./observability/metrics.ts";
import type { ProbeServers } from "./observability/probes.ts";
import {
  createCaches,
  createInferencePoolCache,
  createPodCache,
  createRouteCache,
  routeEvents,
} from "./operator/caches.ts";
import { createChecks } from "./operator/checks.ts";
import { createNotifications } from "./operator/notifications.ts";
import { createElector } from "./operator/leader.ts";
import { startProbes } from "./operator/probes.ts";
import { stopOperator } from "./operator/stop.ts";
import { CONTROLLER, reconcileKey } from "./operator/workers.ts";

export { CONTROLLER } from "./operator/workers.ts";

export interface RunningOperator {
  readonly metrics: OperatorMetrics;
  readonly probes: ProbeServers;
  /** Graceful stop: readiness fails, the reconcile in flight finishes, the Lease is released. */
  stop(): Promise<void>;
  /** Resolves when leadership is lost (the process should exit non-zero) — never with leader election off. */
  readonly lostLeadership: Promise<void>;
}

export async function startOperator(
  config: Config,
  logger: Logger,
  connection?: KubeConnection,
): Promise<RunningOperator> {
  const kc = connection ?? (await loadKubeConnection(config.kubeconfig));
  const metrics = new OperatorMetrics({ leaderElectionId: config.leaderElectionId });
  // One rate limit for every request but the Lease's; every request counted by code and method.
  const limiter = observedRateLimiter(rateLimiter(config.kubeApiQps, config.kubeApiBurst), (ms) =>
    metrics.observeRateLimiterWait(ms),
  );
  const onRequest = (method: string, code: number) => metrics.countRequest(method, code);
  const client = kubeClient(kc, { onRequest, rateLimiter: limiter });
  const caches = createCaches(config, kc, logger, { onRequest, rateLimiter: limiter });
  const { informers, modelDeployments } = caches;

  const queueMetrics = metrics.queueObserver(CONTROLLER);
  metrics.setWorkers(CONTROLLER, config.workers);
  const queue = new WorkQueue({
    observer: queueMetrics,
    // Half the workers stay for changes while relists and passing measurements wait (queue.ts).
    maxLowInFlight: Math.max(1, Math.floor(config.workers / 2)),
    // And a fifth of them (2 of the default 10) take only users' changes, so that one starts
    // at once even while every other worker waits on the API server for a rollout's progress.
    reservedForHigh: config.workers >= 2 ? Math.max(1, Math.floor(config.workers / 5)) : 0,
    onHandlerError: (key, err) => logger.error("reconcile failed", { key, err: (err as Error).message }),
  });
  let workers: Promise<void> | undefined;
  // One shard of several (--watch-label-selector): when it may act on what its cache holds.
  const shard = config.watchLabelSelector
    ? new Shard({ requirements: config.watchLabelSelector.requirements })
    : undefined;
  // The operator's own writes of each ModelDeployment: their echoes go at the priority they were made at.
  const ownWrites = new OwnWrites();
  const { enqueue, index } = routeEvents(
    caches,
    queue,
    metrics,
    () => workers !== undefined,
    shard,
    ownWrites,
  );
  const routes = createRouteCache(config, kc, logger, { onRequest, rateLimiter: limiter }, queue, () =>
    modelDeployments.list().filter((md) => md.spec.traffic !== undefined),
  );
  const grpcRoutes = createRouteCache(
    config,
    kc,
    logger,
    { onRequest, rateLimiter: limiter },
    queue,
    () => modelDeployments.list().filter((md) => md.spec.traffic !== undefined),
    GRPCROUTE_KIND,
  );
  const pools = createInferencePoolCache(config, kc, logger, { onRequest, rateLimiter: limiter }, queue, () =>
    modelDeployments.list().filter((md) => md.spec.traffic?.gatewayAPI?.inferencePool !== undefined),
  );
  const pods = createPodCache(config, kc, logger, { onRequest, rateLimiter: limiter }, queue, () =>
    modelDeployments.list().filter(readinessGateOf),
  );
  // The health-check machinery; its policies go to the reconciler as they are.
  const { conditions, measurer, send, ...policies } = await createChecks(config, kc, metrics, queue, client);
  // Notifications: delivered beside the queue from the outbox in each status.
  const notifications = createNotifications(config, policies.destinations, send, metrics, queue);
  const reconciler = new Reconciler({
    client,
    modelDeployments,
    logger,
    metrics,
    index: { ...index, pods: pods.byModel },
    pods,
    routes,
    grpcRoutes,
    pools,
    measurer,
    ownWrites,
    notifications,
    shard,
    ...policies,
    checkBudget: { minIntervalMs: config.checkMinIntervalMs, maxTimeoutMs: config.checkMaxTimeoutMs },
    checkReportPeriodMs: config.checkReportPeriodMs,
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
    stop: () =>
      stopOperator({
        probes,
        measurer,
        queue,
        conditions,
        elector,
        informers,
        routes,
        grpcRoutes,
        pools,
        pods,
        notifier: notifications.notifier,
      }),
  };
}
