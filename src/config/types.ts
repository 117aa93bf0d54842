// What the configuration is: the typed object parseConfig (../config.ts) returns.
import type { Requirement } from "../api/label-selector.ts";
import type { DestinationMode } from "../health/destination-policy.ts";
import type { Credential } from "../health/credentials.ts";
import type { NotificationDestination } from "../notify/destinations.ts";
import type { PromqlNamespaceMode } from "../health/promql-rule.ts";
import type { ResponseMessages } from "../health/reveal.ts";
import type { LogFormat, LogLevel } from "../observability/log.ts";

/** Where a server listens. host undefined = every interface. */
export interface BindAddress {
  host: string | undefined;
  port: number;
}

export interface Config {
  /** --help was given: print usage() and exit 0. */
  help: boolean;
  /** Prometheus /metrics; undefined = disabled ("0"). */
  metricsBindAddress: BindAddress | undefined;
  /** Serve /metrics over HTTPS, to clients whose token may `get` /metrics (TokenReview, SubjectAccessReview). */
  metricsSecure: boolean;
  /** PEM certificate and key of the secure metrics server; undefined = a self-signed one made at start. */
  metricsCertFile: string | undefined;
  metricsKeyFile: string | undefined;
  /** /healthz and /readyz; undefined = disabled ("0"). */
  healthProbeBindAddress: BindAddress | undefined;
  leaderElect: boolean;
  /** Namespace of the leader-election Lease; always set when leaderElect is true. */
  leaderElectionNamespace: string | undefined;
  /** Name of the Lease. */
  leaderElectionId: string;
  /** This replica's identity in the Lease: env POD_NAME; undefined = hostname and a unique suffix. */
  leaderElectionIdentity: string | undefined;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
  /** Only this namespace's ModelDeployments; undefined = every namespace. */
  watchNamespaces: string[] | undefined;
  /**
   * Only the ModelDeployments whose labels this selector selects (a shard, docs/sharding.md),
   * as given and as parsed; undefined = every ModelDeployment.
   */
  watchLabelSelector: { text: string; requirements: readonly Requirement[] } | undefined;
  logLevel: LogLevel;
  logFormat: LogFormat;
  /** ModelDeployments reconciled in parallel. */
  workers: number;
  /** Full relist of every informer; 0 = never. */
  resyncPeriodMs: number;
  /** Explicit kubeconfig file; undefined = in-cluster, else $KUBECONFIG or ~/.kube/config. */
  kubeconfig: string | undefined;
  /** Average requests per second to the API server (token bucket); 0 = no limit. Leader election is not limited. */
  kubeApiQps: number;
  /** Requests that may be sent at once before kubeApiQps applies. */
  kubeApiBurst: number;
  /** "ADDRESS:PORT" of the DNS server for the names in check URLs; undefined = the system resolver. */
  checkDnsServer: string | undefined;
  /** CIDRs health checks may only connect to, besides the policy (checked after name resolution); undefined = no limit. */
  checkOnlyCidrs: string[] | undefined;
  /** Longest one successCondition evaluation may run (worker threads, terminated at the budget). */
  checkConditionTimeoutMs: number;
  /** Heap limit of each successCondition worker thread, MiB. */
  checkConditionMemoryMb: number;
  /** successCondition worker threads. */
  checkConditionWorkers: number;
  /** Shortest interval between two measurements of one health check; shorter ones are clamped. */
  checkMinIntervalMs: number;
  /** Longest timeout of one measurement; longer ones are clamped. */
  checkMaxTimeoutMs: number;
  /** Longest a passing check's result that repeats its written verdict waits for a status write; 0: never. */
  checkReportPeriodMs: number;
  /** Whose responses a check's messages (status, Events) may quote. */
  checkResponseMessages: ResponseMessages;
  /** Health-check measurements in flight at once, in total. */
  checkConcurrency: number;
  /** Measurements in flight at once against one destination (host:port). */
  checkConcurrencyPerDestination: number;
  /** Where checks may go: default (anything but link-local, loopback, the API server) or restricted. */
  checkDestinations: DestinationMode;
  /** Addresses allowed although the policy would deny them (CIDR ranges). */
  checkAllowCidrs: string[];
  /** restricted: hosts allowed besides the own namespace's Services (exact, or ".suffix"). */
  checkAllowHosts: string[];
  /** Must every Prometheus selector carry the ModelDeployment's namespace: auto (in restricted mode), require, off. */
  checkPromqlNamespace: PromqlNamespaceMode;
  /** The label that holds a series' namespace in the platform's Prometheus. */
  checkPromqlNamespaceLabel: string;
  /** The file that declared the check credentials (--check-credentials-file); undefined = none. */
  checkCredentialsFile: string | undefined;
  /** The credentials health checks may name, and who may use them. */
  checkCredentials: Credential[];
  /** The file that declared the notification destinations; undefined = none. */
  notificationDestinationsFile: string | undefined;
  /** Where ModelDeployments may send notifications, and who may use each. */
  notificationDestinations: NotificationDestination[];
}
