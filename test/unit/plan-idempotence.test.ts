// Property: whatever happened before, a plan's status fed back with the world unchanged is a
// fixed point: the same status, no Events, the same children ("zero writes at rest").
import { expect } from "chai";
import fc from "fast-check";
import { ACTIONS } from "../../src/api/constants.ts";
import { plan, planChecks } from "../../src/plan/index.ts";
import { makeMd, measured, promCheck, Sim } from "./plan-fixtures.ts";

type Cmd =
  | { t: "settle" }
  | { t: "partly"; n: number }
  | { t: "advance"; ms: number }
  | { t: "version"; v: string }
  | { t: "template" }
  | { t: "action"; a: string }
  | { t: "paused"; on: boolean }
  | { t: "replicas"; n: number }
  | { t: "reconcile"; m: "Successful" | "Failed" | "none" }
  | { t: "tick"; m: "Successful" | "Failed" | "none"; ms: number };

const cmd: fc.Arbitrary<Cmd> = fc.oneof(
  { arbitrary: fc.constant<Cmd>({ t: "settle" }), weight: 4 },
  { arbitrary: fc.integer({ min: 0, max: 4 }).map<Cmd>((n) => ({ t: "partly", n })), weight: 1 },
  { arbitrary: fc.integer({ min: 0, max: 120_000 }).map<Cmd>((ms) => ({ t: "advance", ms })), weight: 3 },
  { arbitrary: fc.constantFrom("1.0.0", "2.0.0", "3.0.0").map<Cmd>((v) => ({ t: "version", v })), weight: 1 },
  { arbitrary: fc.constant<Cmd>({ t: "template" }), weight: 1 },
  { arbitrary: fc.constantFrom(...ACTIONS, "bogus").map<Cmd>((a) => ({ t: "action", a })), weight: 1 },
  { arbitrary: fc.boolean().map<Cmd>((on) => ({ t: "paused", on })), weight: 1 },
  { arbitrary: fc.constantFrom(0, 1, 3, 4).map<Cmd>((n) => ({ t: "replicas", n })), weight: 1 },
  {
    arbitrary: fc
      .constantFrom("Successful", "Failed", "none")
      .map<Cmd>((m) => ({ t: "reconcile", m }) as Cmd),
    weight: 4,
  },
  {
    // A reconcile, then the Deployment controller catches up and time passes.
    arbitrary: fc
      .record({
        m: fc.constantFrom("Successful", "Successful", "Failed", "none"),
        ms: fc.integer({ min: 1000, max: 15_000 }),
      })
      .map<Cmd>(({ m, ms }) => ({ t: "tick", m, ms }) as Cmd),
    weight: 12,
  },
);

/** A rollout of 2.0.0 left to run for a while, then anything. */
const scenario = fc
  .tuple(fc.integer({ min: 0, max: 14 }), fc.array(cmd, { maxLength: 50 }))
  .map(([ticks, rest]) => [
    { t: "version", v: "2.0.0" } as Cmd,
    ...Array.from({ length: ticks }, () => ({ t: "tick", m: "Successful", ms: 6000 }) as Cmd),
    ...rest,
  ]);

function deepFreeze<T>(value: T): T {
  if (value && typeof value === "object" && !(value instanceof Date) && !Object.isFrozen(value)) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

function run(blueGreen: boolean, cmds: Cmd[]): void {
  const md = makeMd({
    replicas: 4,
    healthChecks: { failureThreshold: 2, checks: [promCheck()] },
    progressDeadlineSeconds: 60,
    revisionHistoryLimit: 1,
    strategy: blueGreen
      ? { blueGreen: { previewReplicas: 1, autoPromotionSeconds: 20, scaleDownDelaySeconds: 30 } }
      : {
          canary: {
            steps: [{ setWeight: 25 }, { pause: { duration: "30s" } }, { setWeight: 50 }, { pause: {} }],
          },
        },
  });
  const sim = new Sim(md);
  sim.reconcile();
  sim.settle();
  sim.reconcile();
  let image = 0;
  for (const c of cmds) {
    switch (c.t) {
      case "settle":
        sim.settle();
        break;
      case "partly": {
        const v = sim.md.status?.candidateVersion ?? sim.md.spec.model.version;
        sim.partly(v, Math.min(c.n, sim.replicas(v) ?? 0));
        break;
      }
      case "advance":
        sim.advance(c.ms);
        break;
      case "version":
        sim.setVersion(c.v);
        break;
      case "template":
        sim.edit((s) => (s.template.spec!.containers[0]!.image = `registry.example/fraud:patch-${++image}`));
        break;
      case "action":
        sim.annotate(c.a);
        break;
      case "paused":
        sim.edit((s) => (s.paused = c.on));
        break;
      case "replicas":
        sim.edit((s) => (s.replicas = c.n));
        break;
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
    }
  }
}

describe("plan: fixed point (property)", () => {
  it("canary: feeding a plan's status back changes nothing", function () {
    this.timeout(60_000);
    fc.assert(
      fc.property(scenario, (cmds) => run(false, cmds)),
      { numRuns: 60 },
    );
  });

  it("blue/green: feeding a plan's status back changes nothing", function () {
    this.timeout(60_000);
    fc.assert(
      fc.property(scenario, (cmds) => run(true, cmds)),
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
