// The statistical judge's arithmetic against a reference implementation. Expected values
// were computed once with SciPy 1.17.1, scipy.stats.mannwhitneyu(x, y, alternative=ALT,
// method=METHOD) (use_continuity=True, its default) and scipy.stats.norm.sf(z); the calls
// are written beside each case. The suite does not need Python.
import { expect } from "chai";
import { judgeSamples, type JudgeOptions } from "../../src/health/judge.ts";
import {
  exactDistribution,
  hodgesLehmannShift,
  mannWhitneyU,
  median,
  normalSf,
  type Alternative,
} from "../../src/health/mann-whitney.ts";

const close = (actual: number, expected: number, relative = 1e-6) =>
  expect(actual).to.be.closeTo(expected, Math.abs(expected) * relative + 1e-15);

/** [alternative, U, p] rows as SciPy printed them. */
type Row = [Alternative, number, number];

function expectRows(x: number[], y: number[], method: "exact" | "asymptotic" | "auto", rows: Row[]) {
  for (const [alternative, u, p] of rows) {
    const r = mannWhitneyU(x, y, alternative, method);
    expect(r.u, `${alternative} U`).to.equal(u);
    close(r.pValue, p);
  }
}

// Latency-like samples: the stable version spread over 95..105 (mean 100); the new
// version's bulk 5 higher with six low outliers that bring its mean to the same 100.0167.
const STABLE = Array.from({ length: 60 }, (_, i) => 100 + ((i * 7) % 11) - 5);
const SHIFTED_BULK = [
  ...Array.from({ length: 54 }, (_, i) => 105 + ((i * 7) % 11) - 5),
  53,
  54,
  55,
  56,
  57,
  55,
];
const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;

describe("Mann-Whitney U test (compared with SciPy 1.17.1)", () => {
  it("exact distribution, small samples without ties", () => {
    // mannwhitneyu([1.1,2.3,3.5,4.2,5.9], [2.0,3.1,6.3,7.4,8.8,9.0], alternative=ALT, method="exact")
    expectRows([1.1, 2.3, 3.5, 4.2, 5.9], [2.0, 3.1, 6.3, 7.4, 8.8, 9.0], "exact", [
      ["two-sided", 7, 0.17748917748917747],
      ["greater", 7, 0.9372294372294372],
      ["less", 7, 0.08874458874458874],
    ]);
    // mannwhitneyu([3,8,14], [1,2,4,5,6,7,9,10], alternative=ALT, method="exact")
    expectRows([3, 8, 14], [1, 2, 4, 5, 6, 7, 9, 10], "exact", [
      ["two-sided", 16, 0.496969696969697],
      ["greater", 16, 0.2484848484848485],
      ["less", 16, 0.812121212121212],
    ]);
  });

  it("normal approximation with the continuity correction", () => {
    // mannwhitneyu([1.1,2.3,3.5,4.2,5.9], [2.0,3.1,6.3,7.4,8.8,9.0], alternative=ALT, method="asymptotic")
    expectRows([1.1, 2.3, 3.5, 4.2, 5.9], [2.0, 3.1, 6.3, 7.4, 8.8, 9.0], "asymptotic", [
      ["two-sided", 7, 0.17090352023079747],
      ["greater", 7, 0.9396545997362772],
      ["less", 7, 0.08545176011539873],
    ]);
  });

  it("ties: mean ranks and the tie correction of the variance", () => {
    // mannwhitneyu([1,2,2,3,3,3,4,5], [2,3,4,4,5,5,6,7,7], alternative=ALT, method="asymptotic")
    expectRows([1, 2, 2, 3, 3, 3, 4, 5], [2, 3, 4, 4, 5, 5, 6, 7, 7], "asymptotic", [
      ["two-sided", 13.5, 0.03175895714806371],
      ["greater", 13.5, 0.9876172774448116],
      ["less", 13.5, 0.015879478574031856],
    ]);
    // X = [100 + (i*37 % 23) for i in range(40)], Y = [95 + (i*41 % 29) for i in range(40)]
    const x = Array.from({ length: 40 }, (_, i) => 100 + ((i * 37) % 23));
    const y = Array.from({ length: 40 }, (_, i) => 95 + ((i * 41) % 29));
    expectRows(x, y, "asymptotic", [
      ["two-sided", 922, 0.24202090021211486],
      ["greater", 922, 0.12101045010605743],
      ["less", 922, 0.880916288759986],
    ]);
  });

  it("auto: exact when a sample has at most 8 values and nothing ties, else asymptotic", () => {
    // mannwhitneyu([0.5,1.5,...,7.5], [0.1,1.1,...,19.1], alternative=ALT) (method="auto")
    const x = [0.5, 1.5, 2.5, 3.5, 4.5, 5.5, 6.5, 7.5];
    const y = Array.from({ length: 20 }, (_, i) => i + 0.1);
    expectRows(x, y, "auto", [
      ["two-sided", 36, 0.024684494249711638],
      ["greater", 36, 0.9893462415201546],
      ["less", 36, 0.012342247124855819],
    ]);
    expect(mannWhitneyU(x, y).method).to.equal("exact");
    expect(mannWhitneyU([...x, 1], y).method).to.equal("asymptotic");
    expect(mannWhitneyU([1, 2, 2], [3, 4, 5]).method).to.equal("asymptotic");
  });

  it("a rank test sees a shifted bulk that equal means hide", () => {
    expect(mean(SHIFTED_BULK)).to.be.closeTo(mean(STABLE), 1e-9);
    // mannwhitneyu(C, S, alternative=ALT, method="asymptotic") with C, S as above
    expectRows(SHIFTED_BULK, STABLE, "asymptotic", [
      ["two-sided", 2751, 5.718558230295508e-7],
      ["greater", 2751, 2.859279115147754e-7],
    ]);
    // numpy.median(numpy.subtract.outer(C, S)) == 4.0
    expect(hodgesLehmannShift(SHIFTED_BULK, STABLE)).to.equal(4);
  });

  it("identical values everywhere: p = 1, as SciPy says", () => {
    // mannwhitneyu([5,5,5], [5,5,5,5], alternative=ALT, method="asymptotic") -> 6.0, 1.0
    expectRows([5, 5, 5], [5, 5, 5, 5], "asymptotic", [
      ["two-sided", 6, 1],
      ["greater", 6, 1],
      ["less", 6, 1],
    ]);
  });

  it("the exact distribution sums to 1 and is symmetric", () => {
    const d = exactDistribution(4, 6);
    expect(d.length).to.equal(25);
    close(
      d.reduce((a, b) => a + b, 0),
      1,
    );
    for (let k = 0; k < d.length; k++) close(d[k]!, d[d.length - 1 - k]!);
    // C(10, 4) = 210 arrangements; U = 0 is one of them.
    close(d[0]!, 1 / 210);
  });

  it("normal survival function", () => {
    // scipy.stats.norm.sf(z)
    const rows: [number, number][] = [
      [0, 0.5],
      [1, 0.15865525393145707],
      [1.959963984540054, 0.025],
      [-2, 0.9772498680518208],
      [5, 2.866515718791933e-7],
      [10, 7.61985302416047e-24],
    ];
    for (const [z, p] of rows) close(normalSf(z), p, 2e-7);
  });

  it("median", () => {
    expect(median([3, 1, 2])).to.equal(2);
    expect(median([4, 1, 3, 2])).to.equal(2.5);
  });
});

describe("the statistical judge's verdict", () => {
  const options: JudgeOptions = {
    direction: "LowerIsBetter",
    confidence: 0.95,
    tolerance: 0.05,
    minSamples: 10,
  };
  const scaled = (factor: number) => STABLE.map((v) => v * factor);

  it("fails a new version 30% slower, with U, p-value and the shift", () => {
    const r = judgeSamples(scaled(1.3), STABLE, options);
    expect(r).to.include({ verdict: "Fail", candidateSamples: 60, stableSamples: 60, droppedNaN: 0 });
    expect(r.effectSize).to.be.closeTo(0.3, 0.01);
    expect(r.pValue).to.be.below(1e-10);
    expect(r.u).to.be.greaterThan(3400);
    expect(r.message).to.match(/^the new version is significantly worse: shift \+30% of the stable median/);
  });

  it("passes a new version within the tolerance, even when the difference is significant", () => {
    const r = judgeSamples(scaled(1.03), STABLE, options);
    expect(r.verdict).to.equal("Pass");
    expect(r.effectSize).to.be.closeTo(0.03, 0.005);
  });

  it("passes a faster version when lower is better, fails it when higher is better", () => {
    expect(judgeSamples(scaled(0.7), STABLE, options).verdict).to.equal("Pass");
    expect(judgeSamples(scaled(0.7), STABLE, { ...options, direction: "HigherIsBetter" }).verdict).to.equal(
      "Fail",
    );
    expect(judgeSamples(scaled(0.7), STABLE, { ...options, direction: "Either" }).verdict).to.equal("Fail");
  });

  it("fails the shifted bulk whose mean is the stable mean", () => {
    // The bulk is 5% higher, the Hodges-Lehmann shift 4%: beyond a tolerance of 2%.
    const r = judgeSamples(SHIFTED_BULK, STABLE, { ...options, tolerance: 0.02 });
    expect(r.verdict).to.equal("Fail");
    close(r.pValue!, 2.859279115147754e-7);
    expect(r.effectSize).to.equal(0.04); // the shift 4 over the stable median 100
  });

  it("too few samples, or none: Inconclusive", () => {
    const few = judgeSamples(STABLE.slice(0, 4), STABLE, options);
    expect(few).to.include({ verdict: "Inconclusive", candidateSamples: 4, stableSamples: 60 });
    expect(few.message).to.equal(
      "too few samples: the new version has 4, the stable version 60, the judge needs 10 of each",
    );
    expect(few.pValue).to.equal(undefined);
    expect(judgeSamples([], [], options)).to.include({ verdict: "Inconclusive", candidateSamples: 0 });
  });

  it("drops NaN samples and counts them", () => {
    const withNaN = [...STABLE.slice(0, 8), NaN, NaN, NaN];
    const r = judgeSamples(withNaN, STABLE, options);
    expect(r).to.include({ verdict: "Inconclusive", candidateSamples: 8, droppedNaN: 3 });
    expect(r.message).to.match(/3 NaN samples dropped/);
    expect(judgeSamples([...STABLE, NaN], STABLE, options)).to.include({ verdict: "Pass", droppedNaN: 1 });
  });

  it("a large shift that is not significant is Inconclusive: too noisy to tell", () => {
    const noisyStable = [1, 10, 2, 9, 3, 8, 4, 7, 5, 6];
    const noisyCandidate = [1.5, 11, 2, 10, 3, 9, 4.5, 8, 6, 7];
    const r = judgeSamples(noisyCandidate, noisyStable, options);
    expect(r.verdict).to.equal("Inconclusive");
    expect(r.pValue).to.be.greaterThan(0.05);
    expect(r.effectSize).to.be.greaterThan(0.05);
    expect(r.message).to.match(/too noisy to tell/);
  });

  it("a stable median of 0: any significant increase is beyond the tolerance", () => {
    const zeros = Array.from({ length: 20 }, () => 0);
    const some = Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? 0.01 : 0.02));
    const r = judgeSamples(some, zeros, options);
    expect(r.verdict).to.equal("Fail");
    expect(r.effectSize).to.equal(Infinity);
    expect(judgeSamples(zeros, zeros, options)).to.include({ verdict: "Pass", effectSize: 0, pValue: 1 });
  });
});
