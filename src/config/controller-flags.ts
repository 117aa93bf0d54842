// The controller-runtime flag groups: the servers, leader election, what is reconciled and
// how, and the API client.
import { existsSync } from "node:fs";
import { LabelSelectorError, parseLabelSelector } from "../api/label-selector.ts";
import { formatDuration } from "../plan/duration.ts";
import { LOG_FORMATS, LOG_LEVELS } from "../observability/log.ts";
import { DEFAULTS, MAX_WORKERS, type FlagValue } from "./flags.ts";
import type { Config } from "./types.ts";
import {
  ConfigError,
  checkDnsLabel,
  checkDnsSubdomain,
  nonEmpty,
  oneOf,
  parseBindAddress,
  parseDurationFlag,
} from "./values.ts";

/** --metrics-bind-address and --health-probe-bind-address, which may not share a port. */
export function parseServerFlags(
  flag: FlagValue,
): Pick<Config, "metricsBindAddress" | "healthProbeBindAddress"> {
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
  return { metricsBindAddress, healthProbeBindAddress };
}

/** --metrics-secure and the certificate files of the secure metrics server (both or neither). */
export function parseMetricsSecurityFlags(
  flag: FlagValue,
  metricsSecure: boolean,
): Pick<Config, "metricsSecure" | "metricsCertFile" | "metricsKeyFile"> {
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
  return { metricsSecure, metricsCertFile, metricsKeyFile };
}

/** The --leader-elect* flags, POD_NAMESPACE and POD_NAME. */
export function parseLeaderElectionFlags(
  flag: FlagValue,
  leaderElect: boolean,
  env: Record<string, string | undefined>,
): Pick<
  Config,
  | "leaderElect"
  | "leaderElectionNamespace"
  | "leaderElectionId"
  | "leaderElectionIdentity"
  | "leaseDurationMs"
  | "renewDeadlineMs"
  | "retryPeriodMs"
> {
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
  return {
    leaderElect,
    leaderElectionNamespace,
    leaderElectionId,
    leaderElectionIdentity: nonEmpty(env.POD_NAME),
    leaseDurationMs,
    renewDeadlineMs,
    retryPeriodMs,
  };
}

/** What the controller reconciles and how: namespaces, logging, workers, resync. */
export function parseReconcileFlags(
  flag: FlagValue,
  env: Record<string, string | undefined>,
): Pick<Config, "watchNamespaces" | "logLevel" | "logFormat" | "workers" | "resyncPeriodMs"> {
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
  return { watchNamespaces, logLevel, logFormat, workers, resyncPeriodMs };
}

/**
 * --watch-label-selector: the shard this process reconciles. Parsed here, so that a typo
 * stops the start with a message instead of a watch the API server refuses. (Each shard
 * needs a Lease of its own, --leader-election-id; the default instance may keep the default
 * one, so that it takes over from an unsharded operator without both running at once.)
 */
export function parseShardFlags(flag: FlagValue): Pick<Config, "watchLabelSelector"> {
  const text = nonEmpty(flag("watch-label-selector"));
  if (text === undefined) return { watchLabelSelector: undefined };
  let requirements;
  try {
    requirements = parseLabelSelector(text);
  } catch (err) {
    if (err instanceof LabelSelectorError) throw new ConfigError(`--watch-label-selector: ${err.message}`);
    throw err;
  }
  return { watchLabelSelector: { text, requirements } };
}

/** The API client: --kubeconfig and the client-side rate limit. */
export function parseApiClientFlags(
  flag: FlagValue,
): Pick<Config, "kubeconfig" | "kubeApiQps" | "kubeApiBurst"> {
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
  return { kubeconfig, kubeApiQps, kubeApiBurst };
}
