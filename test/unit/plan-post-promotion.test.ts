// Checks after a blue/green switch (promotion: After / BeforeAndAfter): measured only once the
// clients' Service selects the new version, while the old version is kept ready for
// scaleDownDelaySeconds; promoted when the delay is over and each of them passed; a failing
// one switches the clients back to the old version, which is still at full size.
import { expect } from "chai";
import type { HealthCheck } from "../../src/api/types.ts";
import { validateModelDeployment } from "../../src/plan/index.ts";
import type { DueCheck } from "../../src/plan/types.ts";
import { makeMd, measured, promCheck, stableSim, type Measure } from "./plan-fixtures.ts";

const reasons = (events: { reason: string }[]) => events.map((e) => e.reason);
const after = (name: string, promotion: HealthCheck["promotion"] = "After"): HealthCheck => ({
  ...promCheck(name),
  promotion,
});

/** Measures every due check Successful unless `phase` says otherwise for its name; records who was due. */
function recording(phase: Record<string, "Successful" | "Failed"> = {}) {
  const seen: string[][] = [];
  const measure: Measure = (due: DueCheck[], now) => {
    seen.push(due.map((d) => d.check.name));
    return measured(Object.fromEntries(due.map((d) => [d.check.name, phase[d.check.name] ?? "Successful"])))(
      due,
      now,
    );
  };
  return { seen, measure };
}

describe("plan: checks after a blue/green switch", () => {
  const spec = (checks: HealthCheck[]) => ({
    replicas: 3,
    strategy: { blueGreen: { autoPromotionSeconds: 0, previewReplicas: 3, scaleDownDelaySeconds: 30 } },
    healthChecks: { interval: "5s", failureThreshold: 2, checks },
  });

  it("measures After checks only after the switch, keeps the old version ready through the delay, then promotes", () => {
    const sim = stableSim(spec([promCheck("ready"), after("error-rate")]));
    const r = recording();
    sim.setVersion("2.0.0");
    sim.runUntil((s) => s.md.status?.rollout?.switchedAt !== undefined, r.measure);
    // Before the switch only the Before check was measured; the After one waits, Pending.
    expect(r.seen.flat()).to.include("ready");
    expect(r.seen.flat()).to.not.include("error-rate");
    expect(sim.md.status?.checks?.find((c) => c.name === "error-rate")?.phase).to.equal("Pending");
    const switchedAt = Date.parse(sim.md.status!.rollout!.switchedAt!);
    expect(sim.clientsSelector()?.["mlops.dev/version"]).to.equal("2.0.0");

    // After the switch: the After check is due at once; the Before one is done.
    r.seen.length = 0;
    sim.runUntil((s) => s.md.status?.stableVersion === "2.0.0", r.measure, 60);
    expect(r.seen.flat()).to.include("error-rate");
    expect(r.seen.flat()).to.not.include("ready");
    const promotedAt = sim.now.getTime() - 1000;
    expect(promotedAt - switchedAt).to.be.at.least(30_000); // not before the scale-down delay
    expect(promotedAt - switchedAt).to.be.below(32_000);
    expect(sim.events.filter((e) => e.reason === "Promoted").at(-1)?.message).to.include(
      "every check after the switch passed through the scale-down delay",
    );
    // The delay was spent while checking: the old version scales down at once.
    sim.runUntil((s) => s.replicas("1.0.0") === 0, r.measure, 3);
  });

  it("waits past the delay until each After check has passed since the switch", () => {
    const sim = stableSim(spec([after("error-rate")]));
    sim.setVersion("2.0.0");
    sim.runUntil((s) => s.md.status?.rollout?.switchedAt !== undefined, measured("Successful"));
    // No measurement after the switch: past the delay it still waits, the old version ready.
    sim.advance(40_000);
    let p = sim.reconcile();
    expect(p.status.stableVersion).to.equal("1.0.0");
    expect(p.status.phase).to.equal("Progressing");
    expect(p.status.conditions?.find((c) => c.type === "Reconciling")?.message).to.include(
      "the old version is kept ready while the checks after the switch run",
    );
    expect(sim.replicas("1.0.0")).to.equal(3);
    sim.reconcile(measured("Successful"));
    sim.settle().advance(1000);
    p = sim.reconcile(measured("Successful"));
    expect(p.status.stableVersion).to.equal("2.0.0");
  });

  it("a failing After check switches the clients back to the old version, still at full size", () => {
    const sim = stableSim(spec([promCheck("ready"), after("error-rate")]));
    sim.setVersion("2.0.0");
    sim.runUntil((s) => s.md.status?.rollout?.switchedAt !== undefined, measured("Successful"));
    expect(sim.replicas("1.0.0")).to.equal(3);
    const failing = recording({ "error-rate": "Failed" }).measure;
    sim.runUntil((s) => s.md.status?.aborted !== undefined, failing, 20, 5000);
    const p = sim.last!;
    expect(reasons(p.events)).to.include.members(["CheckFailed", "RolledBack"]);
    expect(p.status.stableVersion).to.equal("1.0.0");
    expect(sim.clientsSelector()?.["mlops.dev/version"]).to.equal("1.0.0");
    expect(sim.replicas("1.0.0")).to.equal(3);
    expect(sim.replicas("2.0.0")).to.equal(0);
    expect(sim.condition("Stalled")).to.include({ status: "True", reason: "HealthCheckFailed" });
    expect(sim.condition("Stalled")?.message).to.include("check error-rate failed 2 time(s) in a row");
  });

  it("BeforeAndAfter gates the switch and runs again after it", () => {
    const sim = stableSim(spec([after("smoke", "BeforeAndAfter")]));
    const r = recording();
    sim.setVersion("2.0.0");
    sim.runUntil((s) => s.md.status?.rollout?.switchedAt !== undefined, r.measure);
    const before = r.seen.flat().length;
    expect(before).to.be.above(0);
    sim.runUntil((s) => s.md.status?.stableVersion === "2.0.0", r.measure, 60);
    expect(r.seen.flat().length).to.be.above(before);
  });

  it("abort after the switch switches back; promote-full ends the checks and promotes", () => {
    const sim = stableSim(spec([after("error-rate")]));
    sim.setVersion("2.0.0");
    sim.runUntil((s) => s.md.status?.rollout?.switchedAt !== undefined, measured("Successful"));
    sim.annotate("abort");
    sim.reconcile();
    expect(sim.md.status?.aborted?.version).to.equal("2.0.0");
    expect(sim.clientsSelector()?.["mlops.dev/version"]).to.equal("1.0.0");

    sim.settle();
    sim.annotate("retry");
    sim.runUntil((s) => s.md.status?.rollout?.switchedAt !== undefined, measured("Successful"));
    sim.annotate("promote-full");
    sim.runUntil((s) => s.md.status?.stableVersion === "2.0.0", undefined, 5);
  });

  it("a check after the switch needs blueGreen: refused for a canary", () => {
    const problems = validateModelDeployment(makeMd({ healthChecks: { checks: [after("error-rate")] } })).map(
      (p) => `${p.path}: ${p.message}`,
    );
    expect(problems).to.deep.equal([
      "spec.healthChecks.checks[0].promotion: promotion After or BeforeAndAfter needs strategy.blueGreen: a canary has no switch to check after",
    ]);
  });
});
