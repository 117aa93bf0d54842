// A step's readiness and its progress deadline, the same for both strategies: a step is
// ready once its replica counts are Available; a step that does not get there within
// progressDeadlineSeconds of its start rolls the rollout back.
import type { ModelDeploymentStatus, RolloutState } from "../api/types.ts";
import { timeMs } from "./checks.ts";
import { isHeld, readyTime, type PlanContext, type StatusDraft } from "./context.ts";
import { specLabel } from "./lookups.ts";
import * as text from "./messages.ts";
import { progressDeadlineMsOf } from "./spec.ts";
import { revisionOf } from "./tracks.ts";

/** Available replicas of the spec's track, at most `size` (0 when its Deployment is of another revision). */
export function candidateAvailable(ctx: PlanContext, size: number): number {
  const d = ctx.specDeployment;
  if (!d || revisionOf(d) !== ctx.revision) return 0;
  return Math.min(d.status?.availableReplicas ?? 0, size);
}

/**
 * Records the current step's readiness: stepReadyAt when reached; when lost again (outside
 * a pause), the step waits anew and its progress deadline is timed from now.
 */
export function trackStepReadiness(
  ctx: PlanContext,
  draft: StatusDraft,
  rollout: RolloutState,
  ready: boolean,
  pauseStep: boolean,
): void {
  if (ready && rollout.stepReadyAt === undefined) rollout.stepReadyAt = readyTime(ctx, draft);
  else if (!ready && rollout.stepReadyAt !== undefined && !pauseStep) {
    delete rollout.stepReadyAt;
    rollout.stepStartedAt = ctx.nowIso;
  }
}

/** The step has waited for its replicas longer than progressDeadlineSeconds (a pause or a hold never does). */
export function progressDeadlinePassed(
  ctx: PlanContext,
  status: ModelDeploymentStatus,
  rollout: RolloutState,
  ready: boolean,
  pauseStep: boolean,
): boolean {
  if (ready || pauseStep || isHeld(ctx, status) || rollout.stepReadyAt !== undefined) return false;
  return ctx.nowMs >= timeMs(rollout.stepStartedAt ?? rollout.startedAt) + progressDeadlineMsOf(ctx.md);
}

/** Why the rollout is rolled back when the candidate missed its deadline at `size` replicas. */
export function progressDeadlineMessage(
  ctx: PlanContext,
  status: ModelDeploymentStatus,
  size: number,
  where: string,
): string {
  const available = ctx.specDeployment ? candidateAvailable(ctx, size) : undefined;
  return text.progressDeadline(
    specLabel(ctx, status),
    size,
    progressDeadlineMsOf(ctx.md) / 1000,
    where,
    available,
  );
}
