// Property: whatever happened before, a plan's status fed back with the world unchanged is a
// fixed point: the same status, no Events, the same children ("zero writes at rest").
import { expect } from "chai";
import fc from "fast-check";
import { plan, planChecks } from "../../src/plan/index.ts";
import {
  applyWorldCmd,
  makeMd,
  measured,
  propertyMd,
  rolloutScenario,
  Sim,
  type SimCmd,
} from "./plan-fixtures.ts";

function deepFreeze<T>(value: T): T {
  if (value && typeof value === "object" && !(value instanceof Date) && !Object.isFrozen(value)) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

function run(blueGreen: boolean, cmds: SimCmd[]): void {
  const sim = new Sim(propertyMd(blueGreen));
  sim.reconcile();
  sim.settle();
  sim.reconcile();
  for (const c of cmds) {
    switch (c.t) {
      case "tick":
      case "reconcile": {
        const observed = sim.observed();
        const due = planChecks(sim.md, observed, sim.now);
        const measurements = c.m === "none" ? [] : measured(c.m)(due, sim.now);
        // The reconciler's caches are deep-frozen: the planner must not change what it is given.
        const input = deepFreeze({
          md: JSON.parse(JSON.stringify(sim.md)) as typeof sim.md,
          observed,
          measurements,
          now: sim.now,
        });
        const first = plan(input);
        const again = plan({ ...input, md: { ...sim.md, status: first.status }, measurements: [] });
        expect(again.status, "status is a fixed point").to.deep.equal(first.status);
        expect(again.events, "no Events when nothing happens").to.deep.equal([]);
        expect(again.apply, "the same children").to.deep.equal(first.apply);
        expect(again.delete).to.deep.equal(first.delete);
        expect(again.requeueAfterMs).to.equal(first.requeueAfterMs);
        expect(plan(input), "deterministic").to.deep.equal(first);
        sim.write(first);
        if (c.t === "tick") sim.settle().advance(c.ms);
        break;
      }
      default:
        applyWorldCmd(sim, c);
    }
  }
}

describe("plan: fixed point (property)", () => {
  it("canary: feeding a plan's status back changes nothing", function () {
    this.timeout(60_000);
    fc.assert(
      fc.property(rolloutScenario, (cmds) => run(false, cmds)),
      { numRuns: 60 },
    );
  });

  it("blue/green: feeding a plan's status back changes nothing", function () {
    this.timeout(60_000);
    fc.assert(
      fc.property(rolloutScenario, (cmds) => run(true, cmds)),
      { numRuns: 60 },
    );
  });

  it("a settled world at rest makes no writes and no Events", () => {
    const sim = new Sim(makeMd({ replicas: 3, strategy: { canary: { steps: [{ setWeight: 50 }] } } }));
    sim.setVersion("1.0.0");
    sim.runUntil((s) => s.md.status?.phase === "Healthy");
    sim.setVersion("2.0.0");
    sim.runUntil((s) => s.md.status?.phase === "Healthy" && s.md.status.stableVersion === "2.0.0");
    sim.settle();
    sim.reconcile();
    const writes = sim.writes;
    const status = JSON.stringify(sim.md.status);
    for (let i = 0; i < 3; i++) {
      sim.advance(3_600_000);
      const p = sim.reconcile();
      expect(p.events).to.deep.equal([]);
      expect(p.requeueAfterMs).to.equal(undefined);
    }
    expect(sim.writes).to.equal(writes);
    expect(JSON.stringify(sim.md.status)).to.equal(status);
  });
});
