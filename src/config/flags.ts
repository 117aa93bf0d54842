// The flag table: every flag's name and type, its default, its environment variable, and how
// the command line and the MRO_* variables are read into raw values.
import { parseArgs } from "node:util";
import { OPERATOR_NAME } from "../api/constants.ts";
import type { DestinationMode } from "../health/destination-policy.ts";
import { DEFAULT_NAMESPACE_LABEL, type PromqlNamespaceMode } from "../health/promql-rule.ts";
import type { ResponseMessages } from "../health/reveal.ts";
import type { LogFormat, LogLevel } from "../observability/log.ts";
import { ConfigError } from "./values.ts";

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
  checkReportPeriod: "2m",
  checkResponseMessages: "own-service" as ResponseMessages,
  checkConcurrency: 64,
  checkConcurrencyPerDestination: 8,
  checkDestinations: "default" as DestinationMode,
  checkPromqlNamespace: "auto" as PromqlNamespaceMode,
  checkPromqlNamespaceLabel: DEFAULT_NAMESPACE_LABEL,
} as const;

/** Every flag can also be given as the environment variable MRO_<FLAG> (MRO_LOG_LEVEL=debug); a flag wins. */
export const ENV_PREFIX = "MRO_";

/** The environment variable of a flag: "log-level" -> "MRO_LOG_LEVEL". */
export function envName(flag: string): string {
  return ENV_PREFIX + flag.toUpperCase().replace(/-/g, "_");
}

export const MAX_WORKERS = 256;

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
  "watch-label-selector": { type: "string" },
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
  "check-report-period": { type: "string" },
  "check-response-messages": { type: "string" },
  "check-concurrency": { type: "string" },
  "check-concurrency-per-destination": { type: "string" },
  "check-destinations": { type: "string" },
  "check-allow-cidrs": { type: "string" },
  "check-allow-hosts": { type: "string" },
  "check-promql-namespace": { type: "string" },
  "check-promql-namespace-label": { type: "string" },
  "check-credentials-file": { type: "string" },
  "notification-destinations-file": { type: "string" },
} as const;

const BOOLEAN_FLAGS = new Set(
  Object.entries(OPTIONS)
    .filter(([, o]) => o.type === "boolean")
    .map(([name]) => name),
);

/** The string value of a flag (from the command line or its environment variable), if given. */
export type FlagValue = (name: keyof typeof OPTIONS) => string | undefined;

/** The flags given as MRO_* environment variables, as --flag=value arguments (put before the real ones, which win). */
export function envFlags(env: Record<string, string | undefined>): string[] {
  const args: string[] = [];
  for (const name of Object.keys(OPTIONS)) {
    if (name === "help") continue;
    const value = env[envName(name)];
    if (value === undefined || value.trim() === "") continue;
    args.push(`--${name}=${value.trim()}`);
  }
  return args;
}

export function parseFlags(argv: readonly string[]): Record<string, string | boolean | undefined> {
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
