// Two operator processes with --leader-elect against the real control plane: exactly one
// reconciles; kill -9 of the leader in a canary pause, the standby takes over within the
// lease duration and finishes the rollout; SIGTERM hands over at once.
import { expect } from "chai";
import { randomBytes } from "node:crypto";
import { createNamespace, kubectl, kubectlJson, waitFor } from "../support/kube.ts";
import { applyMd, isReady, modelDeployment, operatorWrites, waitForMd } from "../support/md.ts";
import { FakeModelServer } from "../support/model-server.ts";
import { startOperator, type OperatorProcess } from "../support/operator.ts";

/** Short timings so the test runs in reasonable time; same rules as the defaults (15 s, 10 s, 2 s). */
const LEASE_S = 6;
const RENEW_S = 4;
const RETRY_S = 1;

async function metric(op: OperatorProcess, series: RegExp): Promise<number> {
  const text = await fetch(`${op.metricsUrl}/metrics`).then(
    (r) => r.text(),
    () => "",
  );
  let total = 0;
  for (const line of text.split("\n")) if (series.test(line)) total += Number(line.split(" ").at(-1));
  return total;
}

const leading = (op: OperatorProcess) => metric(op, /^leader_election_master_status\{/);
const reconciles = (op: OperatorProcess) => metric(op, /^controller_runtime_reconcile_total\{/);
/** Writes this process sent: a standby writes nothing, not even the Lease (it only reads it). */
const writes = (op: OperatorProcess) =>
  metric(op, /^rest_client_requests_total\{[^}]*method="(PATCH|PUT|POST|DELETE)"/);

interface EventView {
  reason: string;
  reportingInstance?: string;
  regarding?: { kind: string; name: string };
  eventTime?: string;
}

async function eventsBy(ns: string): Promise<Map<string, string[]>> {
  const list = await kubectlJson<{ items: EventView[] }>(["-n", ns, "get", "events.v1.events.k8s.io"]);
  const by = new Map<string, string[]>();
  for (const e of list.items.filter((i) => i.regarding?.kind === "ModelDeployment")) {
    const who = e.reportingInstance ?? "";
    by.set(who, [...(by.get(who) ?? []), e.reason]);
  }
  return by;
}

describe("leader election with two operator processes", function () {
  this.timeout(300_000);
  let models: FakeModelServer;
  let ns: string;
  let cleanup: () => Promise<void>;
  let lease: string;
  const operators: OperatorProcess[] = [];

  const replica = async (podName: string) => {
    const op = await startOperator({
      namespace: ns,
      args: [
        "--leader-elect",
        `--leader-election-namespace=${ns}`,
        `--leader-election-id=${lease}`,
        `--leader-elect-lease-duration=${LEASE_S}s`,
        `--leader-elect-renew-deadline=${RENEW_S}s`,
        `--leader-elect-retry-period=${RETRY_S}s`,
      ],
      env: { POD_NAME: podName },
    });
    operators.push(op);
    return op;
  };
  const holder = async () =>
    (
      await kubectlJson<{ spec?: { holderIdentity?: string } }>(["-n", ns, "get", "lease", lease]).catch(
        () => undefined,
      )
    )?.spec?.holderIdentity;

  before(async () => {
    models = await FakeModelServer.start();
  });
  after(async () => models.stop());
  beforeEach(async function () {
    ({ name: ns, cleanup } = await createNamespace("leader"));
    lease = `mro-${randomBytes(3).toString("hex")}`;
  });
  afterEach(async () => {
    await Promise.all(operators.splice(0).map((op) => op.stop("SIGKILL")));
    await cleanup();
  });

  it("only the leader reconciles; after kill -9 the standby takes over within the lease duration and finishes the rollout", async () => {
    const a = await replica("op-a");
    await waitFor("op-a leads", async () => (await leading(a)) === 1 && (await holder()) === "op-a");
    const b = await replica("op-b");

    const url = `${models.url}/{{version}}/ready`;
    const spec = (v: string) =>
      modelDeployment("fraud", {
        version: v,
        replicas: 4,
        strategy: { canary: { steps: [{ setWeight: 50 }, { pause: {} }] } },
        healthChecks: { interval: "1s", checks: [{ name: "ready", http: { url } }] },
      });
    const since = new Date();
    await applyMd(ns, spec("1.0.0"));
    await waitForMd(ns, "fraud", "1.0.0 Ready", isReady, 90_000);
    await applyMd(ns, spec("2.0.0"));
    await waitForMd(
      ns,
      "fraud",
      "paused at 50%",
      (m) => m.status?.currentStep === 1 && m.status?.candidateWeight === 50,
    );

    // Exactly one reconciles and writes.
    expect(await leading(a)).to.equal(1);
    expect(await leading(b)).to.equal(0);
    expect(await reconciles(a)).to.be.greaterThan(0);
    expect(await reconciles(b), "the standby reconciles nothing").to.equal(0);
    expect(await writes(b), "the standby writes nothing").to.equal(0);
    expect(operatorWrites(since).length, "the leader's writes, in the audit log").to.be.greaterThan(0);
    expect([...(await eventsBy(ns)).keys()], "every Event from op-a").to.deep.equal(["op-a"]);

    // kill -9 in the pause: nothing is released; the standby waits out the lease.
    await a.stop("SIGKILL");
    const killedAt = Date.now();
    await waitFor("op-b leads", async () => (await leading(b)) === 1, { timeoutMs: 60_000, intervalMs: 100 });
    const takeover = (Date.now() - killedAt) / 1000;
    console.log(`      takeover after kill -9: ${takeover.toFixed(1)} s (lease ${LEASE_S} s)`);
    // b last saw a renew at most one (jittered) retry before the kill; it takes over at its
    // first attempt after the lease has run out on its clock.
    expect(takeover).to.be.at.most(LEASE_S + 2 * 2.2 * RETRY_S + 1);
    expect(await holder()).to.equal("op-b");

    // The rollout in flight carries on under the new leader.
    await kubectl(["-n", ns, "annotate", "md", "fraud", "mlops.dev/action=promote", "--overwrite"]);
    const done = await waitForMd(
      ns,
      "fraud",
      "2.0.0 promoted by op-b",
      (m) => isReady(m) && m.status?.stableVersion === "2.0.0",
      120_000,
    );
    expect(done.status?.history?.[0]).to.include({ version: "2.0.0", outcome: "Promoted" });
    expect((await eventsBy(ns)).get("op-b"), "op-b acted").to.include("Promoted");
  });

  it("SIGTERM: the leader releases the Lease and exits 0; the standby takes over at once", async () => {
    const a = await replica("op-a");
    await waitFor("op-a leads", async () => (await leading(a)) === 1 && (await holder()) === "op-a");
    const b = await replica("op-b");
    await applyMd(ns, modelDeployment("fraud", { version: "1.0.0", replicas: 2 }));
    await waitForMd(ns, "fraud", "1.0.0 Ready", isReady, 90_000);

    const t0 = Date.now();
    expect(await a.stop("SIGTERM")).to.equal(0);
    await waitFor("op-b leads", async () => (await leading(b)) === 1, { timeoutMs: 30_000, intervalMs: 50 });
    const handover = (Date.now() - t0) / 1000;
    console.log(`      handover after SIGTERM: ${handover.toFixed(1)} s`);
    expect(handover).to.be.lessThan(3);
    expect(await holder()).to.equal("op-b");
    expect(a.logLines().map((l) => l.msg)).to.include("released the Lease");

    // And the new leader reconciles: a spec change is acted on.
    await kubectl(["-n", ns, "patch", "md", "fraud", "--type=merge", "-p", '{"spec":{"replicas":3}}']);
    await waitForMd(ns, "fraud", "3 replicas", (m) => isReady(m) && m.status?.replicas === 3, 90_000);
  });
});
