// The canary strategy: it walks spec.strategy.canary.steps. A setWeight step completes when
// its replica counts are Available and every check passed since; a pause when its duration
// has passed (or on promote); after the last step the candidate is promoted at full size.
import type { CanaryStep, RolloutState } from "../api/types.ts";
import { Reasons } from "../api/reasons.ts";
import { weightAtStep } from "./canary.ts";
import { canaryTargetAt } from "./capacity-plan.ts";
import { anyCheckFailing, checksPassedSince } from "./check-results.ts";
import { timeMs } from "./checks.ts";
import { isHeld, recordEvent, type PlanContext, type StatusDraft } from "./context.ts";
import { parseDuration } from "./duration.ts";
import { beginStep, promote, rollBack } from "./lifecycle.ts";
import { isAvailableAt, specLabel, stableDeployment, stableLabel } from "./lookups.ts";
import * as text from "./messages.ts";
import { candidateRunningAt, gateClosedForCandidate, readinessGateOf } from "./readiness-gate.ts";
import { progressDeadlineMessage, progressDeadlinePassed, trackStepReadiness } from "./readiness.ts";

/**
 * Replicas of the candidate and the stable version at canary step `index` (steps.length = the
 * final stage) once the step is done: the step is ready when both are Available at these.
 * On the way there maxSurge and maxUnavailable bound each reconcile's move (capacity-plan.ts).
 */
export function canaryReplicasAtStep(ctx: PlanContext, index: number): { candidate: number; stable: number } {
  return canaryTargetAt(ctx, index);
}

/**
 * Carries the canary as far as the world allows in this plan: it may complete several steps
 * at once (a setWeight 0 step, a promote-full, steps whose replicas are already there), and
 * stops at the first that has to wait, at a rollback or at the promotion.
 */
export function stepCanary(ctx: PlanContext, draft: StatusDraft): void {
  const status = draft.status;
  const rollout = status.rollout;
  if (!rollout) return;
  const n = ctx.steps.length;
  let i = Math.min(Math.max(status.currentStep ?? 0, 0), n);
  status.currentStep = i;
  // Each pass completes at most one step, so all n steps and the promotion take n + 1 passes.
  for (let pass = 0; pass <= n + 1; pass++) {
    const pauseStep = i < n && ctx.steps[i]?.setWeight === undefined;
    const sizes = canaryReplicasAtStep(ctx, i);
    // Behind a closed readiness gate the candidate's pods are never Ready (so never Available):
    // its step is ready once they run.
    const candidateReady = gateClosedForCandidate(ctx, status)
      ? candidateRunningAt(ctx, ctx.specDeployment, sizes.candidate)
      : isAvailableAt(ctx.specDeployment, sizes.candidate, ctx.revision);
    const stable = stableDeployment(ctx, status);
    // A router that cannot carry traffic now (no route API, a parent that rejects the route)
    // holds the step: its weight is not known to reach the clients.
    const routed = ctx.router.observeProblem?.(ctx) === undefined;
    const ready = routed && candidateReady && (!stable || isAvailableAt(stable, sizes.stable));
    trackStepReadiness(ctx, draft, rollout, ready, pauseStep);
    if (progressDeadlinePassed(ctx, status, rollout, ready, pauseStep)) {
      const message = progressDeadlineMessage(ctx, status, sizes.candidate, text.canaryStepWhere(i, n));
      rollBack(ctx, draft, Reasons.ProgressDeadlineExceeded, message, "RolledBack");
      return;
    }
    if (isHeld(ctx, status)) return;
    const complete = pauseStep
      ? routed && pauseComplete(ctx, draft, rollout, i)
      : ready && weightStepComplete(ctx, draft, rollout, i);
    if (!complete) return;
    if (i === n) {
      promote(ctx, draft, text.canaryPromotion(specLabel(ctx, status), ctx.replicas));
      return;
    }
    i++;
    beginStep(ctx, draft, rollout, i);
    if (rollout.promote === "Step") delete rollout.promote;
    announceStep(ctx, draft, i);
  }
}

/** The duration a holding step (pause, setHeaderRoute, setMirrorRoute) holds for; undefined = until promote. */
export function holdDuration(step: CanaryStep | undefined): string | undefined {
  return step?.pause?.duration ?? step?.setHeaderRoute?.duration ?? step?.setMirrorRoute?.duration;
}

/**
 * A pause (or a header or mirror step, which hold like one with their rule in place) ends on
 * promote, or when its duration has passed and no check is failing.
 */
function pauseComplete(ctx: PlanContext, draft: StatusDraft, rollout: RolloutState, index: number): boolean {
  const duration = holdDuration(ctx.steps[index]);
  return (
    rollout.promote !== undefined ||
    (duration !== undefined &&
      ctx.nowMs >= timeMs(rollout.stepStartedAt ?? rollout.startedAt) + parseDuration(duration) &&
      !anyCheckFailing(ctx, draft.status))
  );
}

/** A setWeight step (or the final stage) whose replicas are ready completes on promote or once its checks passed. */
function weightStepComplete(
  ctx: PlanContext,
  draft: StatusDraft,
  rollout: RolloutState,
  index: number,
): boolean {
  return (
    rollout.promote !== undefined ||
    // setWeight 0 has no pod to measure (spec.replicas 0 is not such a step: it waits), unless
    // a readiness gate keeps a pod of the candidate running for its checks.
    (index < ctx.steps.length &&
      weightAtStep(ctx.md, index) === 0 &&
      !readinessGateOf(ctx.md) &&
      !anyCheckFailing(ctx, draft.status)) ||
    checksPassedSince(ctx, draft.status, rollout.stepReadyAt)
  );
}

function announceStep(ctx: PlanContext, draft: StatusDraft, index: number): void {
  const n = ctx.steps.length;
  const status = draft.status;
  if (index >= n) {
    recordEvent(
      draft,
      "Normal",
      Reasons.StepCompleted,
      text.allStepsCompleted(n, specLabel(ctx, status), ctx.replicas),
    );
    return;
  }
  const step = ctx.steps[index];
  if (step?.setWeight !== undefined) {
    // The counts once the candidate's replicas are available.
    const full = canaryTargetAt(ctx, index);
    const message = text.weightStep(
      index,
      n,
      step.setWeight,
      specLabel(ctx, status),
      full.candidate,
      stableLabel(ctx, status),
      full.stable,
    );
    recordEvent(draft, "Normal", Reasons.WeightChanged, message);
  } else if (step?.setHeaderRoute) {
    const h = step.setHeaderRoute;
    const message = text.headerRouteStep(index, n, h.name, h.match, specLabel(ctx, status), h.duration);
    recordEvent(draft, "Normal", Reasons.HeaderRouteSet, message);
  } else if (step?.setMirrorRoute) {
    const m = step.setMirrorRoute;
    const message = text.mirrorRouteStep(index, n, m.name, m.percentage, specLabel(ctx, status), m.duration);
    recordEvent(draft, "Normal", Reasons.MirrorRouteSet, message);
  } else {
    recordEvent(draft, "Normal", Reasons.PauseStarted, text.pauseStep(index, n, step?.pause?.duration));
  }
}
