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

/** The parts of a running operator that its stop sequence ends. */
export interface OperatorParts {
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
}

/** The stop sequence: readiness fails first, the Lease is released after the last reconcile. */
export async function stopOperator(parts: OperatorParts): Promise<void> {
  parts.probes.setShuttingDown();
  // First: a measurement cut short below must not reach a plan as an Error.
  parts.measurer.close();
  await parts.queue.shutdown();
  // What is not delivered stays in status: the next leader sends it.
  parts.notifier.stop();
  await parts.conditions.close();
  await parts.elector?.stop();
  await Promise.all(parts.informers.map((i) => i.stop()));
  // The caches opened on demand (routes, InferencePools, the readiness gate's pods).
  for (const cache of [parts.routes, parts.grpcRoutes, parts.pools, parts.pods]) await cache.stop();
  await parts.probes.close();
}
