// The core controller against the real control plane: children, status, events,
// zero writes at rest, invalid specs, garbage collection, scale.
import { expect } from "chai";
import { createNamespace, kubectl, kubectlJson, tool, waitFor } from "../support/kube.ts";
import {
  applyMd,
  condition,
  deployments,
  getMd,
  isReady,
  mdEvents,
  modelDeployment,
  operatorWrites,
  waitForMd,
} from "../support/md.ts";
import { startOperator, type OperatorProcess } from "../support/operator.ts";

interface ServiceView {
  metadata: {
    name: string;
    labels?: Record<string, string>;
    ownerReferences?: { kind: string; name: string; controller?: boolean }[];
  };
  spec: { selector: Record<string, string>; ports: { port: number; targetPort: number | string }[] };
}

describe("core controller", function () {
  this.timeout(180_000);
  let operator: OperatorProcess;
  let ns: string;
  let cleanup: () => Promise<void>;

  before(async () => {
    operator = await startOperator();
  });
  after(async () => {
    const code = await operator.stop();
    expect(code, operator.logs().slice(-3000)).to.equal(0);
  });
  beforeEach(async function () {
    ({ name: ns, cleanup } = await createNamespace(this.currentTest?.title.slice(0, 20) ?? "t"));
  });
  afterEach(async () => cleanup());

  it("creates a Deployment and Services for the first version, which takes all traffic once Available", async () => {
    await applyMd(ns, modelDeployment("fraud", { version: "1.0.0", replicas: 3 }));
    const md = await waitForMd(ns, "fraud", "Ready", isReady);

    expect(md.status?.phase).to.equal("Healthy");
    expect(md.status?.stableVersion).to.equal("1.0.0");
    expect(md.status?.candidateVersion).to.equal(undefined);
    expect(condition(md, "Reconciling")?.status).to.equal("False");
    expect(condition(md, "Stalled")?.status).to.equal("False");
    expect(condition(md, "Ready")?.observedGeneration).to.equal(md.metadata.generation);

    const deps = await deployments(ns, "fraud");
    const dep = deps.get("fraud-1-0-0");
    expect(dep, `Deployments: ${[...deps.keys()].join(", ")}`).to.not.equal(undefined);
    expect(dep!.spec.replicas).to.equal(3);
    expect(dep!.metadata.labels).to.include({
      "mlops.dev/model": "fraud",
      "mlops.dev/version": "1.0.0",
      "app.kubernetes.io/managed-by": "model-rollout-operator",
    });
    expect(dep!.metadata.ownerReferences).to.deep.include.members([
      {
        apiVersion: "mlops.dev/v1alpha1",
        kind: "ModelDeployment",
        name: "fraud",
        uid: md.metadata.uid,
        controller: true,
        blockOwnerDeletion: true,
      },
    ]);
    // The revision (hash of the pod template and model) is in the selector, so another pod
    // template of 1.0.0 gets a Deployment of its own.
    expect(dep!.spec.selector.matchLabels).to.deep.equal({
      "mlops.dev/model": "fraud",
      "mlops.dev/version": "1.0.0",
      "mlops.dev/revision": md.status?.stableRevision,
    });
    const env = Object.fromEntries(dep!.spec.template.spec.containers[0]!.env!.map((e) => [e.name, e.value]));
    expect(env).to.include({
      MODEL_NAME: "fraud",
      MODEL_VERSION: "1.0.0",
      MODEL_URI: "s3://models/fraud/1.0.0",
      MODEL_FORMAT: "sklearn",
    });

    const clients = await kubectlJson<ServiceView>(["-n", ns, "get", "service", "fraud"]);
    expect(clients.spec.selector).to.include({ "mlops.dev/model": "fraud" });
    expect(clients.spec.ports[0]).to.include({ port: 80, targetPort: "http" });
    expect(clients.metadata.ownerReferences?.[0]).to.include({
      kind: "ModelDeployment",
      name: "fraud",
      controller: true,
    });
    const own = await kubectlJson<ServiceView>(["-n", ns, "get", "service", "fraud-1-0-0"]);
    expect(own.spec.selector).to.deep.equal(dep!.spec.selector.matchLabels);

    // Traffic is what the clients' Service really has: 3 ready endpoints, all 1.0.0.
    const withTraffic = await waitForMd(
      ns,
      "fraud",
      "traffic counted",
      (m) => m.status?.traffic?.[0]?.readyEndpoints === 3,
    );
    expect(withTraffic.status?.traffic).to.deep.equal([
      { version: "1.0.0", revision: md.status?.stableRevision, weight: 100, readyEndpoints: 3 },
    ]);

    // kubectl wait works on the Ready condition, and the printer columns show the state.
    const waited = await tool("kubectl", [
      "-n",
      ns,
      "wait",
      "--for=condition=Ready",
      "md/fraud",
      "--timeout=10s",
    ]);
    expect(waited.code, waited.stderr).to.equal(0);
    const table = await kubectl(["-n", ns, "get", "md", "fraud"]);
    expect(table).to.match(/STABLE\s+CANDIDATE\s+WEIGHT\s+PHASE\s+READY\s+AGE/);
    expect(table).to.match(/fraud\s+1\.0\.0\s+.*Healthy\s+True/);

    const events = await mdEvents(ns, "fraud");
    expect(events.map((e) => e.reason)).to.include("Promoted");
  });

  it("sends no write to the API server for 30 seconds while nothing changes", async () => {
    await applyMd(ns, modelDeployment("idle", { version: "1.0.0", replicas: 2 }));
    await waitForMd(
      ns,
      "idle",
      "Ready with traffic",
      (m) => isReady(m) && m.status?.traffic?.[0]?.readyEndpoints === 2,
    );
    // Let the last writes settle, then watch a quiet period that includes a change the
    // operator must react to without writing (a label on the ModelDeployment only).
    await new Promise((r) => setTimeout(r, 3000));
    const since = new Date();
    await kubectl(["-n", ns, "label", "md", "idle", "team=fraud"]);
    await new Promise((r) => setTimeout(r, 30_000));
    const writes = operatorWrites(since).filter((w) => w.uri.includes(`/namespaces/${ns}/`));
    expect(writes, JSON.stringify(writes, null, 1)).to.deep.equal([]);
  });

  it("scales the stable version with spec.replicas and through the scale subresource", async () => {
    await applyMd(ns, modelDeployment("scaled", { version: "1.0.0", replicas: 2 }));
    await waitForMd(ns, "scaled", "Ready", isReady);
    await kubectl(["-n", ns, "scale", "md", "scaled", "--replicas=4"]);
    await waitFor(
      "4 replicas",
      async () => (await deployments(ns, "scaled")).get("scaled-1-0-0")?.status?.availableReplicas === 4,
    );
    const md = await waitForMd(
      ns,
      "scaled",
      "status.replicas 4",
      (m) => m.status?.replicas === 4 && isReady(m),
    );
    expect(md.status?.stableVersion).to.equal("1.0.0");
  });

  it("rejects what the schema and CEL rules can tell at kubectl apply", async () => {
    const both = modelDeployment("bad", {
      version: "1.0.0",
      strategy: { canary: { steps: [{ setWeight: 10 }] }, blueGreen: {} },
    });
    const r1 = await tool("kubectl", ["-n", ns, "apply", "-f", "-"], JSON.stringify(both));
    expect(r1.code).to.not.equal(0);
    expect(r1.stderr).to.include("exactly one of strategy.canary or strategy.blueGreen must be set");

    const decreasing = modelDeployment("bad", {
      version: "1.0.0",
      strategy: { canary: { steps: [{ setWeight: 50 }, { setWeight: 20 }] } },
    });
    const r2 = await tool("kubectl", ["-n", ns, "apply", "-f", "-"], JSON.stringify(decreasing));
    expect(r2.stderr).to.include("setWeight values must never decrease");

    const badVersion = modelDeployment("bad", { version: "1.0.0 beta" });
    const r3 = await tool("kubectl", ["-n", ns, "apply", "-f", "-"], JSON.stringify(badVersion));
    expect(r3.stderr).to.include("must be a valid label value");

    const badDuration = modelDeployment("bad", {
      version: "1",
      strategy: { canary: { steps: [{ pause: { duration: "ten" } }] } },
    });
    const r4 = await tool("kubectl", ["-n", ns, "apply", "-f", "-"], JSON.stringify(badDuration));
    expect(r4.stderr).to.include("must be a duration");

    // The clients' Service takes the ModelDeployment's name: a valid object name that is no
    // DNS label (too long, dotted) could never be rolled out.
    for (const name of ["n".repeat(64), "fraud.v2", "2fraud"]) {
      const r5 = await tool(
        "kubectl",
        ["-n", ns, "apply", "-f", "-"],
        JSON.stringify(modelDeployment(name, { version: "1" })),
      );
      expect(r5.code, name).to.not.equal(0);
      expect(r5.stderr, name).to.include(
        "metadata.name: the clients' Service is named after the ModelDeployment",
      );
    }
    await applyMd(ns, modelDeployment("n".repeat(63), { version: "1" }));
    await kubectl(["-n", ns, "delete", "md", "n".repeat(63), "--wait=false"]);
  });

  it("reports an invalid spec the schema cannot catch in a condition and an Event, and keeps serving the stable version", async () => {
    await applyMd(ns, modelDeployment("cel", { version: "1.0.0", replicas: 2 }));
    await waitForMd(ns, "cel", "Ready", isReady);
    await applyMd(
      ns,
      modelDeployment("cel", {
        version: "2.0.0",
        replicas: 2,
        healthChecks: {
          checks: [
            {
              name: "errors",
              prometheus: { address: "http://127.0.0.1:1", query: "up", successCondition: "result <" },
            },
          ],
        },
      }),
    );
    const md = await waitForMd(
      ns,
      "cel",
      "Stalled InvalidSpec",
      (m) => condition(m, "Stalled")?.reason === "InvalidSpec",
    );
    expect(condition(md, "Stalled")?.status).to.equal("True");
    expect(condition(md, "Stalled")?.message).to.include("successCondition");
    expect(md.status?.stableVersion).to.equal("1.0.0");
    const deps = await deployments(ns, "cel");
    expect([...deps.keys()]).to.deep.equal(["cel-1-0-0"]);
    expect(deps.get("cel-1-0-0")?.spec.replicas).to.equal(2);
    const events = await waitFor("InvalidSpec Event", async () => {
      const ev = await mdEvents(ns, "cel");
      return ev.some((e) => e.reason === "InvalidSpec") && ev;
    });
    expect(events.find((e) => e.reason === "InvalidSpec")?.type).to.equal("Warning");
    // The operator is still running and fine.
    expect((await fetch(`${operator.healthUrl}/healthz`)).status).to.equal(200);
  });

  it("deleting the ModelDeployment removes its children through garbage collection", async () => {
    await applyMd(ns, modelDeployment("gone", { version: "1.0.0", replicas: 1 }));
    await waitForMd(ns, "gone", "Ready", isReady);
    await kubectl(["-n", ns, "delete", "md", "gone", "--wait=true"]);
    await waitFor("children deleted", async () => {
      const d = await kubectlJson<{ items: unknown[] }>([
        "-n",
        ns,
        "get",
        "deployments,services",
        "-l",
        "mlops.dev/model=gone",
      ]);
      return d.items.length === 0;
    });
  });

  it("keeps revisionHistoryLimit old versions at zero replicas and deletes older ones", async () => {
    const spec = (v: string) =>
      modelDeployment("hist", {
        version: v,
        replicas: 1,
        strategy: { canary: { steps: [{ setWeight: 100 }] } },
        extra: { revisionHistoryLimit: 1 },
      });
    for (const v of ["1", "2", "3"]) {
      await applyMd(ns, spec(v));
      await waitForMd(ns, "hist", `version ${v} stable`, (m) => isReady(m) && m.status?.stableVersion === v);
    }
    const deps = await waitFor("version 1 deleted", async () => {
      const d = await deployments(ns, "hist");
      return !d.has("hist-1") && d;
    });
    expect([...deps.keys()].sort()).to.deep.equal(["hist-2", "hist-3"]);
    expect(deps.get("hist-2")?.spec.replicas).to.equal(0);
    expect(deps.get("hist-3")?.spec.replicas).to.equal(1);
    const md = await getMd(ns, "hist");
    expect(md.status?.history?.filter((h) => h.outcome === "Promoted").map((h) => h.version)).to.deep.equal([
      "3",
      "2",
      "1",
    ]);
  });
});

describe("watching a list of namespaces", function () {
  this.timeout(120_000);
  it("reconciles ModelDeployments in the listed namespaces only", async () => {
    const [a, b, c] = await Promise.all([
      createNamespace("watch-a"),
      createNamespace("watch-b"),
      createNamespace("watch-c"),
    ]);
    const operator = await startOperator({ args: [`--watch-namespace=${a.name},${b.name}`] });
    try {
      for (const ns of [a.name, b.name, c.name])
        await applyMd(ns, modelDeployment("m", { version: "1", replicas: 1 }));
      await waitForMd(a.name, "m", "Ready in the first namespace", isReady);
      await waitForMd(b.name, "m", "Ready in the second namespace", isReady);
      // Give the operator time it would need to act in the third; it must not.
      await new Promise((r) => setTimeout(r, 3000));
      const other = await getMd(c.name, "m");
      // Only the CRD's default: no status written by the operator.
      expect(other.status, "status of the unwatched namespace's ModelDeployment").to.deep.equal({
        observedGeneration: 0,
      });
      expect((await deployments(c.name, "m")).size).to.equal(0);
    } finally {
      expect(await operator.stop()).to.equal(0);
      await Promise.all([a.cleanup(), b.cleanup(), c.cleanup()]);
    }
  });
});
