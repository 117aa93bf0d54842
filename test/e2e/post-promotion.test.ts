// Checks after a blue/green switch, against real model servers on each version's Service
// ClusterIP: a check with `promotion: After` is measured only once the clients' Service
// selects the new version; while it runs the old version stays at full size
// (scaleDownDelaySeconds), so a new version that fails it is rolled back by switching the
// clients' Service back, with the old version's pods never scaled down. One that passes is
// promoted only once the delay is over.
import { expect } from "chai";
import type { CheckStatus } from "../../src/api/types.ts";
import { childName } from "../../src/plan/naming.ts";
import { waitFor } from "../support/kube.ts";
import {
  applyMd,
  condition,
  deployments,
  isReady,
  modelDeployment,
  waitForMd,
  type Md,
} from "../support/md.ts";
import { serveVersion } from "../support/model-server.ts";
import { clientsSelectedVersion, sampleClientsSelector } from "../support/clients-selector.ts";
import { useModelSuite } from "../support/suite.ts";

const PORT = 8080; // a Service port a test may bind without root
const NAME = "pp";
const READY = `/v2/models/${NAME}/ready`;
const LIVE = "/v2/health/live";
const DELAY_S = 6;

const spec = (version: string) =>
  modelDeployment(NAME, {
    version,
    replicas: 2,
    strategy: { blueGreen: { autoPromotionSeconds: 0, previewReplicas: 2, scaleDownDelaySeconds: DELAY_S } },
    healthChecks: {
      interval: "1s",
      // 3, not 2: the test binds each version's server once the operator has created its
      // Service, and the candidate's first pod can be measurable before that (a refused
      // connection), with a second measurement at once when all its pods are ready.
      failureThreshold: 3,
      checks: [
        { name: "ready", http: { path: READY } },
        { name: "live-after-switch", promotion: "After", http: { path: LIVE } },
      ],
    },
    extra: { service: { port: PORT, targetPort: "http" } },
  });

const checkOf = (md: Md, name: string) =>
  (md.status?.checks as CheckStatus[] | undefined)?.find((c) => c.name === name);

describe("checks after a blue/green switch", function () {
  this.timeout(240_000);
  const suite = useModelSuite({ namespace: "post-promotion" });

  /**
   * Samples, until stop(), when the clients' Service first and last selected each version, and
   * the smallest spec.replicas the Deployment of `watched` had.
   */
  function sample(watched: string) {
    let minReplicas = Infinity;
    const samples = sampleClientsSelector(suite.ns, NAME, {
      alongside: async () => {
        const d = (await deployments(suite.ns, NAME).catch(() => new Map())).get(childName(NAME, watched));
        if (d) minReplicas = Math.min(minReplicas, d.spec.replicas);
      },
    });
    return { selected: samples.selected, minReplicas: () => minReplicas, stop: () => samples.stop() };
  }

  it("rolls back a version that fails after the switch, the old version never scaled down; promotes a good one after the delay", async () => {
    await applyMd(suite.ns, spec("1.0.0"));
    suite.servers.push(await serveVersion(suite.ns, NAME, "1.0.0"));
    await waitForMd(suite.ns, NAME, "1.0.0 Ready", isReady);

    // 2.0.0 is ready (the check before the switch passes) but not live.
    const s2 = sample("1.0.0");
    await applyMd(suite.ns, spec("2.0.0"));
    const v2 = await serveVersion(suite.ns, NAME, "2.0.0", { live: 503 });
    suite.servers.push(v2);
    const failed = await waitForMd(
      suite.ns,
      NAME,
      "2.0.0 rolled back after the switch",
      (m) => condition(m, "Stalled")?.reason === "HealthCheckFailed",
      90_000,
    );
    await waitFor(
      "the clients' Service back on 1.0.0",
      async () =>
        s2.selected.get("1.0.0")!.last > (s2.selected.get("2.0.0")?.last ?? Infinity) ? true : undefined,
      { timeoutMs: 10_000, intervalMs: 100 },
    );
    await s2.stop();
    // The clients' Service did switch to 2.0.0, and was switched back to 1.0.0.
    const on2 = s2.selected.get("2.0.0");
    expect(on2, "the clients' Service selected 2.0.0").to.not.equal(undefined);
    expect(s2.selected.get("1.0.0")!.last).to.be.above(on2!.last);
    // The after-switch check reached 2.0.0 only once the clients' Service selected it.
    const lives = v2.requests.filter((r) => r.path === LIVE);
    expect(lives.length).to.be.at.least(2);
    expect(Math.min(...lives.map((r) => r.at))).to.be.at.least(on2!.first - 1000);
    // The old version kept its full size throughout.
    expect(s2.minReplicas()).to.equal(2);
    const live = checkOf(failed, "live-after-switch");
    expect(live).to.include({ phase: "Failed", value: "503" });
    expect(condition(failed, "Stalled")?.message).to.include("live-after-switch");
    expect(failed.status?.stableVersion).to.equal("1.0.0");
    expect(await clientsSelectedVersion(suite.ns, NAME)).to.equal("1.0.0");

    // 3.0.0 passes both: promoted, but not before the scale-down delay after the switch.
    const s3 = sample("1.0.0");
    await applyMd(suite.ns, spec("3.0.0"));
    suite.servers.push(await serveVersion(suite.ns, NAME, "3.0.0"));
    const promoted = await waitForMd(
      suite.ns,
      NAME,
      "3.0.0 promoted",
      (m) => isReady(m) && m.status?.stableVersion === "3.0.0",
      90_000,
    );
    const promotedAt = Date.now();
    await s3.stop();
    const on3 = s3.selected.get("3.0.0");
    expect(on3, "the clients' Service selected 3.0.0").to.not.equal(undefined);
    expect(promotedAt - on3!.first).to.be.at.least(DELAY_S * 1000 - 1000);
    expect(checkOf(promoted, "live-after-switch")).to.include({ phase: "Successful", value: "200" });
    const history = promoted.status?.history as { version: string; outcome: string; message?: string }[];
    expect(history[0]).to.include({ version: "3.0.0", outcome: "Promoted" });
    expect(history[0]?.message).to.include(
      "every check after the switch passed through the scale-down delay",
    );
  });
});
