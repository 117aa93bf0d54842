// The platform's budget for health checks: how often one check may be measured at most
// (a minimum interval) and how long one measurement may hold a connection (a maximum
// timeout). A spec that asks for more is not refused, so that manifests written before the
// budget existed keep working: the planner is given the spec as the platform allows it
// (a copy with the interval and timeout clamped), and a warning says what was changed.
import type { HealthCheck, ModelDeployment } from "../api/types.ts";
import { parseDuration, formatDuration } from "./duration.ts";
import { DEFAULT_CHECK_INTERVAL, DEFAULT_CHECK_TIMEOUT } from "./spec.ts";
import type { SpecWarning } from "./warnings.ts";

export interface CheckBudget {
  /** Shortest interval between two measurements of one check. */
  minIntervalMs: number;
  /** Longest timeout of one measurement. */
  maxTimeoutMs: number;
}

export const DEFAULT_CHECK_BUDGET: CheckBudget = { minIntervalMs: 1000, maxTimeoutMs: 60_000 };

/** The flags that set the budget, named in warnings so a reader knows who to ask. */
const MIN_INTERVAL_FLAG = "--check-min-interval";
const MAX_TIMEOUT_FLAG = "--check-max-timeout";

export interface BudgetedSpec {
  /** `md` itself when nothing is clamped, else a copy with the clamped durations. */
  md: ModelDeployment;
  warnings: SpecWarning[];
}

/** Milliseconds of a duration, undefined when it is not one (validation reports that). */
function durationMs(text: string): number | undefined {
  try {
    return parseDuration(text);
  } catch {
    return undefined;
  }
}

/**
 * `md` with every check's interval raised to the budget's minimum and its timeout lowered
 * to the budget's maximum, and one warning per field that was changed.
 */
export function applyCheckBudget(md: ModelDeployment, budget: CheckBudget): BudgetedSpec {
  const healthChecks = md.spec?.healthChecks;
  const checks = healthChecks?.checks ?? [];
  if (checks.length === 0) return { md, warnings: [] };
  const warnings: SpecWarning[] = [];
  const min = budget.minIntervalMs;
  const max = budget.maxTimeoutMs;
  const shared = durationMs(healthChecks?.interval ?? DEFAULT_CHECK_INTERVAL);
  const sharedTooShort = shared !== undefined && shared < min;
  if (sharedTooShort && checks.some((c) => c.interval === undefined)) {
    warnings.push({
      path: "spec.healthChecks.interval",
      message: intervalMessage(healthChecks?.interval ?? DEFAULT_CHECK_INTERVAL, min),
    });
  }
  let changed = false;
  const budgeted = checks.map((check, i): HealthCheck => {
    const next: HealthCheck = { ...check };
    if (check.interval !== undefined) {
      const own = durationMs(check.interval);
      if (own !== undefined && own < min) {
        next.interval = `${min}ms`;
        warnings.push({
          path: `spec.healthChecks.checks[${i}].interval`,
          message: intervalMessage(check.interval, min),
        });
      }
    } else if (sharedTooShort) next.interval = `${min}ms`;
    const timeoutText = check.timeout ?? DEFAULT_CHECK_TIMEOUT;
    const timeout = durationMs(timeoutText);
    if (timeout !== undefined && timeout > max) {
      next.timeout = `${max}ms`;
      warnings.push({
        path: `spec.healthChecks.checks[${i}].timeout`,
        message: `timeout ${timeoutText} is above the platform's maximum of ${formatDuration(max)} (${MAX_TIMEOUT_FLAG}): a measurement is given ${formatDuration(max)}`,
      });
    }
    if (next.interval !== check.interval || next.timeout !== check.timeout) changed = true;
    return next;
  });
  if (!changed) return { md, warnings };
  return {
    md: { ...md, spec: { ...md.spec, healthChecks: { ...healthChecks, checks: budgeted } } },
    warnings,
  };
}

function intervalMessage(written: string, minMs: number): string {
  return `interval ${written} is below the platform's minimum of ${formatDuration(minMs)} (${MIN_INTERVAL_FLAG}): measured every ${formatDuration(minMs)}`;
}
