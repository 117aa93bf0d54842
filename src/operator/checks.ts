// The health-check machinery the reconciler is given, built from the platform's flags.
import type { V1ConfigMap } from "@kubernetes/client-node";
import type { Config } from "../config.ts";
import type { KubeClient } from "../kube/client.ts";
import { Measurer } from "../controller/measurer.ts";
import type { WorkQueue } from "../controller/queue.ts";
import {
  checkFetch,
  ConditionPool,
  CredentialFiles,
  CredentialPolicy,
  DestinationPolicyJudge,
  measureCheck,
  promqlNamespaceRule,
  type ConfigMapReader,
  type PromqlNamespaceRule,
} from "../health/index.ts";
import type { CheckFetch } from "../health/dial.ts";
import { apiServerAddresses } from "../kube/api-server-address.ts";
import type { KubeConnection } from "../kube/kubeconfig.ts";
import type { OperatorMetrics } from "../observability/metrics.ts";

/**
 * The health-check machinery: the successCondition pool, the destination policy, the PromQL
 * namespace rule, the credentials checks may name, how checks connect, and the measurer that
 * runs them beside the queue.
 */
export async function createChecks(
  config: Config,
  kc: KubeConnection,
  metrics: OperatorMetrics,
  queue: WorkQueue,
  client: KubeClient,
): Promise<{
  conditions: ConditionPool;
  destinations: DestinationPolicyJudge;
  promqlNamespace: PromqlNamespaceRule | undefined;
  credentials: CredentialPolicy;
  measurer: Measurer;
  /** How checks (and notifications) connect: the policy judges each resolved address. */
  send: CheckFetch;
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
  // An agreement check's request set: one ConfigMap of the ModelDeployment's namespace, read
  // with get when it is measured (no cache of every ConfigMap in the cluster).
  const configMaps: ConfigMapReader = (namespace, name) =>
    client.get<V1ConfigMap>("v1", "ConfigMap", namespace, name);
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
        configMaps,
      });
      metrics.countHealthCheckMeasurement(due.vars.namespace, due.vars.name, m.name, m.phase);
      return m;
    },
    // A passing measurement tells of nothing wrong: its reconcile goes after a user's change
    // (at 1000 rollouts measuring, their results would otherwise take every worker and the
    // whole API budget). One that fails goes first: it may roll back.
    onMeasured: (key, m) => queue.add(key, m.phase === "Successful" ? "low" : "normal"),
    maxConcurrent: config.checkConcurrency,
    maxPerDestination: config.checkConcurrencyPerDestination,
  });
  return {
    conditions,
    destinations,
    promqlNamespace,
    credentials: credentials.policy,
    measurer,
    send: sendCheck,
  };
}
