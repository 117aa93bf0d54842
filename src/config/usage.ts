// The --help text.
import { DESTINATION_MODES } from "../health/destination-policy.ts";
import { PROMQL_NAMESPACE_MODES } from "../health/promql-rule.ts";
import { RESPONSE_MESSAGES } from "../health/reveal.ts";
import { LOG_FORMATS, LOG_LEVELS } from "../observability/log.ts";
import { DEFAULTS, ENV_PREFIX, MAX_WORKERS, envName } from "./flags.ts";

export function usage(): string {
  return `Usage: model-rollout-operator [flags]

Rolls out ModelDeployments (mlops.dev/v1alpha1): canary and blue/green, gated by health checks.

Flags:
  --metrics-bind-address ADDR       Prometheus /metrics address, "0" disables (default "${DEFAULTS.metricsBindAddress}")
  --metrics-secure                  Serve /metrics over HTTPS, only to bearer tokens whose user may get the
                                    non-resource URL /metrics (TokenReview and SubjectAccessReview; default false)
  --metrics-cert-file FILE          PEM certificate of the secure metrics server, read again when it changes
                                    (default: a self-signed certificate made at start)
  --metrics-key-file FILE           PEM private key of that certificate
  --health-probe-bind-address ADDR  /healthz and /readyz address, "0" disables (default "${DEFAULTS.healthProbeBindAddress}")
  --leader-elect                    Elect a leader through a Lease; only the leader reconciles (default false)
  --leader-election-namespace NS    Namespace of the Lease (default: env POD_NAMESPACE)
  --leader-election-id NAME         Name of the Lease (default "${DEFAULTS.leaderElectionId}")
  --leader-elect-lease-duration D   How long a Lease holds without renewal (default ${DEFAULTS.leaseDuration})
  --leader-elect-renew-deadline D   How long the leader retries renewing before it gives up (default ${DEFAULTS.renewDeadline})
  --leader-elect-retry-period D     Time between Lease attempts (default ${DEFAULTS.retryPeriod})
  --watch-namespace NS[,NS...]      Reconcile only these namespaces (default: env WATCH_NAMESPACE, else all)
  --watch-label-selector SELECTOR   Reconcile only the ModelDeployments these labels select, one shard of several:
                                    mlops.dev/shard=NAME for a shard, '!mlops.dev/shard' for the default instance
                                    (default: all; see docs/sharding.md)
  --log-level LEVEL                 ${LOG_LEVELS.join(", ")} (default ${DEFAULTS.logLevel})
  --log-format FORMAT               ${LOG_FORMATS.join(" or ")} (default ${DEFAULTS.logFormat})
  --workers N                       ModelDeployments reconciled in parallel, 1..${MAX_WORKERS} (default ${DEFAULTS.workers})
  --resync-period D                 Full relist of every cache, "0" disables (default ${DEFAULTS.resyncPeriod})
  --kubeconfig FILE                 Kubeconfig file (default: in-cluster, else $KUBECONFIG, else ~/.kube/config)
  --kube-api-qps N                  Average requests per second to the API server, "0" for no limit (default ${DEFAULTS.kubeApiQps})
  --kube-api-burst N                Requests sent at once before the QPS limit applies (default ${DEFAULTS.kubeApiBurst})
  --check-dns-server ADDR[:PORT]    Resolve the names in health-check URLs through this DNS server, for an operator
                                    outside the cluster (default: the system resolver, the cluster DNS in a pod)
  --check-only-cidrs CIDR[,...]     Health checks connect only to these networks, whatever the destination
                                    policy allows, checked after name resolution (default: no such limit)
  --check-condition-timeout D       Longest one health check's successCondition may evaluate (default ${DEFAULTS.checkConditionTimeout})
  --check-condition-memory MIB      Heap limit of each successCondition worker thread (default ${DEFAULTS.checkConditionMemoryMb})
  --check-condition-workers N       Worker threads evaluating successConditions (default ${DEFAULTS.checkConditionWorkers})
  --check-min-interval D            Shortest interval of a health check; shorter ones are raised, with a warning (default ${DEFAULTS.checkMinInterval})
  --check-max-timeout D             Longest timeout of a health check; longer ones are lowered, with a warning (default ${DEFAULTS.checkMaxTimeout})
  --check-report-period D           Longest a passing check's repeated result waits for a status write; 0: write each (default ${DEFAULTS.checkReportPeriod})
  --check-response-messages WHOSE   Quote check responses in status and Events: ${RESPONSE_MESSAGES.join(" or ")} (default ${DEFAULTS.checkResponseMessages})
  --check-concurrency N             Health-check measurements in flight at once, 1..10000 (default ${DEFAULTS.checkConcurrency})
  --check-concurrency-per-destination N
                                    Measurements in flight at once against one host:port (default ${DEFAULTS.checkConcurrencyPerDestination})
  --check-destinations MODE         Where checks may go: ${DESTINATION_MODES.join(" or ")} (default ${DEFAULTS.checkDestinations})
  --check-allow-cidrs CIDR[,CIDR]   Addresses checks may reach although the policy denies them (e.g. 127.0.0.0/8)
  --check-allow-hosts HOST[,HOST]   restricted: hosts allowed besides the namespace's Services (".suffix" for a domain)
  --check-promql-namespace MODE     Every Prometheus selector must carry namespace="<the ModelDeployment's namespace>":
                                    ${PROMQL_NAMESPACE_MODES.join(", ")} (default ${DEFAULTS.checkPromqlNamespace}: required with --check-destinations=restricted)
  --check-promql-namespace-label L  The label holding a series' namespace (default "${DEFAULTS.checkPromqlNamespaceLabel}")
  --check-credentials-file FILE     Credentials health checks may name (CA bundle, client certificate, bearer token:
                                    files mounted into the operator) and the namespaces that may use each (default: none)
  --notification-destinations-file FILE
                                    Where ModelDeployments may send notifications (webhook, CloudEvents, Slack, Teams;
                                    URLs with tokens in mounted files) and the namespaces that may use each (default: none)
  -h, --help                        Show this help

Durations are like 90s, 5m, 1h30m, 500ms. Boolean flags take --flag, --flag=true, --flag=false or --no-flag.
Every flag can be set by the environment variable ${ENV_PREFIX}<FLAG> instead (${envName("log-level")}=debug,
${envName("leader-elect")}=true); a flag wins over its variable.
Environment: POD_NAMESPACE, POD_NAME (leader identity), WATCH_NAMESPACE, KUBECONFIG.`;
}
