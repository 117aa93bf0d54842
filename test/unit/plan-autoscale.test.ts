// An autoscaler (HPA, KEDA) changing spec.replicas through the scale subresource in the middle
// of a rollout: at each phase of a canary and of a blue/green rollout, the replicas of both
// versions after the change, the value the scale subresource reports back, and no writes
// once the world has caught up (nothing for the autoscaler and the operator to fight over).
import { expect } from "chai";
import type { Plan } from "../../src/plan/index.ts";
import type { ModelDeploymentSpec } from "../../src/api/types.ts";
import { makeMd, measured, promCheck, Sim, stableSim, T0 } from "./plan-fixtures.ts";

/** What the HPA does: a new spec.replicas through the scale subresource (a new generation). */
const scaleTo = (sim: Sim, n: number) => sim.edit((s) => (s.replicas = n));

/** Replicas of 1.0.0 (stable) and 2.0.0 (candidate), as "stable/candidate". */
const split = (sim: Sim) => `${sim.replicas("1.0.0") ?? "-"}/${sim.replicas("2.0.0") ?? "-"}`;

/** Reconcile and let the Deployment controller catch up, `times` times. */
function converge(sim: Sim, times = 3, measure?: Parameters<Sim["reconcile"]>[0]): Plan {
  let p = sim.reconcile(measure);
  for (let i = 1; i < times; i++) {
    sim.settle().advance(1000);
    p = sim.reconcile(measure);
  }
  sim.settle();
  return p;
}

/** The world has caught up: one more reconcile writes nothing, changes no status, records no Event. */
function expectQuiet(sim: Sim): void {
  const writes = sim.writes;
  const before = JSON.stringify(sim.md.status);
  const p = sim.reconcile();
  expect(p.events, "events of a settled reconcile").to.deep.equal([]);
  expect(sim.writes, "child writes of a settled reconcile").to.equal(writes);
  expect(JSON.stringify(p.status), "status of a settled reconcile").to.equal(before);
}

describe("plan: autoscaling during a canary", () => {
  // One check that is measured only when a test says so: a setWeight step and the final
  // stage wait for it, so the rollout stays in the phase under test while it is scaled.
  const canary = () =>
    stableSim({
      replicas: 10,
      healthChecks: { checks: [promCheck()] },
      strategy: {
        canary: {
          steps: [{ setWeight: 20 }, { pause: {} }, { setWeight: 50 }, { pause: { duration: "1m" } }],
        },
      },
    });
  const pass = measured("Successful");

  it("a setWeight step: the split keeps its weight for each new total, the stable never below its share", () => {
    const sim = canary();
    sim.setVersion("2.0.0");
    converge(sim);
    expect(split(sim)).to.equal("8/2");
    expect(sim.md.status?.currentStep).to.equal(0);

    scaleTo(sim, 20);
    sim.reconcile();
    // The candidate goes to its share of 20 at once; the stable covers what the candidate's
    // available replicas do not yet (20 - 2) and shrinks to its share as they come up.
    expect(split(sim)).to.equal("18/4");
    converge(sim);
    expect(split(sim)).to.equal("16/4");
    expect(sim.md.status?.currentStep).to.equal(0);
    expect(sim.md.status?.candidateWeight).to.equal(20);
    expect(sim.md.status?.replicas).to.equal(20); // every ready pod behind the clients' Service
    expectQuiet(sim);

    scaleTo(sim, 5);
    sim.reconcile();
    expect(split(sim)).to.equal("4/1"); // both shrink at once: nothing is lost by shrinking
    converge(sim);
    expect(split(sim)).to.equal("4/1");
    expect(sim.md.status?.candidateWeight).to.equal(20);
    expect(sim.md.status?.replicas).to.equal(5);
    expectQuiet(sim);

    // The step still completes on its checks at the new size.
    sim.advance(1000);
    const p = sim.reconcile(pass);
    expect(p.status.currentStep).to.equal(1);
  });

  it("a pause: the split follows the total and the pause is not restarted", () => {
    const sim = canary();
    sim.setVersion("2.0.0");
    sim.runUntil((s) => s.md.status?.currentStep === 1, pass);
    converge(sim);
    const startedAt = sim.md.status?.rollout?.stepStartedAt;
    expect(split(sim)).to.equal("8/2");

    scaleTo(sim, 20);
    converge(sim);
    expect(split(sim)).to.equal("16/4");
    scaleTo(sim, 3);
    converge(sim);
    // 20% of 3: ceil(0.6) = 1 candidate, ceil(2.4) = 3 stable (the stable keeps its share).
    expect(split(sim)).to.equal("3/1");
    expect(sim.md.status?.currentStep).to.equal(1);
    expect(sim.md.status?.rollout?.stepStartedAt).to.equal(startedAt);
    expect(sim.md.status?.candidateWeight).to.equal(25); // 1 of 4 ready endpoints
    expectQuiet(sim);
  });

  it("a scale to zero and back in a pause: both versions to 0, then their shares again", () => {
    const sim = canary();
    sim.setVersion("2.0.0");
    sim.runUntil((s) => s.md.status?.currentStep === 1, pass);
    converge(sim);
    scaleTo(sim, 0);
    converge(sim);
    expect(split(sim)).to.equal("0/0");
    expect(sim.md.status?.currentStep).to.equal(1);
    expectQuiet(sim);
    scaleTo(sim, 10);
    converge(sim);
    expect(split(sim)).to.equal("8/2");
    expectQuiet(sim);
  });

  it("right before promotion: the candidate follows the total, the stable drains as it comes up", () => {
    const sim = canary();
    sim.setVersion("2.0.0");
    sim.runUntil((s) => s.md.status?.currentStep === 1, pass);
    sim.annotate("promote");
    sim.runUntil((s) => s.md.status?.currentStep === 3, pass);
    sim.annotate("promote");
    sim.reconcile(); // the timed pause ends: the final stage, waiting for the checks at full size
    converge(sim);
    expect(sim.md.status?.currentStep).to.equal(4);
    expect(sim.md.status?.stableVersion).to.equal("1.0.0");
    expect(split(sim)).to.equal("0/10");

    scaleTo(sim, 15);
    sim.reconcile();
    expect(split(sim)).to.equal("5/15"); // the stable covers the 5 the candidate does not have yet
    converge(sim);
    expect(split(sim)).to.equal("0/15");
    expect(sim.md.status?.stableVersion).to.equal("1.0.0");
    expectQuiet(sim);

    sim.advance(1000);
    sim.reconcile(pass);
    expect(sim.md.status?.stableVersion).to.equal("2.0.0");
    expect(split(sim)).to.equal("0/15");
  });

  it("after promotion: only the new stable version follows the total, the old one stays at 0", () => {
    const sim = canary();
    sim.setVersion("2.0.0");
    sim.runUntil(
      (s) => s.md.status?.stableVersion === "2.0.0" && s.md.status.rollout === undefined,
      (d, now) => {
        // Promote each pause as it comes; measure the checks.
        if (
          sim.md.status?.rollout &&
          sim.md.status.currentStep === 1 &&
          !sim.md.metadata?.annotations?.["mlops.dev/action"]
        )
          sim.annotate("promote");
        return pass(d, now);
      },
      60,
      30_000,
    );
    converge(sim);
    expect(split(sim)).to.equal("0/10");
    scaleTo(sim, 25);
    converge(sim);
    expect(split(sim)).to.equal("0/25");
    expect(sim.md.status?.replicas).to.equal(25);
    expectQuiet(sim);
  });
});

describe("plan: autoscaling during a blue/green rollout", () => {
  const blueGreen = (previewReplicas?: number) =>
    stableSim({
      replicas: 4,
      strategy: {
        blueGreen: {
          scaleDownDelaySeconds: 60,
          ...(previewReplicas !== undefined ? { previewReplicas } : {}),
        },
      },
    });

  it("preview up, previewReplicas unset: the preview is the full size and follows the total with the stable", () => {
    const sim = blueGreen();
    sim.setVersion("2.0.0");
    converge(sim);
    expect(split(sim)).to.equal("4/4");
    expect(sim.md.status?.rollout?.availableAt).to.be.a("string");

    scaleTo(sim, 7);
    converge(sim);
    expect(split(sim)).to.equal("7/7");
    // The clients' Service sees only the stable version: the preview's pods do not count.
    expect(sim.md.status?.replicas).to.equal(7);
    expect(sim.md.status?.candidateWeight).to.equal(0);
    expectQuiet(sim);

    scaleTo(sim, 2);
    converge(sim);
    expect(split(sim)).to.equal("2/2");
    expect(sim.md.status?.rollout?.switchedAt).to.equal(undefined); // still waiting for promote
    expectQuiet(sim);
  });

  it("preview up, previewReplicas set: the preview keeps its size, never above the total", () => {
    const sim = blueGreen(2);
    sim.setVersion("2.0.0");
    converge(sim);
    expect(split(sim)).to.equal("4/2");
    scaleTo(sim, 8);
    converge(sim);
    expect(split(sim)).to.equal("8/2");
    scaleTo(sim, 1);
    converge(sim);
    expect(split(sim)).to.equal("1/1");
    expectQuiet(sim);
  });

  it("after promote, before the switch: the scale-up aims at the new total and the switch waits for it", () => {
    const sim = blueGreen(1);
    sim.setVersion("2.0.0");
    converge(sim);
    sim.annotate("promote");
    sim.reconcile();
    expect(sim.md.status?.currentStep).to.equal(1);
    expect(split(sim)).to.equal("4/4");

    scaleTo(sim, 6);
    sim.reconcile();
    expect(split(sim)).to.equal("6/6");
    expect(sim.md.status?.rollout?.switchedAt).to.equal(undefined);
    sim.partly("2.0.0", 4).settle("1.0.0");
    sim.reconcile();
    expect(sim.md.status?.rollout?.switchedAt, "switched at 4 of 6").to.equal(undefined);
    sim.settle();
    sim.reconcile();
    expect(sim.md.status?.rollout?.switchedAt).to.be.a("string");
    expect(sim.clientsSelector()?.["mlops.dev/version"]).to.equal("2.0.0");
  });

  it("after the switch, during scaleDownDelay: the new stable follows the total, the old one never above it", () => {
    const sim = blueGreen();
    sim.setVersion("2.0.0");
    converge(sim);
    sim.annotate("promote");
    converge(sim);
    expect(sim.md.status?.stableVersion).to.equal("2.0.0");
    expect(sim.md.status?.scaleDown?.[0]?.version).to.equal("1.0.0");
    expect(split(sim)).to.equal("4/4");

    scaleTo(sim, 8);
    converge(sim);
    // The old version serves nothing: it keeps what it had for a fast rollback, no more.
    expect(split(sim)).to.equal("4/8");
    expect(sim.md.status?.replicas).to.equal(8);
    expectQuiet(sim);

    scaleTo(sim, 2);
    converge(sim);
    // Kept for a rollback to spec.replicas: never more than that.
    expect(split(sim)).to.equal("2/2");
    expectQuiet(sim);

    scaleTo(sim, 5);
    converge(sim);
    expect(split(sim)).to.equal("2/5");
    expect(sim.md.status?.scaleDown?.[0]?.version).to.equal("1.0.0");

    sim.advance(60_000);
    converge(sim);
    expect(split(sim)).to.equal("0/5");
    expect(sim.md.status?.scaleDown).to.equal(undefined);
    expectQuiet(sim);
  });
});

describe("plan: autoscaling during a canary through a route", () => {
  const traffic: ModelDeploymentSpec["traffic"] = {
    gatewayAPI: { httpRoute: { parentRefs: [{ name: "inference-gateway", namespace: "gateways" }] } },
  };
  const pass = measured("Successful");

  /** 10 replicas of 1.0.0 behind an accepted route, then 2.0.0 at its 20% step. */
  function routedCanary(): Sim {
    const sim = new Sim(
      makeMd({
        replicas: 10,
        traffic,
        healthChecks: { checks: [promCheck()] },
        strategy: { canary: { steps: [{ setWeight: 20 }, { pause: {} }] } },
      }),
      T0,
    );
    sim.routeApi = true;
    sim.reconcile();
    sim.settle();
    sim.parentsSay("True");
    converge(sim);
    sim.setVersion("2.0.0");
    for (let i = 0; i < 6; i++) {
      sim.advance(1000);
      sim.reconcile(pass);
      sim.settle();
    }
    return sim;
  }

  /** The route's weights, as "stable/candidate". */
  const weights = (sim: Sim) => {
    const refs =
      sim.routes.get("fraud-detector")?.spec?.rules?.find((r) => r.name === "split")?.backendRefs ?? [];
    const w = (v: string) => refs.find((b) => b.name === `fraud-detector-${v}`)?.weight ?? 0;
    return `${w("1-0-0")}/${w("2-0-0")}`;
  };

  it("the route keeps its weights; the candidate is sized to its share of each new total", () => {
    const sim = routedCanary();
    expect(sim.md.status?.currentStep).to.equal(1);
    expect(weights(sim)).to.equal("80/20");
    expect(sim.replicas("2.0.0")).to.equal(2);
    const routeWrites = () => sim.routeWrites;

    const before = routeWrites();
    scaleTo(sim, 20);
    converge(sim, 4, pass);
    expect(weights(sim)).to.equal("80/20");
    expect(sim.replicas("2.0.0")).to.equal(4); // ceil(20 × 20%)
    // The default maxSurge (100%) keeps the stable version at the whole total until promotion.
    expect(sim.replicas("1.0.0")).to.equal(20);
    expect(routeWrites(), "route writes for a scale change").to.equal(before);
    expectQuiet(sim);

    scaleTo(sim, 5);
    converge(sim, 4, pass);
    expect(weights(sim)).to.equal("80/20");
    expect(sim.replicas("2.0.0")).to.equal(1); // ceil(5 × 20%)
    expect(sim.replicas("1.0.0")).to.equal(5);
    expect(routeWrites()).to.equal(before);
    expectQuiet(sim);
  });
});
