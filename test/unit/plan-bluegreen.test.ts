// Blue/green rollouts: preview, promotion (automatic or by action), the one-write switch of
// the clients' Service, and the delayed scale-down of the old version.
import { expect } from "chai";
import { computeRevision } from "../../src/plan/index.ts";
import { measured, promCheck, stableSim } from "./plan-fixtures.ts";

const reasons = (events: { reason: string }[]) => events.map((e) => e.reason);

describe("plan: blue/green", () => {
  it("previews at previewReplicas, auto-promotes, scales up, switches in one write and scales the old version down later", () => {
    const sim = stableSim({
      replicas: 4,
      strategy: { blueGreen: { autoPromotionSeconds: 30, previewReplicas: 1, scaleDownDelaySeconds: 60 } },
      healthChecks: { checks: [promCheck()] },
    });
    const pass = measured("Successful");
    const oldRevision = sim.md.status?.stableRevision;
    expect(sim.clientsSelector()).to.deep.equal({
      "mlops.dev/model": "fraud-detector",
      "mlops.dev/version": "1.0.0",
      "mlops.dev/revision": oldRevision,
    });
    expect(sim.md.status?.strategy).to.equal("BlueGreen");

    sim.setVersion("2.0.0");
    let p = sim.reconcile(pass);
    expect(reasons(p.events)).to.deep.equal(["RolloutStarted"]);
    expect(sim.replicas("2.0.0")).to.equal(1);
    expect(sim.replicas("1.0.0")).to.equal(4);
    expect(sim.services.get("fraud-detector-preview")?.spec?.selector).to.deep.equal({
      "mlops.dev/model": "fraud-detector",
      "mlops.dev/version": "2.0.0",
      "mlops.dev/revision": p.status.candidateRevision,
    });
    expect(sim.services.get("fraud-detector-preview")?.metadata?.labels?.["mlops.dev/role"]).to.equal(
      "preview",
    );
    expect(sim.clientsSelector()?.["mlops.dev/version"]).to.equal("1.0.0");

    sim.settle().advance(1000);
    p = sim.reconcile(pass); // Available; the check measured now counts
    expect(p.status.rollout?.availableAt).to.equal(sim.now.toISOString());
    expect(reasons(p.events)).to.deep.equal(["StepCompleted"]);
    expect(p.requeueAfterMs).to.equal(10_000); // next measurement before the 30s auto-promotion

    sim.advance(10_000);
    sim.reconcile(pass);
    sim.advance(10_000);
    sim.reconcile(pass);
    sim.advance(9_000);
    p = sim.reconcile(pass);
    expect(p.requeueAfterMs).to.equal(1000); // auto-promotion time
    expect(p.status.currentStep).to.equal(0);

    sim.advance(1000);
    p = sim.reconcile(pass);
    expect(p.status.currentStep).to.equal(1);
    expect(sim.replicas("2.0.0")).to.equal(4); // scaled to replicas before the switch
    expect(sim.clientsSelector()?.["mlops.dev/version"]).to.equal("1.0.0");

    sim.settle().advance(1000);
    p = sim.reconcile(pass);
    expect(reasons(p.events)).to.deep.equal(["TrafficSwitched"]);
    expect(p.status.rollout?.switchedAt).to.equal(sim.now.toISOString());
    expect(sim.clientsSelector()?.["mlops.dev/version"]).to.equal("2.0.0");
    expect(p.delete).to.deep.equal([{ kind: "Service", name: "fraud-detector-preview" }]);
    expect(p.status.stableVersion).to.equal("1.0.0"); // promoted once the switch is observed

    sim.advance(1000);
    p = sim.reconcile(pass);
    expect(reasons(p.events)).to.deep.equal(["Promoted"]);
    expect(sim.services.has("fraud-detector-preview")).to.equal(false);
    expect(p.status.stableVersion).to.equal("2.0.0");
    expect(p.status.rollout).to.equal(undefined);
    const after = new Date(sim.now.getTime() + 60_000).toISOString();
    expect(p.status.scaleDown).to.deep.equal([{ version: "1.0.0", revision: oldRevision, after }]);
    expect(sim.replicas("1.0.0")).to.equal(4); // kept ready for scaleDownDelaySeconds
    expect(p.status.phase).to.equal("Healthy");
    expect(p.requeueAfterMs).to.equal(60_000);

    sim.advance(60_000);
    p = sim.reconcile(pass);
    expect(reasons(p.events)).to.deep.equal(["ScaledDown"]);
    expect(p.status.scaleDown).to.equal(undefined);
    expect(sim.replicas("1.0.0")).to.equal(0);
    expect(p.requeueAfterMs).to.equal(undefined);
    sim.settle();
    expect(sim.reconcile().events).to.deep.equal([]);
  });

  it("a new pod template of the stable version: preview of the new revision, a switch between the two revisions, the old one scaled down later", () => {
    const sim = stableSim({
      replicas: 3,
      strategy: { blueGreen: { previewReplicas: 1, scaleDownDelaySeconds: 30 } },
    });
    const oldRevision = sim.md.status!.stableRevision!;
    sim.edit((s) => (s.template.spec!.containers[0]!.image = "registry.example/fraud:1-patched"));
    const newRevision = computeRevision(sim.md);
    let p = sim.reconcile();
    expect(reasons(p.events)).to.deep.equal(["RolloutStarted"]);
    const preview = sim.services.get("fraud-detector-preview")?.spec?.selector;
    expect(preview).to.deep.equal({
      "mlops.dev/model": "fraud-detector",
      "mlops.dev/version": "1.0.0",
      "mlops.dev/revision": newRevision,
    });
    expect(sim.replicas("1.0.0", newRevision)).to.equal(1);
    expect(sim.replicas("1.0.0", oldRevision)).to.equal(3);
    expect(sim.clientsSelector()?.["mlops.dev/revision"]).to.equal(oldRevision);

    sim.settle().advance(1000);
    sim.reconcile();
    sim.annotate("promote");
    sim.runUntil((x) => x.md.status?.stableRevision === newRevision);
    expect(sim.clientsSelector()).to.deep.equal(preview);
    p = sim.last!;
    expect(p.status.scaleDown).to.deep.equal([
      {
        version: "1.0.0",
        revision: oldRevision,
        after: new Date(sim.now.getTime() - 1000 + 30_000).toISOString(),
      },
    ]);
    expect(sim.replicas("1.0.0", oldRevision)).to.equal(3); // kept ready for scaleDownDelaySeconds
    sim.advance(30_000);
    p = sim.reconcile();
    expect(reasons(p.events)).to.deep.equal(["ScaledDown"]);
    expect(p.events[0]?.message).to.include(`1.0.0 (revision ${oldRevision}) scaled to 0`);
    expect(sim.replicas("1.0.0", oldRevision)).to.equal(0);
    expect(sim.replicas("1.0.0", newRevision)).to.equal(3);
  });

  it("without autoPromotionSeconds waits for promote; previewReplicas defaults to replicas", () => {
    const sim = stableSim({ replicas: 3, strategy: { blueGreen: { scaleDownDelaySeconds: 0 } } });
    sim.setVersion("2.0.0");
    sim.reconcile();
    expect(sim.replicas("2.0.0")).to.equal(3);
    sim.settle().advance(1000);
    let p = sim.reconcile();
    expect(p.status.rollout?.availableAt).to.be.a("string");
    sim.advance(3_600_000);
    p = sim.reconcile();
    expect(p.status.rollout?.switchedAt).to.equal(undefined);
    expect(p.requeueAfterMs).to.equal(undefined);
    expect(sim.condition("Ready")?.message).to.include("waiting for promotion");

    sim.annotate("promote");
    p = sim.reconcile();
    expect(reasons(p.events)).to.deep.equal(["ActionAccepted", "TrafficSwitched"]);
    expect(sim.clientsSelector()?.["mlops.dev/version"]).to.equal("2.0.0");
    p = sim.reconcile();
    expect(reasons(p.events)).to.deep.equal(["Promoted", "ScaledDown"]);
    expect(sim.replicas("1.0.0")).to.equal(0);
  });

  it("rolls back before the switch when a check fails: the clients' Service never left the stable version", () => {
    const sim = stableSim({
      replicas: 2,
      strategy: { blueGreen: { autoPromotionSeconds: 0 } },
      healthChecks: { failureThreshold: 1, checks: [promCheck()] },
    });
    sim.setVersion("2.0.0");
    sim.reconcile();
    sim.settle().advance(1000);
    const p = sim.reconcile(measured("Failed", "0.5"));
    expect(p.status.aborted?.reason).to.equal("HealthCheckFailed");
    expect(sim.clientsSelector()?.["mlops.dev/version"]).to.equal("1.0.0");
    expect(sim.replicas("2.0.0")).to.equal(0);
    expect(p.delete).to.deep.equal([{ kind: "Service", name: "fraud-detector-preview" }]);
  });

  it("scaling up before the switch does not switch while a check's last measurement failed", () => {
    const sim = stableSim({
      replicas: 2,
      strategy: { blueGreen: { previewReplicas: 1, autoPromotionSeconds: 0 } },
      healthChecks: { failureThreshold: 3, checks: [promCheck()] },
    });
    sim.setVersion("2.0.0");
    sim.reconcile();
    sim.settle().advance(1000);
    let p = sim.reconcile(measured("Successful")); // preview healthy: promoted at once, scales to 2
    expect(p.status.currentStep).to.equal(1);
    sim.advance(10_000);
    p = sim.reconcile(measured("Failed", "0.2"));
    expect(p.status.checks?.[0]).to.include({ phase: "Failed", consecutiveFailures: 1 });
    sim.settle().advance(1000);
    p = sim.reconcile(); // Available at 2, but the last measurement failed
    expect(p.status.rollout?.switchedAt).to.equal(undefined);
    expect(sim.clientsSelector()?.["mlops.dev/version"]).to.equal("1.0.0");
    sim.advance(9000);
    p = sim.reconcile(measured("Successful"));
    expect(reasons(p.events)).to.deep.equal(["TrafficSwitched"]);
    expect(sim.clientsSelector()?.["mlops.dev/version"]).to.equal("2.0.0");
  });

  it("auto-promotion waits while the preview is no longer Available: the clients never move to unready pods", () => {
    const sim = stableSim({
      replicas: 2,
      strategy: { blueGreen: { autoPromotionSeconds: 20 } },
      healthChecks: { checks: [promCheck()] },
    });
    const pass = measured("Successful");
    sim.setVersion("2.0.0");
    sim.reconcile();
    sim.settle().advance(1000);
    let p = sim.reconcile(pass);
    expect(p.status.rollout?.availableAt).to.equal(sim.now.toISOString());
    sim.partly("2.0.0", 0).advance(20_000);
    p = sim.reconcile();
    expect(p.status.rollout?.switchedAt).to.equal(undefined);
    expect(sim.clientsSelector()?.["mlops.dev/version"]).to.equal("1.0.0");
    sim.settle().advance(1000);
    p = sim.reconcile(pass);
    expect(reasons(p.events)).to.deep.equal(["TrafficSwitched"]);
    expect(sim.clientsSelector()?.["mlops.dev/version"]).to.equal("2.0.0");
  });

  it("a revert after the switch keeps the clients on the switched version until the stable one is ready", () => {
    const sim = stableSim({
      replicas: 2,
      strategy: { blueGreen: { autoPromotionSeconds: 0, scaleDownDelaySeconds: 0 } },
    });
    sim.setVersion("2.0.0");
    sim.reconcile();
    sim.settle().advance(1000);
    let p = sim.reconcile();
    expect(p.status.rollout?.switchedAt).to.be.a("string");
    expect(sim.clientsSelector()?.["mlops.dev/version"]).to.equal("2.0.0");

    // Back to 1.0.0 before the switch was seen, while 1.0.0 has no ready pod.
    sim.setVersion("1.0.0");
    sim.partly("1.0.0", 0);
    p = sim.reconcile();
    expect(reasons(p.events)).to.deep.equal(["RolloutReverted"]);
    expect(p.status.stableVersion).to.equal("1.0.0");
    expect(sim.clientsSelector()?.["mlops.dev/version"]).to.equal("2.0.0");
    expect(sim.replicas("2.0.0")).to.equal(2);
    expect(sim.replicas("1.0.0")).to.equal(2);

    sim.settle("1.0.0");
    sim.reconcile();
    expect(sim.clientsSelector()?.["mlops.dev/version"]).to.equal("1.0.0");
    p = sim.reconcile();
    expect(reasons(p.events)).to.deep.equal(["ScaledDown"]);
    expect(sim.replicas("2.0.0")).to.equal(0);
    expect(p.status.phase).to.equal("Healthy");
  });

  it("a template change right after the switch keeps the clients on the switched version until the stable one is ready", () => {
    const sim = stableSim({
      replicas: 2,
      strategy: { blueGreen: { autoPromotionSeconds: 0, scaleDownDelaySeconds: 0 } },
    });
    sim.setVersion("2.0.0");
    sim.reconcile();
    sim.settle().advance(1000);
    sim.reconcile();
    expect(sim.clientsSelector()?.["mlops.dev/version"]).to.equal("2.0.0");

    sim.edit((s) => (s.template.spec!.containers[0]!.image = "registry.example/fraud:2-patched"));
    sim.partly("1.0.0", 0);
    const p = sim.reconcile();
    expect(reasons(p.events)).to.deep.equal(["RolloutSuperseded", "RolloutStarted"]);
    expect(sim.clientsSelector()?.["mlops.dev/version"]).to.equal("2.0.0");
    expect(sim.replicas("1.0.0")).to.equal(2);

    sim.settle("1.0.0");
    sim.reconcile();
    expect(sim.clientsSelector()?.["mlops.dev/version"]).to.equal("1.0.0");
    expect(sim.md.status?.rollout?.version).to.equal("2.0.0");
  });

  it("rollback keeps the clients' Service on the current version until the previous one is Available again", () => {
    const sim = stableSim({
      replicas: 2,
      strategy: { blueGreen: { scaleDownDelaySeconds: 0, autoPromotionSeconds: 0 } },
    });
    sim.setVersion("2.0.0");
    sim.runUntil(
      (s) => s.md.status?.stableVersion === "2.0.0" && s.md.status.scaleDown === undefined,
      undefined,
      30,
    );
    sim.settle().reconcile();
    expect(sim.replicas("1.0.0")).to.equal(0);

    sim.annotate("rollback");
    let p = sim.reconcile();
    expect(p.status.stableVersion).to.equal("1.0.0");
    expect(sim.replicas("1.0.0")).to.equal(2);
    expect(sim.clientsSelector()?.["mlops.dev/version"]).to.equal("2.0.0"); // 1.0.0 has no ready pod yet
    sim.settle("1.0.0");
    sim.reconcile();
    expect(sim.clientsSelector()?.["mlops.dev/version"]).to.equal("1.0.0");
    expect(sim.replicas("2.0.0")).to.equal(2); // scaled down once the switch is observed
    p = sim.reconcile();
    expect(p.events.map((e) => e.reason)).to.deep.equal(["ScaledDown"]);
    expect(sim.replicas("2.0.0")).to.equal(0);
    expect(sim.condition("Stalled")).to.include({ status: "True", reason: "RolledBack" });
  });
});
