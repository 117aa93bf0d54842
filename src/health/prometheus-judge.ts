// The statistical judge as a health check: one measurement runs the check's range query for
// the new version and for the stable version over the same window, one sample per step, and
// judges the two samples (judge.ts). Pass is Successful, Fail is Failed, Inconclusive is
// Inconclusive (the planner decides whether that waits or fails); a version whose query
// matches no series, or several, is an Error that names it.
import type { JudgeResult as JudgeStatus } from "../api/types.ts";
import { parseDuration } from "../plan/duration.ts";
import type { DueCheck, Measurement } from "../plan/types.ts";
import type { MeasureOptions } from "./http.ts";
import {
  DEFAULT_CONFIDENCE,
  DEFAULT_MIN_SAMPLES,
  DEFAULT_TOLERANCE,
  judgeSamples,
  type JudgeOptions,
  type JudgeResult,
} from "./judge.ts";
import { queryPrometheusRange, type RangeResult } from "./prometheus-range.ts";

type Outcome = Omit<Measurement, "name" | "time">;

const PHASE = { Pass: "Successful", Fail: "Failed", Inconclusive: "Inconclusive" } as const;

/** Measures one Prometheus check with a judge. Never throws. */
export async function measureJudge(
  due: DueCheck,
  now: () => Date,
  options: MeasureOptions = {},
): Promise<Measurement> {
  const end = now();
  const outcome = await observeJudge(due, end, options);
  return { name: due.check.name, ...outcome, time: now().toISOString() };
}

async function observeJudge(due: DueCheck, end: Date, options: MeasureOptions): Promise<Outcome> {
  const prometheus = due.check.prometheus;
  const judge = prometheus?.judge;
  if (!prometheus || !judge) return { phase: "Error", message: "not a prometheus check with a judge" };
  if (!due.stable)
    return { phase: "Error", message: "there is no stable version to compare with (a judge needs one)" };
  const step = parseDuration(judge.step ?? "15s") / 1000;
  const endS = end.getTime() / 1000;
  const window = { start: endS - parseDuration(judge.window ?? "5m") / 1000, end: endS, step };
  const quote = options.responseMessages === "all";
  const run = (query: string) =>
    queryPrometheusRange(
      prometheus.address,
      query,
      window,
      due.timeoutMs,
      quote,
      options.send,
      options.credential,
    );
  const [candidateResult, stableResult] = await Promise.all([
    run(due.query ?? prometheus.query),
    run(due.stable.query ?? ""),
  ]);
  const stable = oneSeries(stableResult, `the stable version ${due.stable.vars.version}`);
  if (!stable.ok) return { phase: "Error", message: stable.message };
  const candidate = oneSeries(candidateResult, `the new version ${due.vars.version}`);
  if (!candidate.ok) return { phase: "Error", message: candidate.message };

  const result = judgeSamples(candidate.values, stable.values, judgeOptionsOf(judge));
  const outcome: Outcome = { phase: PHASE[result.verdict], message: result.message, judge: toStatus(result) };
  if (result.candidateMedian !== undefined) outcome.value = formatValue(result.candidateMedian);
  if (result.stableMedian !== undefined) outcome.stableValue = formatValue(result.stableMedian);
  return outcome;
}

/** The judge's settings with the CRD's defaults (a manifest read from a file may lack them). */
export function judgeOptionsOf(
  judge: NonNullable<NonNullable<DueCheck["check"]["prometheus"]>["judge"]>,
): JudgeOptions {
  return {
    direction: judge.direction ?? "Either",
    confidence: judge.confidence ?? DEFAULT_CONFIDENCE,
    tolerance: judge.tolerance ?? DEFAULT_TOLERANCE,
    minSamples: judge.minSamples ?? DEFAULT_MIN_SAMPLES,
  };
}

type Series = { ok: true; values: number[] } | { ok: false; message: string };

function oneSeries(result: RangeResult, who: string): Series {
  if (!result.ok) return { ok: false, message: `range query for ${who}: ${result.message}` };
  if (result.series.length === 0)
    return {
      ok: false,
      message: `${who} has no data in the window (the query returned no data): there is nothing to compare with`,
    };
  if (result.series.length > 1)
    return {
      ok: false,
      message: `the range query for ${who} returned ${result.series.length} series; the judge needs one per version: aggregate in the query, e.g. with sum() or max()`,
    };
  return { ok: true, values: result.series[0]! };
}

/** What status keeps of a result: finite numbers only (JSON has no Infinity or NaN). */
function toStatus(result: JudgeResult): JudgeStatus {
  const out: JudgeStatus = {
    verdict: result.verdict,
    candidateSamples: result.candidateSamples,
    stableSamples: result.stableSamples,
  };
  if (Number.isFinite(result.u)) out.u = result.u;
  if (Number.isFinite(result.pValue)) out.pValue = result.pValue;
  if (Number.isFinite(result.effectSize)) out.effectSize = result.effectSize;
  return out;
}

function formatValue(value: number): string {
  return Number.isFinite(value) ? String(Number(value.toPrecision(6))) : String(value);
}
