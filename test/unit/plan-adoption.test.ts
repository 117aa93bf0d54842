// The planner adopting an existing Deployment (spec.workloadRef): table-driven over a small
// simulated namespace that holds, beside what the operator made, the user's Deployment and
// its pods, and applies the plans' scale writes the way the scale subresource does.
import type { V1Deployment, V1EndpointSlice, V1Service } from "@kubernetes/client-node";
import { expect } from "chai";
import fc from "fast-check";
import { LABEL_MODEL } from "../../src/api/constants.ts";
import type { ModelDeploymentSpec, WorkloadRef } from "../../src/api/types.ts";
import { plan } from "../../src/plan/index.ts";
import type { Observed, Plan } from "../../src/plan/types.ts";
import { httpCheck, makeMd, measured, Sim, T0, type Measure } from "./plan-fixtures.ts";

const OLD = "fraud-legacy";

function legacyDeployment(replicas = 4): V1Deployment {
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: OLD, namespace: "models", generation: 1, labels: { app: "fraud" } },
    spec: {
      replicas,
      selector: { matchLabels: { app: "fraud" } },
      template: {
        metadata: { labels: { app: "fraud" } },
        spec: {
          containers: [
            { name: "server", image: "fraud:0.9", ports: [{ name: "http", containerPort: 8080 }] },
          ],
        },
      },
    },
    status: {
      observedGeneration: 1,
      replicas,
      updatedReplicas: replicas,
      readyReplicas: replicas,
      availableReplicas: replicas,
    },
  };
}

const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

/** Sim with the user's Deployment (not the operator's) and a Service of someone else's, maybe. */
class AdoptSim extends Sim {
  legacy: V1Deployment | undefined = legacyDeployment();
  foreignService: V1Service | undefined;
  /** Every scale the plans asked for, in order. */
  scales: { name: string; replicas: number }[] = [];

  override observed(): Observed {
    const o = super.observed();
    o.workloadRef = {
      deployment: this.legacy ? clone(this.legacy) : undefined,
      foreignClientsService: this.foreignService ? clone(this.foreignService) : undefined,
    };
    return o;
  }

  /** The clients' Service's slice, with the user's pods when its selector matches them. */
  override slices(): V1EndpointSlice[] {
    const out = super.slices();
    const svc = this.services.get(this.md.metadata?.name ?? "");
    const d = this.legacy;
    if (!svc || !d || out.length === 0) return out;
    const sel = svc.spec?.selector ?? {};
    const labels = d.spec?.template?.metadata?.labels ?? {};
    if (!Object.entries(sel).every(([k, v]) => labels[k] === v)) return out;
    for (let i = 0; i < (d.status?.readyReplicas ?? 0); i++)
      (out[0]!.endpoints ??= []).push({
        addresses: [`10.0.1.${i}`],
        conditions: { ready: true },
        targetRef: { kind: "Pod", name: `${OLD}-5c7d8f9b6-y${i}q3w`, namespace: "models" },
      });
    return out;
  }

  override write(p: Plan): void {
    super.write(p);
    for (const s of p.scales ?? []) {
      this.scales.push({ name: s.name, replicas: s.replicas });
      if (this.legacy?.metadata?.name === s.name && this.legacy.spec) {
        this.legacy.spec.replicas = s.replicas;
        this.legacy.metadata.generation = (this.legacy.metadata.generation ?? 1) + 1;
      }
    }
  }

  /** The user's Deployment catches up with its replica count. */
  settleLegacy(): this {
    const d = this.legacy;
    if (d?.spec) {
      const n = d.spec.replicas ?? 1;
      d.status = {
        observedGeneration: d.metadata?.generation,
        replicas: n,
        updatedReplicas: n,
        readyReplicas: n,
        availableReplicas: n,
      };
    }
    return this;
  }

  legacyReplicas(): number | undefined {
    return this.legacy?.spec?.replicas;
  }

  reasons(): string[] {
    return this.events.map((e) => e.reason);
  }
}

function adoptSim(ref: Partial<WorkloadRef> = {}, spec: Partial<ModelDeploymentSpec> = {}): AdoptSim {
  return new AdoptSim(
    makeMd({
      replicas: 4,
      workloadRef: { name: OLD, ...ref },
      healthChecks: { interval: "5s", failureThreshold: 2, checks: [httpCheck()] },
      ...spec,
    }),
    T0,
  );
}

/** Reconciles, with the Deployment controller catching up after each, until `done`. */
function runUntil(sim: AdoptSim, done: (s: AdoptSim) => boolean, measure?: Measure, limit = 40): void {
  for (let i = 0; i < limit; i++) {
    if (done(sim)) return;
    sim.reconcile(measure);
    sim.settle();
    sim.settleLegacy();
    sim.advance(1000);
  }
  throw new Error(`not done: ${JSON.stringify(sim.md.status, null, 1)}`);
}

const ok = measured("Successful");

describe("plan: adopting an existing Deployment (workloadRef)", () => {
  it("records the Deployment's replicas, brings the new version up beside it and selects both", () => {
    const sim = adoptSim({ scaleDown: "onsuccess" });
    const p = sim.reconcile();
    expect(p.status.adoption).to.include({
      deployment: OLD,
      originalReplicas: 4,
      phase: "Progressing",
      scaleDown: "onsuccess",
    });
    expect(sim.replicas("1.0.0")).to.equal(4);
    expect(sim.clientsSelector()).to.deep.equal({ app: "fraud" });
    expect(p.scales ?? []).to.deep.equal([]);
    expect(sim.condition("Reconciling")).to.include({ status: "True", reason: "Adopting" });
    expect(sim.reasons()).to.include("AdoptionStarted");
    expect(p.requeueAfterMs).to.be.at.most(2000);
    // The new pods carry the labels the clients' Service selects by: both versions serve.
    sim.settle();
    sim.reconcile();
    expect(sim.md.status?.traffic).to.deep.include({
      version: `deployment/${OLD}`,
      weight: 50,
      readyEndpoints: 4,
    });
  });

  it("onsuccess: promotes after the checks, moves the clients' Service, and only then scales the Deployment to 0", () => {
    const sim = adoptSim({ scaleDown: "onsuccess" });
    runUntil(sim, (s) => s.md.status?.stableVersion === "1.0.0", ok);
    expect(sim.md.status?.adoption?.phase).to.equal("Promoted");
    expect(sim.legacyReplicas(), "not before the clients' Service moved").to.equal(4);
    expect(sim.clientsSelector()).to.deep.equal({ [LABEL_MODEL]: "fraud-detector" });
    runUntil(sim, (s) => s.md.status?.adoption?.phase === "Completed", ok);
    expect(sim.scales).to.deep.equal([{ name: OLD, replicas: 0 }]);
    expect(sim.condition("Ready")).to.include({ status: "True" });
    // Completed: a GitOps tool that scales it back up is not fought.
    sim.legacy!.spec!.replicas = 4;
    sim.reconcile();
    sim.reconcile();
    expect(sim.scales).to.have.length(1);
    expect(sim.reasons()).to.include.members(["Promoted", "AdoptionCompleted"]);
  });

  it("never: promotes and leaves the Deployment at its replicas", () => {
    const sim = adoptSim({ scaleDown: "never" });
    runUntil(sim, (s) => s.md.status?.adoption?.phase === "Completed", ok);
    expect(sim.md.status?.stableVersion).to.equal("1.0.0");
    expect(sim.scales).to.deep.equal([]);
    expect(sim.legacyReplicas()).to.equal(4);
  });

  it("blue/green: after promotion the clients' Service selects the new version's track alone, then the Deployment goes", () => {
    const sim = adoptSim(
      { scaleDown: "onsuccess" },
      { strategy: { blueGreen: { previewReplicas: 1, scaleDownDelaySeconds: 30 } } },
    );
    sim.reconcile();
    expect(sim.clientsSelector()).to.deep.equal({ app: "fraud" });
    expect(sim.services.has("fraud-detector-preview"), "no preview during an adoption").to.equal(false);
    runUntil(sim, (s) => s.md.status?.adoption?.phase === "Completed", ok);
    expect(sim.clientsSelector()).to.deep.equal(sim.deployment("1.0.0")?.spec?.selector?.matchLabels);
    expect(sim.legacyReplicas()).to.equal(0);
    expect(sim.condition("Ready")).to.include({ status: "True" });
  });

  it("progressively: one share of the Deployment for each available new pod, the last at promotion", () => {
    const sim = adoptSim({ scaleDown: "progressively" });
    sim.reconcile(); // recorded; nothing available yet
    expect(sim.legacyReplicas()).to.equal(4);
    sim.partly("1.0.0", 2);
    sim.reconcile();
    expect(sim.legacyReplicas()).to.equal(2);
    sim.partly("1.0.0", 4);
    sim.reconcile();
    expect(sim.legacyReplicas(), "its last replica stays until promotion").to.equal(1);
    runUntil(sim, (s) => s.md.status?.adoption?.phase === "Completed", ok);
    expect(sim.scales.map((s) => s.replicas)).to.deep.equal([2, 1, 0]);
  });

  it("a failed check rolls back: the Deployment keeps (or gets back) its replicas, the new pods go only after it is Available", () => {
    for (const scaleDown of ["onsuccess", "progressively"] as const) {
      const sim = adoptSim({ scaleDown });
      sim.reconcile();
      sim.settle();
      sim.reconcile(); // progressively: down to 1
      sim.advance(1000);
      runUntil(sim, (s) => s.md.status?.aborted !== undefined, measured("Failed"));
      expect(sim.condition("Stalled"), scaleDown).to.include({ status: "True", reason: "HealthCheckFailed" });
      expect(sim.md.status?.adoption?.phase).to.equal("RolledBack");
      expect(sim.clientsSelector()).to.deep.equal({ app: "fraud" });
      // Restored (progressively) before the new pods go.
      sim.legacy!.status = { ...sim.legacy!.status, availableReplicas: 1, readyReplicas: 1 };
      sim.reconcile();
      expect(sim.legacyReplicas(), scaleDown).to.equal(4);
      expect(sim.replicas("1.0.0"), "new pods kept while it is not Available").to.equal(4);
      sim.settleLegacy();
      sim.reconcile();
      expect(sim.replicas("1.0.0")).to.equal(0);
      expect(sim.md.status?.stableVersion).to.equal(undefined);
    }
  });

  it("abort restores the Deployment, retry starts the adoption again", () => {
    const sim = adoptSim({ scaleDown: "progressively" });
    sim.reconcile();
    sim.partly("1.0.0", 4);
    sim.reconcile();
    expect(sim.legacyReplicas()).to.equal(1);
    sim.annotate("abort");
    sim.reconcile();
    expect(sim.legacyReplicas()).to.equal(4);
    expect(sim.condition("Stalled")).to.include({ status: "True", reason: "Aborted" });
    sim.settleLegacy();
    sim.annotate("retry");
    sim.reconcile();
    expect(sim.md.status?.adoption?.phase).to.equal("Progressing");
    expect(sim.md.status?.rollout).to.not.equal(undefined);
  });

  it("workloadRef removed before promotion: the Deployment goes back to its replicas, then is forgotten", () => {
    const sim = adoptSim({ scaleDown: "progressively" });
    sim.reconcile();
    sim.partly("1.0.0", 4);
    sim.reconcile();
    expect(sim.legacyReplicas()).to.equal(1);
    sim.edit((s) => delete s.workloadRef);
    sim.reconcile();
    expect(sim.legacyReplicas()).to.equal(4);
    expect(sim.md.status?.adoption?.phase).to.equal("Released");
    sim.reconcile();
    expect(sim.md.status?.adoption).to.equal(undefined);
    expect(sim.reasons()).to.include("AdoptionReleased");
  });

  it("killed after any status write, a new process makes the same writes from the status", () => {
    for (const scaleDown of ["onsuccess", "progressively"] as const) {
      const sim = adoptSim({ scaleDown });
      for (let i = 0; i < 40 && sim.md.status?.adoption?.phase !== "Completed"; i++) {
        const world = sim.observed();
        const before = clone(sim.md);
        const p = plan({ md: clone(before), observed: world, measurements: [], now: sim.now });
        // The status is written first; the process dies before the children and the scales.
        const restarted = plan({
          md: { ...clone(before), status: clone(p.status) },
          observed: world,
          measurements: [],
          now: sim.now,
        });
        expect(restarted.apply, `${scaleDown} reconcile ${i}`).to.deep.equal(p.apply);
        expect(restarted.scales ?? [], `${scaleDown} reconcile ${i}`).to.deep.equal(p.scales ?? []);
        expect(restarted.status.adoption, `${scaleDown} reconcile ${i}`).to.deep.equal(p.status.adoption);
        sim.reconcile(ok);
        if (i % 3 === 0) sim.partly("1.0.0", Math.min(4, i));
        else sim.settle();
        sim.settleLegacy();
        sim.advance(1000);
      }
      expect(sim.md.status?.adoption?.phase, scaleDown).to.equal("Completed");
      expect(sim.legacyReplicas(), scaleDown).to.equal(0);
    }
  });

  describe("bad input: a condition and an Event, nothing applied, nothing scaled", () => {
    const rows: { name: string; arrange: (sim: AdoptSim) => void; says: RegExp }[] = [
      { name: "the Deployment is missing", arrange: (s) => (s.legacy = undefined), says: /not found/ },
      {
        name: "in another namespace",
        arrange: (s) => s.edit((spec) => (spec.workloadRef!.namespace = "other")),
        says: /own namespace/,
      },
      {
        name: "owned by another controller",
        arrange: (s) =>
          (s.legacy!.metadata!.ownerReferences = [
            {
              apiVersion: "argoproj.io/v1alpha1",
              kind: "Rollout",
              name: "fraud",
              uid: "u",
              controller: true,
            },
          ]),
        says: /controlled by Rollout fraud/,
      },
      {
        name: "its pods not matching the template's labels",
        arrange: (s) => s.edit((spec) => (spec.template.metadata = { labels: { app: "fraud-v2" } })),
        says: /do not carry app=fraud/,
      },
      {
        name: "a selector with matchExpressions",
        arrange: (s) =>
          (s.legacy!.spec!.selector.matchExpressions = [{ key: "tier", operator: "In", values: ["web"] }]),
        says: /matchExpressions/,
      },
      {
        name: "its pods without the clients' Service's named port",
        arrange: (s) => (s.legacy!.spec!.template.spec!.containers[0]!.ports = [{ containerPort: 8080 }]),
        says: /no container port named http/,
      },
      {
        name: "a Service of the same name that is someone else's",
        arrange: (s) =>
          (s.foreignService = {
            apiVersion: "v1",
            kind: "Service",
            metadata: { name: "fraud-detector", namespace: "models" },
            spec: { selector: { app: "fraud" } },
          }),
        says: /Service named fraud-detector already exists/,
      },
    ];
    for (const row of rows) {
      it(row.name, () => {
        const sim = adoptSim({ scaleDown: "onsuccess" });
        row.arrange(sim);
        const p = sim.reconcile(ok);
        expect(p.apply).to.deep.equal([]);
        expect(p.scales ?? []).to.deep.equal([]);
        expect(sim.condition("Stalled")).to.include({ status: "True", reason: "AdoptionRefused" });
        expect(sim.condition("Stalled")?.message).to.match(row.says);
        expect(p.events.map((e) => e.reason)).to.deep.equal(["AdoptionRefused"]);
        expect(p.requeueAfterMs).to.equal(10_000);
        // The same refusal again: no second Event.
        expect(sim.reconcile(ok).events).to.deep.equal([]);
        expect(sim.legacy?.spec?.replicas ?? 4).to.equal(4);
      });
    }

    it("the refusal ends when the input is fixed", () => {
      const sim = adoptSim({ scaleDown: "onsuccess" });
      const legacy = sim.legacy;
      sim.legacy = undefined;
      sim.reconcile();
      sim.legacy = legacy;
      sim.reconcile();
      expect(sim.condition("Reconciling")).to.include({ status: "True", reason: "Adopting" });
      expect(sim.replicas("1.0.0")).to.equal(4);
    });
  });

  it("a ModelDeployment that already has a stable version ignores workloadRef", () => {
    const sim = adoptSim();
    sim.edit((s) => delete s.workloadRef);
    runUntil(sim, (s) => s.md.status?.stableVersion === "1.0.0");
    sim.edit((s) => (s.workloadRef = { name: OLD, scaleDown: "onsuccess" }));
    sim.reconcile();
    expect(sim.md.status?.adoption).to.equal(undefined);
    expect(sim.scales).to.deep.equal([]);
  });
});

// ---- property: random histories of an adoption --------------------------------------------

type AdoptCmd =
  | { t: "tick"; m: "Successful" | "Failed" | "none"; ms: number }
  | { t: "partly"; n: number }
  | { t: "legacyReady"; n: number }
  | { t: "action"; a: string }
  | { t: "drop" }
  | { t: "readd" }
  | { t: "version" }
  | { t: "mode"; scaleDown: "never" | "onsuccess" | "progressively" };

const adoptCmd: fc.Arbitrary<AdoptCmd> = fc.oneof(
  {
    arbitrary: fc
      .record({
        m: fc.constantFrom("Successful", "Successful", "Failed", "none"),
        ms: fc.integer({ min: 500, max: 20_000 }),
      })
      .map((r) => ({ t: "tick", ...r }) as AdoptCmd),
    weight: 10,
  },
  { arbitrary: fc.integer({ min: 0, max: 4 }).map((n) => ({ t: "partly", n }) as AdoptCmd), weight: 2 },
  { arbitrary: fc.integer({ min: 0, max: 4 }).map((n) => ({ t: "legacyReady", n }) as AdoptCmd), weight: 1 },
  {
    arbitrary: fc
      .constantFrom("abort", "retry", "promote-full", "pause", "resume", "promote")
      .map((a) => ({ t: "action", a }) as AdoptCmd),
    weight: 2,
  },
  { arbitrary: fc.constant({ t: "drop" } as AdoptCmd), weight: 1 },
  { arbitrary: fc.constant({ t: "readd" } as AdoptCmd), weight: 1 },
  { arbitrary: fc.constant({ t: "version" } as AdoptCmd), weight: 1 },
  {
    arbitrary: fc
      .constantFrom("never", "onsuccess", "progressively")
      .map((scaleDown) => ({ t: "mode", scaleDown }) as AdoptCmd),
    weight: 1,
  },
);

describe("plan: adoption invariants (property)", () => {
  it("the adopted Deployment is never above its recorded replicas, never below what the new version covers before promotion, at 0 only once the clients moved, and never touched once complete", function () {
    this.timeout(120_000);
    // What the histories reached, so that the property is not vacuous.
    // (Restorations are rarer in random histories; the table tests above pin them.)
    const reached = { promoted: 0, toZero: 0 };
    fc.assert(
      fc.property(
        fc.constantFrom("never", "onsuccess", "progressively"),
        fc.array(adoptCmd, { maxLength: 60 }),
        (scaleDown, cmds) => {
          const sim = adoptSim({ scaleDown });
          let completed = false;
          let version = 1;
          for (const c of cmds) {
            switch (c.t) {
              case "tick": {
                const before = clone(sim.md.status ?? {});
                const selector = sim.clientsSelector() ? clone(sim.clientsSelector()) : undefined;
                const newAvailable = Math.min(
                  sim.deployment(sim.md.spec.model.version)?.status?.availableReplicas ?? 0,
                  sim.md.spec.replicas ?? 1,
                );
                const p = sim.reconcile(c.m === "none" ? undefined : measured(c.m));
                const a = p.status.adoption ?? before.adoption;
                for (const s of p.scales ?? []) {
                  expect(completed, "a scale after the adoption was complete").to.equal(false);
                  expect(a, "a scale without a recorded adoption").to.not.equal(undefined);
                  const original = a!.originalReplicas;
                  expect(s.replicas, "above the recorded replicas").to.be.at.most(original);
                  if (p.status.stableVersion === undefined && p.status.adoption?.phase === "Progressing") {
                    expect(s.replicas, "below what the new version covers").to.be.at.least(
                      Math.max(original > 0 ? 1 : 0, original - newAvailable),
                    );
                  }
                  if (s.replicas === 0 && original > 0) {
                    expect(p.status.stableVersion, "to 0 before promotion").to.not.equal(undefined);
                    expect(selector, "to 0 while the clients' Service selects it").to.not.deep.equal({
                      app: "fraud",
                    });
                  }
                }
                for (const s of p.scales ?? []) if (s.replicas === 0) reached.toZero++;
                if (p.status.adoption?.phase === "Promoted") reached.promoted++;
                if (p.status.adoption?.phase === "Completed") completed = true;
                sim.settle();
                sim.settleLegacy();
                sim.advance(c.ms);
                break;
              }
              case "partly":
                sim.partly(
                  sim.md.spec.model.version,
                  Math.min(c.n, sim.replicas(sim.md.spec.model.version) ?? 0),
                );
                break;
              case "legacyReady":
                if (sim.legacy?.status)
                  sim.legacy.status = {
                    ...sim.legacy.status,
                    readyReplicas: Math.min(c.n, sim.legacy.spec?.replicas ?? 0),
                    availableReplicas: Math.min(c.n, sim.legacy.spec?.replicas ?? 0),
                  };
                break;
              case "action":
                sim.annotate(c.a);
                break;
              case "drop":
                sim.edit((s) => delete s.workloadRef);
                break;
              case "readd":
                sim.edit((s) => (s.workloadRef = { name: OLD, scaleDown }));
                break;
              case "version":
                sim.setVersion(`1.0.${version++}`);
                break;
              case "mode":
                if (sim.md.spec.workloadRef) sim.edit((s) => (s.workloadRef!.scaleDown = c.scaleDown));
                break;
            }
          }
        },
      ),
      { numRuns: 200 },
    );
    expect(reached.promoted, "histories that promoted").to.be.above(0);
    expect(reached.toZero, "scale-downs to 0").to.be.above(0);
  });
});
