import { expect } from "chai";
import { Agent, request } from "node:http";
import { createServer } from "node:net";
import { WorkQueue } from "../../src/controller/queue.ts";
import { OperatorMetrics } from "../../src/observability/metrics.ts";
import {
  cachesSyncedCheck,
  leaderElectionCheck,
  startProbeServers,
  type ProbeServers,
} from "../../src/observability/probes.ts";

const local = { host: "127.0.0.1", port: 0 };

async function get(
  url: string,
  method = "GET",
): Promise<{ status: number; body: string; type: string | null }> {
  const res = await fetch(url, { method });
  return { status: res.status, body: await res.text(), type: res.headers.get("content-type") };
}

/** The value of one series in Prometheus text, or undefined when absent. */
function sample(text: string, series: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe("probe and metrics servers", () => {
  let servers: ProbeServers | undefined;
  afterEach(async () => {
    await servers?.close();
    servers = undefined;
  });

  it("/healthz answers 200 while the process runs", async () => {
    servers = await startProbeServers({ healthAddress: local });
    const r = await get(`${servers.healthUrl}/healthz`);
    expect(r).to.deep.include({ status: 200, body: "ok\n" });
    expect((await get(`${servers.healthUrl}/healthz`, "HEAD")).status).to.equal(200);
  });

  it("/readyz is 503 with the reason until the caches have synced, then 200", async () => {
    const informers = [
      { name: "mlops.dev/v1alpha1 modeldeployments in all namespaces", synced: false },
      { name: "apps/v1 deployments in all namespaces", synced: true },
    ].map((i) => Object.assign(i, { hasSynced: () => i.synced }));
    servers = await startProbeServers({ healthAddress: local, readiness: [cachesSyncedCheck(informers)] });

    const before = await get(`${servers.healthUrl}/readyz`);
    expect(before.status).to.equal(503);
    expect(before.body).to.equal(
      "[-]informers: caches not synced yet (1 of 2: mlops.dev/v1alpha1 modeldeployments in all namespaces)\nnot ready\n",
    );
    expect((await get(`${servers.healthUrl}/healthz`)).status, "alive all the same").to.equal(200);

    informers[0]!.synced = true;
    expect(await get(`${servers.healthUrl}/readyz`)).to.deep.include({ status: 200, body: "ok\n" });
    expect((await get(`${servers.healthUrl}/readyz?verbose`)).body).to.equal("[+]informers ok\nok\n");
  });

  it("/readyz with leader election: ready when leading or a standby that reaches the API server", async () => {
    const elector = { ready: false, leader: undefined as string | undefined };
    const check = leaderElectionCheck({
      isReady: () => elector.ready,
      isLeader: () => false,
      currentLeader: () => elector.leader,
    });
    servers = await startProbeServers({ healthAddress: local, readiness: [cachesSyncedCheck([]), check] });
    let r = await get(`${servers.healthUrl}/readyz`);
    expect(r.status).to.equal(503);
    expect(r.body).to.contain("[-]leader-election: has not read the leader-election Lease yet");

    elector.leader = "mro-0";
    r = await get(`${servers.healthUrl}/readyz`);
    expect(r.body).to.contain("[-]leader-election: cannot reach the API server");

    elector.ready = true;
    expect((await get(`${servers.healthUrl}/readyz`)).status).to.equal(200);
  });

  it("/readyz turns 503 once shutting down", async () => {
    servers = await startProbeServers({ healthAddress: local });
    expect((await get(`${servers.healthUrl}/readyz`)).status).to.equal(200);
    servers.setShuttingDown();
    const r = await get(`${servers.healthUrl}/readyz`);
    expect(r).to.deep.include({ status: 503, body: "[-]shutting down\nnot ready\n" });
  });

  it("serves /metrics on its own address only, in the Prometheus text format", async () => {
    const metrics = new OperatorMetrics();
    servers = await startProbeServers({ metricsAddress: local, healthAddress: local, metrics });
    expect(servers.metricsUrl).to.not.equal(servers.healthUrl);
    const r = await get(`${servers.metricsUrl}/metrics`);
    expect(r.status).to.equal(200);
    expect(r.type).to.match(/^text\/plain; version=0\.0\.4/);
    expect(r.body).to.contain("# TYPE model_rollout_reconcile_total counter");
    expect(r.body).to.contain("process_cpu_seconds_total");
    expect(r.body).to.contain("nodejs_eventloop_lag_seconds");
    expect((await get(`${servers.healthUrl}/metrics`)).status).to.equal(404);
    expect((await get(`${servers.metricsUrl}/healthz`)).status).to.equal(404);
    expect((await get(`${servers.metricsUrl}/metrics`, "POST")).status).to.equal(405);
  });

  it("starts no server for an address that is disabled", async () => {
    servers = await startProbeServers({ metricsAddress: undefined, healthAddress: local });
    expect(servers.metricsUrl).to.equal(undefined);
    expect(servers.healthUrl).to.match(/^http:\/\/127\.0\.0\.1:\d+$/);
  });

  it("fails to start when the address is taken, naming the address", async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, "127.0.0.1", resolve));
    const port = (blocker.address() as { port: number }).port;
    try {
      let error: Error | undefined;
      try {
        servers = await startProbeServers({
          healthAddress: local,
          metricsAddress: { host: "127.0.0.1", port },
        });
      } catch (err) {
        error = err as Error;
      }
      expect(error?.message).to.contain(`127.0.0.1:${port}`);
      expect((error as NodeJS.ErrnoException | undefined)?.code).to.equal("EADDRINUSE");
    } finally {
      blocker.close();
    }
  });

  it("closes with a keep-alive connection open, and then refuses connections", async () => {
    servers = await startProbeServers({ healthAddress: local, closeTimeoutMs: 5000 });
    const url = new URL(`${servers.healthUrl}/healthz`);
    // A client that keeps its connection open, as Prometheus and the kubelet do.
    await new Promise<void>((resolve, reject) => {
      const req = request(url, { agent: new Agent({ keepAlive: true }) }, (res) => {
        res.resume();
        res.on("end", resolve);
      });
      req.on("error", reject);
      req.end();
    });
    const started = Date.now();
    await servers.close();
    expect(Date.now() - started).to.be.lessThan(1000);
    let refused = false;
    await fetch(url).catch(() => (refused = true));
    expect(refused).to.equal(true);
    servers = undefined;
  });
});

describe("operator metrics", () => {
  it("counts reconciles by result and times them", async () => {
    const m = new OperatorMetrics({ processMetrics: false });
    m.observeReconcile("modeldeployment", "success", 0.02);
    m.observeReconcile("modeldeployment", "success", 0.3);
    m.observeReconcile("modeldeployment", "error", 0.01);
    const { body } = await m.render();
    expect(
      sample(body, 'model_rollout_reconcile_total{controller="modeldeployment",result="success"}'),
    ).to.equal(2);
    expect(
      sample(body, 'model_rollout_reconcile_total{controller="modeldeployment",result="error"}'),
    ).to.equal(1);
    expect(
      sample(body, 'model_rollout_reconcile_duration_seconds_count{controller="modeldeployment"}'),
    ).to.equal(3);
    expect(
      sample(
        body,
        'model_rollout_reconcile_duration_seconds_bucket{le="0.025",controller="modeldeployment"}',
      ),
    ).to.equal(2);
    expect(body, "no process metrics when turned off").to.not.contain("process_cpu_seconds_total");
  });

  it("follows a work queue: depth, adds and retries", async () => {
    const m = new OperatorMetrics({ processMetrics: false });
    const queue = new WorkQueue({ observer: m.queueObserver("modeldeployment") });
    queue.add("a/x");
    queue.add("a/x");
    queue.add("a/y");
    queue.addRateLimited("a/z");
    const { body } = await m.render();
    expect(sample(body, 'model_rollout_workqueue_depth{name="modeldeployment"}')).to.equal(2);
    expect(sample(body, 'model_rollout_workqueue_adds_total{name="modeldeployment"}')).to.equal(2);
    expect(sample(body, 'model_rollout_workqueue_retries_total{name="modeldeployment"}')).to.equal(1);
    await queue.shutdown();
  });

  it("keeps one phase series per ModelDeployment, and forgets a deleted one entirely", async () => {
    const m = new OperatorMetrics({ processMetrics: false });
    m.setRolloutPhase("models", "fraud", "Progressing");
    m.setCandidateWeight("models", "fraud", 20);
    m.countHealthCheckMeasurement("models", "fraud", "error-rate", "Failed");
    m.countHealthCheckMeasurement("models", "fraud", "error-rate", "Failed");
    m.countRollback("models", "fraud", "HealthCheckFailed");
    m.setRolloutPhase("models", "fraud", "Degraded");
    m.setRolloutPhase("models", "churn", "Healthy");
    m.setLeader(true);
    let { body } = await m.render();
    expect(sample(body, 'model_rollout_phase{namespace="models",name="fraud",phase="Degraded"}')).to.equal(1);
    expect(sample(body, 'model_rollout_phase{namespace="models",name="fraud",phase="Progressing"}')).to.equal(
      undefined,
    );
    expect(sample(body, 'model_rollout_candidate_weight_percent{namespace="models",name="fraud"}')).to.equal(
      20,
    );
    expect(
      sample(
        body,
        'model_rollout_health_check_measurements_total{namespace="models",name="fraud",check="error-rate",phase="Failed"}',
      ),
    ).to.equal(2);
    expect(
      sample(
        body,
        'model_rollout_rollbacks_total{namespace="models",name="fraud",reason="HealthCheckFailed"}',
      ),
    ).to.equal(1);
    expect(sample(body, "model_rollout_leader")).to.equal(1);

    m.setCandidateWeight("models", "fraud", undefined);
    m.forgetModelDeployment("models", "fraud");
    ({ body } = await m.render());
    expect(body).to.not.contain('name="fraud"');
    expect(sample(body, 'model_rollout_phase{namespace="models",name="churn",phase="Healthy"}')).to.equal(1);
  });
});
