// Health-check providers. The planner says which checks are due (planChecks); the
// reconciler measures them here and hands the measurements back to the planner.
import type { DueCheck, Measurement } from "../plan/types.ts";
import { measureHttp, type MeasureOptions } from "./http.ts";
import { measurePrometheus } from "./prometheus.ts";
import { deniedDestination } from "./destination-check.ts";
import { deniedQuery } from "./promql-check.ts";

export { measureHttp, type MeasureOptions } from "./http.ts";
export { DestinationPolicyJudge, DESTINATION_MODES, type DestinationMode } from "./destination-policy.ts";
export { ConditionPool, defaultConditionPool, type ConditionEvaluator } from "./condition-pool.ts";
export { measurePrometheus, queryPrometheus } from "./prometheus.ts";
export { promqlNamespaceRule, PROMQL_NAMESPACE_MODES, type PromqlNamespaceRule } from "./promql-rule.ts";
export { checkFetch, type CheckDialOptions, type CheckFetch } from "./dial.ts";
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
    if (due.check.http) return await measureHttp(due, now, options);
    if (due.check.prometheus) return await measurePrometheus(due, now, options);
    return errorMeasurement(due, now, "check has no provider: it needs http or prometheus");
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    return errorMeasurement(due, now, `measuring the check failed unexpectedly: ${reason}`);
  }
}

function errorMeasurement(due: DueCheck, now: () => Date, message: string): Measurement {
  return { name: due.check.name, phase: "Error", message, time: now().toISOString() };
}
