// Prometheus checks relative to the stable version (compareWithStable): one measurement runs
// the query twice, templated for the new version and for the stable version, at the same
// moment, and the successCondition judges the two values together (`candidate <= stable *
// 1.1`). A comparison needs a number on both sides: no data or NaN for either version is an
// Error that names the version, never a pass.
import type { DueCheck, Measurement } from "../plan/types.ts";
import { defaultConditionPool } from "./condition-pool.ts";
import type { MeasureOptions } from "./http.ts";
import { queryPrometheus, type QueryResult } from "./prometheus.ts";

type Outcome = Omit<Measurement, "name" | "time">;

/** One version's value of a comparison, or why there is none. */
type VersionValue = { ok: true; text: string; value: number } | { ok: false; message: string };

/**
 * Measures one Prometheus check with compareWithStable. Successful when the successCondition
 * is true for (candidate, stable); Failed when it is false (value: the candidate's value,
 * stableValue: the stable version's); Error when either version's query cannot be judged.
 * Never throws.
 */
export async function measureRelative(
  due: DueCheck,
  now: () => Date,
  options: MeasureOptions = {},
): Promise<Measurement> {
  const outcome = await observeRelative(due, options);
  return { name: due.check.name, ...outcome, time: now().toISOString() };
}

async function observeRelative(due: DueCheck, options: MeasureOptions): Promise<Outcome> {
  const prometheus = due.check.prometheus;
  if (!prometheus?.successCondition) return { phase: "Error", message: "not a relative prometheus check" };
  if (!due.stable)
    return {
      phase: "Error",
      message: "there is no stable version to compare with (compareWithStable needs one)",
    };
  const quote = options.responseMessages === "all";
  const run = (query: string) =>
    queryPrometheus(prometheus.address, query, due.timeoutMs, quote, options.send, options.credential);
  // The same moment for both versions: the two queries run side by side.
  const [candidateResult, stableResult] = await Promise.all([
    run(due.query ?? prometheus.query),
    run(due.stable.query ?? ""),
  ]);
  const candidate = readOneValue(candidateResult, `the new version ${due.vars.version}`);
  const stable = readOneValue(stableResult, `the stable version ${due.stable.vars.version}`);
  const seen: Outcome = { phase: "Error" };
  if (candidate.ok) seen.value = candidate.text;
  if (stable.ok) seen.stableValue = stable.text;
  if (!stable.ok) return { ...seen, message: stable.message };
  if (!candidate.ok) return { ...seen, message: candidate.message };

  const condition = prometheus.successCondition;
  const outcome = await (options.conditions ?? defaultConditionPool()).evaluate({
    kind: "relative",
    expression: condition,
    candidate: candidate.value,
    stable: stable.value,
  });
  if (!outcome.ok) return { ...seen, message: outcome.error };
  if (!outcome.value)
    return {
      ...seen,
      phase: "Failed",
      message: `successCondition \`${condition}\` was false for candidate ${candidate.text}, stable ${stable.text}`,
    };
  return { ...seen, phase: "Successful" };
}

/** The one value a comparison needs from `who`'s query. */
export function readOneValue(result: QueryResult, who: string): VersionValue {
  if (!result.ok) return { ok: false, message: `query for ${who}: ${result.message}` };
  const samples = result.samples;
  if (samples.length === 0)
    return {
      ok: false,
      message: `${who} has no data (the query returned no data): there is nothing to compare with`,
    };
  if (samples.length > 1)
    return {
      ok: false,
      message: `the query for ${who} returned ${samples.length} series; a comparison needs one value per version: aggregate in the query, e.g. with sum() or max()`,
    };
  const sample = samples[0]!;
  if (Number.isNaN(sample.value))
    return {
      ok: false,
      message: `the query for ${who} returned NaN (a ratio is NaN when there is no traffic, 0/0): there is nothing to compare`,
    };
  return { ok: true, text: sample.text, value: sample.value };
}
