// The slow-checks benchmark case's arithmetic and its target (bench/slow-checks.ts), and
// its options on the command line (bench/run.ts): what decides whether the issue's target
// "reaction p99 within twice the figure without checks" is reported met.
import { expect } from "chai";
import { evaluateTargets, type PromotionResult } from "../../bench/harness.ts";
import { markdownReport } from "../../bench/report.ts";
import { parseBenchArgs } from "../../bench/run.ts";
import {
  p99Ratio,
  p99Ratios,
  measuringTimeoutSeconds,
  serverCount,
  slowChecksPods,
  slowChecksTarget,
  sumSeries,
  queueWaitByPriority,
  unrelatedCount,
  type SlowChecksResult,
} from "../../bench/slow-checks.ts";

const TARGET = "slow checks: reaction p99 within twice the figure without checks";
const load = { load1: 1, load5: 1, load15: 1 };
const stream = (p99Ms: number, timedOut = 0) => ({
  samples: 200 - timedOut,
  timedOut,
  p50Ms: p99Ms / 2,
  p95Ms: p99Ms * 0.9,
  p99Ms,
  maxMs: p99Ms * 1.1,
  ratePerSecond: 10,
  load,
  operator: { peakQueueDepth: 3, queueAddsPerSecond: 40, cpuCores: 0.3, queueWaitMs: { high: 4, low: 900 } },
  api: { writesPerSecond: 32.5, writeLatencyMs: { p50: 7, p90: 12, p99: 30 } },
});

/**
 * A result whose streams are given by `over` (by default the streams without checks at
 * 100 ms scaling down, 125 ms scaling up).
 */
function result(over: Partial<SlowChecksResult> = {}): SlowChecksResult {
  const baseline = over.baseline ?? stream(80);
  const withoutChecks = over.withoutChecks ?? stream(100);
  const withoutChecksUp = over.withoutChecksUp ?? stream(125);
  const loaded = over.loaded ?? stream(150);
  const steady = over.steady;
  return {
    rollouts: 1000,
    unrelated: 200,
    checkDelayMs: 2000,
    checkInterval: "10s",
    servers: 8,
    entry: "src/main.ts",
    convergeSeconds: 300,
    versionChangesSentSeconds: 10,
    checksDuringStream: { received: 640, peakInFlight: 64, inFlightAtStart: 64 },
    allMeasuringAfterSeconds: 120,
    measuring: 1000,
    checks: { received: 3000, peakInFlight: 64, peakInFlightPerRollout: 2 },
    load,
    withoutChecksPausedSeconds: 60,
    withoutChecksDoneSeconds: 90,
    ...over,
    baseline,
    withoutChecks,
    withoutChecksUp,
    loaded,
    ratios: p99Ratios({ baseline, withoutChecks, withoutChecksUp, loaded, steady }),
  };
}

describe("bench: the slow-checks case", () => {
  it("spreads the rollouts over enough servers that the global cap binds, not the per-destination one", () => {
    expect(serverCount(1000)).to.equal(8);
    expect(serverCount(1000, { total: 64, perDestination: 4 })).to.equal(16);
    expect(serverCount(5)).to.equal(5);
  });

  it("changes one unrelated ModelDeployment per change of the stream, within bounds", () => {
    expect(unrelatedCount(200)).to.equal(200);
    expect(unrelatedCount(5000)).to.equal(500);
    expect(unrelatedCount(0)).to.equal(1);
  });

  it("bounds the wait until every rollout is measuring by twice the candidates' creation and one round of checks, at least 5 minutes", () => {
    // 1000 candidates at 4 a second, then 1000 checks of 2 s, 64 at a time (31.25 s); doubled.
    expect(measuringTimeoutSeconds(1000, 2000)).to.equal(563);
    expect(measuringTimeoutSeconds(5000, 2000)).to.equal(2813);
    expect(measuringTimeoutSeconds(50, 500)).to.equal(300);
  });

  it("counts the case's pods for the kwok nodes only when it runs", () => {
    expect(slowChecksPods({ changes: 200, slowChecks: { rollouts: 1000, checkDelayMs: 2000 } })).to.equal(
      2400,
    );
    expect(slowChecksPods({ changes: 200, slowChecks: { rollouts: 0, checkDelayMs: 2000 } })).to.equal(0);
    expect(slowChecksPods({ changes: 200 })).to.equal(0);
  });

  it("sums every series of a metric in the operator's /metrics", () => {
    const text = [
      "# HELP workqueue_depth Current depth of workqueue",
      'workqueue_depth{name="modeldeployment"} 12',
      'workqueue_depth{name="other"} 3',
      "workqueue_depth_other 99",
      "workqueue_adds_total 7",
    ].join("\n");
    expect(sumSeries(text, "workqueue_depth")).to.equal(15);
    expect(sumSeries(text, "workqueue_adds_total")).to.equal(7);
    expect(sumSeries("", "workqueue_depth")).to.equal(0);
  });

  it("sums only the series that carry a label, when given one", () => {
    const text = [
      'workqueue_queue_duration_seconds_count{name="modeldeployment",priority="high"} 4',
      'workqueue_queue_duration_seconds_count{priority="high",name="other"} 1',
      'workqueue_queue_duration_seconds_count{name="modeldeployment",priority="low"} 10',
      'workqueue_queue_duration_seconds_count{name="modeldeployment",priority="higher"} 100',
    ].join("\n");
    expect(sumSeries(text, "workqueue_queue_duration_seconds_count", 'priority="high"')).to.equal(5);
    expect(sumSeries(text, "workqueue_queue_duration_seconds_count", 'priority="low"')).to.equal(10);
    expect(sumSeries(text, "workqueue_queue_duration_seconds_count")).to.equal(115);
  });

  it("takes the mean queue wait of each priority between two scrapes", () => {
    const scrape = (highSum: number, highCount: number, lowSum: number, lowCount: number) =>
      [
        `workqueue_queue_duration_seconds_sum{name="modeldeployment",priority="high"} ${highSum}`,
        `workqueue_queue_duration_seconds_count{name="modeldeployment",priority="high"} ${highCount}`,
        `workqueue_queue_duration_seconds_sum{name="modeldeployment",priority="low"} ${lowSum}`,
        `workqueue_queue_duration_seconds_count{name="modeldeployment",priority="low"} ${lowCount}`,
      ].join("\n");
    // 200 high keys waited 10 s in all during the stream; no low key was taken.
    expect(queueWaitByPriority(scrape(1, 10, 5, 3), scrape(11, 210, 5, 3))).to.deep.equal({ high: 50 });
    expect(queueWaitByPriority("", scrape(0.3, 3, 2, 1))).to.deep.equal({ high: 100, low: 2000 });
  });

  it("divides a p99 by its reference's, and has no ratio without a reference", () => {
    expect(p99Ratio(100, 150)).to.equal(1.5);
    expect(p99Ratio(0, 150)).to.satisfy(Number.isNaN);
    expect(p99Ratio(NaN, 150)).to.satisfy(Number.isNaN);
    expect(p99Ratio(100, NaN)).to.satisfy(Number.isNaN);
  });

  it("meets the target at 1000 rollouts with the p99s with checks within twice the one of the same rollouts paused without checks", () => {
    const t = slowChecksTarget(result({ steady: stream(120) }));
    expect(t.target).to.equal(TARGET);
    expect(t.met).to.equal(true);
    expect(t.measured).to.include(
      "150 ms with 1000 rollouts measuring 2 s checks against 125 ms with 1000 rollouts paused without checks, scaling up (1.2x; steady 120 ms against 100 ms scaling down (1.2x)",
    );
    expect(slowChecksTarget(result({ loaded: stream(250) })).met).to.equal(true);
    // Each stream with checks against the stream without checks that made the same change:
    // the loaded one (scaling up) within twice the one scaling up (125 ms), not the other.
    const loaded = result({ loaded: stream(240), steady: stream(120) });
    expect(loaded.ratios).to.include({ loaded: 1.92, steady: 1.2 });
    expect(slowChecksTarget(loaded).met).to.equal(true);
    // The stream with no rollout under way is reported, not what the target compares with.
    expect(slowChecksTarget(result({ baseline: stream(50) })).met).to.equal(true);
  });

  it("misses the target above twice the figure without checks (measuring or steady), with a change timed out, below 1000 rollouts, before every rollout measured, or with no check in flight", () => {
    expect(slowChecksTarget(result({ loaded: stream(251) })).met).to.equal(false);
    expect(slowChecksTarget(result({ steady: stream(201) })).met).to.equal(false);
    expect(slowChecksTarget(result({ loaded: stream(150, 1) })).met).to.equal(false);
    expect(slowChecksTarget(result({ withoutChecks: stream(100, 1) })).met).to.equal(false);
    expect(slowChecksTarget(result({ withoutChecksUp: stream(125, 1) })).met).to.equal(false);
    expect(slowChecksTarget(result({ rollouts: 999, measuring: 999 })).met).to.equal(false);
    // The stream ran before every rollout was measuring.
    expect(slowChecksTarget(result({ measuring: 990 })).met).to.equal(false);
    expect(
      slowChecksTarget(result({ checksDuringStream: { received: 0, peakInFlight: 0, inFlightAtStart: 0 } }))
        .met,
    ).to.equal(false);
    // Nothing to compare with: never met.
    expect(slowChecksTarget(result({ withoutChecksUp: stream(0) })).met).to.equal(false);
  });

  it("adds the target row to the benchmark's targets only when the case ran", () => {
    const promotion: PromotionResult = { overhead: stream(10), total: stream(100), ratePerSecond: 2, load };
    expect(evaluateTargets([], promotion, []).map((t) => t.target)).not.to.include(TARGET);
    expect(evaluateTargets([], promotion, [], result()).map((t) => t.target)).to.include(TARGET);
  });

  it("prints the case's streams, the ratio and the checks in flight", () => {
    const md = markdownReport({
      startedAt: "2026-12-01T00:00:00Z",
      finishedAt: "2026-12-01T00:10:00Z",
      machine: { cores: 2, cpuModel: "cpu", memoryBytes: 2 ** 33, node: "v24", kernel: "6" },
      options: {
        sizes: [],
        restSeconds: 5,
        changes: 200,
        changeRate: 10,
        promotions: 2,
        promotionRate: 2,
      } as never,
      planner: [],
      baselines: [],
      sizes: [],
      promotion: {
        overhead: stream(10),
        total: stream(100),
        ratePerSecond: 2,
        load,
        cpu: { "kube-apiserver": 0.9, operator: 0.1 },
        pressure: { cpu: 40, io: 0.1, memory: 0 },
      },
      slowChecks: result({
        steady: stream(120),
        loaded: {
          ...stream(150),
          pressure: { cpu: 84.5, io: 0.2, memory: 0 },
          gc: { "kube-apiserver": { cycles: 1, wallMs: 4300, longestMs: 4300, liveMb: 1200, goalMb: 6000 } },
        },
      }),
      targets: [slowChecksTarget(result())],
    });
    expect(md).to.include(
      "### Slow health checks under load (1000 rollouts, checks answering after 2000 ms)",
    );
    expect(md).to.include("| no rollout under way (up) | 200 | 10/s | 40 ms | 72 ms | 80 ms | 88 ms | 0 |");
    expect(md).to.include(
      "| 1000 rollouts paused, no check (down) | 200 | 10/s | 50 ms | 90 ms | 100 ms | 110 ms | 0 |",
    );
    expect(md).to.include("| 1000 rollouts paused, no check (up) | 200 | 10/s | 63 ms | 113 ms | 125 ms |");
    expect(md).to.include("| 1000 rollouts measuring (up) | 200 | 10/s | 75 ms |");
    expect(md).to.include("| 1000 rollouts measuring, steady (down) | 200 | 10/s | 60 ms |");
    expect(md).to.include(
      "| p99 ratio to 1000 rollouts paused without checks, the same change: measuring (up), steady (down) (the target) | 1.2, 1.2 |",
    );
    expect(md).to.include("| p99 ratio to no rollout under way: measuring, steady | 1.88, 1.5 |");
    expect(md).to.include("| checks in flight at most during the stream | 64 |");
    expect(md).to.include(
      "| from the version change until every rollout was measuring | 120.0 s (1000 of 1000) |",
    );
    expect(md).to.include(
      `| operator: most keys in its work queue, keys queued / s, CPU (cores) |${" 3, 40, 0.3 |".repeat(5)}`,
    );
    expect(md).to.include(
      `| operator: mean wait in its work queue of the keys taken, high / normal / low |${" 4 ms / - / 900 ms |".repeat(5)}`,
    );
    // What the machine waited on: measured in the stream with checks only, in this report.
    expect(md).to.include(
      "| waiting: pressure stall information; the API server's and etcd's garbage collections that overlapped it | n/a | n/a | n/a | cpu 84.5%, io 0.2%, memory 0% of the time; kube-apiserver: 1 collection, 4300 ms in all, longest 4300 ms, 1200 MB live, 6000 MB goal | n/a |",
    );
    expect(md).to.include("CPU during the promotions (cores): kube-apiserver 0.9, operator 0.1");
    expect(md).to.include("Waiting during the promotions: cpu 40%, io 0.1%, memory 0% of the time");
    const w = "32.5, 7 ms / 12 ms / 30 ms";
    expect(md).to.include(
      `| API server: the operator's writes / s, their latency p50 / p90 / p99 (audit log) |${` ${w} |`.repeat(5)}`,
    );
  });
});

describe("bench: the slow-checks options", () => {
  const parse = (...argv: string[]) => parseBenchArgs(argv, { MRO_TOOLS_BIN: "/bin" }).slowChecks;

  it("runs 1000 rollouts with 2 s checks by default", () => {
    expect(parse()).to.deep.equal({ rollouts: 1000, checkDelayMs: 2000 });
  });

  it("takes the rollouts, the delay, the interval, another operator and no check flags", () => {
    expect(
      parse(
        "--slow-checks",
        "5",
        "--slow-check-ms",
        "300",
        "--slow-check-interval",
        "1s",
        "--slow-checks-entry",
        "/tmp/before/src/main.ts",
        "--slow-checks-without-check-flags",
      ),
    ).to.deep.equal({
      rollouts: 5,
      checkDelayMs: 300,
      checkInterval: "1s",
      entry: "/tmp/before/src/main.ts",
      withoutCheckFlags: true,
    });
  });

  it("skips the case with --slow-checks 0 and refuses a negative count or delay", () => {
    expect(parse("--slow-checks", "0")?.rollouts).to.equal(0);
    expect(() => parse("--slow-checks=-1")).to.throw(/--slow-checks: want a positive number/);
    expect(() => parse("--slow-check-ms=0")).to.throw(/--slow-check-ms: want a positive number/);
  });
});
