// Warnings about a spec that is valid but that the operator adjusts or doubts: a person
// should hear of them, the rollout goes on. They are pure: computed from the spec (and the
// platform's limits), written to status.warnings, and announced by one Warning Event when
// a warning appears that the status did not hold yet (level-triggered: the same spec gives
// the same warnings and no new Event).
import { Reasons } from "../api/reasons.ts";
import type { ModelDeployment } from "../api/types.ts";
import { successConditionCostWarning } from "../health/condition.ts";
import type { Plan } from "./types.ts";

export interface SpecWarning {
  /** The field, as in validation problems: spec.healthChecks.checks[0].http.successCondition. */
  path: string;
  message: string;
}

/** Most warnings kept in status (the CRD's maxItems). */
export const MAX_WARNINGS = 32;

/** What can be seen of the successConditions' cost before they run. */
export function computeConditionWarnings(md: ModelDeployment): SpecWarning[] {
  const out: SpecWarning[] = [];
  (md.spec?.healthChecks?.checks ?? []).forEach((check, i) => {
    const path = `spec.healthChecks.checks[${i}]`;
    const http = check.http?.successCondition;
    if (typeof http === "string" && http.trim() !== "") {
      const warning = successConditionCostWarning("http", http);
      if (warning) out.push({ path: `${path}.http.successCondition`, message: warning });
    }
    const prometheus = check.prometheus?.successCondition;
    if (typeof prometheus === "string" && prometheus.trim() !== "") {
      const kind = check.prometheus?.compareWithStable === true ? "relative" : "prometheus";
      const warning = successConditionCostWarning(kind, prometheus);
      if (warning) out.push({ path: `${path}.prometheus.successCondition`, message: warning });
    }
  });
  return out;
}

/** One line of status.warnings. */
export function formatWarning(w: SpecWarning): string {
  return `${w.path}: ${w.message}`;
}

/**
 * The plan with status.warnings set to `warnings` (absent when there are none) and a
 * Warning Event when one of them is new to the status it was planned from.
 */
export function withSpecWarnings(p: Plan, md: ModelDeployment, warnings: readonly SpecWarning[]): Plan {
  const lines = warnings.map(formatWarning).slice(0, MAX_WARNINGS);
  const status = { ...p.status };
  if (lines.length > 0) status.warnings = lines;
  else delete status.warnings;
  const before = new Set(md.status?.warnings ?? []);
  const added = lines.filter((line) => !before.has(line));
  const events =
    added.length > 0
      ? [...p.events, { type: "Warning" as const, reason: Reasons.SpecWarning, message: added.join("; ") }]
      : p.events;
  return { ...p, status, events };
}
