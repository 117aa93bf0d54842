// What the status says once the decisions are made: the traffic clients get, the ready
// replicas, the phase, status.message and the three kstatus conditions (Ready, Reconciling,
// Stalled); and the whole status of a plan for an invalid spec.
import type { V1Deployment } from "@kubernetes/client-node";
import {
  CONDITION_READY,
  CONDITION_RECONCILING,
  CONDITION_STALLED,
  CONDITION_TRAFFIC_ROUTED,
} from "../api/constants.ts";
import { Reasons } from "../api/reasons.ts";
import type { ModelDeploymentStatus, RolloutState } from "../api/types.ts";
import { canaryReplicasAtStep } from "./canary-stepper.ts";
import { findCondition, setCondition } from "./conditions.ts";
import { isHeld, recordEvent, type PlanContext, type RolloutMode, type StatusDraft } from "./context.ts";
import { isAvailableAt, specLabel, stableLabel, stableTrackName, versionLabel } from "./lookups.ts";
import * as text from "./messages.ts";
import type { TrafficRef, TrafficRouter, RouterView } from "./routers/router.ts";
import { candidateAvailable } from "./readiness.ts";
import { hasPostPromotionChecks, previewReplicasOf } from "./spec.ts";
import { routeReleasePending } from "./routers/user-route.ts";
import { trafficOf } from "./tracks.ts";
import type { PlannedEvent } from "./types.ts";

type Phase = NonNullable<ModelDeploymentStatus["phase"]>;

/** What the three conditions say: Ready, Reconciling and Stalled are each True or False with a reason. */
interface Standing {
  phase: Phase;
  reason: string;
  message: string;
  /** The one of the three conditions that is True. */
  condition: "Ready" | "Reconciling" | "Stalled";
}

/**
 * Writes phase, status.message and the three conditions from `standing`: the True one with
 * the message, the other two False with the reason (and, when stalled, the message too, so
 * that Ready and Reconciling say why). lastTransitionTime moves only when a status flips.
 */
export function writeStanding(
  status: ModelDeploymentStatus,
  standing: Standing,
  generation: number | undefined,
  now: Date,
): void {
  status.phase = standing.phase;
  status.message = standing.message;
  const g = generation !== undefined ? { observedGeneration: generation } : {};
  const stalled = standing.condition === "Stalled";
  for (const type of [CONDITION_READY, CONDITION_RECONCILING, CONDITION_STALLED]) {
    const isTrue = type === standing.condition;
    // The Ready condition always carries the message; a stalled ModelDeployment's conditions all do.
    const message = isTrue || type === CONDITION_READY || stalled ? standing.message : "";
    status.conditions = setCondition(
      status.conditions,
      { type, status: isTrue ? "True" : "False", reason: standing.reason, message, ...g },
      now,
    );
  }
}

/** What the clients get, as the router sees it, in status.traffic and status.candidateWeight. */
function observeTraffic(
  router: TrafficRouter,
  view: RouterView,
  status: ModelDeploymentStatus,
  stable: TrafficRef | undefined,
): void {
  status.traffic = router.observeWeights(view, stable, status.rollout);
  if (status.rollout)
    status.candidateWeight =
      trafficOf(status.traffic, status.rollout.version, status.rollout.revision)?.weight ?? 0;
}

/**
 * status.route and the TrafficRouted condition of a router with a route: True while every
 * parent accepted it, False with the problem (an Event when it first says so). Without such
 * a router both are absent.
 */
function observeRouting(ctx: PlanContext, draft: StatusDraft): void {
  const status = draft.status;
  if (!ctx.router.observeRoute) {
    // A route the user owns that is still being handed back: status.route keeps naming it.
    if (routeReleasePending(ctx, stableTrackName(ctx, status))) return;
    delete status.route;
    status.conditions = status.conditions?.filter((c) => c.type !== CONDITION_TRAFFIC_ROUTED);
    if (status.conditions?.length === 0) delete status.conditions;
    return;
  }
  status.route = ctx.router.observeRoute(ctx);
  const problem = ctx.router.observeProblem?.(ctx);
  const g = ctx.md.metadata?.generation;
  const before = findCondition(status.conditions, CONDITION_TRAFFIC_ROUTED);
  const route = status.route?.name ?? ctx.name;
  const next = problem
    ? {
        type: CONDITION_TRAFFIC_ROUTED,
        status: "False" as const,
        reason: problem.reason,
        message: problem.message,
      }
    : {
        type: CONDITION_TRAFFIC_ROUTED,
        status: "True" as const,
        reason: Reasons.TrafficRouted,
        message: text.trafficRouted(route),
      };
  if (problem && (before?.status !== "False" || before.message !== problem.message))
    recordEvent(draft, "Warning", Reasons.TrafficNotRouted, problem.message);
  status.conditions = setCondition(
    status.conditions,
    { ...next, ...(g !== undefined ? { observedGeneration: g } : {}) },
    ctx.now,
  );
}

/** Traffic, ready replicas, candidate fields, phase, message and conditions of the next status. */
export function finishStatus(ctx: PlanContext, draft: StatusDraft, mode: RolloutMode): void {
  const status = draft.status;
  const rollout = status.rollout;
  const stable = status.stableVersion;
  const servingName = stable === undefined ? ctx.spec.name : stableTrackName(ctx, status);
  const servingDep = servingName !== undefined ? ctx.deployments.get(servingName) : undefined;
  const stableRef =
    stable !== undefined
      ? { version: stable, revision: status.stableRevision }
      : mode === "firstVersion"
        ? { version: ctx.specVersion, revision: ctx.revision }
        : undefined;
  observeTraffic(ctx.router, ctx, status, stableRef);
  observeRouting(ctx, draft);
  // The scale subresource's status.replicas: the ready pods that share the clients' traffic
  // (both versions of a canary, the stable one alone behind a blue/green preview). An HPA on
  // an External or per-pod Object metric divides the load by it; counting the stable version
  // alone would make it shrink a canary whose load it already spread over both. Under a route
  // a version at weight 0 (a candidate at 0%, or mirrored only) shares none of it.
  status.replicas = (status.traffic ?? [])
    .filter((t) => t.weight > 0)
    .reduce((sum, t) => sum + (t.readyEndpoints ?? 0), 0);
  if (rollout) {
    status.candidateVersion = rollout.version;
    status.candidateRevision = rollout.revision;
  } else {
    delete status.candidateVersion;
    delete status.candidateRevision;
    delete status.candidateWeight;
    delete status.currentStep;
  }
  writeStanding(status, standingOf(ctx, status, mode, servingDep), ctx.md.metadata?.generation, ctx.now);
}

function standingOf(
  ctx: PlanContext,
  status: ModelDeploymentStatus,
  mode: RolloutMode,
  servingDep: V1Deployment | undefined,
): Standing {
  const available = servingDep?.status?.availableReplicas ?? 0;
  if (mode === "firstVersion") {
    const message = text.waitingForFirst(specLabel(ctx, status), available, ctx.replicas);
    return { phase: "Progressing", reason: Reasons.WaitingForAvailable, message, condition: "Reconciling" };
  }
  if (mode === "rollingOut" && status.rollout) {
    const problem = ctx.router.observeProblem?.(ctx);
    const progress = progressMessage(ctx, status, status.rollout);
    const message = problem ? `held: ${problem.message} (${progress})` : progress;
    return isHeld(ctx, status)
      ? { phase: "Paused", reason: Reasons.Paused, message, condition: "Reconciling" }
      : { phase: "Progressing", reason: Reasons.RolloutInProgress, message, condition: "Reconciling" };
  }
  if (mode === "aborted" && status.aborted) {
    const a = status.aborted;
    const message = text.stopped(
      a,
      versionLabel(ctx, status, a.version, a.revision),
      stableLabel(ctx, status),
      Reasons.RolledBack,
    );
    // While maxSurge/maxUnavailable pace the stable version's return, say what it waits for.
    const restoring = status.capacity?.message?.startsWith("waiting for")
      ? `; ${status.capacity.message}`
      : "";
    return { phase: "Degraded", reason: a.reason, message: message + restoring, condition: "Stalled" };
  }
  const serving = status.stableVersion === undefined ? specLabel(ctx, status) : stableLabel(ctx, status);
  if (isAvailableAt(servingDep, ctx.replicas, ctx.revision)) {
    const message = text.healthy(serving, servingDep?.status?.readyReplicas ?? 0, ctx.replicas);
    return { phase: "Healthy", reason: Reasons.Ready, message, condition: "Ready" };
  }
  const message = text.waitingForAvailable(serving, ctx.replicas, available);
  return { phase: "Progressing", reason: Reasons.WaitingForAvailable, message, condition: "Reconciling" };
}

/** status.message while a rollout runs: where it stands and what it waits for. */
function progressMessage(ctx: PlanContext, status: ModelDeploymentStatus, rollout: RolloutState): string {
  const held = isHeld(ctx, status) ? text.heldBy(ctx.md.spec.paused === true) : "";
  const label = versionLabel(ctx, status, rollout.version, rollout.revision);
  if (ctx.strategy === "Canary") {
    const n = ctx.steps.length;
    const i = status.currentStep ?? 0;
    const sizes = canaryReplicasAtStep(ctx, i);
    const step = ctx.steps[i];
    const where =
      i >= n
        ? { promoting: { steps: n, replicas: ctx.replicas } }
        : step?.setWeight !== undefined
          ? { weight: { index: i, steps: n, weight: step.setWeight } }
          : { pause: { index: i, steps: n, duration: step?.pause?.duration } };
    const available = candidateAvailable(ctx, sizes.candidate);
    return text.canaryProgress(label, stableLabel(ctx, status), where, available, sizes.candidate, held);
  }
  const stage =
    rollout.switchedAt !== undefined
      ? hasPostPromotionChecks(ctx.md) && rollout.promote !== "Full"
        ? ("checkingAfterSwitch" as const)
        : ("switching" as const)
      : (status.currentStep ?? 0) >= 1
        ? { scalingTo: ctx.replicas }
        : rollout.availableAt !== undefined
          ? ("healthy" as const)
          : { previewAt: previewReplicasOf(ctx.md) };
  return text.blueGreenProgress(label, stableLabel(ctx, status), stage, held);
}

/** The plan's status for an invalid spec: stalled with the problems. Returns why an action is refused. */
export function invalidSpecStatus(ctx: PlanContext, draft: StatusDraft, problems: string): string {
  const status = draft.status;
  const gen = ctx.md.metadata?.generation;
  const message = text.invalidSpec(problems);
  const prevStalled = findCondition(status.conditions, CONDITION_STALLED);
  if (!(
    prevStalled?.status === "True" &&
    prevStalled.reason === Reasons.InvalidSpec &&
    prevStalled.message === message
  )) {
    draft.events.push({ type: "Warning", reason: Reasons.InvalidSpec, message } satisfies PlannedEvent);
  }
  if (gen !== undefined) status.observedGeneration = gen;
  const stable =
    status.stableVersion !== undefined
      ? { version: status.stableVersion, revision: status.stableRevision }
      : undefined;
  observeTraffic(ctx.router, ctx, status, stable);
  writeStanding(
    status,
    { phase: "Degraded", reason: Reasons.InvalidSpec, message, condition: "Stalled" },
    gen,
    ctx.now,
  );
  return text.actionTexts.invalidSpec(problems);
}
