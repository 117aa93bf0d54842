// Adopting an existing Deployment (spec.workloadRef). PURE, like the rest of the planner.
//
// The operator does not take the existing Deployment over: its selector is immutable and its
// pods carry none of the operator's labels, so taking it over would mean new pods anyway
// (a restart). It brings up its own Deployment of spec.model.version beside it instead, and
// changes nothing of the existing one but its replica count (through the scale subresource).
//
// Before promotion the clients' Service selects by the existing Deployment's selector labels,
// which the new pods carry too (adoption-refusal.ts insists on it): the clients reach the old
// pods and, as they become ready, the new ones, split by ready pods, so there is no moment
// without a ready endpoint. The new version is gated like a rollout: it must be Available at
// spec.replicas within progressDeadlineSeconds and pass every check. Then it is promoted, the
// clients' Service selects the new version alone (its pods are ready already), and only once
// that is observed, with a ready endpoint behind it, does the existing Deployment scale down
// (scaleDown: never, onsuccess, progressively). A failed check or an abort restores the
// existing Deployment's recorded replica count and keeps the new pods until it is Available
// again. status.adoption is the memory of all this: a restarted operator carries on from it.
import type { KubernetesObject, V1Deployment } from "@kubernetes/client-node";
import { CONDITION_STALLED } from "../api/constants.ts";
import { Reasons, type Reason } from "../api/reasons.ts";
import type { AdoptionStatus, ModelDeploymentStatus, TrafficWeight } from "../api/types.ts";
import { actOn, settleAction, type Outcome } from "./actions.ts";
import { adoptedSelector, adoptionProblem } from "./adoption-refusal.ts";
import { checksPassedSince, failedCheck, mergeMeasurements } from "./check-results.ts";
import { timeMs } from "./checks.ts";
import {
  computeClientsService,
  computeRetainedDeployment,
  computeVersionDeployment,
  computeVersionService,
} from "./children.ts";
import { findCondition } from "./conditions.ts";
import {
  isHeld,
  readyTime,
  recordEvent,
  recordHistory,
  type PlanContext,
  type StatusDraft,
} from "./context.ts";
import { beginStep, clearRollout, recordRollBack } from "./lifecycle.ts";
import { isAvailableAt } from "./lookups.ts";
import { checkFailed } from "./messages.ts";
import { podNameTest, previewServiceName } from "./naming.ts";
import { requeueAfterMs } from "./requeue.ts";
import { deploymentOfPod } from "./routers/service.ts";
import { checksOf, progressDeadlineMsOf } from "./spec.ts";
import { writeStanding } from "./status.ts";
import { trafficOf } from "./tracks.ts";
import type { ChildRef, DeploymentScale, Plan } from "./types.ts";

/**
 * How often an adoption that is not complete comes back: the adopted Deployment is read by
 * name in each reconcile, not watched (the operator watches only its own objects).
 */
export const ADOPTION_POLL_MS = 2_000;
/** How often a refused adoption looks again (the Deployment may appear, its owner go). */
export const ADOPTION_REFUSED_POLL_MS = 10_000;

export type ScaleDownMode = "never" | "onsuccess" | "progressively";

/** How the adopted Deployment appears in status.traffic: it is no version of the ModelDeployment. */
export function adoptedTrafficName(deployment: string): string {
  return `deployment/${deployment}`;
}

/**
 * The adoption before promotion decides this plan: the spec names a Deployment, nothing has
 * been promoted yet, and status.adoption holds no unfinished adoption of another Deployment
 * (that one is released first).
 */
export function isAdopting(ctx: PlanContext, status: ModelDeploymentStatus): boolean {
  const ref = ctx.md.spec.workloadRef;
  if (!ref || status.stableVersion !== undefined) return false;
  const a = status.adoption;
  return !a || a.deployment === ref.name || a.phase === "Completed";
}

/** The scale-down the adoption follows: the spec's while it names the Deployment, else the recorded one. */
function scaleDownModeOf(ctx: PlanContext, a: AdoptionStatus): ScaleDownMode {
  const ref = ctx.md.spec.workloadRef;
  if (ref && ref.name === a.deployment) return ref.scaleDown ?? "never";
  return a.scaleDown ?? "never";
}

const refuse = (message: string): Outcome => ({ ok: false, message });
const accept = (message: string): Outcome => ({ ok: true, message });

/** The actions of an adoption: promote-full, abort, retry, pause and resume apply. */
function actOnAdoption(ctx: PlanContext, draft: StatusDraft, action: string): Outcome {
  const status = draft.status;
  const a = status.adoption;
  const rollout = status.rollout;
  const name = a?.deployment ?? "";
  switch (action) {
    case "promote-full":
      if (!rollout) return refuse(`the adoption of Deployment ${name} was rolled back: retry it first`);
      if (rollout.promote === "Full") return refuse("promote-full is already under way");
      rollout.promote = "Full";
      return accept(
        `version ${ctx.specVersion} is promoted over Deployment ${name} as soon as it is Available at ${ctx.replicas} replica(s), without waiting for its checks`,
      );
    case "abort":
      if (!rollout) return refuse(`the adoption of Deployment ${name} is not under way`);
      rollBackAdoption(ctx, draft, Reasons.Aborted, "aborted by the abort action", "Aborted");
      return accept(`the clients stay on Deployment ${name}, back at ${a?.originalReplicas} replica(s)`);
    case "retry":
      if (!status.aborted) return refuse("there is no rolled-back or aborted adoption to retry");
      delete status.aborted;
      return accept(`the adoption of Deployment ${name} starts again with version ${ctx.specVersion}`);
    case "pause":
    case "resume":
      return actOn(ctx, draft, action);
    default:
      return refuse(
        `an adoption of Deployment ${name} is under way; promote-full, abort, retry, pause and resume apply to it`,
      );
  }
}

/** The new version is rolled back: the clients stay on the adopted Deployment, restored. */
function rollBackAdoption(
  ctx: PlanContext,
  draft: StatusDraft,
  reason: Reason,
  message: string,
  outcome: "RolledBack" | "Aborted",
): void {
  const status = draft.status;
  const rollout = status.rollout;
  const a = status.adoption;
  if (!rollout || !a) return;
  recordRollBack(ctx, draft, rollout, reason, message, outcome);
  recordEvent(
    draft,
    "Warning",
    Reasons.RolledBack,
    `version ${rollout.version} rolled back (${reason}: ${message}); the clients stay on Deployment ${a.deployment}, restored to ${a.originalReplicas} replica(s)`,
  );
  clearRollout(status);
}

/** The rollout bookkeeping that the checks (planChecks) and their results follow. */
function startAdoptionRollout(ctx: PlanContext, draft: StatusDraft): void {
  const status = draft.status;
  status.rollout = { version: ctx.specVersion, revision: ctx.revision, startedAt: ctx.nowIso };
  beginStep(ctx, draft, status.rollout, 0);
  status.candidateVersion = ctx.specVersion;
  status.candidateRevision = ctx.revision;
  status.checks = checksOf(ctx.md).map((c) => ({ name: c.name, phase: "Pending" as const }));
}

/** The new version replaces the adopted Deployment as the stable version. */
function promoteAdoption(ctx: PlanContext, draft: StatusDraft, a: AdoptionStatus): void {
  const status = draft.status;
  const why =
    status.rollout?.promote === "Full"
      ? "promoted with promote-full"
      : `Available at ${ctx.replicas} replica(s), every check passed`;
  status.stableVersion = ctx.specVersion;
  status.stableRevision = ctx.revision;
  recordHistory(ctx, draft, {
    version: ctx.specVersion,
    revision: ctx.revision,
    outcome: "Promoted",
    message: `adopted from Deployment ${a.deployment}: ${why}`,
  });
  const then =
    scaleDownModeOf(ctx, a) === "never"
      ? `Deployment ${a.deployment} keeps its replicas (scaleDown: never)`
      : `Deployment ${a.deployment} scales to 0 once the clients' Service selects ${ctx.specVersion} alone`;
  recordEvent(
    draft,
    "Normal",
    Reasons.Promoted,
    `version ${ctx.specVersion} promoted over Deployment ${a.deployment} (${why}); ${then}`,
  );
  clearRollout(status);
  a.phase = "Promoted";
  a.promotedAt = ctx.nowIso;
}

export type AdoptionStep = { kind: "refused"; problem: string } | { kind: "adopting" } | { kind: "promoted" };

/**
 * Moves the adoption on (isAdopting is true): refused on bad input; else recorded (the
 * Deployment's replicas before anything is scaled), the checks merged, rolled back on a
 * failed check or the progress deadline, promoted once Available with every check passed.
 */
export function advanceAdoption(ctx: PlanContext, draft: StatusDraft): AdoptionStep {
  const status = draft.status;
  const ref = ctx.md.spec.workloadRef;
  const old = ctx.input.observed.workloadRef?.deployment;
  const problem = adoptionProblem(ctx);
  if (!ref || !old || problem !== undefined) {
    const why = problem ?? "the Deployment named by workloadRef was not looked at";
    settleAction(draft, ctx.md, () => refuse(`the adoption is refused: ${why}`));
    return { kind: "refused", problem: why };
  }
  let a = status.adoption;
  if (!a || a.deployment !== ref.name) {
    a = {
      deployment: ref.name,
      originalReplicas: old.spec?.replicas ?? 1,
      phase: "Progressing",
      startedAt: ctx.nowIso,
    };
    status.adoption = a;
    recordEvent(
      draft,
      "Normal",
      Reasons.AdoptionStarted,
      `adopting Deployment ${ref.name} (${a.originalReplicas} replica(s)): version ${ctx.specVersion} comes up beside it at ${ctx.replicas} replica(s), and the clients' Service selects both`,
    );
  } else if (a.phase === "Released") a.phase = "Progressing";
  a.scaleDown = ref.scaleDown ?? "never";
  const adoption = a;
  settleAction(draft, ctx.md, (action) => actOnAdoption(ctx, draft, action));
  if (!status.aborted && !status.rollout) startAdoptionRollout(ctx, draft);
  const rollout = status.rollout;
  if (rollout) {
    mergeMeasurements(ctx, status);
    const failed = rollout.promote === "Full" ? undefined : failedCheck(ctx, status);
    if (failed) {
      const texts = checkFailed(failed.result, failed.threshold);
      recordEvent(draft, "Warning", Reasons.CheckFailed, texts.event);
      rollBackAdoption(ctx, draft, Reasons.HealthCheckFailed, texts.rollback, "RolledBack");
    } else {
      const available = isAvailableAt(ctx.specDeployment, ctx.replicas, ctx.revision);
      if (available && rollout.stepReadyAt === undefined) rollout.stepReadyAt = readyTime(ctx, draft);
      const held = isHeld(ctx, status);
      if (
        available &&
        !held &&
        (rollout.promote === "Full" || checksPassedSince(ctx, status, rollout.stepReadyAt))
      ) {
        promoteAdoption(ctx, draft, adoption);
        return { kind: "promoted" };
      }
      const since = timeMs(rollout.stepStartedAt ?? rollout.startedAt);
      if (!available && !held && ctx.nowMs >= since + progressDeadlineMsOf(ctx.md)) {
        rollBackAdoption(
          ctx,
          draft,
          Reasons.ProgressDeadlineExceeded,
          `version ${ctx.specVersion} was not Available at ${ctx.replicas} replica(s) within progressDeadlineSeconds`,
          "RolledBack",
        );
      }
    }
  }
  adoption.phase = status.aborted ? "RolledBack" : "Progressing";
  return { kind: "adopting" };
}

/** The adopted Deployment's replicas under scaleDown: progressively before promotion. */
function progressiveReplicas(ctx: PlanContext, a: AdoptionStatus): number {
  const original = a.originalReplicas;
  if (ctx.replicas <= 0) return original;
  const available = Math.min(ctx.specDeployment?.status?.availableReplicas ?? 0, ctx.replicas);
  // Its last replica goes at promotion: until then a failing check finds it still serving.
  const floor = original > 0 ? 1 : 0;
  return Math.max(floor, original - Math.floor((original * available) / ctx.replicas));
}

/** Ready endpoints of the clients' Service: the adopted Deployment's pods and the new version's. */
function observeAdoptionTraffic(ctx: PlanContext, deployment: string): TrafficWeight[] {
  const own = podNameTest(deployment);
  const seen = new Set<string>();
  let adopted = 0;
  let fresh = 0;
  for (const slice of ctx.input.observed.endpointSlices) {
    for (const ep of slice.endpoints ?? []) {
      const pod = ep.targetRef?.kind === "Pod" ? ep.targetRef.name : undefined;
      if (ep.conditions?.ready === false || !pod || seen.has(pod)) continue;
      seen.add(pod);
      const d = deploymentOfPod(ctx.input.observed.deployments, pod);
      if (d?.metadata?.name === ctx.spec.name) fresh++;
      else if (!d && own(pod)) adopted++;
    }
  }
  const total = adopted + fresh;
  const freshWeight = total === 0 ? 0 : Math.round((100 * fresh) / total);
  const adoptedWeight = total === 0 ? 0 : 100 - freshWeight;
  const spec: TrafficWeight = { version: ctx.specVersion, weight: freshWeight, readyEndpoints: fresh };
  if (ctx.spec.revision !== undefined) spec.revision = ctx.spec.revision;
  return [{ version: adoptedTrafficName(deployment), weight: adoptedWeight, readyEndpoints: adopted }, spec];
}

/** The children while adopting: the new version beside the adopted Deployment, the clients' Service on both. */
function adoptionChildren(
  ctx: PlanContext,
  status: ModelDeploymentStatus,
  old: V1Deployment,
): { apply: KubernetesObject[]; delete: ChildRef[] } {
  const a = status.adoption;
  // Rolled back: the new pods stay until the adopted Deployment is Available again at its replicas.
  const restored = a !== undefined && isAvailableAt(old, a.originalReplicas);
  const replicas = status.aborted && restored ? 0 : ctx.replicas;
  const up: KubernetesObject[] = [];
  const down: KubernetesObject[] = [];
  const spec = computeVersionDeployment(ctx.md, replicas, ctx.spec);
  (replicas < (ctx.specDeployment?.spec?.replicas ?? 0) ? down : up).push(spec);
  for (const [name, d] of ctx.deployments)
    if (name !== ctx.spec.name) down.push(computeRetainedDeployment(ctx.md, d, 0));
  const services = [
    computeVersionService(ctx.md, ctx.spec),
    computeClientsService(ctx.md, adoptedSelector(old), true),
  ];
  const del: ChildRef[] = [];
  if (ctx.services.has(previewServiceName(ctx.md)))
    del.push({ kind: "Service", name: previewServiceName(ctx.md) });
  return { apply: [...up, ...services, ...down], delete: del };
}

/** Phase, message, conditions and traffic while adopting (or refused). */
function finishAdoptionStatus(ctx: PlanContext, draft: StatusDraft, problem: string | undefined): void {
  const status = draft.status;
  const ref = ctx.md.spec.workloadRef;
  const name = status.adoption?.deployment ?? ref?.name ?? "";
  status.traffic = observeAdoptionTraffic(ctx, name);
  status.replicas = status.traffic
    .filter((t) => t.weight > 0)
    .reduce((n, t) => n + (t.readyEndpoints ?? 0), 0);
  delete status.currentStep;
  const rollout = status.rollout;
  if (rollout) {
    status.candidateVersion = rollout.version;
    status.candidateRevision = rollout.revision;
    status.candidateWeight = trafficOf(status.traffic, rollout.version, rollout.revision)?.weight ?? 0;
  } else {
    delete status.candidateVersion;
    delete status.candidateRevision;
    delete status.candidateWeight;
  }
  const gen = ctx.md.metadata?.generation;
  if (problem !== undefined) {
    const message = `adoption refused: ${problem}`;
    const before = findCondition(status.conditions, CONDITION_STALLED);
    if (!(
      before?.status === "True" &&
      before.reason === Reasons.AdoptionRefused &&
      before.message === message
    ))
      recordEvent(draft, "Warning", Reasons.AdoptionRefused, message);
    writeStanding(
      status,
      { phase: "Degraded", reason: Reasons.AdoptionRefused, message, condition: "Stalled" },
      gen,
      ctx.now,
    );
    return;
  }
  const old = ctx.input.observed.workloadRef?.deployment;
  const oldReady = old?.status?.readyReplicas ?? 0;
  const oldSize = old?.spec?.replicas ?? 0;
  const aborted = status.aborted;
  if (aborted) {
    const message = `version ${aborted.version} rolled back (${aborted.reason}: ${aborted.message ?? ""}); the clients stay on Deployment ${name} (${oldReady} of ${oldSize} replica(s) ready)`;
    writeStanding(
      status,
      { phase: "Degraded", reason: aborted.reason, message, condition: "Stalled" },
      gen,
      ctx.now,
    );
    return;
  }
  const available = ctx.specDeployment?.status?.availableReplicas ?? 0;
  const held = isHeld(ctx, status);
  const message = `${held ? "held: " : ""}adopting Deployment ${name}: version ${ctx.specVersion} has ${available} of ${ctx.replicas} replica(s) available and waits for its checks; Deployment ${name} has ${oldReady} of ${oldSize} replica(s) ready (scaleDown: ${status.adoption?.scaleDown ?? "never"})`;
  writeStanding(
    status,
    {
      phase: held ? "Paused" : "Progressing",
      reason: held ? Reasons.Paused : Reasons.Adopting,
      message,
      condition: "Reconciling",
    },
    gen,
    ctx.now,
  );
}

/**
 * The plan of an adoption before promotion (advanceAdoption said adopting or refused): the
 * new version beside the adopted Deployment, its replica count as scaleDown wants it, and
 * the status. Refused: nothing is applied and nothing scaled.
 */
export function planAdoption(ctx: PlanContext, draft: StatusDraft, step: AdoptionStep): Plan {
  const status = draft.status;
  const refused = step.kind === "refused" ? step.problem : undefined;
  finishAdoptionStatus(ctx, draft, refused);
  const old = ctx.input.observed.workloadRef?.deployment;
  const plan: Plan = {
    apply: [],
    delete: [],
    status,
    events: draft.events,
    clearAction: draft.clearAction,
  };
  if (refused !== undefined || !old) {
    plan.requeueAfterMs = ADOPTION_REFUSED_POLL_MS;
    return plan;
  }
  const children = adoptionChildren(ctx, status, old);
  plan.apply = children.apply;
  plan.delete = children.delete;
  const scales = planAdoptedScales(ctx, draft);
  if (scales.length > 0) plan.scales = scales;
  const planned = requeueAfterMs(ctx, status);
  plan.requeueAfterMs = planned === undefined ? ADOPTION_POLL_MS : Math.min(planned, ADOPTION_POLL_MS);
  return plan;
}

/**
 * Does the clients' Service, as observed, no longer select by the adopted Deployment's
 * labels, with a ready endpoint of the stable version behind it? Only then may the adopted
 * Deployment scale down without leaving the clients without an endpoint.
 */
function clientsMovedOff(ctx: PlanContext, status: ModelDeploymentStatus, old: V1Deployment): boolean {
  const selector = ctx.services.get(ctx.name)?.spec?.selector ?? {};
  const adopted = adoptedSelector(old);
  const same =
    Object.keys(selector).length === Object.keys(adopted).length &&
    Object.entries(adopted).every(([k, v]) => selector[k] === v);
  if (same) return false;
  const stable = status.stableVersion;
  if (stable === undefined) return false;
  return (trafficOf(status.traffic, stable, status.stableRevision)?.readyEndpoints ?? 0) > 0;
}

/**
 * The adopted Deployment's replica count this plan writes, and what status.adoption says
 * after it: progressively while adopting, the original count after a rollback or when
 * workloadRef is removed before promotion (Released, then forgotten), 0 after promotion
 * (onsuccess, progressively) once the clients have moved off it, then Completed: from there
 * on the operator never touches it again. Only a count that differs from the observed one
 * is written.
 */
export function planAdoptedScales(ctx: PlanContext, draft: StatusDraft): DeploymentScale[] {
  const status = draft.status;
  const a = status.adoption;
  if (!a || a.phase === "Completed") return [];
  const old = ctx.input.observed.workloadRef?.deployment;
  const current = old?.spec?.replicas ?? 1;
  const scale = (n: number): DeploymentScale[] =>
    old && current !== n ? [{ name: a.deployment, replicas: n, from: current }] : [];
  if ((a.phase === "Progressing" || a.phase === "RolledBack") && !isAdopting(ctx, status))
    a.phase = "Released";
  switch (a.phase) {
    case "Progressing":
      return scaleDownModeOf(ctx, a) === "progressively" ? scale(progressiveReplicas(ctx, a)) : [];
    case "RolledBack":
      return scale(a.originalReplicas);
    case "Released":
      if (!old || current === a.originalReplicas) {
        recordEvent(
          draft,
          "Normal",
          Reasons.AdoptionReleased,
          `workloadRef no longer names Deployment ${a.deployment}: it is at ${a.originalReplicas} replica(s) again and the operator no longer touches it`,
        );
        delete status.adoption;
        return [];
      }
      return scale(a.originalReplicas);
    case "Promoted": {
      const mode = scaleDownModeOf(ctx, a);
      a.scaleDown = mode;
      if (mode === "never" || !old || current === 0) {
        const kept =
          mode === "never" && old
            ? `keeps its ${current} replica(s) (scaleDown: never)`
            : old
              ? "is at 0 replicas"
              : "is gone";
        recordEvent(
          draft,
          "Normal",
          Reasons.AdoptionCompleted,
          `adoption of Deployment ${a.deployment} complete: it ${kept}; the operator no longer touches it (it was at ${a.originalReplicas} replica(s))`,
        );
        a.phase = "Completed";
        return [];
      }
      return clientsMovedOff(ctx, status, old) ? scale(0) : [];
    }
  }
  return [];
}

/** How soon a plan with an adoption that is not complete comes back (undefined: none is). */
export function adoptionPollMs(status: ModelDeploymentStatus): number | undefined {
  const a = status.adoption;
  return a && a.phase !== "Completed" ? ADOPTION_POLL_MS : undefined;
}
