// Validation of the analysis fields of Prometheus checks (compareWithStable, judge): the
// CRD's CEL rules repeated for offline validation, and what the schema cannot say (a judge's
// durations, how many samples its window holds).
import { isDuration, parseDuration } from "../duration.ts";
import { templateProblems } from "../template.ts";
import { isObj, type Obj, type SpecProblem as Problem } from "./common.ts";

/** Most samples one version's range query may return: bounds the judge's arithmetic. */
export const MAX_JUDGE_SAMPLES = 500;

export function analysisProblems(spec: Obj): Problem[] {
  const hc = spec.healthChecks;
  const checks = isObj(hc) && Array.isArray(hc.checks) ? hc.checks : [];
  const out: Problem[] = [];
  checks.forEach((check, i) => {
    if (isObj(check) && isObj(check.warmup) && typeof check.warmup.body === "string")
      for (const message of templateProblems(check.warmup.body))
        out.push({ path: `spec.healthChecks.checks[${i}].warmup.body`, message });
    if (!isObj(check) || !isObj(check.prometheus)) return;
    out.push(...prometheusProblems(check.prometheus, `spec.healthChecks.checks[${i}].prometheus`));
  });
  return out;
}

function prometheusProblems(prom: Obj, path: string): Problem[] {
  const out: Problem[] = [];
  if ((prom.successCondition !== undefined) === (prom.judge !== undefined))
    out.push({ path, message: "a prometheus check needs exactly one of successCondition or judge" });
  if (prom.judge !== undefined && prom.compareWithStable === true)
    out.push({
      path,
      message:
        "a judge always compares with the stable version; compareWithStable goes with successCondition",
    });
  const judge = prom.judge;
  if (!isObj(judge)) return out;
  durationMs(judge.inconclusiveTimeout, "10m", `${path}.judge.inconclusiveTimeout`, out);
  const window = durationMs(judge.window, "5m", `${path}.judge.window`, out);
  const step = durationMs(judge.step, "15s", `${path}.judge.step`, out);
  if (window === undefined || step === undefined) return out;
  const samples = Math.floor(window / step) + 1;
  if (samples > MAX_JUDGE_SAMPLES)
    out.push({
      path: `${path}.judge.step`,
      message: `a window of ${String(judge.window ?? "5m")} in steps of ${String(judge.step ?? "15s")} is ${samples} samples per version; at most ${MAX_JUDGE_SAMPLES}: take a longer step or a shorter window`,
    });
  const minSamples = typeof judge.minSamples === "number" ? judge.minSamples : 10;
  if (minSamples > samples)
    out.push({
      path: `${path}.judge.minSamples`,
      message: `minSamples ${minSamples} is more than the window holds (${samples} samples): every measurement would be Inconclusive`,
    });
  return out;
}

function durationMs(value: unknown, fallback: string, path: string, out: Problem[]): number | undefined {
  const text = value ?? fallback;
  if (typeof text !== "string") return undefined;
  if (!isDuration(text)) {
    out.push({ path, message: `${JSON.stringify(text)} is not a duration: write it like 15s or 5m` });
    return undefined;
  }
  const ms = parseDuration(text);
  if (ms <= 0) {
    out.push({ path, message: "must be longer than 0" });
    return undefined;
  }
  return ms;
}
