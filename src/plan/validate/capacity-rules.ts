// The CRD's CEL rules of a canary's capacity, repeated for offline validation (the kubectl
// plugin's `validate`) and for the planner: maxSurge and maxUnavailable are numbers or
// percentages and not both 0; `replicas` goes with a setWeight step and needs spec.traffic.
import { DEFAULT_MAX_SURGE, DEFAULT_MAX_UNAVAILABLE } from "../capacity.ts";
import { isObj, type Obj, type SpecProblem } from "./common.ts";

const PERCENT = /^[0-9]{1,3}%$/;

/** A readable maxSurge/maxUnavailable: an integer >= 0, or a percentage from 0% to 100%. */
function intOrPercentOk(v: unknown): boolean {
  if (typeof v === "number") return Number.isInteger(v) && v >= 0;
  return typeof v === "string" && PERCENT.test(v) && Number(v.slice(0, -1)) <= 100;
}

function isZero(v: unknown): boolean {
  return v === 0 || v === "0" || v === "0%";
}

/** Problems of spec.strategy.canary's capacity fields, as the API server's CEL rules report them. */
export function capacityRuleProblems(spec: Obj): SpecProblem[] {
  const out: SpecProblem[] = [];
  const strategy = spec.strategy;
  const canary = isObj(strategy) ? strategy.canary : undefined;
  if (!isObj(canary)) return out;
  const path = "spec.strategy.canary";
  for (const key of ["maxSurge", "maxUnavailable"] as const) {
    const v = canary[key];
    if (v !== undefined && v !== null && !intOrPercentOk(v))
      out.push({ path: `${path}.${key}`, message: "must be a number >= 0 or a percentage from 0% to 100%" });
  }
  if (
    isZero(canary.maxSurge ?? DEFAULT_MAX_SURGE) &&
    isZero(canary.maxUnavailable ?? DEFAULT_MAX_UNAVAILABLE)
  )
    out.push({
      path,
      message: "maxSurge and maxUnavailable cannot both be 0 (no pod could be added or taken away)",
    });
  const steps = Array.isArray(canary.steps) ? canary.steps : [];
  steps.forEach((step, i) => {
    if (!isObj(step) || step.replicas === undefined || step.replicas === null) return;
    if (step.setWeight === undefined || step.setWeight === null)
      out.push({
        path: `${path}.steps[${i}].replicas`,
        message: "replicas goes with setWeight (the pods of the new version at that weight)",
      });
    if (spec.traffic === undefined || spec.traffic === null)
      out.push({
        path: `${path}.steps[${i}].replicas`,
        message:
          "replicas on a setWeight step needs spec.traffic (without a route the replica count is the weight)",
      });
  });
  return out;
}
