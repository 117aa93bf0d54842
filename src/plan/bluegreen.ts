// The blue/green strategy: the candidate runs as a preview beside the stable version; once it
// is Available and healthy it is promoted (on a promote action, or autoPromotionSeconds
// later), scales to full size when the preview was smaller, and the clients' traffic
// switches to it in one write. It is stable once the clients are seen on it alone.
import { Reasons } from "../api/reasons.ts";
import type { ModelDeploymentStatus } from "../api/types.ts";
import { allChecksSuccessful, anyCheckFailing, checksPassedSince } from "./check-results.ts";
import { timeMs } from "./checks.ts";
import { isHeld, recordEvent, type PlanContext, type StatusDraft } from "./context.ts";
import { beginStep, promote, rollBack } from "./lifecycle.ts";
import { isAvailableAt, specLabel, stableLabel } from "./lookups.ts";
import * as text from "./messages.ts";
import { progressDeadlineMessage, progressDeadlinePassed, trackStepReadiness } from "./readiness.ts";
import { hasPostPromotionChecks, previewReplicasOf, scaleDownDelayMsOf } from "./spec.ts";

/** The stages of a blue/green rollout, in status.currentStep. */
const PREVIEW = 0;
const SCALE_UP = 1;

/** The candidate's replicas: the preview's, full size from the scale-up on. */
export function blueGreenCandidateReplicas(ctx: PlanContext, status: ModelDeploymentStatus): number {
  return (status.currentStep ?? PREVIEW) >= SCALE_UP || status.rollout?.switchedAt !== undefined
    ? ctx.replicas
    : previewReplicasOf(ctx.md);
}

/** Carries the blue/green rollout as far as the world allows in this plan. */
export function stepBlueGreen(ctx: PlanContext, draft: StatusDraft): void {
  const status = draft.status;
  const rollout = status.rollout;
  if (!rollout) return;
  if (rollout.switchedAt !== undefined) {
    if (ctx.router.observeSoleTrack(ctx) !== ctx.spec.name) return;
    if (!hasPostPromotionChecks(ctx.md) || rollout.promote === "Full") {
      promote(ctx, draft, text.clientsSelectAlone(specLabel(ctx, status)));
      return;
    }
    // Checks after the switch: the old version stays ready (scaleDownDelaySeconds) while they
    // run; promoted when the delay is over and each of them passed since the switch. A failing
    // one rolls back (plan.ts) while the old version can still take the clients at once.
    const delayEnds = timeMs(rollout.switchedAt) + scaleDownDelayMsOf(ctx.md);
    if (ctx.nowMs < delayEnds) return;
    if (!checksPassedSince(ctx, status, rollout.switchedAt) || anyCheckFailing(ctx, status)) return;
    promote(ctx, draft, text.postPromotionChecksPassed(specLabel(ctx, status)), ctx.nowIso);
    return;
  }
  const auto = ctx.md.spec.strategy?.blueGreen?.autoPromotionSeconds;
  let stage = status.currentStep === SCALE_UP ? SCALE_UP : PREVIEW;
  status.currentStep = stage;
  // At most three passes: the preview, the scale-up, the switch.
  for (let pass = 0; pass < 3; pass++) {
    const size = blueGreenCandidateReplicas(ctx, status);
    const ready = isAvailableAt(ctx.specDeployment, size, ctx.revision);
    trackStepReadiness(ctx, draft, rollout, ready, false);
    if (progressDeadlinePassed(ctx, status, rollout, ready, false)) {
      const message = progressDeadlineMessage(ctx, status, size, text.blueGreenStageWhere(stage));
      rollBack(ctx, draft, Reasons.ProgressDeadlineExceeded, message, "RolledBack");
      return;
    }
    if (
      stage === PREVIEW &&
      ready &&
      rollout.availableAt === undefined &&
      (rollout.promote === "Full" || checksPassedSince(ctx, status, rollout.stepReadyAt))
    ) {
      rollout.availableAt = ctx.nowIso;
      recordEvent(
        draft,
        "Normal",
        Reasons.StepCompleted,
        text.previewAvailable(specLabel(ctx, status), size, auto),
      );
    }
    if (isHeld(ctx, status)) return;
    if (stage === PREVIEW) {
      const byAction = rollout.promote !== undefined && ready;
      // Auto-promotion also needs the preview Available now, not only once at availableAt.
      const byTime =
        auto !== undefined &&
        ready &&
        rollout.availableAt !== undefined &&
        ctx.nowMs >= timeMs(rollout.availableAt) + auto * 1000 &&
        allChecksSuccessful(ctx, status);
      if (!byAction && !byTime) return;
      if (previewReplicasOf(ctx.md) < ctx.replicas) {
        stage = SCALE_UP;
        beginStep(ctx, draft, rollout, SCALE_UP);
        recordEvent(
          draft,
          "Normal",
          Reasons.StepCompleted,
          text.blueGreenScaleUp(specLabel(ctx, status), ctx.replicas),
        );
        continue;
      }
    } else if (!ready || (rollout.promote === undefined && anyCheckFailing(ctx, status))) {
      // Promoted by time: the switch also waits while a check is failing.
      return;
    }
    // The switch is one write of the route: not while the route cannot carry it.
    if (ctx.router.observeProblem?.(ctx) !== undefined) return;
    rollout.switchedAt = ctx.nowIso;
    recordEvent(
      draft,
      "Normal",
      Reasons.TrafficSwitched,
      text.trafficSwitched(stableLabel(ctx, status), specLabel(ctx, status)),
    );
    return;
  }
}
