import { expect } from "chai";
import { Agent, request } from "node:http";
import { createServer } from "node:net";
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
    expect(r.body).to.contain("# TYPE controller_runtime_reconcile_total counter");
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
