// Health-check providers. The planner says which checks are due (planChecks); the
// reconciler measures them here and hands the measurements back to the planner.
import type { DueCheck, Measurement } from "../plan/types.ts";
import { measureHttp, type MeasureOptions } from "./http.ts";
import { measurePrometheus } from "./prometheus.ts";
import { measureRelative } from "./prometheus-relative.ts";
import { measureJudge } from "./prometheus-judge.ts";
import { measureSignature } from "./signature-check.ts";
import { measureWarmup } from "./warmup.ts";
import { measureAgreement } from "./agreement-check.ts";
import { deniedDestination } from "./destination-check.ts";
import { deniedQuery } from "./promql-check.ts";
import { CredentialFileError, type CredentialMaterial } from "./credential-files.ts";
import { credentialOf, CredentialPolicy, hostOf } from "./credentials.ts";

export { measureHttp, type MeasureOptions } from "./http.ts";
export type { ConfigMapReader } from "./agreement-check.ts";
export { DestinationPolicyJudge, DESTINATION_MODES, type DestinationMode } from "./destination-policy.ts";
export { ConditionPool, defaultConditionPool, type ConditionEvaluator } from "./condition-pool.ts";
export { measurePrometheus, queryPrometheus } from "./prometheus.ts";
export { promqlNamespaceRule, PROMQL_NAMESPACE_MODES, type PromqlNamespaceRule } from "./promql-rule.ts";
export { checkFetch, type CheckDialOptions, type CheckFetch } from "./dial.ts";
export { CredentialFiles } from "./credential-files.ts";
export {
  CredentialPolicy,
  computeCredentialProblems,
  parseCredentials,
  type Credential,
} from "./credentials.ts";
export { evaluateSuccessCondition, validateSuccessCondition, type ConditionKind } from "./condition.ts";

/**
 * Measures every due check in parallel, each within its own timeout. Returns one
 * measurement per check, in the order given, and never throws: a provider that fails
 * unexpectedly yields an Error measurement that says so. `send` is how checks connect
 * (checkFetch: the operator's DNS server and allowed networks), the global fetch by default.
 */
export async function measureChecks(
  due: readonly DueCheck[],
  now: () => Date,
  options: MeasureOptions = {},
): Promise<Measurement[]> {
  return Promise.all(due.map((check) => measureCheck(check, now, options)));
}

/** Measures one due check; never throws. */
export async function measureCheck(
  due: DueCheck,
  now: () => Date,
  options: MeasureOptions = {},
): Promise<Measurement> {
  try {
    if (options.destinations) {
      const denied = deniedDestination(due, options.destinations);
      if (denied) return errorMeasurement(due, now, denied);
    }
    if (options.promqlNamespace) {
      const refused = deniedQuery(due, options.promqlNamespace);
      if (refused) return errorMeasurement(due, now, `the query is not sent: ${refused}`);
    }
    const credential = await loadCredential(due, options);
    if (typeof credential === "string") return errorMeasurement(due, now, credential);
    const withCredential = credential ? { ...options, credential } : options;
    if (due.check.http) return await measureHttp(due, now, withCredential);
    if (due.check.signature) return await measureSignature(due, now, withCredential);
    if (due.check.warmup) return await measureWarmup(due, now, withCredential);
    if (due.check.agreement) return await measureAgreement(due, now, withCredential);
    if (due.check.prometheus?.judge) return await measureJudge(due, now, withCredential);
    if (due.check.prometheus?.compareWithStable) return await measureRelative(due, now, withCredential);
    if (due.check.prometheus) return await measurePrometheus(due, now, withCredential);
    return errorMeasurement(
      due,
      now,
      "check has no provider: it needs http, prometheus, signature, warmup or agreement",
    );
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    return errorMeasurement(due, now, `measuring the check failed unexpectedly: ${reason}`);
  }
}

/**
 * The material of the credential the check names, when the platform allows this check to
 * send it where it goes; a string saying why not (the request is then not sent); undefined
 * when the check names none.
 */
async function loadCredential(
  due: DueCheck,
  options: MeasureOptions,
): Promise<CredentialMaterial | string | undefined> {
  const name = credentialOf(due.check);
  if (name === undefined) return undefined;
  const url = due.check.http ? due.url : due.check.prometheus?.address;
  const policy = options.credentials?.policy ?? new CredentialPolicy([]);
  const verdict = policy.judge(name, due.vars.namespace, hostOf(url) ?? "");
  if (!verdict.allowed) return `the request is not sent: ${verdict.reason}`;
  try {
    return await options.credentials!.files.load(verdict.credential);
  } catch (err) {
    if (err instanceof CredentialFileError) return `the request is not sent: ${err.message}`;
    throw err;
  }
}

function errorMeasurement(due: DueCheck, now: () => Date, message: string): Measurement {
  return { name: due.check.name, phase: "Error", message, time: now().toISOString() };
}
