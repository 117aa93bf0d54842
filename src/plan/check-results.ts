// The health checks' results in a rollout: this reconcile's measurements merged into
// status.checks, and the questions the strategies ask of them.
import type { CheckStatus, ModelDeploymentStatus } from "../api/types.ts";
import { timeMs } from "./checks.ts";
import type { PlanContext } from "./context.ts";
import { checkFailureThreshold, checksOf } from "./spec.ts";
import type { Measurement } from "./types.ts";

function resultOf(status: ModelDeploymentStatus, name: string): CheckStatus | undefined {
  return status.checks?.find((c) => c.name === name);
}

/**
 * status.checks with this reconcile's measurements: one entry per configured check; a
 * result from before the rollout started is dropped, an older measurement never replaces a
 * newer one, and consecutiveFailures counts the measurements in a row that did not succeed.
 */
export function mergeMeasurements(ctx: PlanContext, status: ModelDeploymentStatus): void {
  const rollout = status.rollout;
  if (!rollout) return;
  const started = timeMs(rollout.startedAt);
  const previous = status.checks ?? [];
  const byName = new Map<string, Measurement>();
  for (const m of ctx.input.measurements) byName.set(m.name, m);
  status.checks = checksOf(ctx.md).map((check) => {
    const old = previous.find((c) => c.name === check.name);
    const current: CheckStatus =
      old && old.lastMeasured !== undefined && timeMs(old.lastMeasured) >= started
        ? old
        : { name: check.name, phase: "Pending" };
    const m = byName.get(check.name);
    if (!m || timeMs(m.time) < started) return current;
    if (current.lastMeasured !== undefined && timeMs(m.time) <= timeMs(current.lastMeasured)) return current;
    const next: CheckStatus = {
      name: check.name,
      phase: m.phase,
      consecutiveFailures: nextFailureCount(current.consecutiveFailures ?? 0, m.phase),
      lastMeasured: m.time,
    };
    if (m.value !== undefined) next.value = m.value;
    if (m.stableValue !== undefined) next.stableValue = m.stableValue;
    if (m.judge !== undefined) next.judge = m.judge;
    if (m.message !== undefined) next.message = m.message;
    return next;
  });
}

/**
 * Consecutive failures after a measurement: a success resets them, Failed and Error count,
 * and an Inconclusive judge leaves them as they are: the rollout waits for a verdict.
 */
function nextFailureCount(previous: number, phase: Measurement["phase"]): number {
  if (phase === "Successful") return 0;
  if (phase === "Inconclusive") return previous;
  return previous + 1;
}

/** The first check that reached its failure threshold, if any. */
export function failedCheck(
  ctx: PlanContext,
  status: ModelDeploymentStatus,
): { result: CheckStatus; threshold: number } | undefined {
  for (const check of checksOf(ctx.md)) {
    const result = resultOf(status, check.name);
    const threshold = checkFailureThreshold(ctx.md, check);
    if (result && (result.consecutiveFailures ?? 0) >= threshold) return { result, threshold };
  }
  return undefined;
}

/** Every configured check measured Successful at or after `since`. */
export function checksPassedSince(
  ctx: PlanContext,
  status: ModelDeploymentStatus,
  since: string | undefined,
): boolean {
  const t = timeMs(since);
  return checksOf(ctx.md).every((check) => {
    const result = resultOf(status, check.name);
    return result?.phase === "Successful" && !Number.isNaN(t) && timeMs(result.lastMeasured) >= t;
  });
}

/** A configured check whose last measurement in this rollout is Failed or Error. */
export function anyCheckFailing(ctx: PlanContext, status: ModelDeploymentStatus): boolean {
  return checksOf(ctx.md).some((c) => {
    const phase = resultOf(status, c.name)?.phase;
    return phase === "Failed" || phase === "Error";
  });
}

/** Every configured check's last measurement is Successful. */
export function allChecksSuccessful(ctx: PlanContext, status: ModelDeploymentStatus): boolean {
  return checksOf(ctx.md).every((c) => resultOf(status, c.name)?.phase === "Successful");
}
