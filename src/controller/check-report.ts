// How often a passing health check's result is written. A check that passes again with
// nothing new (still Successful, no failure counted) changes only its value, lastMeasured
// and record of measurements; writing that at every interval costs a status write per
// measurement (32 a second with 1000 rollouts measuring at the global cap), and a watch
// event of each to every watcher of ModelDeployments. Like the kubelet's node status (its
// nodeStatusReportFrequency), such a result is kept in memory and written with the next
// status write, or once the check's written result is --check-report-period old. Anything
// else (a first result, a failure, an Inconclusive, a step that advances on it) is written
// at once. The planner plans from the results in memory, so checks are still measured at
// their interval and the record of measurements in status loses none of them.
//
// Nothing here is the truth either: a restarted operator finds the written results and
// measures again what they say is due.
import type { CheckStatus, ModelDeployment } from "../api/types.ts";
import { timeMs } from "../plan/checks.ts";

/**
 * `after` only repeats `before`'s verdicts: the same checks in the same order, each
 * Successful before and after, with the same failure count and dryRun flag. Values,
 * messages, lastMeasured and the record of measurements may differ.
 */
export function routineCheckResults(
  before: readonly CheckStatus[] | undefined,
  after: readonly CheckStatus[] | undefined,
): boolean {
  if (!before || !after || before.length !== after.length || after.length === 0) return false;
  return after.every((a, i) => {
    const b = before[i]!;
    return (
      a.name === b.name &&
      a.phase === "Successful" &&
      b.phase === "Successful" &&
      (a.consecutiveFailures ?? 0) === (b.consecutiveFailures ?? 0) &&
      a.dryRun === b.dryRun &&
      a.inconclusiveSince === undefined &&
      b.inconclusiveSince === undefined
    );
  });
}

/** Check results merged but not written yet, by ModelDeployment key. */
export class HeldCheckResults {
  readonly #periodMs: number;
  readonly #held = new Map<string, { uid: string | undefined; checks: readonly CheckStatus[] }>();

  /** `periodMs` 0: every result is written at once. */
  constructor(periodMs: number) {
    this.#periodMs = periodMs;
  }

  /**
   * `md` with the results held for it laid over its written ones, each only while it is
   * newer (a status written since, by this process or another, wins).
   */
  overlay(key: string, md: ModelDeployment): ModelDeployment {
    const held = this.#held.get(key);
    const written = md.status?.checks;
    if (!held || held.uid !== md.metadata?.uid || !written) return md;
    let newer = false;
    const checks = written.map((c) => {
      const h = held.checks.find((x) => x.name === c.name);
      if (!h || !(timeMs(h.lastMeasured) > timeMs(c.lastMeasured))) return c;
      newer = true;
      return h;
    });
    return newer ? { ...md, status: { ...md.status, checks } } : md;
  }

  /**
   * How long the new results in `next` may wait before they must be written (ms), or
   * undefined to write them now. They wait when `changed` (the status fields that differ
   * from `written`'s) is checks alone, they only repeat the written verdicts, and every
   * written result is younger than the period; they are then held for the next reconcile.
   */
  holdMs(
    key: string,
    written: ModelDeployment,
    next: readonly CheckStatus[] | undefined,
    changed: readonly string[],
    nowMs: number,
  ): number | undefined {
    if (this.#periodMs <= 0 || changed.length !== 1 || changed[0] !== "checks") return undefined;
    const before = written.status?.checks;
    if (!routineCheckResults(before, next)) return undefined;
    const oldest = Math.min(...before!.map((c) => timeMs(c.lastMeasured)));
    const waitMs = oldest + this.#periodMs - nowMs;
    if (!(waitMs > 0)) return undefined;
    this.#held.set(key, { uid: written.metadata?.uid, checks: next! });
    return waitMs;
  }

  /** The status was written (or the ModelDeployment is gone): nothing is held for it any more. */
  forget(key: string): void {
    this.#held.delete(key);
  }

  /** ModelDeployments with results held (for tests and metrics). */
  get size(): number {
    return this.#held.size;
  }
}
