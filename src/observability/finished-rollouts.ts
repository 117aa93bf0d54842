// Which rollouts ended between two statuses of a ModelDeployment, and how long each took:
// what the rollout counters and the duration histogram of metrics.ts count.
import type { ModelDeploymentStatus } from "../api/types.ts";

/** A rollout that ended between two statuses: a new status.history entry. */
export interface FinishedRollout {
  version: string;
  /** Promoted, RolledBack, Aborted, Superseded or Reverted. */
  outcome: string;
  /** From status.rollout.startedAt to the history entry's time, when both are known. */
  seconds: number | undefined;
}

/**
 * The rollouts that ended from `previous` to `next`: history entries in `next` that
 * `previous` does not have. The duration is known when `previous` still had the rollout
 * under way (status.rollout of the same version).
 */
export function finishedRollouts(
  previous: ModelDeploymentStatus | undefined,
  next: ModelDeploymentStatus | undefined,
): FinishedRollout[] {
  const seen = new Set((previous?.history ?? []).map(historyKey));
  const finished: FinishedRollout[] = [];
  for (const entry of next?.history ?? []) {
    if (seen.has(historyKey(entry))) continue;
    const rollout = previous?.rollout;
    let seconds: number | undefined;
    if (rollout && rollout.version === entry.version) {
      const ms = Date.parse(entry.time) - Date.parse(rollout.startedAt);
      if (Number.isFinite(ms) && ms >= 0) seconds = ms / 1000;
    }
    finished.push({ version: entry.version, outcome: entry.outcome, seconds });
  }
  return finished;
}

function historyKey(e: { version: string; outcome: string; time: string }): string {
  return `${e.version}\u0000${e.outcome}\u0000${e.time}`;
}
