// The health checks' results in a rollout: this reconcile's measurements merged into
// status.checks (the last result of each check and a bounded record of its measurements),
// and the questions the strategies ask of them. A dryRun check is measured and recorded like
// the others but answers none of those questions: it never rolls back and nothing waits for it.
import type { CheckStatus, HealthCheck, MeasurementRecord, ModelDeploymentStatus } from "../api/types.ts";
import { timeMs } from "./checks.ts";
import type { PlanContext } from "./context.ts";
import {
  checkFailureThreshold,
  checkRunsInStage,
  checksOf,
  DEFAULT_INCONCLUSIVE_TIMEOUT,
  inconclusiveTimeoutMs,
} from "./spec.ts";
import type { Measurement } from "./types.ts";

/** Measurements kept per check in status.checks[].measurements (the CRD's maxItems). */
export const MEASUREMENT_RECORD_LIMIT = 10;
/** Longest message kept in a record entry; the last result keeps the whole message. */
export const RECORD_MESSAGE_LIMIT = 256;

function resultOf(status: ModelDeploymentStatus, name: string): CheckStatus | undefined {
  return status.checks?.find((c) => c.name === name);
}

/**
 * The checks that gate the rollout now: every configured check but the dryRun ones, of the
 * rollout's stage (before a blue/green switch, or after it: checkRunsInStage).
 */
function gatingChecks(ctx: PlanContext, status: ModelDeploymentStatus): HealthCheck[] {
  const switched = status.rollout?.switchedAt !== undefined;
  return checksOf(ctx.md).filter((c) => c.dryRun !== true && checkRunsInStage(c, switched));
}

/**
 * Does an Inconclusive result of `check` count as a failure: with judge.inconclusive Fail
 * always; with Wait once it has been Inconclusive (since `since`, its first Inconclusive
 * measurement in a row) for inconclusiveTimeout at the time `at`.
 */
function inconclusiveFails(check: HealthCheck, since?: string, at?: string): boolean {
  if (check.prometheus?.judge?.inconclusive === "Fail") return true;
  return waitedTooLong(check, since, at);
}

function waitedTooLong(check: HealthCheck, since: string | undefined, at: string | undefined): boolean {
  const waited = timeMs(at) - timeMs(since);
  return !Number.isNaN(waited) && waited >= inconclusiveTimeoutMs(check);
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
    return mergeOne(check, current, m);
  });
}

function mergeOne(check: HealthCheck, current: CheckStatus, m: Measurement): CheckStatus {
  // The first of the Inconclusive measurements in a row: how long a Wait judge has waited.
  const inconclusiveSince =
    m.phase !== "Inconclusive"
      ? undefined
      : current.phase === "Inconclusive"
        ? (current.inconclusiveSince ?? m.time)
        : m.time;
  const next: CheckStatus = {
    name: check.name,
    phase: m.phase,
    consecutiveFailures: nextFailureCount(
      current.consecutiveFailures ?? 0,
      m.phase,
      inconclusiveFails(check, inconclusiveSince, m.time),
    ),
    lastMeasured: m.time,
  };
  if (inconclusiveSince !== undefined) next.inconclusiveSince = inconclusiveSince;
  if (m.value !== undefined) next.value = m.value;
  if (m.stableValue !== undefined) next.stableValue = m.stableValue;
  if (m.judge !== undefined) next.judge = m.judge;
  if (m.warmup !== undefined) next.warmup = m.warmup;
  if (m.agreement !== undefined) next.agreement = m.agreement;
  if (m.message !== undefined) next.message = m.message;
  if (
    m.phase === "Inconclusive" &&
    check.prometheus?.judge?.inconclusive !== "Fail" &&
    waitedTooLong(check, inconclusiveSince, m.time)
  )
    next.message = `${m.message ?? "Inconclusive"}; Inconclusive since ${inconclusiveSince}, longer than inconclusiveTimeout ${check.prometheus?.judge?.inconclusiveTimeout ?? DEFAULT_INCONCLUSIVE_TIMEOUT}: counts as a failure`;
  if (check.dryRun === true) next.dryRun = true;
  next.measurements = [...(current.measurements ?? []), recordOf(m)].slice(-MEASUREMENT_RECORD_LIMIT);
  return next;
}

function recordOf(m: Measurement): MeasurementRecord {
  const record: MeasurementRecord = { phase: m.phase, time: m.time };
  if (m.value !== undefined) record.value = m.value;
  if (m.stableValue !== undefined) record.stableValue = m.stableValue;
  if (m.message !== undefined)
    record.message =
      m.message.length > RECORD_MESSAGE_LIMIT
        ? `${m.message.slice(0, RECORD_MESSAGE_LIMIT - 1)}…`
        : m.message;
  return record;
}

/**
 * Consecutive failures after a measurement: a success resets them, Failed and Error count,
 * and an Inconclusive judge counts only with inconclusive: Fail, or with Wait once it has
 * waited inconclusiveTimeout; before that it leaves them as they are: the rollout waits for
 * a verdict.
 */
function nextFailureCount(
  previous: number,
  phase: Measurement["phase"],
  inconclusiveCounts: boolean,
): number {
  if (phase === "Successful") return 0;
  if (phase === "Inconclusive" && !inconclusiveCounts) return previous;
  return previous + 1;
}

/**
 * The dryRun checks that reached their failure threshold in this reconcile (`before` is
 * status.checks before the merge): each would have rolled the new version back.
 */
export function dryRunChecksFailedNow(
  ctx: PlanContext,
  before: readonly CheckStatus[] | undefined,
  status: ModelDeploymentStatus,
): { result: CheckStatus; threshold: number }[] {
  const out: { result: CheckStatus; threshold: number }[] = [];
  for (const check of checksOf(ctx.md)) {
    if (check.dryRun !== true) continue;
    const threshold = checkFailureThreshold(ctx.md, check);
    const now = resultOf(status, check.name);
    const was = before?.find((c) => c.name === check.name)?.consecutiveFailures ?? 0;
    if (now && (now.consecutiveFailures ?? 0) >= threshold && was < threshold)
      out.push({ result: now, threshold });
  }
  return out;
}

/** The first gating check that reached its failure threshold, if any. */
export function failedCheck(
  ctx: PlanContext,
  status: ModelDeploymentStatus,
): { result: CheckStatus; threshold: number } | undefined {
  for (const check of gatingChecks(ctx, status)) {
    const result = resultOf(status, check.name);
    const threshold = checkFailureThreshold(ctx.md, check);
    if (result && (result.consecutiveFailures ?? 0) >= threshold) return { result, threshold };
  }
  return undefined;
}

/** Every gating check measured Successful at or after `since`. */
export function checksPassedSince(
  ctx: PlanContext,
  status: ModelDeploymentStatus,
  since: string | undefined,
): boolean {
  const t = timeMs(since);
  return gatingChecks(ctx, status).every((check) => {
    const result = resultOf(status, check.name);
    return result?.phase === "Successful" && !Number.isNaN(t) && timeMs(result.lastMeasured) >= t;
  });
}

/** A gating check whose last measurement in this rollout is Failed or Error (or Inconclusive that fails). */
export function anyCheckFailing(ctx: PlanContext, status: ModelDeploymentStatus): boolean {
  return gatingChecks(ctx, status).some((c) => {
    const result = resultOf(status, c.name);
    const phase = result?.phase;
    return (
      phase === "Failed" ||
      phase === "Error" ||
      (phase === "Inconclusive" && inconclusiveFails(c, result?.inconclusiveSince, result?.lastMeasured))
    );
  });
}

/** Every gating check's last measurement is Successful. */
export function allChecksSuccessful(ctx: PlanContext, status: ModelDeploymentStatus): boolean {
  return gatingChecks(ctx, status).every((c) => resultOf(status, c.name)?.phase === "Successful");
}
