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
import { previewReplicasOf } from "./spec.ts";

/** The stages of a blue/green rollout, in status.currentStep. */
const PREVIEW = 0;
const SCALE_UP = 1;

/** The candidate's replicas: the preview's, full size from the scale-up on. */
export function blueGreenCandidateReplicas(ctx: PlanContext, s: ModelDeploymentStatus): number {
  return (s.currentStep ?? PREVIEW) >= SCALE_UP || s.rollout?.switchedAt !== undefined
    ? ctx.replicas
    : previewReplicasOf(ctx.md);
}

/** Carries the blue/green rollout as far as the world allows in this plan. */
export function stepBlueGreen(ctx: PlanContext, draft: StatusDraft): void {
  const s = draft.status;
  const r = s.rollout;
  if (!r) return;
  if (r.switchedAt !== undefined) {
    if (ctx.router.observeSoleTrack(ctx) === ctx.spec.name) {
      promote(ctx, draft, text.clientsSelectAlone(specLabel(ctx, s)));
    }
    return;
  }
  const auto = ctx.md.spec.strategy?.blueGreen?.autoPromotionSeconds;
  let stage = s.currentStep === SCALE_UP ? SCALE_UP : PREVIEW;
  s.currentStep = stage;
  // At most three passes: the preview, the scale-up, the switch.
  for (let pass = 0; pass < 3; pass++) {
    const size = blueGreenCandidateReplicas(ctx, s);
    const ready = isAvailableAt(ctx.specDeployment, size, ctx.revision);
    trackStepReadiness(ctx, draft, r, ready, false);
    if (progressDeadlinePassed(ctx, s, r, ready, false)) {
      const message = progressDeadlineMessage(ctx, s, size, text.blueGreenStageWhere(stage));
      rollBack(ctx, draft, Reasons.ProgressDeadlineExceeded, message, "RolledBack");
      return;
    }
    if (
      stage === PREVIEW &&
      ready &&
      r.availableAt === undefined &&
      (r.promote === "Full" || checksPassedSince(ctx, s, r.stepReadyAt))
    ) {
      r.availableAt = ctx.nowIso;
      recordEvent(
        draft,
        "Normal",
        Reasons.StepCompleted,
        text.previewAvailable(specLabel(ctx, s), size, auto),
      );
    }
    if (isHeld(ctx, s)) return;
    if (stage === PREVIEW) {
      const byAction = r.promote !== undefined && ready;
      // Auto-promotion also needs the preview Available now, not only once at availableAt.
      const byTime =
        auto !== undefined &&
        ready &&
        r.availableAt !== undefined &&
        ctx.nowMs >= timeMs(r.availableAt) + auto * 1000 &&
        allChecksSuccessful(ctx, s);
      if (!byAction && !byTime) return;
      if (previewReplicasOf(ctx.md) < ctx.replicas) {
        stage = SCALE_UP;
        beginStep(ctx, draft, r, SCALE_UP);
        recordEvent(
          draft,
          "Normal",
          Reasons.StepCompleted,
          text.blueGreenScaleUp(specLabel(ctx, s), ctx.replicas),
        );
        continue;
      }
    } else if (!ready || (r.promote === undefined && anyCheckFailing(ctx, s))) {
      // Promoted by time: the switch also waits while a check is failing.
      return;
    }
    r.switchedAt = ctx.nowIso;
    recordEvent(
      draft,
      "Normal",
      Reasons.TrafficSwitched,
      text.trafficSwitched(stableLabel(ctx, s), specLabel(ctx, s)),
    );
    return;
  }
}
