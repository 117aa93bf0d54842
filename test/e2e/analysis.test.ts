// Analysis against the stable version, with the real operator, the real control plane and a
// real Prometheus holding known latency series (test/support/latency-series.ts, written in
// before it starts): checks compared with the stable version, the statistical judge, its
// Inconclusive verdict, and dryRun checks, as a user sees them in status.
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { expect } from "chai";
import { parse } from "yaml";
import type { CheckStatus } from "../../src/api/types.ts";
import { createNamespace, waitFor } from "../support/kube.ts";
import { applyMd, condition, isReady, mdEvents, modelDeployment, waitForMd, type Md } from "../support/md.ts";
import { latencyOpenMetrics, METRIC } from "../support/latency-series.ts";
import { startOperator, type OperatorProcess } from "../support/operator.ts";
import { startPrometheus, type PrometheusServer } from "../support/prometheus.ts";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "../..");
const STEPS = { canary: { steps: [{ setWeight: 50 }, { pause: {} }] } };

/** status.checks[] as the CRD has it (the test helpers' Md type names fewer fields). */
const checkOf = (md: Md, name: string) =>
  (md.status?.checks as CheckStatus[] | undefined)?.find((c) => c.name === name);
const rolledBack = (md: Md) => condition(md, "Stalled")?.reason === "HealthCheckFailed";
const atPause = (md: Md) => md.status?.currentStep === 1 && md.status?.candidateVersion !== undefined;

describe("analysis against the stable version, with a real Prometheus", function () {
  this.timeout(300_000);
  let prometheus: PrometheusServer;
  let operator: OperatorProcess;
  let ns: string;
  let cleanup: () => Promise<void>;

  before(async function () {
    this.timeout(90_000);
    // The series end two seconds ago; a lookback of 1s makes a step after them find nothing.
    prometheus = await startPrometheus({
      targets: [],
      backfill: latencyOpenMetrics(Math.floor(Date.now() / 1000) - 2),
      args: ["--query.lookback-delta=1s"],
    });
    await waitFor(
      "Prometheus serves the backfilled series",
      async () => {
        const q = encodeURIComponent(`count_over_time(${METRIC}{version="1.0.0"}[30m])`);
        const r = (await (await fetch(`${prometheus.url}/api/v1/query?query=${q}`)).json()) as {
          data?: { result?: { value: [number, string] }[] };
        };
        return Number(r.data?.result?.[0]?.value[1] ?? 0) >= 600;
      },
      { timeoutMs: 30_000, intervalMs: 500 },
    );
    operator = await startOperator();
  });
  after(async () => {
    await operator?.stop();
    await prometheus?.stop();
  });
  beforeEach(async function () {
    ({ name: ns, cleanup } = await createNamespace(this.currentTest?.title.slice(0, 20) ?? "t"));
  });
  afterEach(async () => cleanup());

  const ratioCheck = (extra: Record<string, unknown> = {}) => ({
    name: "p95-vs-stable",
    prometheus: {
      address: prometheus.url,
      query: `avg_over_time(${METRIC}{version="{{version}}"}[30m])`,
      compareWithStable: true,
      successCondition: "candidate <= stable * 1.1",
    },
    ...extra,
  });
  const judgeCheck = (judge: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) => ({
    name: "p95-judge",
    prometheus: {
      address: prometheus.url,
      query: `${METRIC}{version="{{version}}"}`,
      judge: { window: "30m", step: "10s", direction: "LowerIsBetter", minSamples: 20, ...judge },
    },
    ...extra,
  });
  const md = (name: string, version: string, checks: unknown[], strategy: unknown = STEPS) =>
    modelDeployment(name, {
      version,
      replicas: 2,
      strategy: strategy as Record<string, unknown>,
      healthChecks: { interval: "1s", failureThreshold: 2, checks },
    });

  /** Applies every ModelDeployment at `from`, waits until each is Ready, then applies each at its new version. */
  async function rollOut(
    rollouts: { name: string; from: string; to: string; checks: unknown[]; strategy?: unknown }[],
  ) {
    await Promise.all(rollouts.map((r) => applyMd(ns, md(r.name, r.from, r.checks, r.strategy))));
    await Promise.all(rollouts.map((r) => waitForMd(ns, r.name, `${r.name} ${r.from} Ready`, isReady)));
    await Promise.all(rollouts.map((r) => applyMd(ns, md(r.name, r.to, r.checks, r.strategy))));
  }

  it("a candidate 30% slower fails the comparison and the judge; one 3% slower (examples/canary-analysis.yaml) passes both", async () => {
    const example = parse(readFileSync(join(ROOT, "examples", "canary-analysis.yaml"), "utf8")) as {
      metadata: { name: string };
      spec: {
        model: { version: string };
        healthChecks: { interval: string; checks: { prometheus: { address: string } }[] };
      };
    };
    example.metadata.name = "close";
    example.spec.healthChecks.interval = "1s";
    for (const c of example.spec.healthChecks.checks) c.prometheus.address = prometheus.url;
    await applyMd(ns, example);
    await rollOut([
      { name: "slow-ratio", from: "1.0.0", to: "2.0.0", checks: [ratioCheck()] },
      { name: "slow-judge", from: "1.0.0", to: "2.0.0", checks: [judgeCheck()] },
    ]);
    await waitForMd(ns, "close", "close 1.0.0 Ready", isReady);
    example.spec.model.version = "2.1.0";
    await applyMd(ns, example);

    const ratio = await waitForMd(ns, "slow-ratio", "slow-ratio rolled back", rolledBack, 90_000);
    const r = checkOf(ratio, "p95-vs-stable");
    expect(r?.phase).to.equal("Failed");
    expect(Number(r?.value) / Number(r?.stableValue)).to.be.closeTo(1.3, 0.001);
    expect(r?.message).to.match(/^successCondition `candidate <= stable \* 1.1` was false for candidate /);
    expect(condition(ratio, "Stalled")?.message).to.include("p95-vs-stable");
    expect(ratio.status?.stableVersion).to.equal("1.0.0");

    const judged = await waitForMd(ns, "slow-judge", "slow-judge rolled back", rolledBack, 90_000);
    const j = checkOf(judged, "p95-judge");
    expect(j?.phase).to.equal("Failed");
    expect(j?.judge).to.include({ verdict: "Fail", candidateSamples: 60, stableSamples: 60 });
    expect(j?.judge?.effectSize).to.be.closeTo(0.3, 0.01);
    expect(j?.judge?.pValue).to.be.below(1e-10);
    expect(j?.message).to.match(/^the new version is significantly worse: shift \+30% of the stable median/);

    const close = await waitForMd(
      ns,
      "close",
      "close at the pause with both checks passing",
      (m) => atPause(m) && checkOf(m, "p95-judge")?.phase === "Successful",
      90_000,
    );
    const c = checkOf(close, "p95-vs-stable");
    expect(c?.phase).to.equal("Successful");
    expect(Number(c?.value) / Number(c?.stableValue)).to.be.closeTo(1.03, 0.001);
    expect(checkOf(close, "p95-judge")?.judge).to.include({ verdict: "Pass", candidateSamples: 60 });
    // The example's dryRun check has no series here: an Error that gates nothing.
    const dry = checkOf(close, "error-rate-judge");
    expect(dry).to.include({ phase: "Error", dryRun: true });
    expect(dry?.message).to.match(/has no data in the window/);
    expect(condition(close, "Stalled")?.status).to.equal("False");
  });

  it("a stable version without data is an Error, never a pass, for a comparison and for a judge", async () => {
    await rollOut([
      { name: "nostable-ratio", from: "0.9.0", to: "2.1.0", checks: [ratioCheck()] },
      { name: "nostable-judge", from: "0.9.0", to: "2.1.0", checks: [judgeCheck()] },
    ]);
    const ratio = await waitForMd(ns, "nostable-ratio", "nostable-ratio rolled back", rolledBack, 90_000);
    expect(checkOf(ratio, "p95-vs-stable")).to.include({
      phase: "Error",
      message:
        "the stable version 0.9.0 has no data (the query returned no data): there is nothing to compare with",
    });
    expect(Number(checkOf(ratio, "p95-vs-stable")?.value)).to.be.greaterThan(0);
    const judged = await waitForMd(ns, "nostable-judge", "nostable-judge rolled back", rolledBack, 90_000);
    expect(checkOf(judged, "p95-judge")).to.include({
      phase: "Error",
      message:
        "the stable version 0.9.0 has no data in the window (the query returned no data): there is nothing to compare with",
    });
  });

  it("only the rank test catches a bulk 10% slower whose few fast outliers keep the mean: the ratio of means passes it", async () => {
    await rollOut([
      { name: "bulk-ratio", from: "1.0.0", to: "2.2.0", checks: [ratioCheck()] },
      { name: "bulk-judge", from: "1.0.0", to: "2.2.0", checks: [judgeCheck()] },
    ]);
    const ratio = await waitForMd(ns, "bulk-ratio", "bulk-ratio at the pause", atPause, 90_000);
    const r = checkOf(ratio, "p95-vs-stable");
    expect(r?.phase).to.equal("Successful");
    expect(Number(r?.value) / Number(r?.stableValue)).to.be.closeTo(1, 0.001);

    const judged = await waitForMd(ns, "bulk-judge", "bulk-judge rolled back", rolledBack, 90_000);
    const j = checkOf(judged, "p95-judge");
    expect(j?.judge?.verdict).to.equal("Fail");
    expect(j?.judge?.effectSize).to.be.greaterThan(0.05);
    expect(j?.judge?.pValue).to.be.below(0.05);
  });

  it("too few samples is Inconclusive: with Wait the rollout waits (up to inconclusiveTimeout), with Fail it rolls back", async () => {
    await rollOut([
      { name: "few-wait", from: "1.0.0", to: "2.3.0", checks: [judgeCheck({ inconclusive: "Wait" })] },
      { name: "few-fail", from: "1.0.0", to: "2.3.0", checks: [judgeCheck({ inconclusive: "Fail" })] },
      {
        name: "few-deadline",
        from: "1.0.0",
        to: "2.3.0",
        checks: [judgeCheck({ inconclusive: "Wait", inconclusiveTimeout: "4s" })],
      },
    ]);
    const failed = await waitForMd(ns, "few-fail", "few-fail rolled back", rolledBack, 90_000);
    expect(checkOf(failed, "p95-judge")?.phase).to.equal("Inconclusive");

    // Waiting with a deadline: Inconclusive for 4s, then each measurement counts; rolled back.
    const late = await waitForMd(ns, "few-deadline", "few-deadline rolled back", rolledBack, 90_000);
    const d = checkOf(late, "p95-judge");
    expect(d?.phase).to.equal("Inconclusive");
    expect(d?.message).to.match(
      /^too few samples: .*; Inconclusive since \S+, longer than inconclusiveTimeout 4s: counts as a failure$/,
    );
    const record = d?.measurements ?? [];
    const waited = Date.parse(record.at(-1)!.time) - Date.parse(d!.inconclusiveSince!);
    expect(waited).to.be.at.least(4000);
    expect(late.status?.stableVersion).to.equal("1.0.0");

    // Waiting: measured again and again, never counted as a failure, the step never completes.
    const waiting = await waitForMd(
      ns,
      "few-wait",
      "few-wait measured Inconclusive three times",
      (m) => (checkOf(m, "p95-judge")?.measurements?.length ?? 0) >= 3,
      90_000,
    );
    const w = checkOf(waiting, "p95-judge");
    expect(w).to.include({ phase: "Inconclusive", consecutiveFailures: 0 });
    expect(w?.inconclusiveSince).to.be.a("string"); // the default inconclusiveTimeout (10m) is far off
    expect(w?.judge).to.deep.equal({ verdict: "Inconclusive", candidateSamples: 3, stableSamples: 60 });
    expect(w?.message).to.equal(
      "too few samples: the new version has 3, the stable version 60, the judge needs 20 of each",
    );
    expect(w?.measurements?.every((x) => x.phase === "Inconclusive")).to.equal(true);
    expect(waiting.status?.currentStep).to.equal(0);
    expect(waiting.status?.candidateVersion).to.equal("2.3.0");
    expect(condition(waiting, "Stalled")?.status).to.equal("False");
  });

  it("a dryRun check that fails never rolls back, and its record of measurements shows it", async () => {
    const strategy = { canary: { steps: [{ setWeight: 50 }, { pause: { duration: "5s" } }] } };
    await rollOut([
      { name: "dry", from: "1.0.0", to: "2.0.0", checks: [judgeCheck({}, { dryRun: true })], strategy },
    ]);
    const done = await waitForMd(
      ns,
      "dry",
      "2.0.0 promoted despite its failing dryRun judge",
      (m) => isReady(m) && m.status?.stableVersion === "2.0.0",
      90_000,
    );
    expect(done.status?.history?.[0]).to.include({ version: "2.0.0", outcome: "Promoted" });
    const j = checkOf(done, "p95-judge");
    expect(j).to.include({ phase: "Failed", dryRun: true });
    expect(j?.consecutiveFailures).to.be.at.least(2); // past failureThreshold, and no rollback
    const record = j?.measurements ?? [];
    expect(record.length).to.be.within(2, 10);
    expect(record.every((x) => x.phase === "Failed")).to.equal(true);
    expect(record[0]?.message).to.match(/^the new version is significantly worse/);
    expect(record.map((x) => x.time)).to.deep.equal([...record.map((x) => x.time)].sort());
    // One Warning Event says what it would have done.
    const events = await waitFor("the DryRunCheckFailed Event", async () => {
      const found = (await mdEvents(ns, "dry")).filter((e) => e.reason === "DryRunCheckFailed");
      return found.length > 0 ? found : undefined;
    });
    expect(events).to.have.length(1);
    expect(events[0]?.type).to.equal("Warning");
    expect(events[0]?.message).to.match(
      /^check p95-judge saw value .*would have rolled back; nothing is done\)$/,
    );
  });
});
