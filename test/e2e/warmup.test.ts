// Warm-up against real model servers on each version's Service ClusterIP (serveVersion):
// with blue/green, the warm-up requests reach the new version's own Service before the
// clients' Service switches to it, their latencies are in status, and a version that fails
// them is rolled back like one that fails a check.
import { expect } from "chai";
import type { CheckStatus } from "../../src/api/types.ts";
import { applyMd, condition, isReady, modelDeployment, waitForMd, type Md } from "../support/md.ts";
import { serveVersion } from "../support/model-server.ts";
import { sampleClientsSelector } from "../support/clients-selector.ts";
import { useModelSuite } from "../support/suite.ts";

const PORT = 8080; // a Service port a test may bind without root
const NAME = "warm";
const INFER = `/v2/models/${NAME}/infer`;
const BODY = JSON.stringify({
  inputs: [{ name: "features", shape: [1, 4], datatype: "FP32", data: [0.1, 0.2, 0.3, 0.4] }],
});

const spec = (version: string) =>
  modelDeployment(NAME, {
    version,
    replicas: 2,
    strategy: { blueGreen: { autoPromotionSeconds: 1, previewReplicas: 1, scaleDownDelaySeconds: 1 } },
    healthChecks: {
      interval: "1s",
      failureThreshold: 2,
      checks: [{ name: "warmup", warmup: { path: INFER, body: BODY, requests: 10 } }],
    },
    extra: { service: { port: PORT, targetPort: "http" } },
  });

const warmupOf = (md: Md) =>
  (md.status?.checks as CheckStatus[] | undefined)?.find((c) => c.name === "warmup");

describe("warm-up before the first client request", function () {
  this.timeout(180_000);
  const suite = useModelSuite({ namespace: "warmup" });

  /** When the clients' Service first selected `version` (Date.now()), sampled until stop(). */
  function watchSwitch(version: string): { at: () => number | undefined; stop: () => Promise<void> } {
    const samples = sampleClientsSelector(suite.ns, NAME, { intervalMs: 50 });
    return { at: () => samples.selected.get(version)?.first, stop: () => samples.stop() };
  }

  it("sends the warm-up to the preview before the switch, records its latencies, and rolls back a version that fails it", async () => {
    await applyMd(suite.ns, spec("1.0.0"));
    suite.servers.push(await serveVersion(suite.ns, NAME, "1.0.0"));
    await waitForMd(suite.ns, NAME, "1.0.0 Ready", isReady);

    const switched = watchSwitch("2.0.0");
    await applyMd(suite.ns, spec("2.0.0"));
    const v2 = await serveVersion(suite.ns, NAME, "2.0.0", { delayMs: 20 });
    suite.servers.push(v2);
    const promoted = await waitForMd(
      suite.ns,
      NAME,
      "2.0.0 promoted",
      (m) => isReady(m) && m.status?.stableVersion === "2.0.0",
      90_000,
    );
    await waitForMd(
      suite.ns,
      NAME,
      "the clients' Service on 2.0.0",
      () => switched.at() !== undefined,
      10_000,
    );
    await switched.stop();
    const warmups = v2.requests.filter((r) => r.method === "POST" && r.path === INFER);
    expect(warmups.length).to.be.at.least(10);
    expect(warmups.every((r) => r.body === BODY)).to.equal(true);
    // Every warm-up request reached the new version before clients could.
    expect(Math.max(...warmups.map((r) => r.at))).to.be.below(switched.at()!);
    const w = warmupOf(promoted);
    expect(w?.phase).to.equal("Successful");
    expect(w?.warmup).to.include({ requests: 10, failed: 0 });
    // The server waits 20 ms before each answer: the latencies say so.
    expect(w?.warmup?.p50Ms).to.be.at.least(20);
    expect(w?.value).to.match(/^10\/10 ok, p50 \d+ms, p95 \d+ms, max \d+ms$/);

    // A version whose inference fails its warm-up is rolled back before the switch.
    const notSwitched = watchSwitch("3.0.0");
    await applyMd(suite.ns, spec("3.0.0"));
    suite.servers.push(await serveVersion(suite.ns, NAME, "3.0.0", { inferStatus: 500 }));
    const rolledBack = await waitForMd(
      suite.ns,
      NAME,
      "3.0.0 rolled back on its warm-up",
      (m) => condition(m, "Stalled")?.reason === "HealthCheckFailed",
      90_000,
    );
    await notSwitched.stop();
    expect(notSwitched.at()).to.equal(undefined);
    const failed = warmupOf(rolledBack);
    expect(failed).to.include({ phase: "Failed" });
    expect(failed?.message).to.equal(
      "10 of 10 warm-up requests failed (at most 0 may); first: request 1: expected status 200, got 500",
    );
    expect(rolledBack.status?.stableVersion).to.equal("2.0.0");
  });
});
