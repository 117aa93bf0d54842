// The benchmark harness (npm run bench) at a small size, so it cannot rot: it starts its
// own control plane (with the operator's reads audited), runs every measurement with 20
// ModelDeployments and short windows (the slow-checks case with 5 rollouts whose checks
// answer after 2 s), and must produce every figure, with no write at rest.
import { expect } from "chai";
import { runBench, type BenchResult } from "../../bench/harness.ts";
import { markdownReport } from "../../bench/report.ts";
import { testClusterDir } from "../cluster/global-fixture.ts";
import { toolsBin } from "../support/kube.ts";

/** Paths of every number in `value` that is not finite, and of every null (NaN in JSON). */
function notFinite(value: unknown, path = "result"): string[] {
  if (typeof value === "number") return Number.isFinite(value) ? [] : [`${path} = ${value}`];
  if (value === null || value === undefined) return [`${path} = ${value}`];
  if (Array.isArray(value)) return value.flatMap((v, i) => notFinite(v, `${path}[${i}]`));
  if (typeof value === "object")
    return Object.entries(value as Record<string, unknown>).flatMap(([k, v]) => notFinite(v, `${path}.${k}`));
  return [];
}

describe("benchmark smoke run (npm run bench at N = 20)", function () {
  this.timeout(480_000);
  let result: BenchResult;

  before(async () => {
    const testDir = testClusterDir();
    result = await runBench({
      sizes: [20],
      restSeconds: 10,
      changes: 20,
      changeRate: 10,
      promotions: 5,
      promotionRate: 5,
      plannerSeconds: 0.3,
      routeRollouts: 5,
      slowChecks: { rollouts: 5, checkDelayMs: 2000 },
      operatorArgs: [],
      clusterDir: `${testDir}-bench`,
      binDir: toolsBin(),
    });
  });

  it("produces every figure as a number", () => {
    expect(notFinite(result)).to.deep.equal([]);
    const [size] = result.sizes;
    expect(size?.n).to.equal(20);
    expect(size?.convergence.allReadySeconds).to.be.greaterThan(0);
    expect(size?.convergence.cpuSeconds).to.be.greaterThan(0);
    expect(size?.memory.atN.heapUsedBytes).to.be.greaterThan(0);
    expect(size?.memory.atN.rssBytes).to.be.greaterThan(0);
    expect(result.baselines.map((b) => b.entry)).to.deep.equal(["src/main.ts", "dist/main.js"]);
    for (const b of result.baselines) {
      expect(b.atStart.rssBytes).to.be.greaterThan(0);
      expect(b.afterFirstReconcile.heapUsedBytes).to.be.greaterThan(0);
    }
    expect(result.baselines[0]!.restCpuSecondsPerMinute).to.be.a("number");
    expect(result.promotion.overhead.samples).to.equal(5);
    expect(result.planner.map((p) => p.scenario)).to.deep.equal(["at rest", "canary step"]);
    for (const p of result.planner) expect(p.plansPerSecond).to.be.greaterThan(0);
  });

  it("counts the operator's requests on the API server: creates and status writes for each ModelDeployment", () => {
    const c = result.sizes[0]!.convergence;
    // Each ModelDeployment needs at least its Deployment, two Services and a status write.
    expect(c.requests.writes).to.be.at.least(20 * 4);
    expect(c.requests.byVerbResource["patch deployments"]).to.equal(20);
    expect(c.requestsPerModelDeployment).to.equal(
      Number(((c.requests.total - c.requests.listWatch) / 20).toFixed(2)),
    );
  });

  it("sees no write at rest and a reaction to every spec change", () => {
    const s = result.sizes[0]!;
    expect(s.rest.writes).to.equal(0);
    expect(s.reaction.samples).to.equal(20);
    expect(s.reaction.timedOut).to.equal(0);
    expect(s.reaction.p50Ms).to.be.greaterThan(0);
    expect(s.reaction.p99Ms).to.be.at.least(s.reaction.p50Ms);
  });

  it("says what the machine waited on during the stream: pressure stalls and the control plane's garbage collections", () => {
    const r = result.sizes[0]!.reaction;
    for (const kind of ["cpu", "io", "memory"]) expect(r.pressure?.[kind]).to.be.within(0, 100);
    // The tuned control plane's API server and etcd log their collections; the live heap is
    // the one the last collection before the stream's end left.
    for (const name of ["kube-apiserver", "etcd"]) {
      const gc = r.gc?.[name];
      expect(gc, name).to.not.equal(undefined);
      expect(gc!.liveMb, name).to.be.greaterThan(0);
      expect(gc!.longestMs, name).to.be.at.most(gc!.wallMs);
    }
    // The benchmark's API server collects when its heap has grown to five times the live heap
    // (GOGC=400, TUNED_API_SERVER_GC), where etcd keeps Go's default of twice.
    const api = r.gc!["kube-apiserver"]!;
    const etcd = r.gc!["etcd"]!;
    expect(api.goalMb / api.liveMb, "kube-apiserver goal / live").to.be.at.least(3.5);
    expect(etcd.goalMb / etcd.liveMb, "etcd goal / live").to.be.below(3);
    expect(markdownReport(result)).to.match(
      /- N = 20: cpu [\d.]+%, io [\d.]+%, memory [\d.]+% of the time; kube-apiserver: \d+ collection/,
    );
    // And during the blue/green promotions, which run on the same control plane after the sizes.
    const p = result.promotion;
    for (const kind of ["cpu", "io", "memory"]) expect(p.pressure?.[kind]).to.be.within(0, 100);
    for (const name of ["kube-apiserver", "etcd"]) expect(p.gc?.[name]?.liveMb, name).to.be.greaterThan(0);
    expect(p.cpu?.operator).to.be.at.least(0);
    expect(markdownReport(result)).to.match(
      /Waiting during the promotions: cpu [\d.]+%, io [\d.]+%, memory [\d.]+% of the time; kube-apiserver: \d+ collection/,
    );
  });

  it("rolls out by replica ratio and through a managed route, and counts the route's writes", () => {
    const [ratio, route] = result.rolloutCost ?? [];
    expect([ratio?.mode, route?.mode]).to.deep.equal(["replica ratio", "HTTPRoute"]);
    expect(ratio?.converge.requests.byVerbResource["patch httproutes"]).to.equal(undefined);
    // The route: written once for each first version, then at 50% and at the promotion.
    expect(route?.converge.requests.byVerbResource["patch httproutes"]).to.equal(5);
    expect(route?.rollout.requests.byVerbResource["patch httproutes"]).to.equal(10);
    expect(route?.rollout.requestsPerRollout).to.equal(
      Number(((route!.rollout.requests.total - route!.rollout.requests.listWatch) / 5).toFixed(2)),
    );
    expect(markdownReport(result)).to.include("| HTTPRoute | 5 |");
  });

  it("measures the reaction to unrelated changes with no rollout, with the rollouts paused without checks (scaling down and up), and once every rollout is measuring its slow check", () => {
    const x = result.slowChecks!;
    expect([x.rollouts, x.servers, x.unrelated, x.checkDelayMs]).to.deep.equal([5, 5, 20, 2000]);
    expect(x.steady, "the steady stream, once every rollout was measured 3 times").to.not.equal(undefined);
    for (const stream of [x.baseline, x.withoutChecks, x.withoutChecksUp, x.loaded, x.steady!]) {
      expect(stream.samples).to.equal(20);
      expect(stream.timedOut).to.equal(0);
      expect(stream.p50Ms).to.be.greaterThan(0);
      expect(stream.p99Ms).to.be.at.least(stream.p50Ms);
      // What the machine waited on, as for the sizes' streams.
      for (const kind of ["cpu", "io", "memory"]) expect(stream.pressure?.[kind]).to.be.within(0, 100);
      for (const name of ["kube-apiserver", "etcd"])
        expect(stream.gc?.[name]?.liveMb, name).to.be.greaterThan(0);
    }
    // The rollouts without checks paused, then were promoted and settled before those with
    // checks began.
    expect(x.withoutChecksPausedSeconds).to.be.greaterThan(0);
    expect(x.withoutChecksDoneSeconds).to.be.greaterThan(x.withoutChecksPausedSeconds);
    // Each stream with checks against the one without checks that made the same change.
    expect(x.ratios.loaded).to.equal(Number((x.loaded.p99Ms / x.withoutChecksUp.p99Ms).toFixed(2)));
    expect(x.ratios.steady).to.equal(Number((x.steady!.p99Ms / x.withoutChecks.p99Ms).toFixed(2)));
    expect(x.ratios.loadedToNoRollout).to.equal(Number((x.loaded.p99Ms / x.baseline.p99Ms).toFixed(2)));
    // The loaded stream started once every rollout's check had reached the test servers, and
    // the checks went on during it (the rollouts pause at 50%, measured every interval).
    expect(x.measuring).to.equal(5);
    expect(x.allMeasuringAfterSeconds).to.be.greaterThan(0);
    expect(x.checksDuringStream.peakInFlight).to.be.at.least(1);
    expect(x.checks.received).to.be.at.least(5);
    const md = markdownReport(result);
    expect(md).to.include("### Slow health checks under load (5 rollouts, checks answering after 2000 ms)");
    expect(md).to.include(
      "| p99 ratio to 5 rollouts paused without checks, the same change: measuring (up), steady (down) (the target) |",
    );
    expect(md).to.include("| 5 rollouts paused, no check (down) | 20 | 10/s |");
    expect(md).to.include("| 5 rollouts paused, no check (up) | 20 | 10/s |");
    expect(md).to.match(
      /\| waiting: pressure stall information; [^|]+ \|( cpu [\d.]+%, io [\d.]+%, memory [\d.]+% of the time; kube-apiserver: \d+ collections?[^|]+ \|){5}/,
    );
    // Below 1000 rollouts the target is reported, never met.
    const target = result.targets.find((t) => t.target.startsWith("slow checks:"));
    expect(target?.met).to.equal(false);
  });

  it("prints a Markdown table with each target and whether it was met", () => {
    const md = markdownReport(result);
    expect(md).to.include("| 20 |");
    for (const t of result.targets) expect(md).to.include(`| ${t.target} |`);
    expect(result.targets.find((t) => t.target === "0 writes at rest")?.met).to.equal(true);
  });
});
