// The rollout state machine, walked reconcile by reconcile with a simulated cluster: what a
// user sees in status, conditions, Events and the children after each step.
import { expect } from "chai";
import { computeRevision, plan, planChecks } from "../../src/plan/index.ts";
import { httpCheck, makeMd, measured, promCheck, Sim, stableSim, T0 } from "./plan-fixtures.ts";

const reasons = (events: { reason: string }[]) => events.map((e) => e.reason);

describe("plan: first version", () => {
  it("deploys the first version at spec.replicas and makes it stable once Available, without checks", () => {
    const sim = new Sim(makeMd({ healthChecks: { checks: [httpCheck()] } }));
    const p1 = sim.reconcile();
    expect(sim.replicas("1.0.0")).to.equal(10);
    expect(p1.status.stableVersion).to.equal(undefined);
    expect(p1.status.phase).to.equal("Progressing");
    expect(sim.condition("Reconciling")).to.include({ status: "True", reason: "WaitingForAvailable" });
    expect(sim.condition("Ready")?.status).to.equal("False");
    expect(p1.events).to.deep.equal([]);
    expect(p1.requeueAfterMs).to.equal(undefined);

    sim.partly("1.0.0", 9);
    expect(sim.reconcile().status.stableVersion).to.equal(undefined);

    sim.settle();
    const p2 = sim.reconcile();
    expect(p2.status.stableVersion).to.equal("1.0.0");
    expect(p2.status.stableRevision).to.match(/^[0-9a-f]{10}$/);
    expect(p2.status.phase).to.equal("Healthy");
    expect(p2.status.history?.[0]).to.include({ version: "1.0.0", outcome: "Promoted" });
    expect(reasons(p2.events)).to.deep.equal(["Promoted"]);
    expect(sim.condition("Ready")).to.include({
      status: "True",
      reason: "Ready",
      message: "version 1.0.0 serves all traffic with 10/10 ready replica(s)",
    });
    expect(sim.condition("Reconciling")?.status).to.equal("False");
    expect(sim.condition("Stalled")?.status).to.equal("False");
    expect(p2.status.replicas).to.equal(10);
    expect(p2.status.selector).to.equal("mlops.dev/model=fraud-detector");
    expect(p2.status.strategy).to.equal("Canary");
    expect(p2.status.observedGeneration).to.equal(1);

    // At rest: the same world gives no writes, no events, no requeue.
    const p3 = sim.reconcile();
    expect(p3.events).to.deep.equal([]);
    expect(p3.status).to.deep.equal(p2.status);
    expect(p3.requeueAfterMs).to.equal(undefined);
  });

  it("scales the stable version with spec.replicas without starting a rollout", () => {
    const sim = stableSim();
    sim.edit((s) => (s.replicas = 6));
    const p = sim.reconcile();
    expect(sim.replicas("1.0.0")).to.equal(6);
    expect(p.status.rollout).to.equal(undefined);
    expect(p.status.phase).to.equal("Progressing");
    expect(p.events).to.deep.equal([]);
    sim.settle();
    expect(sim.reconcile().status.phase).to.equal("Healthy");
    expect(sim.condition("Ready")?.observedGeneration).to.equal(2);
  });

  it("a first version whose template changes before it is Available starts again on a Deployment of its own", () => {
    const sim = new Sim(makeMd());
    sim.reconcile();
    sim.partly("1.0.0", 3);
    sim.edit((s) => (s.template.spec!.containers[0]!.image = "registry.example/fraud:1-patched"));
    const p = sim.reconcile();
    expect(p.status.stableVersion).to.equal(undefined);
    const names = [...sim.deployments.keys()];
    expect(names).to.deep.equal(["fraud-detector-1-0-0", `fraud-detector-1-0-0-${computeRevision(sim.md)}`]);
    expect(sim.replicas("1.0.0", computeRevision(sim.md))).to.equal(10);
    sim.settle();
    const p2 = sim.reconcile();
    expect(p2.status.stableRevision).to.equal(computeRevision(sim.md));
    expect(p2.status.phase).to.equal("Healthy");
  });
});

describe("plan: a new pod template of the stable version", () => {
  const patch = (sim: Sim, image = "registry.example/fraud:1-patched") =>
    sim.edit((s) => (s.template.spec!.containers[0]!.image = image));

  it("rolls out beside the old one like a new version: steps, checks, promotion, the old revision at 0", () => {
    const sim = stableSim({ healthChecks: { interval: "10s", checks: [httpCheck()] } });
    const oldRevision = sim.md.status!.stableRevision!;
    patch(sim);
    const newRevision = computeRevision(sim.md);
    let p = sim.reconcile();
    expect(reasons(p.events)).to.deep.equal(["RolloutStarted"]);
    expect(p.events[0]?.message).to.include(`a new pod template of 1.0.0 (revision ${newRevision}`);
    expect(p.status).to.deep.include({
      stableVersion: "1.0.0",
      stableRevision: oldRevision,
      candidateVersion: "1.0.0",
      candidateRevision: newRevision,
      currentStep: 0,
      phase: "Progressing",
    });
    // Its own Deployment and Service, selecting only its pods; the old one is untouched.
    const name = `fraud-detector-1-0-0-${newRevision}`;
    const d = sim.deployments.get(name);
    expect(d?.spec?.replicas).to.equal(2);
    expect(d?.spec?.selector?.matchLabels).to.deep.equal({
      "mlops.dev/model": "fraud-detector",
      "mlops.dev/version": "1.0.0",
      "mlops.dev/revision": newRevision,
    });
    expect(d?.spec?.template?.spec?.containers[0]?.image).to.equal("registry.example/fraud:1-patched");
    expect(sim.services.get(name)?.spec?.selector).to.deep.equal(d?.spec?.selector?.matchLabels);
    const old = sim.deployments.get("fraud-detector-1-0-0");
    expect(old?.spec?.replicas).to.equal(10);
    expect(old?.spec?.template?.spec?.containers[0]?.image).to.equal("registry.example/fraud:1");
    expect(sim.services.get("fraud-detector-1-0-0")?.spec?.selector?.["mlops.dev/revision"]).to.equal(
      oldRevision,
    );

    // Checks target the new revision's own Service.
    sim.settle().advance(1000);
    const due = planChecks(sim.md, sim.observed(), sim.now);
    expect(due.map((c) => c.url)).to.deep.equal([
      `http://${name}.models.svc:80/v2/models/fraud-detector/ready`,
    ]);
    sim.runUntil((x) => x.md.status?.currentStep === 1, measured("Successful"));
    p = sim.last!;
    expect(p.status.checks?.[0]).to.include({ name: "model-ready", phase: "Successful" });
    expect(p.status.traffic).to.deep.equal([
      { version: "1.0.0", revision: oldRevision, weight: 80, readyEndpoints: 8 },
      { version: "1.0.0", revision: newRevision, weight: 20, readyEndpoints: 2 },
    ]);
    expect(p.status.candidateWeight).to.equal(20);

    sim.annotate("promote-full");
    sim.runUntil((s) => s.md.status?.stableRevision === newRevision, measured("Successful"));
    p = sim.last!;
    expect(reasons(p.events)).to.include("Promoted");
    expect(p.status.candidateVersion).to.equal(undefined);
    expect(p.status.candidateRevision).to.equal(undefined);
    expect(p.status.history?.slice(0, 2).map((h) => `${h.version}@${h.revision}:${h.outcome}`)).to.deep.equal(
      [`1.0.0@${newRevision}:Promoted`, `1.0.0@${oldRevision}:Promoted`],
    );
    expect(sim.replicas("1.0.0", oldRevision)).to.equal(0);
    expect(sim.replicas("1.0.0", newRevision)).to.equal(10);
    sim.settle();
    p = sim.reconcile();
    expect(p.status.phase).to.equal("Healthy");
    expect(p.events).to.deep.equal([]);
  });

  it("a failing check rolls the new template back: the old revision keeps serving, the spec is kept", () => {
    const sim = stableSim({ healthChecks: { interval: "10s", failureThreshold: 2, checks: [httpCheck()] } });
    const oldRevision = sim.md.status!.stableRevision!;
    patch(sim);
    sim.runUntil((s) => s.md.status?.aborted !== undefined, measured("Failed"));
    const p = sim.last!;
    expect(p.status.stableRevision).to.equal(oldRevision);
    expect(sim.condition("Stalled")).to.include({ status: "True", reason: "HealthCheckFailed" });
    expect(sim.replicas("1.0.0", oldRevision)).to.equal(10);
    expect(sim.replicas("1.0.0", computeRevision(sim.md))).to.equal(0);
    expect(sim.md.spec.template.spec?.containers[0]?.image).to.equal("registry.example/fraud:1-patched");
  });

  it("setting the template back ends the rollout at once (Reverted), and rollback returns to the old revision", () => {
    const sim = stableSim();
    const oldRevision = sim.md.status!.stableRevision!;
    patch(sim);
    sim.reconcile();
    sim.settle();
    patch(sim, "registry.example/fraud:1");
    let p = sim.reconcile();
    expect(reasons(p.events)).to.deep.equal(["RolloutReverted"]);
    expect(p.events[0]?.message).to.include(`went back to the stable revision ${oldRevision}`);
    expect(p.status.rollout).to.equal(undefined);
    expect(sim.replicas("1.0.0", oldRevision)).to.equal(10);

    // A promoted new template, then the rollback action: the previous revision serves again.
    patch(sim);
    const newRevision = computeRevision(sim.md);
    sim.annotate("promote-full");
    sim.runUntil((s) => s.md.status?.stableRevision === newRevision);
    sim.settle();
    sim.reconcile();
    sim.annotate("rollback");
    p = sim.reconcile();
    expect(reasons(p.events)).to.deep.equal(["ActionAccepted"]);
    expect(p.events[0]?.message).to.include(`1.0.0 (revision ${oldRevision}) serves again`);
    expect(p.status.stableRevision).to.equal(oldRevision);
    expect(sim.replicas("1.0.0", oldRevision)).to.equal(10);
    expect(p.status.aborted?.message).to.include(
      `set the pod template of 1.0.0 back to revision ${oldRevision}`,
    );
  });

  it("keeps a Deployment whose selector has no revision as it is, only setting its replicas", () => {
    const sim = stableSim();
    const d = sim.deployments.get("fraud-detector-1-0-0")!;
    // A Deployment made before revisions were in selectors.
    delete d.spec!.selector.matchLabels!["mlops.dev/revision"];
    delete d.spec!.template.metadata!.labels!["mlops.dev/revision"];
    const before = JSON.stringify(d.spec);
    sim.edit((s) => (s.replicas = 10));
    const p = sim.reconcile();
    const applied = p.apply.find((o) => o.metadata?.name === "fraud-detector-1-0-0") as typeof d;
    expect(JSON.stringify(applied.spec)).to.equal(before);
    patch(sim);
    sim.reconcile();
    expect(sim.replicas("1.0.0", computeRevision(sim.md))).to.equal(2);
    expect(sim.deployments.get("fraud-detector-1-0-0")?.spec?.selector?.matchLabels).to.deep.equal({
      "mlops.dev/model": "fraud-detector",
      "mlops.dev/version": "1.0.0",
    });
  });
});

describe("plan: canary", () => {
  it("walks every step to promotion: replicas, weights, pauses, checks, Events", () => {
    const sim = stableSim({ healthChecks: { interval: "10s", checks: [httpCheck(), promCheck()] } });
    const pass = measured("Successful");
    sim.setVersion("2.0.0");

    // Step 1: setWeight 20 -> 2 new + 8 old.
    let p = sim.reconcile(pass);
    expect(reasons(p.events)).to.deep.equal(["RolloutStarted"]);
    expect(p.status.candidateVersion).to.equal("2.0.0");
    expect(p.status.currentStep).to.equal(0);
    expect(p.status.rollout).to.include({ version: "2.0.0", startedAt: T0.toISOString() });
    expect(p.status.checks).to.deep.equal([
      { name: "model-ready", phase: "Pending" },
      { name: "error-rate", phase: "Pending" },
    ]);
    expect(sim.replicas("2.0.0")).to.equal(2);
    expect(sim.replicas("1.0.0")).to.equal(10); // the stable shrinks only as the candidate becomes available
    expect(sim.condition("Reconciling")).to.include({ status: "True", reason: "RolloutInProgress" });
    expect(sim.condition("Ready")?.status).to.equal("False");
    expect(p.status.phase).to.equal("Progressing");
    expect(p.requeueAfterMs).to.equal(600_000); // the progress deadline

    sim.settle("2.0.0").advance(1000);
    p = sim.reconcile(pass); // candidate available: stable may shrink, checks measured at once
    expect(sim.replicas("1.0.0")).to.equal(8);
    expect(p.status.rollout?.stepReadyAt).to.equal(undefined); // the stable is not down to 8 yet
    sim.settle().advance(1000);
    p = sim.reconcile(pass);
    expect(p.status.rollout?.stepReadyAt).to.be.a("string");
    expect(p.status.currentStep).to.equal(0);
    expect(p.requeueAfterMs).to.equal(0); // checks are due now: nothing measured since the step was ready
    sim.advance(1000);
    p = sim.reconcile(pass);
    expect(p.status.checks?.map((c) => c.phase)).to.deep.equal(["Successful", "Successful"]);
    // Step 2: pause 1m.
    expect(p.status.currentStep).to.equal(1);
    expect(reasons(p.events)).to.deep.equal(["PauseStarted"]);
    expect(p.status.traffic).to.deep.equal([
      { version: "1.0.0", revision: p.status.stableRevision, weight: 80, readyEndpoints: 8 },
      { version: "2.0.0", revision: p.status.candidateRevision, weight: 20, readyEndpoints: 2 },
    ]);
    expect(p.status.candidateWeight).to.equal(20);
    expect(p.requeueAfterMs).to.equal(10_000); // the next measurement comes before the pause ends

    sim.advance(30_000);
    p = sim.reconcile(pass);
    expect(p.status.currentStep).to.equal(1);
    expect(p.requeueAfterMs).to.equal(10_000);
    sim.advance(30_000);
    p = sim.reconcile(pass);
    // Step 3: setWeight 50 -> 5 + 5.
    expect(p.status.currentStep).to.equal(2);
    expect(reasons(p.events)).to.deep.equal(["WeightChanged"]);
    expect(sim.replicas("2.0.0")).to.equal(5);
    expect(sim.replicas("1.0.0")).to.equal(8);

    sim.runUntil((s) => s.md.status?.currentStep === 3, pass);
    expect(reasons(sim.last!.events)).to.deep.equal(["StepCompleted"]);
    expect(sim.replicas("2.0.0")).to.equal(10);

    sim.runUntil((s) => s.md.status?.stableVersion === "2.0.0", pass);
    p = sim.last!;
    expect(reasons(p.events)).to.deep.equal(["Promoted"]);
    expect(p.status.rollout).to.equal(undefined);
    expect(p.status.candidateVersion).to.equal(undefined);
    expect(p.status.currentStep).to.equal(undefined);
    expect(p.status.candidateWeight).to.equal(undefined);
    expect(p.status.history?.map((h) => `${h.version}:${h.outcome}`)).to.deep.equal([
      "2.0.0:Promoted",
      "1.0.0:Promoted",
    ]);
    expect(sim.replicas("1.0.0")).to.equal(0);
    expect(sim.replicas("2.0.0")).to.equal(10);
    sim.settle();
    p = sim.reconcile(pass);
    expect(p.status.phase).to.equal("Healthy");
    expect(p.status.traffic).to.deep.equal([
      { version: "2.0.0", revision: p.status.stableRevision, weight: 100, readyEndpoints: 10 },
    ]);
    expect(sim.condition("Ready")?.status).to.equal("True");
    expect(p.requeueAfterMs).to.equal(undefined);
  });

  it("rolls back when a check fails failureThreshold times in a row", () => {
    const sim = stableSim({ healthChecks: { failureThreshold: 3, checks: [promCheck()] } });
    sim.setVersion("2.0.0");
    sim.reconcile();
    sim.settle().advance(1000);
    const fail: ReturnType<typeof measured> = (due, now) =>
      due.map((d) => ({
        name: d.check.name,
        phase: "Failed",
        value: "0.2",
        message: "result < 0.01 is false",
        time: now.toISOString(),
      }));
    let p = sim.reconcile(fail);
    expect(p.status.checks?.[0]).to.include({ phase: "Failed", consecutiveFailures: 1, value: "0.2" });
    expect(p.status.rollout).to.not.equal(undefined);
    sim.settle().advance(10_000);
    p = sim.reconcile(fail);
    expect(p.status.checks?.[0]?.consecutiveFailures).to.equal(2);
    sim.settle().advance(10_000);
    p = sim.reconcile(fail);

    expect(reasons(p.events)).to.deep.equal(["CheckFailed", "RolledBack"]);
    expect(p.events.map((e) => e.type)).to.deep.equal(["Warning", "Warning"]);
    expect(p.events[0]?.message).to.equal("check error-rate saw value 0.2: result < 0.01 is false");
    expect(p.status.aborted).to.include({ version: "2.0.0", reason: "HealthCheckFailed" });
    expect(p.status.aborted?.message).to.include("error-rate").and.include("0.2");
    expect(p.status.phase).to.equal("Degraded");
    expect(p.status.rollout).to.equal(undefined);
    expect(p.status.history?.[0]).to.include({
      version: "2.0.0",
      outcome: "RolledBack",
      reason: "HealthCheckFailed",
    });
    expect(sim.condition("Ready")?.status).to.equal("False");
    expect(sim.condition("Stalled")).to.include({ status: "True", reason: "HealthCheckFailed" });
    expect(sim.condition("Reconciling")?.status).to.equal("False");
    expect(sim.replicas("2.0.0")).to.equal(0);
    expect(sim.replicas("1.0.0")).to.equal(10);
    expect(p.requeueAfterMs).to.equal(undefined);

    // It stays so, with no further writes or Events, while the spec is unchanged.
    sim.settle().advance(60_000);
    const p2 = sim.reconcile(fail);
    expect(p2.events).to.deep.equal([]);
    expect(p2.status.aborted).to.deep.equal(p.status.aborted);
    expect(p2.requeueAfterMs).to.equal(undefined);

    // A new spec starts afresh.
    sim.setVersion("2.0.1");
    const p3 = sim.reconcile();
    expect(p3.status.aborted).to.equal(undefined);
    expect(p3.status.rollout?.version).to.equal("2.0.1");
    expect(reasons(p3.events)).to.deep.equal(["RolloutStarted"]);
  });

  it("a success resets consecutiveFailures; an Error counts as a failure", () => {
    const sim = stableSim({ healthChecks: { failureThreshold: 2, checks: [promCheck()] } });
    sim.setVersion("2.0.0");
    sim.reconcile();
    sim.settle().advance(1000);
    expect(sim.reconcile(measured("Error")).status.checks?.[0]?.consecutiveFailures).to.equal(1);
    sim.settle().advance(10_000);
    expect(sim.reconcile(measured("Successful")).status.checks?.[0]?.consecutiveFailures).to.equal(0);
    sim.settle().advance(10_000);
    expect(sim.reconcile(measured("Failed")).status.checks?.[0]?.consecutiveFailures).to.equal(1);
    expect(sim.md.status?.aborted).to.equal(undefined);
  });

  it("rolls back when the candidate is not Available within progressDeadlineSeconds", () => {
    const sim = stableSim({ progressDeadlineSeconds: 120 });
    sim.setVersion("2.0.0");
    let p = sim.reconcile();
    expect(p.requeueAfterMs).to.equal(120_000);
    sim.partly("2.0.0", 1).advance(119_000);
    p = sim.reconcile();
    expect(p.status.rollout).to.not.equal(undefined);
    expect(p.requeueAfterMs).to.equal(1000);
    sim.advance(1000);
    p = sim.reconcile();
    expect(p.status.aborted).to.include({ version: "2.0.0", reason: "ProgressDeadlineExceeded" });
    expect(p.status.aborted?.message).to.include("1/2 replicas available");
    expect(sim.condition("Stalled")).to.include({ status: "True", reason: "ProgressDeadlineExceeded" });
    expect(reasons(p.events)).to.deep.equal(["RolledBack"]);
    expect(sim.replicas("2.0.0")).to.equal(0);
    expect(sim.replicas("1.0.0")).to.equal(10);
  });

  it("a pause without duration waits for promote; checks keep being measured", () => {
    const sim = stableSim({
      healthChecks: { checks: [promCheck()] },
      strategy: { canary: { steps: [{ setWeight: 30 }, { pause: {} }, { setWeight: 60 }] } },
    });
    const pass = measured("Successful");
    sim.setVersion("2.0.0");
    sim.runUntil((s) => s.md.status?.currentStep === 1, pass);
    sim.advance(3_600_000);
    let p = sim.reconcile(pass);
    expect(p.status.currentStep).to.equal(1);
    expect(p.status.checks?.[0]?.lastMeasured).to.equal(sim.now.toISOString());
    expect(p.requeueAfterMs).to.equal(10_000); // only the next measurement: a pause without duration has no end
    sim.annotate("promote");
    p = sim.reconcile(pass);
    expect(p.clearAction).to.equal(true);
    expect(reasons(p.events)).to.deep.equal(["ActionAccepted", "WeightChanged"]);
    expect(p.status.currentStep).to.equal(2);
    expect(p.status.rollout?.promote).to.equal(undefined);
    expect(sim.replicas("2.0.0")).to.equal(6);
  });

  it("a change of steps mid-rollout applies from the current step, without starting over", () => {
    const sim = stableSim({
      strategy: { canary: { steps: [{ setWeight: 30 }, { pause: {} }, { setWeight: 60 }] } },
    });
    sim.setVersion("2.0.0");
    sim.runUntil((s) => s.md.status?.currentStep === 1);
    const started = sim.md.status?.rollout?.startedAt;
    // The pause is replaced by a 40% step: the rollout goes on at index 1 with the new list.
    sim.edit((spec) => {
      spec.strategy = { canary: { steps: [{ setWeight: 30 }, { setWeight: 40 }, { setWeight: 60 }] } };
    });
    sim.runUntil((s) => s.md.status?.currentStep === 2);
    expect(sim.md.status?.rollout?.startedAt, "same rollout").to.equal(started);
    expect(sim.md.status?.candidateVersion).to.equal("2.0.0");
    expect(sim.md.status?.history?.map((h) => h.outcome)).to.not.include("Superseded");
    // Steps cut below the current index: the rollout has no step left and is promoted.
    sim.edit((spec) => {
      spec.strategy = { canary: { steps: [{ setWeight: 30 }] } };
    });
    sim.runUntil((s) => s.md.status?.stableVersion === "2.0.0");
    expect(sim.md.status?.history?.[0]).to.include({ version: "2.0.0", outcome: "Promoted" });
  });

  it("a timed pause does not end into a larger weight while a check's last measurement failed", () => {
    const sim = stableSim({
      replicas: 4,
      healthChecks: { failureThreshold: 3, checks: [promCheck()] },
      strategy: { canary: { steps: [{ setWeight: 25 }, { pause: { duration: "30s" } }, { setWeight: 50 }] } },
    });
    sim.setVersion("2.0.0");
    sim.runUntil((s) => s.md.status?.currentStep === 1, measured("Successful"));
    const pauseStarted = Date.parse(sim.md.status?.rollout?.stepStartedAt ?? "");
    sim.now = new Date(pauseStarted + 30_000);
    let p = sim.reconcile(measured("Failed", "0.2"));
    expect(p.status.checks?.[0]).to.include({ phase: "Failed", consecutiveFailures: 1 });
    expect(p.status.currentStep).to.equal(1);
    expect(sim.replicas("2.0.0")).to.equal(1);
    sim.advance(5000);
    p = sim.reconcile(); // nothing due: the failed measurement is still the last one
    expect(p.status.currentStep).to.equal(1);
    expect(sim.replicas("2.0.0")).to.equal(1);
    sim.advance(5000);
    p = sim.reconcile(measured("Successful"));
    expect(p.status.currentStep).to.equal(2);
    expect(reasons(p.events)).to.deep.equal(["WeightChanged"]);
    expect(sim.replicas("2.0.0")).to.equal(2);
  });

  it("promote ends a timed pause at once", () => {
    const sim = stableSim({
      replicas: 4,
      strategy: { canary: { steps: [{ setWeight: 25 }, { pause: { duration: "5m" } }, { setWeight: 50 }] } },
    });
    sim.setVersion("2.0.0");
    sim.runUntil((s) => s.md.status?.currentStep === 1);
    sim.annotate("promote");
    const p = sim.reconcile();
    expect(reasons(p.events)).to.deep.equal(["ActionAccepted", "WeightChanged"]);
    expect(p.events[0]?.message).to.include("the pause of step 2/3 ends");
    expect(p.status.currentStep).to.equal(2);
    expect(sim.replicas("2.0.0")).to.equal(2);
  });

  it("a setWeight 0 step has no pods to measure and completes once the sizes are reached", () => {
    const sim = stableSim({
      healthChecks: { checks: [promCheck()] },
      strategy: { canary: { steps: [{ setWeight: 0 }, { pause: {} }] } },
    });
    sim.setVersion("2.0.0");
    const p = sim.reconcile();
    expect(p.status.currentStep).to.equal(1);
    expect(sim.replicas("2.0.0")).to.equal(0);
  });

  it("a rollout scaled to zero replicas is not promoted without its checks, and a failed one holds it", () => {
    const sim = stableSim({
      replicas: 1,
      healthChecks: { failureThreshold: 2, checks: [promCheck()] },
      strategy: { canary: { steps: [{ setWeight: 10 }] } },
    });
    sim.setVersion("2.0.0");
    sim.reconcile();
    sim.settle().advance(1000);
    sim.edit((s) => (s.replicas = 0));
    let p = sim.reconcile(measured("Failed", "0.2"));
    expect(p.status.checks?.[0]).to.include({ phase: "Failed", consecutiveFailures: 1 });
    for (let i = 0; i < 3; i++) {
      sim.settle().advance(1000);
      p = sim.reconcile();
    }
    expect(p.status.stableVersion).to.equal("1.0.0");
    expect(p.status.rollout?.version).to.equal("2.0.0");
    expect(p.status.currentStep).to.equal(0);

    sim.edit((s) => (s.replicas = 1));
    sim.runUntil((s) => s.md.status?.stableVersion === "2.0.0", measured("Successful"));
    expect(sim.md.status?.history?.[0]).to.include({ version: "2.0.0", outcome: "Promoted" });
  });

  it("a candidate that loses availability mid-step gets a fresh progress deadline", () => {
    const sim = stableSim({ progressDeadlineSeconds: 60, healthChecks: { checks: [promCheck()] } });
    sim.setVersion("2.0.0");
    sim.reconcile();
    sim.settle().advance(1000);
    sim.reconcile();
    sim.settle().advance(1000);
    expect(sim.reconcile().status.rollout?.stepReadyAt).to.be.a("string");
    sim.partly("2.0.0", 1).advance(30_000);
    let p = sim.reconcile();
    expect(p.status.rollout?.stepReadyAt).to.equal(undefined);
    expect(p.status.rollout?.stepStartedAt).to.equal(sim.now.toISOString());
    sim.advance(59_000);
    expect(sim.reconcile().status.aborted).to.equal(undefined);
    sim.advance(1000);
    p = sim.reconcile();
    expect(p.status.aborted?.reason).to.equal("ProgressDeadlineExceeded");
  });

  it("a template change of the version rolling out starts its rollout again", () => {
    const sim = stableSim();
    sim.setVersion("2.0.0");
    sim.runUntil((s) => s.md.status?.currentStep === 1);
    sim.edit((s) => (s.template.spec!.containers[0]!.image = "registry.example/fraud:2-fixed"));
    const p = sim.reconcile();
    expect(p.events.map((e) => e.reason)).to.deep.equal(["RolloutSuperseded", "RolloutStarted"]);
    expect(p.status.currentStep).to.equal(0);
    expect(p.status.history?.[0]).to.include({ version: "2.0.0", outcome: "Superseded" });
    const superseded = p.status.history?.[0]?.revision;
    const fixed = p.status.rollout?.revision;
    expect(fixed).to.not.equal(superseded);
    // The new template gets a Deployment of its own; the superseded one scales to 0 as the
    // stable version's ready pods cover what it served (maxUnavailable 0: capacity never drops).
    expect(sim.deployment("2.0.0", fixed)?.spec?.template?.spec?.containers[0]?.image).to.equal(
      "registry.example/fraud:2-fixed",
    );
    expect(sim.replicas("2.0.0", fixed)).to.equal(2);
    expect(sim.replicas("2.0.0", superseded)).to.be.at.most(2);
    sim.runUntil((s) => s.replicas("2.0.0", superseded) === 0, undefined, 5);
  });

  it("an in-flight rollout is superseded by a newer version, and reverted when the spec goes back", () => {
    const sim = stableSim();
    sim.setVersion("2.0.0");
    sim.reconcile();
    sim.settle();
    sim.setVersion("3.0.0");
    let p = sim.reconcile();
    expect(reasons(p.events)).to.deep.equal(["RolloutSuperseded", "RolloutStarted"]);
    expect(p.status.history?.[0]).to.include({ version: "2.0.0", outcome: "Superseded" });
    expect(p.status.rollout?.version).to.equal("3.0.0");
    expect(p.status.currentStep).to.equal(0);
    expect(sim.replicas("2.0.0")).to.equal(0);
    expect(sim.replicas("3.0.0")).to.equal(2);

    sim.settle();
    sim.setVersion("1.0.0");
    p = sim.reconcile();
    expect(reasons(p.events)).to.deep.equal(["RolloutReverted"]);
    expect(p.status.history?.[0]).to.include({ version: "3.0.0", outcome: "Reverted" });
    expect(p.status.rollout).to.equal(undefined);
    expect(p.status.candidateVersion).to.equal(undefined);
    expect(sim.replicas("3.0.0")).to.equal(0);
    expect(sim.replicas("1.0.0")).to.equal(10);
    sim.settle();
    expect(sim.reconcile().status.phase).to.equal("Healthy");
  });

  it("spec.paused holds the rollout (no step progression, no deadline) but still rolls back on failed checks", () => {
    const sim = stableSim({
      healthChecks: { failureThreshold: 1, checks: [promCheck()] },
      progressDeadlineSeconds: 60,
    });
    sim.setVersion("2.0.0");
    sim.edit((s) => (s.paused = true));
    let p = sim.reconcile();
    expect(p.status.phase).to.equal("Paused");
    expect(sim.condition("Reconciling")).to.include({ status: "True", reason: "Paused" });
    sim.advance(600_000);
    p = sim.reconcile();
    expect(p.status.aborted).to.equal(undefined); // no deadline while paused
    sim.edit((s) => (s.paused = false));
    p = sim.reconcile();
    expect(p.status.phase).to.equal("Progressing");
    expect(p.status.rollout?.stepStartedAt).to.equal(sim.now.toISOString()); // a fresh deadline
    sim.edit((s) => (s.paused = true));
    sim.settle().advance(1000);
    p = sim.reconcile(measured("Failed"));
    expect(p.status.aborted?.reason).to.equal("HealthCheckFailed");
  });

  it("retires old versions beyond revisionHistoryLimit, never the stable or the candidate", () => {
    const sim = stableSim({ revisionHistoryLimit: 1, strategy: { canary: { steps: [{ setWeight: 50 }] } } });
    for (const v of ["2.0.0", "3.0.0", "4.0.0"]) {
      sim.setVersion(v);
      sim.runUntil((s) => s.md.status?.stableVersion === v);
    }
    const versions = [...sim.deployments.values()]
      .map((d) => d.metadata?.labels?.["mlops.dev/version"])
      .sort();
    expect(versions).to.deep.equal(["3.0.0", "4.0.0"]);
    expect([...sim.services.keys()].sort()).to.deep.equal([
      "fraud-detector",
      "fraud-detector-3-0-0",
      "fraud-detector-4-0-0",
    ]);
    expect(sim.replicas("3.0.0")).to.equal(0);
    expect(sim.replicas("4.0.0")).to.equal(10);
  });

  it("an invalid spec stalls with the problems, keeps every child and says so once", () => {
    const sim = stableSim();
    sim.edit((s) => (s.strategy = { canary: { steps: [{ setWeight: 50 }, { setWeight: 20 }] } }));
    sim.setVersion("2.0.0");
    const p = sim.reconcile();
    expect(p.apply).to.deep.equal([]);
    expect(p.delete).to.deep.equal([]);
    expect(p.requeueAfterMs).to.equal(undefined);
    expect(reasons(p.events)).to.deep.equal(["InvalidSpec"]);
    expect(sim.condition("Stalled")).to.include({ status: "True", reason: "InvalidSpec" });
    expect(sim.condition("Stalled")?.message).to.include("spec.strategy.canary.steps[1].setWeight");
    expect(sim.condition("Ready")?.status).to.equal("False");
    expect(p.status.stableVersion).to.equal("1.0.0");
    expect(p.status.observedGeneration).to.equal(3);
    expect(sim.reconcile().events).to.deep.equal([]);
  });

  it("is deterministic: the same input gives the same plan", () => {
    const sim = stableSim({ healthChecks: { checks: [promCheck()] } });
    sim.setVersion("2.0.0");
    sim.reconcile();
    sim.settle();
    const input = { md: sim.md, observed: sim.observed(), measurements: [], now: sim.now };
    expect(plan(input)).to.deep.equal(plan(input));
  });
});
