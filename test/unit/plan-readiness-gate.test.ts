// The pod readiness gate of a canary without a router (spec.strategy.canary.readinessGate):
// the candidate's pods carry mlops.dev/admitted, run at a 0% stage where only its own Service
// (publishing not-ready addresses) reaches them, and are admitted to the clients' Service by a
// pods/status write once the 0% stage's checks passed. A small kubelet below makes a pod Ready
// only when its gate condition is True, as the real one (and the test cluster's kwok) does.
import type { V1Deployment, V1Pod } from "@kubernetes/client-node";
import { expect } from "chai";
import { CONDITION_ADMITTED, LABEL_READINESS_GATE } from "../../src/api/constants.ts";
import type { ModelDeploymentSpec } from "../../src/api/types.ts";
import {
  computeVersionDeployment,
  computeVersionService,
  computeClientsService,
} from "../../src/plan/children.ts";
import { createContext } from "../../src/plan/context.ts";
import { computeRevision } from "../../src/plan/naming.ts";
import { planChecks } from "../../src/plan/index.ts";
import { planPodConditions } from "../../src/plan/readiness-gate.ts";
import { formatProblems, validateModelDeployment } from "../../src/plan/validate.ts";
import { gatedServiceRouter } from "../../src/plan/routers/gated-service.ts";
import { routerFor } from "../../src/plan/routers/index.ts";
import type { Observed, Plan } from "../../src/plan/types.ts";
import { httpCheck, makeMd, measured, Sim, T0 } from "./plan-fixtures.ts";

const gated: Partial<ModelDeploymentSpec> = {
  replicas: 4,
  strategy: { canary: { readinessGate: true, steps: [{ setWeight: 0 }, { setWeight: 50 }] } },
  healthChecks: { interval: "10s", failureThreshold: 1, checks: [httpCheck()] },
};

const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

/** The simulation with pods: each Deployment runs its replicas, Ready only while every gate is True. */
class GatedSim extends Sim {
  pods = new Map<string, V1Pod>();
  /** Every pod condition write of every plan, in order. */
  podWrites: NonNullable<Plan["podConditions"]> = [];
  /** The operator dies after its status write, before the pod writes reach the API server. */
  losePodWrites = false;

  override observed(): Observed {
    return { ...super.observed(), pods: [...this.pods.values()].map(clone) };
  }

  override write(p: Plan): void {
    super.write(p);
    if (this.losePodWrites) return;
    for (const w of p.podConditions ?? []) {
      this.podWrites.push(w);
      const pod = this.pods.get(w.pod);
      if (!pod?.status) continue;
      const others = (pod.status.conditions ?? []).filter((c) => c.type !== w.conditionType);
      pod.status.conditions = [...others, { type: w.conditionType, status: w.status }];
    }
  }

  /** The Deployment controller and the kubelet: pods at each Deployment's replicas, Ready as their gates say. */
  override settle(): this {
    for (const d of this.deployments.values()) {
      const name = d.metadata?.name ?? "";
      const n = d.spec?.replicas ?? 1;
      for (const [podName] of this.pods)
        if (podName.startsWith(`${name}-7d9f8c6b5-`) && Number(podName.split("-x")[1]?.[0]) >= n)
          this.pods.delete(podName);
      let ready = 0;
      for (let i = 0; i < n; i++) {
        const podName = `${name}-7d9f8c6b5-x${i}k2z`;
        const pod = this.pods.get(podName) ?? podOf(d, podName);
        this.pods.set(podName, pod);
        const gatesTrue = (pod.spec?.readinessGates ?? []).every(
          (g) => pod.status?.conditions?.find((c) => c.type === g.conditionType)?.status === "True",
        );
        const others = (pod.status?.conditions ?? []).filter((c) => c.type !== "Ready");
        pod.status = {
          ...pod.status,
          conditions: [...others, { type: "Ready", status: gatesTrue ? "True" : "False" }],
        };
        if (gatesTrue) ready++;
      }
      d.status = {
        observedGeneration: d.metadata?.generation,
        replicas: n,
        updatedReplicas: n,
        readyReplicas: ready,
        availableReplicas: ready,
      };
    }
    return this;
  }

  podsOf(version: string): V1Pod[] {
    return [...this.pods.values()].filter((p) => p.metadata?.labels?.["mlops.dev/version"] === version);
  }

  admitted(version: string): number {
    return this.podsOf(version).filter(
      (p) => p.status?.conditions?.find((c) => c.type === CONDITION_ADMITTED)?.status === "True",
    ).length;
  }

  /** Pod names of the ready endpoints of the clients' Service, per version. */
  clientsReady(version: string): number {
    const d = this.deployment(version);
    const prefix = `${d?.metadata?.name}-`;
    return this.slices()
      .flatMap((s) => s.endpoints)
      .filter((e) => e?.conditions?.ready === true && e.targetRef?.name?.startsWith(prefix) === true).length;
  }
}

function podOf(d: V1Deployment, name: string): V1Pod {
  const t = d.spec?.template;
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, namespace: "models", labels: { ...t?.metadata?.labels } },
    spec: { containers: t?.spec?.containers ?? [], readinessGates: t?.spec?.readinessGates },
    status: {
      phase: "Running",
      conditions: [
        { type: "ContainersReady", status: "True" },
        { type: "Ready", status: "False" },
      ],
    },
  };
}

/** 1.0.0 stable behind the gate (its pods admitted), then 2.0.0 set. */
function rolloutSim(spec: Partial<ModelDeploymentSpec> = {}): GatedSim {
  const sim = new GatedSim(makeMd({ ...gated, ...spec }), T0);
  sim.runUntil((s) => s.md.status?.stableVersion === "1.0.0" && s.md.status.phase === "Healthy");
  sim.setVersion("2.0.0");
  sim.reconcile();
  sim.settle();
  return sim;
}

describe("plan: the readiness gate of a 0% stage without a router", () => {
  it("is chosen by strategy.canary.readinessGate without spec.traffic; without it nothing changes", () => {
    expect(routerFor(makeMd(gated))).to.equal(gatedServiceRouter);
    expect(routerFor(makeMd())).to.not.equal(gatedServiceRouter);
    const plain = makeMd();
    expect(computeVersionDeployment(plain, 1).spec?.template.spec?.readinessGates).to.equal(undefined);
    expect(computeVersionService(plain).spec?.publishNotReadyAddresses).to.equal(undefined);
  });

  it("is refused together with spec.traffic (a route already holds 0% at 0)", () => {
    const md = makeMd({
      ...gated,
      traffic: { gatewayAPI: { httpRoute: { parentRefs: [{ name: "gw" }] } } },
    });
    expect(formatProblems(validateModelDeployment(md))).to.include(
      "strategy.canary.readinessGate is for canaries without spec.traffic",
    );
    expect(validateModelDeployment(makeMd(gated))).to.deep.equal([]);
  });

  it("puts the gate in the pod template, makes it a revision of its own, and only the version's Service publishes not-ready pods", () => {
    const md = makeMd(gated);
    const d = computeVersionDeployment(md, 1);
    expect(d.spec?.template.spec?.readinessGates).to.deep.equal([{ conditionType: "mlops.dev/admitted" }]);
    expect(d.spec?.template.metadata?.labels?.[LABEL_READINESS_GATE]).to.equal("true");
    expect(d.spec?.selector.matchLabels?.[LABEL_READINESS_GATE]).to.equal(undefined);
    expect(computeRevision(md)).to.not.equal(
      computeRevision(makeMd({ ...gated, strategy: { canary: { steps: [{ setWeight: 0 }] } } })),
    );
    expect(computeVersionService(md).spec?.publishNotReadyAddresses).to.equal(true);
    expect(computeClientsService(md).spec?.publishNotReadyAddresses).to.equal(undefined);
  });

  it("admits the first version's pods, so that it becomes Available", () => {
    const sim = new GatedSim(makeMd(gated), T0);
    sim.reconcile();
    sim.settle();
    expect(sim.admitted("1.0.0")).to.equal(0);
    sim.reconcile();
    expect(sim.last?.podConditions?.map((w) => w.status)).to.deep.equal(["True", "True", "True", "True"]);
    sim.settle();
    sim.reconcile();
    expect(sim.md.status?.stableVersion).to.equal("1.0.0");
    expect(sim.md.status?.readinessGate).to.include({ open: true, admittedPods: 4, waitingPods: 0 });
  });

  it("at setWeight 0: one candidate pod runs, its checks are due through its own Service, clients never see it", () => {
    const sim = rolloutSim();
    expect(sim.md.status?.currentStep).to.equal(0);
    expect(sim.replicas("2.0.0")).to.equal(1);
    expect(sim.replicas("1.0.0")).to.equal(4);
    expect(sim.deployment("2.0.0")?.status?.availableReplicas).to.equal(0);
    const due = planChecks(sim.md, sim.observed(), sim.now);
    expect(due.map((d) => d.url)).to.deep.equal([
      "http://fraud-detector-2-0-0.models.svc:80/v2/models/fraud-detector/ready",
    ]);
    // Reconciles without a measurement hold the step, and ask to come back for the check that
    // is due; the candidate pod stays out.
    for (let i = 0; i < 3; i++) {
      expect(sim.reconcile().requeueAfterMs).to.equal(0);
      sim.settle();
      sim.advance(1000);
    }
    expect(sim.md.status?.currentStep).to.equal(0);
    expect(sim.admitted("2.0.0")).to.equal(0);
    expect(sim.clientsReady("2.0.0")).to.equal(0);
    expect(sim.clientsReady("1.0.0")).to.equal(4);
    expect(sim.md.status?.readinessGate).to.deep.equal({
      conditionType: "mlops.dev/admitted",
      open: false,
      candidatePods: 1,
      admittedPods: 4,
      waitingPods: 0,
      message:
        "closed: 1 of 1 pods of 2.0.0 run behind the gate, reached by its checks through its own Service " +
        "fraud-detector-2-0-0; they join the clients' Service fraud-detector when step 1 (setWeight 50) begins",
    });
    expect(sim.podWrites.filter((w) => w.pod.startsWith("fraud-detector-2-0-0"))).to.deep.equal([]);
  });

  it("opens the gate in the reconcile whose passing checks complete the 0% stage: each candidate pod is admitted once", () => {
    const sim = rolloutSim();
    const p = sim.reconcile(measured("Successful"));
    expect(sim.md.status?.currentStep).to.equal(1);
    expect(p.podConditions).to.deep.equal([
      {
        pod: "fraud-detector-2-0-0-7d9f8c6b5-x0k2z",
        conditionType: "mlops.dev/admitted",
        status: "True",
        reason: "Admitted",
        message: "admitted to the clients' Service fraud-detector by the operator",
      },
    ]);
    sim.settle();
    expect(sim.clientsReady("2.0.0")).to.equal(1);
    // The step's new pods are admitted as they come; nothing is written twice.
    sim.reconcile();
    sim.settle();
    sim.reconcile(measured("Successful"));
    sim.settle();
    expect(sim.replicas("2.0.0")).to.equal(2);
    expect(sim.admitted("2.0.0")).to.equal(2);
    const names = sim.podWrites.map((w) => w.pod);
    expect(new Set(names).size).to.equal(names.length);
    sim.runUntil((s) => s.md.status?.stableVersion === "2.0.0", measured("Successful"));
    sim.reconcile();
    expect(sim.admitted("2.0.0")).to.equal(4);
    expect(sim.md.status?.readinessGate).to.include({ open: true, waitingPods: 0 });
  });

  it("a failing check at the 0% stage rolls back with the gate never opened", () => {
    const sim = rolloutSim();
    sim.reconcile(measured("Failed"));
    sim.settle();
    expect(sim.md.status?.conditions?.find((c) => c.type === "Stalled")?.reason).to.equal(
      "HealthCheckFailed",
    );
    sim.reconcile();
    sim.settle();
    expect(sim.replicas("2.0.0")).to.equal(0);
    expect(sim.podWrites.filter((w) => w.pod.startsWith("fraud-detector-2-0-0"))).to.deep.equal([]);
    expect(sim.md.status?.readinessGate?.open).to.equal(false);
    expect(sim.md.status?.readinessGate?.message).to.match(/^closed: the rollout of 2\.0\.0 was stopped/);
  });

  it("is level-triggered: the writes follow from the status and the pods alone, and a pod as desired is never written", () => {
    const sim = rolloutSim();
    sim.losePodWrites = true;
    sim.reconcile(measured("Successful"));
    expect(sim.md.status?.currentStep).to.equal(1);
    sim.losePodWrites = false;
    // A restarted operator that lost the write: the same status and pods give the same patch.
    const again = planPodConditions(
      createContext({ md: sim.md, observed: sim.observed(), measurements: [], now: sim.now }),
      sim.md.status ?? {},
    );
    expect(again.map((w) => [w.pod, w.status])).to.deep.equal([
      ["fraud-detector-2-0-0-7d9f8c6b5-x0k2z", "True"],
    ]);
    sim.reconcile();
    expect(sim.admitted("2.0.0")).to.equal(1);
    // The world unchanged (the step's second pod not made yet): nothing to write again.
    const after = planPodConditions(
      createContext({ md: sim.md, observed: sim.observed(), measurements: [], now: sim.now }),
      sim.md.status ?? {},
    );
    expect(after).to.deep.equal([]);
  });

  it("takes an admitted candidate pod back out on abort, skips terminating pods and pods without the gate", () => {
    const sim = rolloutSim({
      strategy: {
        canary: { readinessGate: true, steps: [{ setWeight: 0 }, { setWeight: 50 }, { pause: {} }] },
      },
    });
    sim.runUntil(
      () => sim.md.status?.currentStep === 2 && sim.admitted("2.0.0") === 2,
      measured("Successful"),
    );
    const pods = [...sim.pods.values()].filter((p) => p.metadata?.labels?.["mlops.dev/version"] === "2.0.0");
    pods[1]!.metadata!.deletionTimestamp = T0 as never;
    sim.pods.set("stray", {
      ...clone(pods[0]!),
      metadata: { ...clone(pods[0]!.metadata), name: "stray" },
      spec: { containers: [] },
    });
    sim.annotate("abort");
    const p = sim.reconcile();
    expect(p.podConditions?.map((w) => [w.pod, w.status, w.reason])).to.deep.equal([
      ["fraud-detector-2-0-0-7d9f8c6b5-x0k2z", "False", "NotAdmitted"],
    ]);
  });
});
