// The statistical judge's verdict on two samples of one metric, the new version's and the
// stable version's, as Kayenta's judge reaches it: a Mann-Whitney U test says whether the
// difference is significant, the Hodges-Lehmann shift relative to the stable median says
// whether it matters. Pure.
import { hodgesLehmannShift, mannWhitneyU, median, type Alternative } from "./mann-whitney.ts";

/** Which way is worse for the metric. */
export type Direction = "LowerIsBetter" | "HigherIsBetter" | "Either";

export type Verdict = "Pass" | "Fail" | "Inconclusive";

export interface JudgeOptions {
  direction: Direction;
  /** 1 - the significance level (default 0.95). */
  confidence: number;
  /** The relative shift of the median that is accepted (0.05: 5% of the stable median). */
  tolerance: number;
  /** Fewer samples than this for either version: Inconclusive. */
  minSamples: number;
}

export const DEFAULT_CONFIDENCE = 0.95;
export const DEFAULT_TOLERANCE = 0.05;
export const DEFAULT_MIN_SAMPLES = 10;

export interface JudgeResult {
  verdict: Verdict;
  /** Why, for a person. */
  message: string;
  candidateSamples: number;
  stableSamples: number;
  /** NaN samples dropped (0/0 at a step without traffic). */
  droppedNaN: number;
  candidateMedian?: number;
  stableMedian?: number;
  /** The U statistic of the new version's sample. */
  u?: number;
  pValue?: number;
  /** The Hodges-Lehmann shift of the new version over the stable median (0.3: 30% higher). */
  effectSize?: number;
}

const ALTERNATIVE: Record<Direction, Alternative> = {
  // Lower is better: the new version is worse when its values are greater.
  LowerIsBetter: "greater",
  HigherIsBetter: "less",
  Either: "two-sided",
};

/**
 * Pass when the new version is not worse by more than `tolerance` or the data shows no
 * significant difference that large; Fail when it is significantly worse by more than
 * `tolerance`; Inconclusive when either sample is smaller than `minSamples` (after dropping
 * NaN), or when the shift is beyond `tolerance` but not significant (too much noise to tell).
 */
export function judgeSamples(
  candidate: readonly number[],
  stable: readonly number[],
  options: JudgeOptions,
): JudgeResult {
  const c = candidate.filter((v) => !Number.isNaN(v));
  const s = stable.filter((v) => !Number.isNaN(v));
  const base = {
    candidateSamples: c.length,
    stableSamples: s.length,
    droppedNaN: candidate.length - c.length + stable.length - s.length,
  };
  if (c.length < options.minSamples || s.length < options.minSamples || c.length === 0 || s.length === 0) {
    const few: JudgeResult = {
      verdict: "Inconclusive",
      message: `too few samples: the new version has ${c.length}, the stable version ${s.length}, the judge needs ${options.minSamples} of each${nanNote(base.droppedNaN)}`,
      ...base,
    };
    // What there is, for a person; not judged.
    if (c.length > 0) few.candidateMedian = median(c);
    if (s.length > 0) few.stableMedian = median(s);
    return few;
  }
  const test = mannWhitneyU(c, s, ALTERNATIVE[options.direction]);
  const stableMedian = median(s);
  const shift = hodgesLehmannShift(c, s);
  const effectSize = relativeShift(shift, stableMedian);
  const result = {
    ...base,
    candidateMedian: median(c),
    stableMedian,
    u: test.u,
    pValue: test.pValue,
    effectSize,
  };
  const alpha = 1 - options.confidence;
  const significant = test.pValue < alpha;
  const worse = isWorse(effectSize, options);
  const said = `shift ${formatShift(effectSize)} of the stable median (tolerance ${formatShift(options.tolerance, false)}), p-value ${formatNumber(test.pValue)} (${options.direction}, confidence ${options.confidence})`;
  if (worse && significant)
    return { verdict: "Fail", message: `the new version is significantly worse: ${said}`, ...result };
  if (worse)
    return {
      verdict: "Inconclusive",
      message: `the shift is beyond the tolerance but not significant, too noisy to tell: ${said}`,
      ...result,
    };
  return { verdict: "Pass", message: `no significant change beyond the tolerance: ${said}`, ...result };
}

/** The shift over the stable median; ±Infinity when that median is 0 and the shift is not. */
function relativeShift(shift: number, stableMedian: number): number {
  if (shift === 0) return 0;
  if (stableMedian === 0) return shift > 0 ? Infinity : -Infinity;
  return shift / Math.abs(stableMedian);
}

function isWorse(effect: number, options: JudgeOptions): boolean {
  switch (options.direction) {
    case "LowerIsBetter":
      return effect > options.tolerance;
    case "HigherIsBetter":
      return effect < -options.tolerance;
    case "Either":
      return Math.abs(effect) > options.tolerance;
  }
}

function nanNote(dropped: number): string {
  return dropped > 0 ? ` (${dropped} NaN samples dropped: steps without traffic)` : "";
}

function formatShift(effect: number, signed = true): string {
  if (!Number.isFinite(effect))
    return effect > 0 ? "+∞ (the stable median is 0)" : "-∞ (the stable median is 0)";
  const percent = `${Number((effect * 100).toPrecision(3))}%`;
  return signed && effect > 0 ? `+${percent}` : percent;
}

function formatNumber(value: number): string {
  return value === 0 ? "0" : Number(value.toPrecision(3)).toString();
}
