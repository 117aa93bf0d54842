// Running in production, against the real control plane and the real operator process:
// what /metrics shows after a rollout, the API server going away mid-rollout, a graceful
// stop with a reconcile in flight, and an unhandled rejection.
import { expect } from "chai";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { mkdtempSync, writeFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stopApiServer } from "../cluster/apiserver.ts";
import { createNamespace, kubectl, waitFor } from "../support/kube.ts";
import { applyMd, deployments, getMd, isReady, modelDeployment, waitForMd } from "../support/md.ts";
import { FakeModelServer } from "../support/model-server.ts";
import { startOperator, type OperatorProcess } from "../support/operator.ts";

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Every sample of the operator's /metrics. */
async function scrape(op: OperatorProcess): Promise<Sample[]> {
  const text = await (await fetch(`${op.metricsUrl}/metrics`)).text();
  const samples: Sample[] = [];
  for (const line of text.split("\n")) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? "").matchAll(/([a-zA-Z_]+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    samples.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return samples;
}

/** Sum of the samples named `name` whose labels include `labels`. */
function sum(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  return samples
    .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((a, s) => a + s.value, 0);
}

function has(samples: Sample[], name: string, labels: Record<string, string> = {}): boolean {
  return samples.some((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
}

const canary = (version: string, checkUrl: string, steps: unknown[], replicas = 4) =>
  modelDeployment("fraud", {
    version,
    replicas,
    strategy: { canary: { steps } },
    healthChecks: { interval: "1s", checks: [{ name: "ready", http: { url: checkUrl } }] },
  });

describe("running in production", function () {
  this.timeout(300_000);
  let models: FakeModelServer;
  let ns: string;
  let cleanup: () => Promise<void>;
  const operators: OperatorProcess[] = [];
  const operator = async (...args: Parameters<typeof startOperator>) => {
    const op = await startOperator(...args);
    operators.push(op);
    return op;
  };

  before(async () => {
    models = await FakeModelServer.start();
  });
  after(async () => {
    await models.stop();
  });
  beforeEach(async function () {
    ({ name: ns, cleanup } = await createNamespace("ops"));
  });
  afterEach(async () => {
    await Promise.all(operators.splice(0).map((op) => op.stop("SIGKILL")));
    await cleanup();
  });

  it("/metrics: controller-runtime names and rollout metrics move with a rollout", async () => {
    const op = await operator({ namespace: ns });
    const before = await scrape(op);
    for (const name of [
      "controller_runtime_reconcile_total",
      "controller_runtime_reconcile_errors_total",
      "workqueue_depth",
      "workqueue_adds_total",
      "workqueue_retries_total",
      "leader_election_master_status",
      "process_cpu_seconds_total",
      "nodejs_eventloop_lag_p99_seconds",
    ])
      expect(has(before, name), name).to.equal(true);
    expect(sum(before, "leader_election_master_status", { name: "model-rollout-operator" })).to.equal(1);
    expect(
      sum(before, "rest_client_requests_total", { method: "GET", code: "200" }),
      "lists",
    ).to.be.greaterThan(0);

    const url = `${models.url}/{{version}}/ready`;
    const steps = [{ setWeight: 50 }, { pause: { duration: "1s" } }];
    await applyMd(ns, canary("1.0.0", url, steps));
    await waitForMd(ns, "fraud", "1.0.0 Ready", isReady);
    const md = { namespace: ns, name: "fraud" };
    const promoted = async () =>
      sum(await scrape(op), "model_rollout_rollouts_total", { ...md, outcome: "Promoted" });
    // The first version counts as promoted too, once its status says so.
    const first = await promoted();
    await applyMd(ns, canary("2.0.0", url, steps));
    await waitForMd(
      ns,
      "fraud",
      "2.0.0 promoted",
      (m) => isReady(m) && m.status?.stableVersion === "2.0.0",
      120_000,
    );

    const after = await waitFor("the rollout counted", async () => {
      const s = await scrape(op);
      return sum(s, "model_rollout_rollouts_total", { ...md, outcome: "Promoted" }) === first + 1
        ? s
        : undefined;
    });
    expect(sum(after, "model_rollout_rollouts_total", { ...md, outcome: "Promoted" })).to.equal(first + 1);
    const c = { controller: "modeldeployment" };
    expect(sum(after, "controller_runtime_reconcile_total", { ...c, result: "success" })).to.be.greaterThan(
      0,
    );
    expect(
      sum(after, "controller_runtime_reconcile_total", { ...c, result: "requeue_after" }),
    ).to.be.greaterThan(0);
    expect(sum(after, "controller_runtime_reconcile_time_seconds_count", c)).to.equal(
      sum(after, "controller_runtime_reconcile_total", c),
    );
    const q = { name: "modeldeployment" };
    expect(sum(after, "workqueue_adds_total", q)).to.be.greaterThan(sum(before, "workqueue_adds_total", q));
    expect(sum(after, "workqueue_queue_duration_seconds_count", q)).to.be.greaterThan(0);
    expect(sum(after, "workqueue_work_duration_seconds_count", q)).to.equal(
      sum(after, "controller_runtime_reconcile_total", c),
    );
    expect(
      sum(after, "rest_client_requests_total", { method: "PATCH" }),
      "server-side applies",
    ).to.be.greaterThan(0);
    expect(
      sum(after, "rest_client_requests_total", { method: "PUT", code: "200" }),
      "status",
    ).to.be.greaterThan(0);
    // The duration of 2.0.0's rollout: from status.rollout.startedAt to its history entry.
    expect(
      sum(after, "model_rollout_rollout_duration_seconds_count", { outcome: "Promoted" }),
    ).to.be.at.least(1);
    expect(sum(after, "model_rollout_phase", { ...md, phase: "Healthy" })).to.equal(1);
    expect(has(after, "model_rollout_phase", { ...md, phase: "Progressing" })).to.equal(false);
    expect(
      sum(after, "model_rollout_info", { ...md, stable_version: "2.0.0", candidate_version: "" }),
    ).to.equal(1);
    expect(sum(after, "model_rollout_traffic_weight_percent", { ...md, version: "2.0.0" })).to.equal(100);
    expect(
      sum(after, "model_rollout_health_check_measurements_total", {
        ...md,
        check: "ready",
        phase: "Successful",
      }),
    ).to.be.greaterThan(0);

    // Every log line is one JSON object with ts, level and msg; lines of a reconcile say
    // which ModelDeployment and which reconcile; a rollout step says which version.
    const lines = op
      .logs()
      .split("\n")
      .filter((l) => l.trim() !== "");
    const parsed = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    for (const l of parsed) {
      expect(l.ts, JSON.stringify(l)).to.match(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      expect(["error", "warn", "info", "debug"]).to.include(l.level);
      expect(l.msg).to.be.a("string");
    }
    const ofFraud = parsed.filter(
      (l) => JSON.stringify(l.modelDeployment) === JSON.stringify({ namespace: ns, name: "fraud" }),
    );
    expect(ofFraud.length).to.be.greaterThan(0);
    for (const l of ofFraud) expect(l.reconcileID).to.match(/^[0-9a-f-]{36}$/);
    expect(ofFraud.some((l) => l.level === "info" && l.version === "2.0.0")).to.equal(true);

    // Deleting the ModelDeployment removes its series.
    await kubectl(["-n", ns, "delete", "md", "fraud"]);
    await waitFor("its series gone", async () =>
      (await scrape(op)).every((s) => s.labels.namespace !== ns || s.labels.name !== "fraud"),
    );
  });

  it("the API server stopped for 20 s mid-rollout: reconnects with backoff, the rollout completes, no change is missed", async () => {
    const op = await operator({ namespace: ns });
    const url = `${models.url}/{{version}}/ready`;
    // The pause ends while the API server is away.
    const steps = [{ setWeight: 50 }, { pause: { duration: "10s" } }];
    await applyMd(ns, canary("1.0.0", url, steps));
    await waitForMd(ns, "fraud", "1.0.0 Ready", isReady);
    await applyMd(ns, canary("2.0.0", url, steps));
    await waitForMd(
      ns,
      "fraud",
      "in the pause at 50%",
      (m) => m.status?.currentStep === 1 && m.status?.candidateWeight === 50,
    );

    const before = sum(await scrape(op), "rest_client_requests_total");
    const apiserver = await stopApiServer();
    const down = Date.now();
    // Down for 20 s; the operator keeps serving /metrics and /healthz meanwhile.
    await waitFor("20 s of outage", async () => Date.now() - down >= 20_000, {
      timeoutMs: 30_000,
      intervalMs: 500,
    });
    const duringSamples = await scrape(op);
    const during = sum(duringSamples, "rest_client_requests_total") - before;
    const unanswered = sum(duringSamples, "rest_client_requests_total", { code: "0" });
    expect((await fetch(`${op.healthUrl}/healthz`)).status, "alive while the API server is away").to.equal(
      200,
    );
    await apiserver.start();
    const outageSeconds = (Date.now() - down) / 1000;
    console.log(
      `      API server down ${outageSeconds.toFixed(1)} s: the operator sent ${during} requests (${unanswered} unanswered in total)`,
    );
    // 4 informers backing off (1, 2, 4, 8 s...) and a requeue or two: tens, not thousands.
    expect(during, "no request storm while the API server is down").to.be.lessThan(80);
    expect(during, "it did try to reconnect").to.be.greaterThan(0);

    // A change made as soon as the API server is back, while the watches are still in backoff.
    await kubectl(["-n", ns, "patch", "md", "fraud", "--type=merge", "-p", '{"spec":{"replicas":6}}']);
    const done = await waitForMd(
      ns,
      "fraud",
      "2.0.0 promoted with 6 replicas",
      (m) => isReady(m) && m.status?.stableVersion === "2.0.0",
      120_000,
    );
    expect(done.status?.history?.[0]).to.include({ version: "2.0.0", outcome: "Promoted" });
    await waitFor(
      "6 replicas of 2.0.0",
      async () => (await deployments(ns, "fraud")).get("fraud-2-0-0")?.spec.replicas === 6,
    );
    expect(
      op.logLines().some((l) => /retrying with backoff|restarting with backoff/.test(String(l.msg))),
    ).to.equal(true);
    expect(await Promise.race([op.exited, new Promise((r) => setTimeout(() => r("running"), 100))])).to.equal(
      "running",
    );
  });

  it("SIGTERM while a check is being measured: the process exits 0 at once, and the cut-short measurement is not recorded", async () => {
    // A health check that answers only when the test lets it. Measurements run beside the
    // work queue, so no reconcile waits for it and nothing holds up the stop.
    let held: ServerResponse | undefined;
    const slow: Server = createServer((_req: IncomingMessage, res: ServerResponse) => {
      if (held) res.writeHead(200).end("ready\n");
      else held = res;
    });
    await new Promise<void>((r) => slow.listen(0, "127.0.0.1", r));
    const slowUrl = `http://127.0.0.1:${(slow.address() as AddressInfo).port}/{{version}}/ready`;
    try {
      const op = await operator({ namespace: ns });
      const steps = [{ setWeight: 50 }, { pause: {} }];
      await applyMd(ns, canary("1.0.0", `${models.url}/{{version}}/ready`, steps));
      await waitForMd(ns, "fraud", "1.0.0 Ready", isReady);
      await applyMd(ns, canary("2.0.0", slowUrl, steps));
      await waitFor("the check request in flight", async () => held !== undefined, { timeoutMs: 90_000 });

      const sentAt = Date.now();
      expect(await op.stop("SIGTERM")).to.equal(0);
      // Far less than the check's 5 s timeout: the stop did not wait for the measurement.
      expect(Date.now() - sentAt, "time to exit after SIGTERM (ms)").to.be.lessThan(4000);

      // The measurement cut short by the stop is not an Error counted against the version.
      // (Later requests of the check are answered at once; one may have been measured in a
      // new state of the rollout before the stop.)
      const md = await getMd(ns, "fraud");
      const check = md.status?.checks?.find((c) => c.name === "ready");
      expect(check?.phase ?? "Pending").to.be.oneOf(["Pending", "Successful"]);
      expect(check?.consecutiveFailures ?? 0).to.equal(0);
      const msgs = op.logLines().map((l) => String(l.msg));
      expect(msgs).to.include("shutting down: finishing the reconciles in flight");
      expect(msgs.at(-1)).to.equal("stopped");
    } finally {
      slow.closeAllConnections();
      await new Promise<void>((r) => slow.close(() => r()));
    }
  });

  it("an unhandled rejection is logged and the process exits non-zero", async () => {
    // A module loaded before main.ts (node --import), as a faulty dependency would be: on
    // SIGUSR2 it rejects a promise nobody handles. Nothing in src/ knows about it.
    const dir = mkdtempSync(join(tmpdir(), "mro-fault-"));
    const preload = join(dir, "faulty-dependency.mjs");
    writeFileSync(
      preload,
      'process.on("SIGUSR2", () => { Promise.reject(new Error("connection pool corrupted")); });\n',
    );
    const op = await operator({
      namespace: ns,
      env: { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ""} --import=${preload}`.trim() },
    });
    process.kill(op.pid, "SIGUSR2");
    const code = await Promise.race([
      op.exited,
      new Promise((r) => setTimeout(() => r("still running"), 20_000)),
    ]);
    expect(code).to.equal(1);
    const line = op.logLines().find((l) => l.msg === "unhandled rejection: exiting");
    expect(line, op.logs()).to.not.equal(undefined);
    expect(String(line?.err)).to.contain("connection pool corrupted");
    expect(line?.level).to.equal("error");
  });
});
