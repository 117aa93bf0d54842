// Validation of a ModelDeployment, for the planner (an invalid spec stalls with the
// problems in a condition) and for the kubectl plugin's offline `validate` command.
//
// (a) The CRD's OpenAPI schema, compiled once with ajv.
// (b) The CRD's CEL rules (x-kubernetes-validations), repeated in one place
//     (celRuleProblems), so that offline validation catches what the API server would.
// (c) What neither can express, or what the API server would only reject when the operator
//     applies a child: durations, CEL successConditions, templates, ports, names.
//
// Each part is a module in validate/: schema.ts (a), crd-rules.ts (b), and for (c)
// names.ts, durations.ts, health-checks.ts, ports.ts, and analysis.ts (the checks compared
// with the stable version: the judge's window, the providers' rules).
import { analysisProblems } from "./validate/analysis.ts";
import { checkProblems } from "./validate/health-checks.ts";
import { isObj, type SpecProblem } from "./validate/common.ts";
import { celRuleProblems } from "./validate/crd-rules.ts";
import { durationProblems } from "./validate/durations.ts";
import { endpointPickerNameProblems, identityProblems, templateLabelProblems } from "./validate/names.ts";
import { portProblems } from "./validate/ports.ts";
import { schemaProblems } from "./validate/schema.ts";

export type { SpecProblem } from "./validate/common.ts";

/**
 * Everything wrong with `md`, in a stable order (schema first, then the CRD's rules, then the
 * rest); empty when it is valid. Never throws.
 */
export function validateModelDeployment(md: unknown): SpecProblem[] {
  if (!isObj(md)) return [{ path: "", message: "a ModelDeployment must be an object" }];
  const problems: SpecProblem[] = [];
  const { status: _status, ...withoutStatus } = md;
  problems.push(...schemaProblems(withoutStatus));
  const spec = md.spec;
  if (!isObj(spec)) return dedupe(problems);
  problems.push(...celRuleProblems(spec));
  problems.push(...identityProblems(md));
  problems.push(...durationProblems(spec));
  problems.push(...checkProblems(spec));
  problems.push(...analysisProblems(spec));
  problems.push(...portProblems(spec));
  problems.push(...templateLabelProblems(spec));
  problems.push(...endpointPickerNameProblems(md));
  return dedupe(problems);
}

/** The problems as one line each, `path: message`. */
export function formatProblems(problems: readonly SpecProblem[]): string {
  return problems.map((p) => (p.path ? `${p.path}: ${p.message}` : p.message)).join("; ");
}

function dedupe(problems: SpecProblem[]): SpecProblem[] {
  const seen = new Set<string>();
  return problems.filter((p) => {
    const key = `${p.path}\u0000${p.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
