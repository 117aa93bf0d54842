// An autoscaler changing the replica count in the middle of a rollout, against the real
// control plane. The scale subresource is driven the way kube-controller-manager's HPA
// drives it: GET /apis/mlops.dev/v1alpha1/namespaces/NS/modeldeployments/NAME/scale, then a
// PUT of that Scale with the new spec.replicas (a 409 Conflict: GET again and retry); one
// change goes through a PATCH of the same subresource, as `kubectl scale` and some
// autoscalers send it. After each change: the replicas of both versions, what clients see,
// the Scale the autoscaler reads back, and that the operator's writes (counted in the API
// server's audit log) stop once the world has caught up.
import * as k8s from "@kubernetes/client-node";
import { expect } from "chai";
import { createNamespace, kubeConfig, kubectl, kubectlJson, waitFor } from "../support/kube.ts";
import {
  applyMd,
  deployments,
  getMd,
  isReady,
  modelDeployment,
  operatorWrites,
  waitForMd,
  type Md,
} from "../support/md.ts";
import { FakeModelServer } from "../support/model-server.ts";
import { startOperator, type OperatorProcess } from "../support/operator.ts";

const SCALE = { group: "mlops.dev", version: "v1alpha1", plural: "modeldeployments" };

interface Scale {
  metadata: { resourceVersion?: string };
  spec: { replicas?: number };
  status: { replicas: number; selector?: string };
}

/** GET the Scale of a ModelDeployment, as the HPA reads its target. */
async function getScale(api: k8s.CustomObjectsApi, ns: string, name: string): Promise<Scale> {
  return (await api.getNamespacedCustomObjectScale({ ...SCALE, namespace: ns, name })) as Scale;
}

/** What the HPA does to scale its target: GET the Scale, set spec.replicas, PUT it; on a conflict read again. */
async function hpaScale(
  api: k8s.CustomObjectsApi,
  ns: string,
  name: string,
  replicas: number,
): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    const scale = await getScale(api, ns, name);
    scale.spec.replicas = replicas;
    try {
      await api.replaceNamespacedCustomObjectScale({ ...SCALE, namespace: ns, name, body: scale });
      return;
    } catch (err) {
      if ((err as { code?: number }).code !== 409 || attempt >= 5) throw err;
    }
  }
}

/** A PATCH of the scale subresource (what `kubectl scale` sends). */
async function patchScale(ns: string, name: string, replicas: number): Promise<void> {
  await kubectl([
    "-n",
    ns,
    "patch",
    "modeldeployment",
    name,
    "--subresource=scale",
    "--type=merge",
    "-p",
    JSON.stringify({ spec: { replicas } }),
  ]);
}

/** Waits until each named Deployment has `n` replicas, all of them available; returns the status then. */
async function waitForReplicas(ns: string, model: string, want: Record<string, number>): Promise<void> {
  let seen = "";
  await waitFor(
    `replicas ${JSON.stringify(want)}`,
    async () => {
      const deps = await deployments(ns, model);
      seen = JSON.stringify(
        Object.fromEntries(
          [...deps].map(([n, d]) => [n, `${d.status?.availableReplicas ?? 0}/${d.spec.replicas}`]),
        ),
      );
      return Object.entries(want).every(([n, r]) => {
        const d = deps.get(n);
        return d?.spec.replicas === r && (d.status?.availableReplicas ?? 0) === r;
      });
    },
    { timeoutMs: 90_000, intervalMs: 250 },
  ).catch((err: unknown) => {
    throw new Error(`${(err as Error).message}; available/replicas: ${seen}`);
  });
}

/**
 * Waits until the operator has made no write in namespace `ns` for `quietMs` (the world has
 * caught up and nothing fights); returns how many writes it made since `since`. Fails if the
 * writes never stop.
 */
async function writesStop(ns: string, since: Date, quietMs = 4000): Promise<number> {
  let count = 0;
  await waitFor(
    "the operator's writes to stop",
    async () => {
      const writes = operatorWrites(since).filter((w) => w.uri.includes(`/namespaces/${ns}/`));
      count = writes.length;
      const last = Math.max(since.getTime(), ...writes.map((w) => new Date(w.time).getTime()));
      return Date.now() - last >= quietMs;
    },
    { timeoutMs: 60_000, intervalMs: 500 },
  );
  return count;
}

/** Ready endpoints behind the clients' Service per version (those with none left out), by version. */
const readyEndpoints = (md: Md): Record<string, number> =>
  Object.fromEntries(
    (md.status?.traffic ?? [])
      .filter((t) => (t.readyEndpoints ?? 0) > 0)
      .map((t) => [t.version, t.readyEndpoints ?? 0] as const)
      .sort(([a], [b]) => a.localeCompare(b)),
  );

const sameCounts = (a: Record<string, number>, b: Record<string, number>) =>
  JSON.stringify(Object.entries(a).sort()) === JSON.stringify(Object.entries(b).sort());

/** The parts of the status this file reads that the shared view does not list. */
const rolloutOf = (md: Md) =>
  (md.status as { rollout?: { switchedAt?: string }; scaleDown?: { version: string }[] } | undefined) ?? {};

const selectorOf = async (ns: string, svc: string) =>
  (await kubectlJson<{ spec: { selector: Record<string, string> } }>(["-n", ns, "get", "service", svc])).spec
    .selector;

describe("autoscaling during a rollout", function () {
  this.timeout(300_000);
  let operator: OperatorProcess;
  let models: FakeModelServer;
  let api: k8s.CustomObjectsApi;
  let ns: string;
  let cleanup: () => Promise<void>;
  /** Writes per scale change, for the report at the end of each test. */
  let writeCounts: string[];

  before(async () => {
    operator = await startOperator();
    models = await FakeModelServer.start();
    api = kubeConfig().makeApiClient(k8s.CustomObjectsApi);
  });
  after(async () => {
    await models.stop();
    await operator.stop();
  });
  beforeEach(async function () {
    ({ name: ns, cleanup } = await createNamespace(this.currentTest?.title.slice(0, 20) ?? "t"));
    writeCounts = [];
  });
  afterEach(async function () {
    if (writeCounts.length) console.log(`      operator writes per change: ${writeCounts.join(", ")}`);
    await cleanup();
  });

  /** After a scale change made at `since`: the split, what the clients' Service sees, the Scale, quiet. */
  async function expectSettled(
    since: Date,
    label: string,
    want: Record<string, number>,
    endpoints: Record<string, number>,
  ): Promise<Md> {
    await waitForReplicas(ns, "fraud", want);
    const md = await waitForMd(
      ns,
      "fraud",
      `clients' Service endpoints ${JSON.stringify(endpoints)}`,
      (m) =>
        sameCounts(readyEndpoints(m), endpoints) && m.status?.observedGeneration === m.metadata.generation,
      90_000,
    );
    const n = await writesStop(ns, since);
    writeCounts.push(`${label}: ${n}`);
    expect(n, `operator writes after ${label}`).to.be.below(60);
    // The Scale the autoscaler reads back: status.replicas is every ready pod clients reach.
    const scale = await getScale(api, ns, "fraud");
    const serving = Object.values(endpoints).reduce((a, b) => a + b, 0);
    expect(scale.status).to.deep.equal({ replicas: serving, selector: "mlops.dev/model=fraud" });
    // Nothing changed since the writes stopped: the operator never wrote spec.replicas back.
    expect((await getMd(ns, "fraud")).metadata.generation).to.equal(md.metadata.generation);
    return md;
  }

  it("canary: a setWeight step, a pause, right before promotion and after it", async () => {
    // One check that fails until the test lets it pass: the setWeight step and the final stage
    // wait for it. Measured when a step becomes ready and then hourly, so a waiting step is
    // quiet; a failureThreshold it never reaches keeps it from rolling back.
    const readyCheck = { name: "ready", http: { url: `${models.url}/{{version}}/ready` } };
    const spec = (v: string) =>
      modelDeployment("fraud", {
        version: v,
        replicas: 10,
        strategy: { canary: { steps: [{ setWeight: 20 }, { pause: {} }] } },
        healthChecks: { interval: "1h", failureThreshold: 1000, checks: [readyCheck] },
      });
    await applyMd(ns, spec("1.0.0"));
    await waitForMd(ns, "fraud", "1.0.0 Ready", isReady, 90_000);
    models.setStatus("2.0.0", 503);
    await applyMd(ns, spec("2.0.0"));
    const old = "fraud-1-0-0";
    const cand = "fraud-2-0-0";

    // The setWeight step, waiting for its check: 8 + 2.
    let since = new Date();
    let md = await expectSettled(
      since,
      "setWeight 20 at 10",
      { [old]: 8, [cand]: 2 },
      { "1.0.0": 8, "2.0.0": 2 },
    );
    expect(md.status?.currentStep).to.equal(0);
    expect(md.status?.checks?.[0]?.phase).to.equal("Failed");

    since = new Date();
    await hpaScale(api, ns, "fraud", 20);
    md = await expectSettled(
      since,
      "setWeight 20, 10 -> 20",
      { [old]: 16, [cand]: 4 },
      { "1.0.0": 16, "2.0.0": 4 },
    );
    expect(md.status?.currentStep).to.equal(0);
    expect(md.status?.candidateWeight).to.equal(20);

    since = new Date();
    await hpaScale(api, ns, "fraud", 5);
    md = await expectSettled(
      since,
      "setWeight 20, 20 -> 5",
      { [old]: 4, [cand]: 1 },
      { "1.0.0": 4, "2.0.0": 1 },
    );
    expect(md.status?.currentStep).to.equal(0);
    expect(md.status?.candidateWeight).to.equal(20);

    // The pause: promote ends the setWeight step (its check is still failing).
    await kubectl(["-n", ns, "annotate", "md", "fraud", "mlops.dev/action=promote", "--overwrite"]);
    await waitForMd(ns, "fraud", "in the pause", (m) => m.status?.currentStep === 1);
    since = new Date();
    await patchScale(ns, "fraud", 10);
    md = await expectSettled(
      since,
      "pause, 5 -> 10 (PATCH)",
      { [old]: 8, [cand]: 2 },
      { "1.0.0": 8, "2.0.0": 2 },
    );
    expect(md.status?.currentStep).to.equal(1);

    // Right before promotion: the final stage. By replica ratio the pods are the split, so the
    // failing check holds both versions where they are, and the stable version alone follows
    // a new size: clients never move onto the failing version.
    await kubectl(["-n", ns, "annotate", "md", "fraud", "mlops.dev/action=promote", "--overwrite"]);
    await waitForMd(ns, "fraud", "in the final stage", (m) => m.status?.currentStep === 2);
    since = new Date();
    md = await expectSettled(since, "final stage at 10", { [old]: 8, [cand]: 2 }, { "1.0.0": 8, "2.0.0": 2 });
    expect(md.status?.stableVersion).to.equal("1.0.0");
    expect(md.status?.capacity?.message).to.match(/^a failing check holds 2\.0\.0 at 2 of 10 pods/);
    since = new Date();
    await hpaScale(api, ns, "fraud", 14);
    md = await expectSettled(
      since,
      "final stage, 10 -> 14",
      { [old]: 12, [cand]: 2 },
      { "1.0.0": 12, "2.0.0": 2 },
    );
    expect(md.status?.stableVersion).to.equal("1.0.0");
    expect(md.status?.candidateVersion).to.equal("2.0.0");

    // After promotion: only 2.0.0 follows the total; 1.0.0 stays at 0.
    await kubectl(["-n", ns, "annotate", "md", "fraud", "mlops.dev/action=promote", "--overwrite"]);
    await waitForMd(ns, "fraud", "2.0.0 stable", (m) => isReady(m) && m.status?.stableVersion === "2.0.0");
    since = new Date();
    await hpaScale(api, ns, "fraud", 6);
    md = await expectSettled(since, "promoted, 14 -> 6", { [old]: 0, [cand]: 6 }, { "2.0.0": 6 });
    expect(md.status?.phase).to.equal("Healthy");
  });

  it("blue/green: the preview up, after promote before the switch, after the switch during scaleDownDelay", async () => {
    const spec = (v: string) =>
      modelDeployment("fraud", {
        version: v,
        replicas: 4,
        strategy: { blueGreen: { previewReplicas: 2, scaleDownDelaySeconds: 45 } },
      });
    await applyMd(ns, spec("1.0.0"));
    await waitForMd(ns, "fraud", "1.0.0 Ready", isReady, 90_000);
    await applyMd(ns, spec("2.0.0"));
    const old = "fraud-1-0-0";
    const cand = "fraud-2-0-0";

    // The preview up: the candidate at previewReplicas, clients on 1.0.0 alone.
    let since = new Date();
    let md = await expectSettled(since, "preview at 4", { [old]: 4, [cand]: 2 }, { "1.0.0": 4 });
    expect(rolloutOf(md).rollout?.switchedAt).to.equal(undefined);
    since = new Date();
    await hpaScale(api, ns, "fraud", 6);
    await expectSettled(since, "preview, 4 -> 6", { [old]: 6, [cand]: 2 }, { "1.0.0": 6 });
    // Below previewReplicas: the preview is capped at the total (it used to stall the spec).
    since = new Date();
    await hpaScale(api, ns, "fraud", 1);
    md = await expectSettled(since, "preview, 6 -> 1", { [old]: 1, [cand]: 1 }, { "1.0.0": 1 });
    expect(md.status?.conditions?.find((c) => c.type === "Stalled")?.status).to.equal("False");
    since = new Date();
    await hpaScale(api, ns, "fraud", 4);
    await expectSettled(since, "preview, 1 -> 4", { [old]: 4, [cand]: 2 }, { "1.0.0": 4 });
    expect((await selectorOf(ns, "fraud-preview"))["mlops.dev/version"]).to.equal("2.0.0");

    // After promote, before the switch: a pod quota holds the candidate's scale-up, so the
    // switch waits; the scale-up aims at each new total.
    await kubectl(["-n", ns, "create", "quota", "pods", "--hard=pods=6"]);
    await waitFor("the quota counts the pods", async () => {
      const q = await kubectlJson<{ status?: { used?: { pods?: string } } }>([
        "-n",
        ns,
        "get",
        "quota",
        "pods",
      ]);
      return q.status?.used?.pods === "6";
    });
    await kubectl(["-n", ns, "annotate", "md", "fraud", "mlops.dev/action=promote", "--overwrite"]);
    await waitForMd(ns, "fraud", "scaling up before the switch", (m) => m.status?.currentStep === 1);
    await hpaScale(api, ns, "fraud", 5);
    await waitFor("both Deployments asked for 5 replicas", async () => {
      const deps = await deployments(ns, "fraud");
      return deps.get(old)?.spec.replicas === 5 && deps.get(cand)?.spec.replicas === 5;
    });
    md = await getMd(ns, "fraud");
    expect(rolloutOf(md).rollout?.switchedAt).to.equal(undefined);
    expect((await selectorOf(ns, "fraud"))["mlops.dev/version"]).to.equal("1.0.0");
    expect(readyEndpoints(md)).to.deep.equal({ "1.0.0": 4 });

    // The quota goes; the next scale change goes through: the switch comes at 6 + 6.
    await kubectl(["-n", ns, "delete", "quota", "pods"]);
    since = new Date();
    await hpaScale(api, ns, "fraud", 6);
    await waitForMd(
      ns,
      "fraud",
      "2.0.0 stable",
      (m) => isReady(m) && m.status?.stableVersion === "2.0.0",
      90_000,
    );
    const promotedAt = Date.now();
    expect((await selectorOf(ns, "fraud"))["mlops.dev/version"]).to.equal("2.0.0");
    await expectSettled(since, "switch at 6", { [old]: 6, [cand]: 6 }, { "2.0.0": 6 });

    // After the switch, during scaleDownDelay: the new stable follows the total; the old one
    // keeps what it has for a fast rollback, never more than the total.
    since = new Date();
    await hpaScale(api, ns, "fraud", 3);
    await expectSettled(since, "scaleDownDelay, 6 -> 3", { [old]: 3, [cand]: 3 }, { "2.0.0": 3 });
    since = new Date();
    await hpaScale(api, ns, "fraud", 8);
    md = await expectSettled(since, "scaleDownDelay, 3 -> 8", { [old]: 3, [cand]: 8 }, { "2.0.0": 8 });
    expect(Date.now() - promotedAt, "still within scaleDownDelaySeconds").to.be.below(45_000);
    expect(rolloutOf(md).scaleDown?.[0]?.version).to.equal("1.0.0");

    // The delay passes: the old version scales to 0, and the writes stop again.
    since = new Date();
    await expectSettled(since, "scaled down", { [old]: 0, [cand]: 8 }, { "2.0.0": 8 });
  });
});
