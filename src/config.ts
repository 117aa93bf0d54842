// The operator's configuration: command-line flags (controller-runtime's names) and a few
// environment variables, parsed and validated into one typed object. Anything invalid is
// a ConfigError whose message says which flag, what was given and what is accepted; main
// prints it with the usage and exits with code 2.
import { existsSync } from "node:fs";
import { parseArgs } from "node:util";
import { OPERATOR_NAME } from "./api/constants.ts";
import { parseCidr, parseDnsServer } from "./health/addresses.ts";
import { formatDuration, parseDuration } from "./plan/duration.ts";
import { DESTINATION_MODES, type DestinationMode } from "./health/destination-policy.ts";
import { RESPONSE_MESSAGES, type ResponseMessages } from "./health/reveal.ts";
import { LOG_FORMATS, LOG_LEVELS, type LogFormat, type LogLevel } from "./observability/log.ts";

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

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
}

export const DEFAULTS = {
  metricsBindAddress: ":8080",
  healthProbeBindAddress: ":8081",
  leaderElectionId: OPERATOR_NAME,
  leaseDuration: "15s",
  renewDeadline: "10s",
  retryPeriod: "2s",
  logLevel: "info" as LogLevel,
  logFormat: "json" as LogFormat,
  workers: 10,
  resyncPeriod: "5m",
  kubeApiQps: 50,
  kubeApiBurst: 100,
  checkConditionTimeout: "1s",
  checkConditionMemoryMb: 64,
  checkConditionWorkers: 2,
  checkMinInterval: "1s",
  checkMaxTimeout: "60s",
  checkResponseMessages: "own-service" as ResponseMessages,
  checkConcurrency: 64,
  checkConcurrencyPerDestination: 8,
  checkDestinations: "default" as DestinationMode,
} as const;

/** Every flag can also be given as the environment variable MRO_<FLAG> (MRO_LOG_LEVEL=debug); a flag wins. */
export const ENV_PREFIX = "MRO_";

/** The environment variable of a flag: "log-level" -> "MRO_LOG_LEVEL". */
export function envName(flag: string): string {
  return ENV_PREFIX + flag.toUpperCase().replace(/-/g, "_");
}

const MAX_WORKERS = 256;

const OPTIONS = {
  help: { type: "boolean", short: "h" },
  "metrics-bind-address": { type: "string" },
  "metrics-secure": { type: "boolean" },
  "metrics-cert-file": { type: "string" },
  "metrics-key-file": { type: "string" },
  "health-probe-bind-address": { type: "string" },
  "leader-elect": { type: "boolean" },
  "leader-election-namespace": { type: "string" },
  "leader-election-id": { type: "string" },
  "leader-elect-lease-duration": { type: "string" },
  "leader-elect-renew-deadline": { type: "string" },
  "leader-elect-retry-period": { type: "string" },
  "watch-namespace": { type: "string" },
  "log-level": { type: "string" },
  "log-format": { type: "string" },
  workers: { type: "string" },
  "resync-period": { type: "string" },
  kubeconfig: { type: "string" },
  "kube-api-qps": { type: "string" },
  "kube-api-burst": { type: "string" },
  "check-dns-server": { type: "string" },
  "check-only-cidrs": { type: "string" },
  "check-condition-timeout": { type: "string" },
  "check-condition-memory": { type: "string" },
  "check-condition-workers": { type: "string" },
  "check-min-interval": { type: "string" },
  "check-max-timeout": { type: "string" },
  "check-response-messages": { type: "string" },
  "check-concurrency": { type: "string" },
  "check-concurrency-per-destination": { type: "string" },
  "check-destinations": { type: "string" },
  "check-allow-cidrs": { type: "string" },
  "check-allow-hosts": { type: "string" },
} as const;

const BOOLEAN_FLAGS = new Set(
  Object.entries(OPTIONS)
    .filter(([, o]) => o.type === "boolean")
    .map(([name]) => name),
);

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
  --check-response-messages WHOSE   Quote check responses in status and Events: ${RESPONSE_MESSAGES.join(" or ")} (default ${DEFAULTS.checkResponseMessages})
  --check-concurrency N             Health-check measurements in flight at once, 1..10000 (default ${DEFAULTS.checkConcurrency})
  --check-concurrency-per-destination N
                                    Measurements in flight at once against one host:port (default ${DEFAULTS.checkConcurrencyPerDestination})
  --check-destinations MODE         Where checks may go: ${DESTINATION_MODES.join(" or ")} (default ${DEFAULTS.checkDestinations})
  --check-allow-cidrs CIDR[,CIDR]   Addresses checks may reach although the policy denies them (e.g. 127.0.0.0/8)
  --check-allow-hosts HOST[,HOST]   restricted: hosts allowed besides the namespace's Services (".suffix" for a domain)
  -h, --help                        Show this help

Durations are like 90s, 5m, 1h30m, 500ms. Boolean flags take --flag, --flag=true, --flag=false or --no-flag.
Every flag can be set by the environment variable ${ENV_PREFIX}<FLAG> instead (${envName("log-level")}=debug,
${envName("leader-elect")}=true); a flag wins over its variable.
Environment: POD_NAMESPACE, POD_NAME (leader identity), WATCH_NAMESPACE, KUBECONFIG.`;
}

/** Parses flags (process.argv.slice(2)) and environment; throws ConfigError on anything invalid. */
export function parseConfig(argv: readonly string[], env: Record<string, string | undefined> = {}): Config {
  const values = parseFlags([...envFlags(env), ...argv]);
  const flag = (name: keyof typeof OPTIONS): string | undefined => {
    const v = values[name];
    return typeof v === "string" ? v : undefined;
  };

  const metricsBindAddress = parseBindAddress(
    "--metrics-bind-address",
    flag("metrics-bind-address") ?? DEFAULTS.metricsBindAddress,
  );
  const healthProbeBindAddress = parseBindAddress(
    "--health-probe-bind-address",
    flag("health-probe-bind-address") ?? DEFAULTS.healthProbeBindAddress,
  );
  if (
    metricsBindAddress &&
    healthProbeBindAddress &&
    metricsBindAddress.port !== 0 &&
    metricsBindAddress.port === healthProbeBindAddress.port &&
    (metricsBindAddress.host === healthProbeBindAddress.host ||
      metricsBindAddress.host === undefined ||
      healthProbeBindAddress.host === undefined)
  ) {
    throw new ConfigError(
      `--metrics-bind-address and --health-probe-bind-address both use port ${metricsBindAddress.port}; they must differ`,
    );
  }

  const metricsSecure = values["metrics-secure"] === true;
  const metricsCertFile = nonEmpty(flag("metrics-cert-file"));
  const metricsKeyFile = nonEmpty(flag("metrics-key-file"));
  if ((metricsCertFile === undefined) !== (metricsKeyFile === undefined)) {
    throw new ConfigError("--metrics-cert-file and --metrics-key-file go together: give both or neither");
  }
  if (metricsCertFile !== undefined && !metricsSecure) {
    throw new ConfigError("--metrics-cert-file needs --metrics-secure: plain /metrics uses no certificate");
  }
  for (const [name, file] of [
    ["--metrics-cert-file", metricsCertFile],
    ["--metrics-key-file", metricsKeyFile],
  ] as const) {
    if (file !== undefined && !existsSync(file))
      throw new ConfigError(`${name}: file ${file} does not exist`);
  }

  const leaderElect = values["leader-elect"] === true;
  const leaderElectionNamespace = nonEmpty(flag("leader-election-namespace")) ?? nonEmpty(env.POD_NAMESPACE);
  if (leaderElectionNamespace !== undefined)
    checkDnsLabel("--leader-election-namespace", leaderElectionNamespace);
  if (leaderElect && leaderElectionNamespace === undefined) {
    throw new ConfigError(
      "--leader-elect needs the namespace of its Lease: set --leader-election-namespace or the env POD_NAMESPACE",
    );
  }
  const leaderElectionId = flag("leader-election-id") ?? DEFAULTS.leaderElectionId;
  checkDnsSubdomain("--leader-election-id", leaderElectionId);

  const leaseDurationMs = parseDurationFlag(
    "--leader-elect-lease-duration",
    flag("leader-elect-lease-duration") ?? DEFAULTS.leaseDuration,
  );
  const renewDeadlineMs = parseDurationFlag(
    "--leader-elect-renew-deadline",
    flag("leader-elect-renew-deadline") ?? DEFAULTS.renewDeadline,
  );
  const retryPeriodMs = parseDurationFlag(
    "--leader-elect-retry-period",
    flag("leader-elect-retry-period") ?? DEFAULTS.retryPeriod,
  );
  if (!(retryPeriodMs > 0 && retryPeriodMs < renewDeadlineMs && renewDeadlineMs < leaseDurationMs)) {
    throw new ConfigError(
      "leader election needs 0 < --leader-elect-retry-period < --leader-elect-renew-deadline < --leader-elect-lease-duration" +
        ` (got ${formatDuration(retryPeriodMs)}, ${formatDuration(renewDeadlineMs)}, ${formatDuration(leaseDurationMs)})`,
    );
  }

  // One namespace or a comma-separated list; none means every namespace.
  const watchNamespaceText = nonEmpty(flag("watch-namespace")) ?? nonEmpty(env.WATCH_NAMESPACE);
  const watchNamespaces =
    watchNamespaceText === undefined
      ? undefined
      : [
          ...new Set(
            watchNamespaceText
              .split(",")
              .map((n) => n.trim())
              .filter((n) => n !== ""),
          ),
        ];
  for (const ns of watchNamespaces ?? []) checkDnsLabel("--watch-namespace", ns);
  if (watchNamespaces?.length === 0) throw new ConfigError("--watch-namespace: no namespace given");

  const logLevel = oneOf("--log-level", flag("log-level") ?? DEFAULTS.logLevel, LOG_LEVELS);
  const logFormat = oneOf("--log-format", flag("log-format") ?? DEFAULTS.logFormat, LOG_FORMATS);

  const workersText = flag("workers") ?? String(DEFAULTS.workers);
  const workers = Number(workersText);
  if (!/^\d+$/.test(workersText.trim()) || workers < 1 || workers > MAX_WORKERS) {
    throw new ConfigError(`--workers: "${workersText}" is not a whole number from 1 to ${MAX_WORKERS}`);
  }

  const resyncText = flag("resync-period") ?? DEFAULTS.resyncPeriod;
  const resyncPeriodMs = parseDurationFlag("--resync-period", resyncText);
  if (resyncPeriodMs !== 0 && resyncPeriodMs < 10_000) {
    throw new ConfigError(`--resync-period: ${resyncText} is too short; use at least 10s, or 0 to disable`);
  }

  const kubeconfig = nonEmpty(flag("kubeconfig"));
  if (kubeconfig !== undefined && !existsSync(kubeconfig)) {
    throw new ConfigError(`--kubeconfig: file ${kubeconfig} does not exist`);
  }

  const qpsText = flag("kube-api-qps") ?? String(DEFAULTS.kubeApiQps);
  const kubeApiQps = Number(qpsText);
  if (!/^\d+(\.\d+)?$/.test(qpsText.trim()) || !(kubeApiQps <= 100_000)) {
    throw new ConfigError(
      `--kube-api-qps: "${qpsText}" is not a number of requests per second (0 for no limit)`,
    );
  }
  const burstText = flag("kube-api-burst") ?? String(DEFAULTS.kubeApiBurst);
  const kubeApiBurst = Number(burstText);
  if (!/^\d+$/.test(burstText.trim()) || kubeApiBurst < 1 || kubeApiBurst > 100_000) {
    throw new ConfigError(`--kube-api-burst: "${burstText}" is not a whole number from 1 to 100000`);
  }

  const dnsText = nonEmpty(flag("check-dns-server"));
  const checkDnsServer = dnsText === undefined ? undefined : parseDnsServer(dnsText);
  if (dnsText !== undefined && checkDnsServer === undefined) {
    throw new ConfigError(
      `--check-dns-server: "${dnsText}" is not an IP address with an optional port, like 127.0.0.1:5353 or [fd00::10]:53`,
    );
  }
  const cidrText = nonEmpty(flag("check-only-cidrs"));
  const checkOnlyCidrs = cidrText
    ?.split(",")
    .map((c) => c.trim())
    .filter((c) => c !== "");
  for (const cidr of checkOnlyCidrs ?? []) {
    if (!parseCidr(cidr))
      throw new ConfigError(`--check-only-cidrs: "${cidr}" is not a CIDR like 127.0.0.0/8 or fd00::/8`);
  }
  if (checkOnlyCidrs?.length === 0) throw new ConfigError("--check-only-cidrs: no network given");
  const conditionTimeoutText = flag("check-condition-timeout") ?? DEFAULTS.checkConditionTimeout;
  const checkConditionTimeoutMs = parseDurationFlag("--check-condition-timeout", conditionTimeoutText);
  if (checkConditionTimeoutMs < 10 || checkConditionTimeoutMs > 60_000) {
    throw new ConfigError(`--check-condition-timeout: ${conditionTimeoutText} is not from 10ms to 1m`);
  }
  const checkConditionMemoryMb = wholeNumberFlag(
    "--check-condition-memory",
    flag("check-condition-memory") ?? String(DEFAULTS.checkConditionMemoryMb),
    16,
    4096,
  );
  const checkConditionWorkers = wholeNumberFlag(
    "--check-condition-workers",
    flag("check-condition-workers") ?? String(DEFAULTS.checkConditionWorkers),
    1,
    64,
  );

  const minIntervalText = flag("check-min-interval") ?? DEFAULTS.checkMinInterval;
  const checkMinIntervalMs = parseDurationFlag("--check-min-interval", minIntervalText);
  if (checkMinIntervalMs > 3_600_000) {
    throw new ConfigError(`--check-min-interval: ${minIntervalText} is longer than 1h`);
  }
  const maxTimeoutText = flag("check-max-timeout") ?? DEFAULTS.checkMaxTimeout;
  const checkMaxTimeoutMs = parseDurationFlag("--check-max-timeout", maxTimeoutText);
  if (checkMaxTimeoutMs < 100 || checkMaxTimeoutMs > 3_600_000) {
    throw new ConfigError(`--check-max-timeout: ${maxTimeoutText} is not from 100ms to 1h`);
  }

  const checkResponseMessages = oneOf(
    "--check-response-messages",
    flag("check-response-messages") ?? DEFAULTS.checkResponseMessages,
    RESPONSE_MESSAGES,
  );

  const checkConcurrency = wholeNumberFlag(
    "--check-concurrency",
    flag("check-concurrency") ?? String(DEFAULTS.checkConcurrency),
    1,
    10_000,
  );
  const checkConcurrencyPerDestination = wholeNumberFlag(
    "--check-concurrency-per-destination",
    flag("check-concurrency-per-destination") ?? String(DEFAULTS.checkConcurrencyPerDestination),
    1,
    10_000,
  );

  const checkDestinations = oneOf(
    "--check-destinations",
    flag("check-destinations") ?? DEFAULTS.checkDestinations,
    DESTINATION_MODES,
  );
  const checkAllowCidrs = listFlag(flag("check-allow-cidrs"));
  for (const cidr of checkAllowCidrs) {
    if (!parseCidr(cidr))
      throw new ConfigError(`--check-allow-cidrs: "${cidr}" is not a CIDR like 127.0.0.0/8 or fd00::/8`);
  }
  const checkAllowHosts = listFlag(flag("check-allow-hosts")).map((h) => h.toLowerCase());

  return {
    help: values.help === true,
    metricsBindAddress,
    metricsSecure,
    metricsCertFile,
    metricsKeyFile,
    healthProbeBindAddress,
    leaderElect,
    leaderElectionNamespace,
    leaderElectionId,
    leaderElectionIdentity: nonEmpty(env.POD_NAME),
    leaseDurationMs,
    renewDeadlineMs,
    retryPeriodMs,
    watchNamespaces,
    logLevel,
    logFormat,
    workers,
    resyncPeriodMs,
    kubeconfig,
    kubeApiQps,
    kubeApiBurst,
    checkDnsServer,
    checkOnlyCidrs,
    checkConditionTimeoutMs,
    checkConditionMemoryMb,
    checkConditionWorkers,
    checkMinIntervalMs,
    checkMaxTimeoutMs,
    checkResponseMessages,
    checkConcurrency,
    checkConcurrencyPerDestination,
    checkDestinations,
    checkAllowCidrs,
    checkAllowHosts,
  };
}

/** "a, b,,c" -> ["a", "b", "c"]; undefined or "" -> []. */
function listFlag(text: string | undefined): string[] {
  return [
    ...new Set(
      (text ?? "")
        .split(",")
        .map((s) => s.trim())
        .filter((s) => s !== ""),
    ),
  ];
}

function wholeNumberFlag(flagName: string, text: string, min: number, max: number): number {
  const value = Number(text);
  if (!/^\d+$/.test(text.trim()) || value < min || value > max) {
    throw new ConfigError(`${flagName}: "${text}" is not a whole number from ${min} to ${max}`);
  }
  return value;
}

/** The flags given as MRO_* environment variables, as --flag=value arguments (put before the real ones, which win). */
function envFlags(env: Record<string, string | undefined>): string[] {
  const args: string[] = [];
  for (const name of Object.keys(OPTIONS)) {
    if (name === "help") continue;
    const value = env[envName(name)];
    if (value === undefined || value.trim() === "") continue;
    args.push(`--${name}=${value.trim()}`);
  }
  return args;
}

function parseFlags(argv: readonly string[]): Record<string, string | boolean | undefined> {
  // parseArgs takes boolean flags bare; accept --flag=true / --flag=false too, as Go's flag package does.
  const args: string[] = [];
  for (const arg of argv) {
    const m = /^--([a-z-]+)=(.*)$/.exec(arg);
    if (m && BOOLEAN_FLAGS.has(m[1]!)) {
      const value = m[2]!.toLowerCase();
      if (value === "true" || value === "1") args.push(`--${m[1]}`);
      else if (value === "false" || value === "0") args.push(`--no-${m[1]}`);
      else throw new ConfigError(`--${m[1]}: "${m[2]}" is not true or false`);
    } else {
      args.push(arg);
    }
  }
  try {
    const { values } = parseArgs({
      args,
      options: OPTIONS,
      strict: true,
      allowPositionals: false,
      allowNegative: true,
    });
    return values as Record<string, string | boolean | undefined>;
  } catch (err) {
    throw new ConfigError(describeParseError(err));
  }
}

function describeParseError(err: unknown): string {
  const e = err as { code?: string; message?: string };
  const message = e.message ?? String(err);
  const quoted = /'([^']+)'/.exec(message)?.[1];
  switch (e.code) {
    case "ERR_PARSE_ARGS_UNKNOWN_OPTION":
      return `unknown flag ${quoted ?? ""}`.trim() + " (see --help)";
    case "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL":
      return `unexpected argument "${quoted ?? ""}": the operator takes flags only (see --help)`;
    case "ERR_PARSE_ARGS_INVALID_OPTION_VALUE":
      if (/argument missing/.test(message)) return `${(quoted ?? "").split(" ")[0]} needs a value`;
      return message;
    default:
      return message;
  }
}

/**
 * ":8080" (every interface), "127.0.0.1:8080", "[::1]:8080", "localhost:8080"; "0" is
 * disabled (undefined). Port 0 picks a free port.
 */
export function parseBindAddress(flagName: string, value: string): BindAddress | undefined {
  const text = value.trim();
  if (text === "0") return undefined;
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s[\]]*)):(\d{1,5})$/.exec(text);
  if (!m) {
    const hint = /^\d+$/.test(text) ? ` (did you mean ":${text}"?)` : "";
    throw new ConfigError(
      `${flagName}: "${value}" is not an address like ":8080" or "127.0.0.1:8080", or "0" to disable${hint}`,
    );
  }
  const port = Number(m[3]);
  if (port > 65535) throw new ConfigError(`${flagName}: port ${port} is out of range (0..65535)`);
  const host = m[1] ?? (m[2] || undefined);
  return { host, port };
}

function parseDurationFlag(flagName: string, value: string): number {
  try {
    return parseDuration(value.trim());
  } catch {
    throw new ConfigError(`${flagName}: "${value}" is not a duration like 30s, 5m or 1h30m`);
  }
}

function oneOf<T extends string>(flagName: string, value: string, allowed: readonly T[]): T {
  if ((allowed as readonly string[]).includes(value)) return value as T;
  throw new ConfigError(`${flagName}: "${value}" is not one of ${allowed.join(", ")}`);
}

function nonEmpty(value: string | undefined): string | undefined {
  const v = value?.trim();
  return v ? v : undefined;
}

function checkDnsLabel(flagName: string, value: string): void {
  if (value.length > 63 || !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(value)) {
    throw new ConfigError(
      `${flagName}: "${value}" is not a valid namespace name (lower-case letters, digits and '-', at most 63)`,
    );
  }
}

function checkDnsSubdomain(flagName: string, value: string): void {
  if (
    value.length > 253 ||
    !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/.test(value)
  ) {
    throw new ConfigError(
      `${flagName}: "${value}" is not a valid object name (lower-case letters, digits, '-' and '.')`,
    );
  }
}
