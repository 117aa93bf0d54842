// The platform's PromQL namespace rule (promql-namespace.ts) applied to a ModelDeployment's
// Prometheus checks: before anything is measured, on their queries templated for the spec's
// version (a refused query makes the spec invalid for this platform: Stalled, InvalidSpec),
// and again on each due check's query as it is sent (an Error measurement, should a
// template value have made it differ).
import type { ModelDeployment } from "../api/types.ts";
import { computeCheckVars, computeDueCheck } from "../plan/checks.ts";
import type { DueCheck } from "../plan/types.ts";
import type { SpecProblem } from "../plan/validate.ts";
import { promqlCheckProblem } from "./promql-namespace.ts";
import type { PromqlNamespaceRule } from "./promql-rule.ts";

/** The Prometheus checks whose query the rule refuses, at spec.healthChecks.checks[i].prometheus.query. */
export function computePromqlProblems(md: ModelDeployment, rule: PromqlNamespaceRule): SpecProblem[] {
  const problems: SpecProblem[] = [];
  const version = md.spec?.model?.version;
  if (typeof version !== "string") return problems;
  const vars = computeCheckVars(md, version);
  (md.spec?.healthChecks?.checks ?? []).forEach((check, i) => {
    if (!check.prometheus) return;
    let due: DueCheck;
    try {
      due = computeDueCheck(md, check, vars);
    } catch {
      return; // validation reports what is wrong with it
    }
    const problem = promqlCheckProblem(
      check.prometheus.address,
      due.query ?? check.prometheus.query,
      vars.namespace,
      rule,
    );
    const field = problem?.startsWith("the address") ? "address" : "query";
    if (problem)
      problems.push({ path: `spec.healthChecks.checks[${i}].prometheus.${field}`, message: problem });
  });
  return problems;
}

/** Why this due Prometheus check's query may not be sent, or undefined when it may (or it is no Prometheus check). */
export function deniedQuery(due: DueCheck, rule: PromqlNamespaceRule): string | undefined {
  const prometheus = due.check.prometheus;
  if (!prometheus) return undefined;
  return promqlCheckProblem(prometheus.address, due.query ?? prometheus.query, due.vars.namespace, rule);
}
