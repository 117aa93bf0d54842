// The --check-* flag groups: how health checks connect, what bounds their successConditions,
// their budget, where the destination policy lets them go, the PromQL namespace rule and the
// credentials checks may name.
import { readFileSync } from "node:fs";
import { parseCidr, parseDnsServer } from "../health/addresses.ts";
import { DESTINATION_MODES } from "../health/destination-policy.ts";
import { parseCredentials, type Credential } from "../health/credentials.ts";
import { PROMQL_NAMESPACE_MODES } from "../health/promql-rule.ts";
import { RESPONSE_MESSAGES } from "../health/reveal.ts";
import { DEFAULTS, type FlagValue } from "./flags.ts";
import type { Config } from "./types.ts";
import { ConfigError, listFlag, nonEmpty, oneOf, parseDurationFlag, wholeNumberFlag } from "./values.ts";

/** How health checks resolve names and which networks they may connect to at all. */
export function parseCheckNetworkFlags(flag: FlagValue): Pick<Config, "checkDnsServer" | "checkOnlyCidrs"> {
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
  return { checkDnsServer, checkOnlyCidrs };
}

/** The bounds of successCondition evaluation: time, memory, worker threads. */
export function parseCheckConditionFlags(
  flag: FlagValue,
): Pick<Config, "checkConditionTimeoutMs" | "checkConditionMemoryMb" | "checkConditionWorkers"> {
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
  return { checkConditionTimeoutMs, checkConditionMemoryMb, checkConditionWorkers };
}

/** The check budget: interval and timeout bounds, what responses may be quoted, concurrency. */
export function parseCheckBudgetFlags(
  flag: FlagValue,
): Pick<
  Config,
  | "checkMinIntervalMs"
  | "checkMaxTimeoutMs"
  | "checkReportPeriodMs"
  | "checkResponseMessages"
  | "checkConcurrency"
  | "checkConcurrencyPerDestination"
> {
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
  const reportPeriodText = flag("check-report-period") ?? DEFAULTS.checkReportPeriod;
  const checkReportPeriodMs = parseDurationFlag("--check-report-period", reportPeriodText);
  if (checkReportPeriodMs > 3_600_000) {
    throw new ConfigError(`--check-report-period: ${reportPeriodText} is longer than 1h`);
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
  return {
    checkMinIntervalMs,
    checkMaxTimeoutMs,
    checkReportPeriodMs,
    checkResponseMessages,
    checkConcurrency,
    checkConcurrencyPerDestination,
  };
}

/** The destination policy: where checks may go, and the exceptions allowed. */
export function parseCheckPolicyFlags(
  flag: FlagValue,
): Pick<Config, "checkDestinations" | "checkAllowCidrs" | "checkAllowHosts"> {
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
  return { checkDestinations, checkAllowCidrs, checkAllowHosts };
}

/** Must every Prometheus selector carry the namespace, and under which label. */
export function parseCheckPromqlFlags(
  flag: FlagValue,
): Pick<Config, "checkPromqlNamespace" | "checkPromqlNamespaceLabel"> {
  const checkPromqlNamespace = oneOf(
    "--check-promql-namespace",
    flag("check-promql-namespace") ?? DEFAULTS.checkPromqlNamespace,
    PROMQL_NAMESPACE_MODES,
  );
  const checkPromqlNamespaceLabel =
    nonEmpty(flag("check-promql-namespace-label")) ?? DEFAULTS.checkPromqlNamespaceLabel;
  if (!/^[a-zA-Z_][a-zA-Z0-9_]*$/.test(checkPromqlNamespaceLabel)) {
    throw new ConfigError(
      `--check-promql-namespace-label: "${checkPromqlNamespaceLabel}" is not a Prometheus label name (letters, digits and '_', not starting with a digit)`,
    );
  }
  return { checkPromqlNamespace, checkPromqlNamespaceLabel };
}

/** The credentials file, read once at start (the files it names are read per measurement). */
export function parseCheckCredentialFlags(
  flag: FlagValue,
): Pick<Config, "checkCredentialsFile" | "checkCredentials"> {
  const checkCredentialsFile = nonEmpty(flag("check-credentials-file"));
  const checkCredentials = checkCredentialsFile === undefined ? [] : readCredentials(checkCredentialsFile);
  return { checkCredentialsFile, checkCredentials };
}

function readCredentials(file: string): Credential[] {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    const code = (err as { code?: string }).code;
    throw new ConfigError(
      `--check-credentials-file: cannot read ${file} (${code === "ENOENT" ? "no such file" : (code ?? String(err))})`,
    );
  }
  try {
    return parseCredentials(text);
  } catch (err) {
    throw new ConfigError(`--check-credentials-file: ${file}: ${(err as Error).message}`);
  }
}
