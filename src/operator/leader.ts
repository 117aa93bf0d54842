// Leader election for the operator: the Lease elector and what winning and losing do.
import type { Config } from "../config.ts";
import type { KubeConnection } from "../kube/kubeconfig.ts";
import { kubeLeaseClient, LeaderElector } from "../kube/leader.ts";
import type { Logger } from "../observability/log.ts";
import type { OperatorMetrics } from "../observability/metrics.ts";

/** The Lease elector when leader election is on: it starts the workers on winning, reports losing. */
export function createElector(
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
