// When the planner wants to be asked again: the soonest time-driven change of the plan's
// status (a pause ends, a check is due, a deadline or an auto-promotion comes, a version
// scales down). Undefined: nothing is time-driven, only a change in the world brings a reconcile.
import type { ModelDeployment, ModelDeploymentStatus, RolloutState } from "../api/types.ts";
import { checkDueAt, measurableCandidate, timeMs } from "./checks.ts";
import { isHeld, type PlanContext } from "./context.ts";
import { parseDuration } from "./duration.ts";
import {
  checkRunsInStage,
  checksOf,
  hasPostPromotionChecks,
  progressDeadlineMsOf,
  scaleDownDelayMsOf,
} from "./spec.ts";

/** Times (ms since the epoch) at which the strategy's own clock moves the rollout on. */
function strategyDeadlines(ctx: PlanContext, status: ModelDeploymentStatus, rollout: RolloutState): number[] {
  const startMs = timeMs(rollout.stepStartedAt ?? rollout.startedAt);
  const out: number[] = [];
  if (isHeld(ctx, status)) return out;
  if (ctx.strategy === "Canary") {
    const step = ctx.steps[status.currentStep ?? 0];
    if (step && step.setWeight === undefined && step.pause?.duration !== undefined) {
      out.push(startMs + parseDuration(step.pause.duration));
    } else if (rollout.stepReadyAt === undefined) out.push(startMs + progressDeadlineMsOf(ctx.md));
  } else if (rollout.switchedAt !== undefined) {
    // Checks after the switch: the promotion waits for the end of the scale-down delay.
    if (hasPostPromotionChecks(ctx.md) && rollout.promote !== "Full")
      out.push(timeMs(rollout.switchedAt) + scaleDownDelayMsOf(ctx.md));
  } else {
    if (rollout.stepReadyAt === undefined) out.push(startMs + progressDeadlineMsOf(ctx.md));
    const auto = ctx.md.spec.strategy?.blueGreen?.autoPromotionSeconds;
    if (auto !== undefined && rollout.availableAt !== undefined && (status.currentStep ?? 0) === 0) {
      out.push(timeMs(rollout.availableAt) + auto * 1000);
    }
  }
  return out;
}

/** When the next check is due (at the earliest now), while the candidate can be measured. */
function nextCheckDue(
  ctx: PlanContext,
  status: ModelDeploymentStatus,
  rollout: RolloutState,
): number | undefined {
  const switched = rollout.switchedAt !== undefined;
  const view: ModelDeployment = { ...ctx.md, status };
  if (!measurableCandidate(view, ctx.input.observed)) return undefined;
  let due: number | undefined;
  for (const check of checksOf(ctx.md)) {
    if (!checkRunsInStage(check, switched)) continue;
    const last = status.checks?.find((c) => c.name === check.name);
    const t = Math.max(checkDueAt(view, check, last), ctx.nowMs);
    if (!Number.isFinite(t)) continue; // a warm-up done for this step
    due = due === undefined ? t : Math.min(due, t);
  }
  return due;
}

/** Milliseconds until the soonest time-driven change, or undefined. */
export function requeueAfterMs(ctx: PlanContext, status: ModelDeploymentStatus): number | undefined {
  const rollout = status.rollout;
  // Only times still to come count; a check due now is at the earliest now.
  const times: number[] = [];
  const future = (t: number) => {
    if (!Number.isNaN(t) && t > ctx.nowMs) times.push(t);
  };
  if (rollout) {
    strategyDeadlines(ctx, status, rollout).forEach(future);
    const due = nextCheckDue(ctx, status, rollout);
    if (due !== undefined) times.push(due);
  }
  for (const e of status.scaleDown ?? []) future(timeMs(e.after));
  if (times.length === 0) return undefined;
  return Math.max(0, Math.min(...times) - ctx.nowMs);
}
