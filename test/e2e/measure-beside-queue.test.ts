// Health checks are measured beside the work queue: while many rollouts wait on slow
// checks, an unrelated ModelDeployment's change reaches its Deployment about as fast as
// with none. (Before, each reconcile awaited its measurements inside a worker: with 40
// rollouts whose check answered in 5 s, such a change took 13 to 15.5 s against 0.2 to
// 0.3 s.)
import { expect } from "chai";
import { createNamespace, kubectl, kubectlJson, waitFor } from "../support/kube.ts";
import { CheckTarget } from "../support/check-target.ts";
import { applyMd, isReady, modelDeployment, waitForMd, getMd } from "../support/md.ts";
import { startOperator, type OperatorProcess } from "../support/operator.ts";

const ROLLOUTS = 40;
const SLOW_MS = 5000;

describe("measurements beside the work queue", function () {
  this.timeout(600_000);
  let target: CheckTarget;
  let ns: string;
  let cleanup: () => Promise<void>;
  let op: OperatorProcess | undefined;

  before(async () => {
    target = await CheckTarget.start();
    target.route("/slow", { body: "ready\n", contentType: "text/plain", delayMs: SLOW_MS });
    ({ name: ns, cleanup } = await createNamespace("queue"));
  });
  after(async () => {
    // 41 ModelDeployments and their children: gone before the next test file's operator,
    // which may watch every namespace, starts (a terminating namespace keeps them a while).
    await kubectl(["-n", ns, "delete", "modeldeployments", "--all", "--wait=true", "--timeout=120s"]).catch(
      () => undefined,
    );
    await op?.stop("SIGKILL");
    await cleanup();
    await target.stop();
  });

  /** ms from changing spec.replicas of `probe` until its Deployment asks for that many. */
  async function replicaChangeMs(replicas: number): Promise<number> {
    const started = Date.now();
    await kubectl([
      "-n",
      ns,
      "patch",
      "modeldeployment",
      "probe",
      "--type=merge",
      "-p",
      JSON.stringify({ spec: { replicas } }),
    ]);
    await waitFor(
      `probe's Deployment at ${replicas} replicas`,
      async () => {
        const d = await kubectlJson<{ spec: { replicas: number } }>([
          "-n",
          ns,
          "get",
          "deployment",
          "probe-1-0-0",
        ]);
        return d.spec.replicas === replicas;
      },
      { timeoutMs: 60_000, intervalMs: 50 },
    );
    return Date.now() - started;
  }

  it("an unrelated ModelDeployment's spec.replicas change is as fast while 40 rollouts measure 5 s checks", async () => {
    op = await startOperator({ namespace: ns });
    await applyMd(ns, modelDeployment("probe", { version: "1.0.0", replicas: 1 }));
    await waitForMd(ns, "probe", "probe Ready", isReady);
    const baseline = [await replicaChangeMs(2), await replicaChangeMs(1)];

    const slow = (i: number, version: string) =>
      modelDeployment(`slow-${i}`, {
        version,
        replicas: 1,
        strategy: { canary: { steps: [{ setWeight: 50 }, { pause: {} }] } },
        healthChecks: {
          interval: "1s",
          checks: [{ name: "slow", timeout: "30s", http: { url: `${target.url}/slow` } }],
        },
      });
    await Promise.all(Array.from({ length: ROLLOUTS }, (_, i) => applyMd(ns, slow(i, "1.0.0"))));
    await waitFor(
      `${ROLLOUTS} ModelDeployments Ready`,
      async () => {
        const list = await kubectlJson<{ items: Parameters<typeof isReady>[0][] }>([
          "-n",
          ns,
          "get",
          "modeldeployments",
        ]);
        return (
          list.items.filter((m) => m.metadata.name.startsWith("slow-") && isReady(m)).length === ROLLOUTS
        );
      },
      { timeoutMs: 300_000, intervalMs: 1000 },
    );
    await Promise.all(Array.from({ length: ROLLOUTS }, (_, i) => applyMd(ns, slow(i, "2.0.0"))));
    // Slow checks under way: more requests than the per-destination cap lets run at once.
    await waitFor("slow checks under way", async () => target.requestsTo("/slow").length >= 16, {
      timeoutMs: 300_000,
      intervalMs: 500,
    });
    const loaded = [await replicaChangeMs(2), await replicaChangeMs(1)];
    const inFlight = target.requestsTo("/slow").length;
    console.log(
      `      spec.replicas change to Deployment: baseline ${baseline.join(", ")} ms; with ${ROLLOUTS} rollouts measuring ${SLOW_MS / 1000} s checks ${loaded.join(", ")} ms (${inFlight} slow requests so far)`,
    );
    // Generous for a loaded machine; awaiting the checks in the workers took 13 to 15.5 s.
    const bound = Math.max(...baseline) * 4 + 2000;
    for (const ms of loaded)
      expect(ms, `a change with slow checks under way (bound ${bound} ms)`).to.be.lessThan(bound);
    // The rollouts are measuring all along.
    const some = await getMd(ns, "slow-0");
    expect(some.status?.candidateVersion).to.equal("2.0.0");
  });
});
