// (c) Durations: of canary steps and health checks, in the operator's syntax.
import { isDuration, parseDuration } from "../duration.ts";
import { isObj, type Obj, type SpecProblem } from "./common.ts";

export function durationProblems(spec: Obj): SpecProblem[] {
  const out: SpecProblem[] = [];
  const check = (value: unknown, path: string, positive: boolean) => {
    if (typeof value !== "string") return;
    if (!isDuration(value)) {
      out.push({
        path,
        message: `${JSON.stringify(value)} is not a duration: write it like 30s, 5m, 1h30m or 500ms`,
      });
    } else if (positive && parseDuration(value) <= 0) {
      out.push({ path, message: "must be longer than 0" });
    }
  };
  const canary = isObj(spec.strategy) && isObj(spec.strategy.canary) ? spec.strategy.canary : undefined;
  if (canary && Array.isArray(canary.steps)) {
    canary.steps.forEach((step, i) => {
      for (const kind of ["pause", "setHeaderRoute", "setMirrorRoute"] as const)
        if (isObj(step) && isObj(step[kind]))
          check(step[kind].duration, `spec.strategy.canary.steps[${i}].${kind}.duration`, false);
    });
  }
  const hc = spec.healthChecks;
  if (isObj(hc)) {
    check(hc.interval, "spec.healthChecks.interval", true);
    if (Array.isArray(hc.checks)) {
      hc.checks.forEach((c, i) => {
        if (!isObj(c)) return;
        check(c.interval, `spec.healthChecks.checks[${i}].interval`, true);
        check(c.timeout, `spec.healthChecks.checks[${i}].timeout`, true);
      });
    }
  }
  return out;
}
