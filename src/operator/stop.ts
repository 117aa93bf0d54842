// The operator's stop sequence.
import type { KubernetesObject } from "@kubernetes/client-node";
import type { Informer } from "../controller/informer.ts";
import type { Measurer } from "../controller/measurer.ts";
import type { WorkQueue } from "../controller/queue.ts";
import type { PodCache } from "../controller/pod-cache.ts";
import type { RouteCache } from "../controller/route-cache.ts";
import type { InferencePool } from "../plan/routers/inference-pool.ts";
import type { ConditionPool } from "../health/index.ts";
import type { LeaderElector } from "../kube/leader.ts";
import type { ProbeServers } from "../observability/probes.ts";
import type { Notifier } from "../notify/notifier.ts";

/** The stop sequence: readiness fails first, the Lease is released after the last reconcile. */
export async function stopOperator(parts: {
  probes: ProbeServers;
  measurer: Measurer;
  queue: WorkQueue;
  conditions: ConditionPool;
  elector: LeaderElector | undefined;
  informers: readonly Informer<KubernetesObject>[];
  routes: RouteCache;
  grpcRoutes: RouteCache;
  pools: RouteCache<InferencePool>;
  pods: PodCache;
  notifier: Notifier;
}): Promise<void> {
  const {
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
    notifier,
  } = parts;
  probes.setShuttingDown();
  // First: a measurement cut short below must not reach a plan as an Error.
  measurer.close();
  await queue.shutdown();
  // What is not delivered stays in status: the next leader sends it.
  notifier.stop();
  await conditions.close();
  await elector?.stop();
  await Promise.all(informers.map((i) => i.stop()));
  await routes.stop();
  await grpcRoutes.stop();
  await pools.stop();
  await pods.stop();
  await probes.close();
}
