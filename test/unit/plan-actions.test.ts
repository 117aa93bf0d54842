// Actions (annotation mlops.dev/action): each is acted on once, the annotation is removed,
// and an Event says what happened or why it was refused.
import { expect } from "chai";
import { measured, promCheck, Sim, stableSim } from "./plan-fixtures.ts";

const only = (sim: Sim, reason: string) => sim.last!.events.filter((e) => e.reason === reason);

/** A canary rollout of 2.0.0 at its first step, both versions Available at their sizes. */
function rolling(extra: Parameters<typeof stableSim>[0] = {}): Sim {
  const sim = stableSim({ healthChecks: { checks: [promCheck()] }, ...extra });
  sim.setVersion("2.0.0");
  sim.reconcile();
  sim.settle().advance(1000);
  sim.reconcile();
  sim.settle().advance(1000);
  sim.reconcile();
  return sim;
}

describe("plan: actions", () => {
  it("promote completes a setWeight step that waits for checks", () => {
    const sim = rolling();
    expect(sim.md.status?.currentStep).to.equal(0);
    sim.annotate("promote");
    const p = sim.reconcile();
    expect(p.clearAction).to.equal(true);
    expect(only(sim, "ActionAccepted")[0]?.message).to.match(/^promote: step 1\/3 completes/);
    expect(p.status.currentStep).to.equal(1);
    expect(p.status.lastAction).to.match(/^promote@\d+$/);
  });

  it("promote-full skips the remaining steps and checks, then promotes at full size", () => {
    const sim = rolling();
    sim.annotate("promote-full");
    let p = sim.reconcile();
    expect(only(sim, "ActionAccepted")).to.have.length(1);
    expect(p.status.currentStep).to.equal(3);
    expect(p.status.rollout?.promote).to.equal("Full");
    expect(sim.replicas("2.0.0")).to.equal(10);
    sim.settle();
    sim.reconcile(); // the stable shrinks as the candidate's replicas become available
    sim.settle();
    p = sim.reconcile();
    expect(p.status.stableVersion).to.equal("2.0.0");
    expect(p.status.aborted).to.equal(undefined);
  });

  it("abort rolls back with reason Aborted and keeps the spec; retry starts again", () => {
    const sim = rolling();
    sim.annotate("abort");
    let p = sim.reconcile();
    expect(p.status.aborted).to.include({ version: "2.0.0", reason: "Aborted" });
    expect(p.status.history?.[0]).to.include({ version: "2.0.0", outcome: "Aborted" });
    expect(sim.condition("Stalled")).to.include({ status: "True", reason: "Aborted" });
    expect(sim.replicas("2.0.0")).to.equal(0);
    expect(sim.md.spec.model.version).to.equal("2.0.0");
    expect(p.events.map((e) => e.reason)).to.deep.equal(["RolledBack", "ActionAccepted"]);

    sim.annotate("retry");
    p = sim.reconcile();
    expect(p.events.map((e) => e.reason)).to.deep.equal(["ActionAccepted", "RolloutStarted"]);
    expect(p.status.aborted).to.equal(undefined);
    expect(p.status.rollout?.version).to.equal("2.0.0");
    expect(p.status.currentStep).to.equal(0);
    expect(sim.replicas("2.0.0")).to.equal(2);
  });

  it("pause holds and resume carries on", () => {
    const sim = rolling({
      strategy: { canary: { steps: [{ setWeight: 20 }, { pause: { duration: "10s" } }] } },
    });
    sim.annotate("pause");
    let p = sim.reconcile(measured("Successful"));
    expect(p.status.rollout?.pausedByAction).to.equal(true);
    expect(p.status.phase).to.equal("Paused");
    expect(p.status.currentStep).to.equal(0); // checks passed, but the step does not complete while paused
    sim.annotate("resume");
    p = sim.reconcile();
    expect(p.status.rollout?.pausedByAction).to.equal(undefined);
    expect(p.status.currentStep).to.equal(1);
  });

  it("rollback returns to the previous promoted version and holds until the spec changes or retry", () => {
    const sim = stableSim({ strategy: { canary: { steps: [{ setWeight: 50 }] } } });
    sim.setVersion("2.0.0");
    sim.runUntil((s) => s.md.status?.stableVersion === "2.0.0");
    sim.settle().reconcile();
    expect(sim.replicas("1.0.0")).to.equal(0);

    sim.annotate("rollback");
    let p = sim.reconcile();
    expect(only(sim, "ActionAccepted")[0]?.message).to.include("1.0.0 serves again instead of 2.0.0");
    expect(p.status.stableVersion).to.equal("1.0.0");
    expect(p.status.aborted).to.include({ version: "2.0.0", reason: "RolledBack" });
    expect(sim.replicas("1.0.0")).to.equal(10);
    expect(sim.replicas("2.0.0")).to.equal(10); // keeps serving until 1.0.0 is Available
    expect(sim.condition("Stalled")?.message).to.include("change spec.model.version to 1.0.0 or retry");

    sim.settle("1.0.0");
    p = sim.reconcile();
    expect(sim.replicas("2.0.0")).to.equal(0);
    expect(p.status.scaleDown).to.equal(undefined);
    sim.settle();
    p = sim.reconcile();
    expect(p.status.phase).to.equal("Degraded");
    expect(p.events).to.deep.equal([]);

    sim.setVersion("1.0.0");
    p = sim.reconcile();
    expect(p.status.aborted).to.equal(undefined);
    expect(p.status.phase).to.equal("Healthy");
  });

  const refusals: { name: string; setup: () => Sim; action: string; message: RegExp }[] = [
    {
      name: "promote at rest",
      setup: () => stableSim(),
      action: "promote",
      message: /no rollout in progress: 1\.0\.0 serves/,
    },
    { name: "abort at rest", setup: () => stableSim(), action: "abort", message: /no rollout in progress/ },
    {
      name: "retry with nothing aborted",
      setup: () => stableSim(),
      action: "retry",
      message: /nothing to retry/,
    },
    { name: "pause at rest", setup: () => stableSim(), action: "pause", message: /no rollout in progress/ },
    { name: "resume when not paused", setup: () => rolling(), action: "resume", message: /not paused/ },
    {
      name: "resume of a spec.paused rollout",
      setup: () => rolling({ paused: true }),
      action: "resume",
      message: /held by spec\.paused/,
    },
    {
      name: "promote while paused",
      setup: () => rolling({ paused: true }),
      action: "promote",
      message: /spec\.paused/,
    },
    {
      name: "rollback with no earlier version",
      setup: () => stableSim(),
      action: "rollback",
      message: /no version promoted before 1\.0\.0/,
    },
    {
      name: "an unknown action",
      setup: () => stableSim(),
      action: "restart",
      message: /unknown action; use one of promote/,
    },
    {
      name: "promote of an aborted rollout",
      setup: () => {
        const sim = rolling();
        sim.annotate("abort");
        sim.reconcile();
        return sim;
      },
      action: "promote",
      message: /was stopped \(Aborted\); use retry/,
    },
  ];
  for (const row of refusals) {
    it(`refuses ${row.name} with a Warning Event that says why, once`, () => {
      const sim = row.setup();
      const before = JSON.stringify({ ...sim.md.status, lastAction: undefined, conditions: undefined });
      sim.annotate(row.action);
      const p = sim.reconcile();
      expect(p.clearAction).to.equal(true);
      expect(p.events).to.have.length(1);
      expect(p.events[0]).to.include({ type: "Warning", reason: "ActionRefused" });
      expect(p.events[0]?.message)
        .to.match(new RegExp(`^${row.action}: `))
        .and.match(row.message);
      expect(JSON.stringify({ ...p.status, lastAction: undefined, conditions: undefined })).to.equal(before);
      expect(sim.md.metadata?.annotations?.["mlops.dev/action"]).to.equal(undefined);
    });
  }

  it("an action still annotated after it was acted on (its removal failed) is not acted on again", () => {
    const sim = rolling();
    sim.annotate("abort");
    const md = JSON.parse(JSON.stringify(sim.md));
    const first = sim.reconcile();
    // The same object again, now with the status the first plan wrote.
    md.status = first.status;
    sim.md = md;
    const again = sim.reconcile();
    expect(again.clearAction).to.equal(true);
    expect(again.events).to.deep.equal([]);
    expect(again.status).to.deep.equal(first.status);
  });
});
