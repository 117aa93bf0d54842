// Properties: the rollout invariants hold after every reconcile of a random history (spec
// versions and templates, scale changes, pods ready and unready, Deployments becoming
// Available, measurements Successful/Failed/Error, time, actions). Each plan's status and
// children are fed back into the simulated cluster before the next event. The expected
// values are computed here from the spec and the simulated world, not with the planner's
// own arithmetic, so a planner that breaks them fails.
import { expect } from "chai";
import fc from "fast-check";
import type { KubernetesObject, V1Deployment, V1Service } from "@kubernetes/client-node";
import type {
  CanaryStep,
  ModelDeployment,
  ModelDeploymentSpec,
  ModelDeploymentStatus,
} from "../../src/api/types.ts";
import { Reasons } from "../../src/api/reasons.ts";
import type { Measurement, Observed, Plan } from "../../src/plan/index.ts";
import {
  applyWorldCmd,
  deploymentKey,
  LABEL_VERSION,
  measured,
  type Outcome,
  propertyMd,
  rolloutScenarioOf,
  Sim,
  simCmd,
  type SimCmd,
  trackKey,
} from "./plan-fixtures.ts";

// ---- random specs ------------------------------------------------------------------------

const canaryStep: fc.Arbitrary<CanaryStep> = fc.oneof(
  { arbitrary: fc.integer({ min: 0, max: 100 }).map((setWeight) => ({ setWeight })), weight: 3 },
  { arbitrary: fc.constantFrom(10, 20, 25, 50, 75, 100).map((setWeight) => ({ setWeight })), weight: 3 },
  { arbitrary: fc.constantFrom("5s", "30s", "2m").map((duration) => ({ pause: { duration } })), weight: 4 },
  { arbitrary: fc.constant({ pause: {} }), weight: 1 },
);

const common = fc.record({
  replicas: fc.constantFrom(1, 2, 3, 4, 10),
  failureThreshold: fc.constantFrom(1, 2, 3, 3),
  progressDeadlineSeconds: fc.constantFrom(30, 60, 600),
});

const canarySpec: fc.Arbitrary<Partial<ModelDeploymentSpec>> = fc
  .tuple(common, fc.array(canaryStep, { minLength: 1, maxLength: 5 }))
  .map(([c, drawn]) => {
    // Weights never decrease from one step to the next (a spec that does is invalid).
    let max = 0;
    const steps = drawn.map((s) =>
      s.setWeight === undefined ? s : { setWeight: (max = Math.max(max, s.setWeight)) },
    );
    return { c, steps };
  })
  .map(({ c, steps }) => ({
    replicas: c.replicas,
    progressDeadlineSeconds: c.progressDeadlineSeconds,
    healthChecks: {
      failureThreshold: c.failureThreshold,
      checks: propertyMd(false).spec.healthChecks!.checks,
    },
    strategy: { canary: { steps } },
  }));

const blueGreenSpec: fc.Arbitrary<Partial<ModelDeploymentSpec>> = fc
  .tuple(
    common,
    fc.record(
      {
        previewReplicas: fc.integer({ min: 1, max: 10 }),
        autoPromotionSeconds: fc.constantFrom(0, 20),
        scaleDownDelaySeconds: fc.constantFrom(0, 30),
      },
      { requiredKeys: ["scaleDownDelaySeconds"] },
    ),
  )
  .map(([c, blueGreen]) => ({
    replicas: c.replicas,
    // previewReplicas may be above replicas (an autoscaler scaled below it): the preview is capped.
    progressDeadlineSeconds: c.progressDeadlineSeconds,
    healthChecks: {
      failureThreshold: c.failureThreshold,
      checks: propertyMd(true).spec.healthChecks!.checks,
    },
    strategy: {
      blueGreen,
    },
  }));

/**
 * The shared histories, with more reconciles whose checks fail and more pods going unready,
 * so that failures meet the end of a pause or a promotion and the clients' Service meets a
 * version that lost its pods; blue/green also changes the version more often, to meet the
 * moment between the switch and the promotion.
 */
function history(blueGreen: boolean): fc.Arbitrary<SimCmd[]> {
  const more = (cmd: fc.Arbitrary<SimCmd>, weight: number) => ({ arbitrary: cmd, weight });
  return rolloutScenarioOf(
    fc.oneof(
      more(simCmd, 8),
      more(
        fc
          .record({ m: fc.constantFrom("Failed", "Error"), ms: fc.integer({ min: 1000, max: 15_000 }) })
          .map<SimCmd>(({ m, ms }) => ({ t: "tick", m, ms }) as SimCmd),
        1,
      ),
      more(fc.constantFrom<SimCmd>({ t: "partly", n: 0 }, { t: "partly", n: 0, of: "stable" }), 1),
      ...(blueGreen
        ? [more(fc.constantFrom<SimCmd>({ t: "version", v: "1.0.0" }, { t: "version", v: "3.0.0" }), 1)]
        : []),
    ),
  );
}

// ---- reading plans and the simulated world --------------------------------------------------

// Versions are told apart by track: version@revision (a new pod template of the stable
// version rolls out beside it, like a new version).

function plannedDeployment(p: Plan, key: string): V1Deployment | undefined {
  return p.apply.find((o) => o.kind === "Deployment" && deploymentKey(o) === key) as V1Deployment | undefined;
}

/** The replicas a plan gives track `key` (undefined: it applies no Deployment of it). */
function plannedReplicas(p: Plan, key: string): number | undefined {
  return plannedDeployment(p, key)?.spec?.replicas;
}

/** The track the clients' Service NAME selects among `objects` (blue/green selects one). */
function selectedVersion(objects: readonly KubernetesObject[], name: string): string | undefined {
  const svc = objects.find((o) => o.kind === "Service" && o.metadata?.name === name) as V1Service | undefined;
  const sel = svc?.spec?.selector;
  return trackKey(sel?.[LABEL_VERSION], sel?.["mlops.dev/revision"]);
}

function observedDeployment(observed: Observed, key: string): V1Deployment | undefined {
  return observed.deployments.find((d) => deploymentKey(d) === key);
}

const readyOf = (observed: Observed, key: string) =>
  observedDeployment(observed, key)?.status?.readyReplicas ?? 0;

/** Ready pods behind the clients' Service per track, counted from the simulated Deployments. */
function readyBehindClients(observed: Observed, name: string): Map<string, number> {
  const out = new Map<string, number>();
  const selector = observed.services.find((svc) => svc.metadata?.name === name)?.spec?.selector;
  if (!selector) return out;
  for (const d of observed.deployments) {
    const labels = d.spec?.template?.metadata?.labels ?? {};
    if (!Object.entries(selector).every(([k, v]) => labels[k] === v)) continue;
    const v = deploymentKey(d);
    const n = d.status?.readyReplicas ?? 0;
    if (v !== undefined && n > 0) out.set(v, (out.get(v) ?? 0) + n);
  }
  return out;
}

/** The weight a canary step stands for: the last setWeight at or before it, 100 past the last step. */
function stepWeight(steps: readonly CanaryStep[], index: number): number {
  if (index >= steps.length) return 100;
  let w = 0;
  for (const step of steps.slice(0, index + 1)) if (step.setWeight !== undefined) w = step.setWeight;
  return w;
}

/** The share of traffic the planner means track `key` to have, by its status. */
function intendedWeight(md: ModelDeployment, status: ModelDeploymentStatus, key: string): number {
  if (trackKey(status.stableVersion, status.stableRevision) === key) return 100;
  const r = status.rollout;
  if (r === undefined || trackKey(r.version, r.revision) !== key) return 0;
  if (status.strategy === "BlueGreen") return r.switchedAt !== undefined ? 100 : 0;
  return stepWeight(md.spec.strategy?.canary?.steps ?? [], status.currentStep ?? 0);
}

// ---- one history ---------------------------------------------------------------------------

interface History {
  sim: Sim;
  /** The plan of the previous reconcile. */
  prev?: Plan;
  /** The spec or the action annotation changed since the previous reconcile. */
  touched: boolean;
  /** The clients' Service has had ready endpoints at some point. */
  everServing: boolean;
}

/** A plan for an invalid spec changes no child (it keeps them as they are). */
const invalid = (p: Plan) =>
  p.status.conditions?.some((c) => c.type === "Stalled" && c.reason === Reasons.InvalidSpec) === true;

interface StepFacts {
  md: ModelDeployment;
  observed: Observed;
  measurements: Measurement[];
  p: Plan;
}

function reconcile(h: History, m: Outcome | "none"): void {
  const md = h.sim.md; // its spec does not change during a reconcile
  const observed = h.sim.observed();
  let measurements: Measurement[] = [];
  const p = h.sim.reconcile((due, now) => (measurements = m === "none" ? [] : measured(m)(due, now)));
  const facts = { md, observed, measurements, p };
  checkTraffic(facts);
  checkNeverTouched(facts);
  if (invalid(p)) {
    expect(p.apply, "an invalid spec changes no child").to.deep.equal([]);
    expect(p.delete, "an invalid spec changes no child").to.deep.equal([]);
  } else {
    checkClientsSelector(h, facts);
    checkFailedMeasurement(h, facts);
    checkStableShare(facts);
  }
  h.prev = p;
  h.touched = false;
}

/** (1) status.traffic sums to 100 when anything is ready, 0 otherwise, each 0..100; (2a) measured. */
function checkTraffic({ md, observed, p }: StepFacts): void {
  const traffic = p.status.traffic ?? [];
  const expected = readyBehindClients(observed, md.metadata!.name!);
  const ready = [...expected.values()].reduce((a, b) => a + b, 0);
  for (const t of traffic) {
    const key = trackKey(t.version, t.revision) ?? "";
    expect(Number.isInteger(t.weight), `weight of ${key}: ${t.weight}`).to.equal(true);
    expect(t.weight, `weight of ${key}`).to.be.within(0, 100);
    expect(t.readyEndpoints, `ready endpoints of ${key}`).to.equal(expected.get(key) ?? 0);
    if (t.weight > 0) expect(t.readyEndpoints, `${t.version} has weight ${t.weight}`).to.be.greaterThan(0);
    if (ready > 0)
      expect(
        Math.abs(t.weight - (100 * (t.readyEndpoints ?? 0)) / ready),
        `${t.version}: weight ${t.weight} for ${t.readyEndpoints} of ${ready} ready endpoints`,
      ).to.be.below(1);
  }
  for (const v of expected.keys())
    expect(
      traffic.map((t) => trackKey(t.version, t.revision)),
      `${v} has ready endpoints`,
    ).to.include(v);
  const sum = traffic.reduce((a, t) => a + t.weight, 0);
  expect(sum, `weights ${JSON.stringify(traffic)}`).to.equal(ready > 0 ? 100 : 0);
}

/**
 * (2b) Blue/green: the planner never takes the clients from a version with ready pods to one
 * that is not ready at spec.replicas, and once the clients have been served it never scales
 * the version they are on to zero.
 */
function checkClientsSelector(h: History, { md, observed, p }: StepFacts): void {
  if (p.status.strategy !== "BlueGreen") return;
  const name = md.metadata!.name!;
  const total = md.spec.replicas ?? 1;
  const before = selectedVersion(observed.services, name);
  const serving = before !== undefined && readyOf(observed, before) > 0;
  if (serving) h.everServing = true;
  const after = selectedVersion(p.apply, name);
  // Scaled to zero by the user: nothing can be ready.
  if (after === undefined || total === 0) return;
  if (serving && after !== before) {
    const ready = readyOf(observed, after);
    expect(ready, `ready pods of ${after}: the clients' Service moves to it from ${before}`).to.be.at.least(
      total,
    );
  }
  if (h.everServing) {
    const replicas = plannedReplicas(p, after) ?? 0;
    expect(replicas, `replicas of ${after}, which the clients' Service selects`).to.be.greaterThan(0);
  }
}

/**
 * (3) A Failed/Error measurement never gives the candidate more replicas or a larger weight
 * than the previous plan did, in the reconcile that measured it nor later while it is the
 * check's last measurement (unless a promote action said not to wait for checks).
 */
function checkFailedMeasurement(h: History, { md, measurements, p }: StepFacts): void {
  const prev = h.prev;
  if (!prev || invalid(prev) || h.touched) return;
  const r = prev.status.rollout;
  if (!r || r.promote !== undefined) return;
  const failedNow = measurements.filter((m) => m.phase !== "Successful");
  const failing = (p.status.checks ?? []).filter((c) => c.phase === "Failed" || c.phase === "Error");
  if (failedNow.length === 0 && failing.length === 0) return;
  const why = `after ${JSON.stringify(failedNow.length ? failedNow : failing)}`;
  const key = trackKey(r.version, r.revision) ?? "";
  const before = plannedReplicas(prev, key) ?? 0;
  expect(plannedReplicas(p, key) ?? 0, `${key}'s replicas ${why}`).to.be.at.most(before);
  expect(intendedWeight(md, p.status, key), `${key}'s weight ${why}`).to.be.at.most(
    intendedWeight(md, prev.status, key),
  );
}

/**
 * (4) Canary under way: the stable version keeps at least its share of the current step,
 * ceil(R*(100-w)/100), and at least what the candidate's available replicas do not yet cover;
 * where it has fewer pods than that, it grows into all the room that maxSurge leaves beside
 * the pods the other versions have or are given (the random specs set no maxSurge: the
 * default, 100%, allows 2R pods in all).
 */
function checkStableShare({ md, observed, p }: StepFacts): void {
  const s = p.status;
  const r = s.rollout;
  if (s.strategy !== "Canary" || !r || s.stableVersion === undefined) return;
  const total = md.spec.replicas ?? 1;
  const w = stepWeight(md.spec.strategy?.canary?.steps ?? [], s.currentStep ?? 0);
  const stableKey = trackKey(s.stableVersion, s.stableRevision) ?? "";
  const candidateKey = trackKey(r.version, r.revision) ?? "";
  const stable = plannedReplicas(p, stableKey);
  const where = `step ${s.currentStep}, weight ${w}, replicas ${total}`;
  expect(stable, `${s.stableVersion}'s Deployment at ${where}`).to.not.equal(undefined);
  const otherPods = observed.deployments
    .filter((d) => deploymentKey(d) !== stableKey)
    .reduce((sum, d) => {
      const planned = plannedReplicas(p, deploymentKey(d) ?? "") ?? 0;
      return sum + Math.max(d.spec?.replicas ?? 0, d.status?.replicas ?? 0, planned);
    }, 0);
  const had = observedDeployment(observed, stableKey)?.spec?.replicas ?? 0;
  const reachable = (want: number) => Math.min(want, Math.max(had, 2 * total - otherPods));
  expect(stable, `${s.stableVersion}'s replicas at ${where}`).to.be.at.least(
    reachable(Math.ceil((total * (100 - w)) / 100)),
  );
  const candidateUp = Math.min(
    observedDeployment(observed, candidateKey)?.status?.availableReplicas ?? 0,
    plannedReplicas(p, candidateKey) ?? 0,
  );
  expect(
    stable,
    `${s.stableVersion}'s replicas at ${where}, ${candidateUp} candidate(s) available`,
  ).to.be.at.least(reachable(total - candidateUp));
}

/** (5) The ModelDeployment is never applied; the stable version, the candidate and what serves are never deleted. */
function checkNeverTouched({ md, observed, p }: StepFacts): void {
  for (const o of p.apply)
    expect(o.kind, `applies ${o.kind} ${o.metadata?.name}`).to.be.oneOf(["Deployment", "Service"]);
  const kept = new Set<string>();
  const r = p.status.rollout;
  for (const v of [
    trackKey(p.status.stableVersion, p.status.stableRevision),
    r && trackKey(r.version, r.revision),
  ]) {
    if (v === undefined) continue;
    const d = observedDeployment(observed, v);
    if (d?.metadata?.name) kept.add(d.metadata.name);
  }
  for (const o of p.apply) if (o.kind === "Deployment" && o.metadata?.name) kept.add(o.metadata.name);
  kept.add(md.metadata!.name!);
  for (const ref of p.delete) expect(kept.has(ref.name), `deletes ${ref.kind} ${ref.name}`).to.equal(false);
}

function run(spec: Partial<ModelDeploymentSpec>, blueGreen: boolean, cmds: SimCmd[]): void {
  const h: History = { sim: new Sim(propertyMd(blueGreen, spec)), touched: false, everServing: false };
  reconcile(h, "none");
  h.sim.settle();
  reconcile(h, "none");
  for (const c of cmds) {
    if (c.t === "reconcile" || c.t === "tick") {
      reconcile(h, c.m);
      if (c.t === "tick") h.sim.settle().advance(c.ms);
    } else {
      const before = JSON.stringify([h.sim.md.spec, h.sim.md.metadata?.annotations]);
      applyWorldCmd(h.sim, c);
      if (JSON.stringify([h.sim.md.spec, h.sim.md.metadata?.annotations]) !== before) h.touched = true;
    }
  }
}

describe("plan: rollout invariants (property)", () => {
  it("canary: traffic, the stable version's share, failed checks, children", function () {
    this.timeout(60_000);
    fc.assert(
      fc.property(canarySpec, history(false), (spec, cmds) => run(spec, false, cmds)),
      { numRuns: 300 },
    );
  });

  it("blue/green: traffic, the clients' selector, failed checks, children", function () {
    this.timeout(60_000);
    fc.assert(
      fc.property(blueGreenSpec, history(true), (spec, cmds) => run(spec, true, cmds)),
      { numRuns: 250 },
    );
  });
});
