// A rollout's life in the status: started when the spec's track is due, followed when the
// spec moves away, a step begun, rolled back, promoted; and the scale-down entries of
// versions kept ready for a while after they stop serving.
import type { ModelDeploymentStatus, RolloutState } from "../api/types.ts";
import { Reasons, type Reason } from "../api/reasons.ts";
import {
  isSpecTrack,
  recordEvent,
  recordHistory,
  rolloutMode,
  type PlanContext,
  type StatusDraft,
} from "./context.ts";
import { sameTrack, specLabel, stableLabel, trackNameOf, versionLabel } from "./lookups.ts";
import * as text from "./messages.ts";
import { checksOf, previewReplicasOf, scaleDownDelayMsOf } from "./spec.ts";

interface TrackRef {
  version: string;
  revision?: string | undefined;
}

/** Removes the rollout under way from the status (its candidate fields with it). */
export function clearRollout(status: ModelDeploymentStatus): void {
  delete status.rollout;
  delete status.candidateVersion;
  delete status.candidateRevision;
  delete status.candidateWeight;
  delete status.currentStep;
}

/**
 * Keeps `track` ready until `after` (status.scaleDown), replacing an entry of it and of the
 * tracks in `replaces`.
 */
export function scheduleScaleDown(
  status: ModelDeploymentStatus,
  track: TrackRef,
  after: string,
  replaces: readonly TrackRef[] = [],
): void {
  const entry = {
    version: track.version,
    ...(track.revision !== undefined ? { revision: track.revision } : {}),
  };
  status.scaleDown = [
    ...(status.scaleDown ?? []).filter((e) => !sameTrack(e, entry) && !replaces.some((t) => sameTrack(e, t))),
    { ...entry, after },
  ];
}

/** The time a version that stops serving now scales down: after scaleDownDelaySeconds. */
export function scaleDownTime(ctx: PlanContext): string {
  return new Date(ctx.nowMs + scaleDownDelayMsOf(ctx.md)).toISOString();
}

/** Step `index` begins now: its readiness and its progress deadline are timed from now. */
export function beginStep(ctx: PlanContext, draft: StatusDraft, rollout: RolloutState, index: number): void {
  draft.status.currentStep = index;
  rollout.stepStartedAt = ctx.nowIso;
  delete rollout.stepReadyAt;
  draft.stepBegan = true;
}

/** Reacts to a spec that moved away from the rollout or the aborted rollout in the status. */
export function followSpec(ctx: PlanContext, draft: StatusDraft): void {
  const status = draft.status;
  if (status.aborted && !isSpecTrack(ctx, status.aborted.version, status.aborted.revision))
    delete status.aborted;
  const rollout = status.rollout;
  if (rollout && !isSpecTrack(ctx, rollout.version, rollout.revision)) {
    endSupersededRollout(ctx, draft, rollout);
  } else if (rollout && ctx.previous.strategy !== undefined && ctx.previous.strategy !== ctx.strategy) {
    status.rollout = { version: rollout.version, revision: rollout.revision, startedAt: rollout.startedAt };
    beginStep(ctx, draft, status.rollout, 0);
    recordEvent(
      draft,
      "Normal",
      Reasons.RolloutStarted,
      text.strategyChanged(ctx.strategy, specLabel(ctx, status)),
    );
  }
}

/** The rollout `r` is of a track the spec no longer asks for: it ends, reverted or superseded. */
function endSupersededRollout(ctx: PlanContext, draft: StatusDraft, rollout: RolloutState): void {
  const status = draft.status;
  const was = versionLabel(ctx, status, rollout.version, rollout.revision);
  const rName = trackNameOf(ctx, rollout.version, rollout.revision);
  if (rollout.switchedAt !== undefined && rName !== undefined && ctx.router.observeSoleTrack(ctx) === rName) {
    // Blue/green, switched but not yet promoted: the clients stay on r's track until the
    // stable one is Available and selected again, then it scales down as after a switch.
    scheduleScaleDown(status, rollout, scaleDownTime(ctx));
  }
  const sameVersion = rollout.version === ctx.specVersion;
  const base = { version: rollout.version, revision: rollout.revision };
  if (isSpecTrack(ctx, status.stableVersion, status.stableRevision ?? ctx.revision)) {
    const message = text.revertedHistory(sameVersion, ctx.specVersion, ctx.revision);
    recordHistory(ctx, draft, { ...base, outcome: "Reverted", reason: Reasons.RolloutReverted, message });
    const event = text.revertedEvent(sameVersion, ctx.specVersion, ctx.revision, {
      label: was,
      revision: rollout.revision,
    });
    recordEvent(draft, "Normal", Reasons.RolloutReverted, event);
  } else {
    const why = text.supersededBy(sameVersion, rollout.version, ctx.specVersion, ctx.revision);
    recordHistory(ctx, draft, {
      ...base,
      outcome: "Superseded",
      reason: Reasons.RolloutSuperseded,
      message: why,
    });
    recordEvent(draft, "Normal", Reasons.RolloutSuperseded, text.superseded(was, why));
  }
  clearRollout(status);
}

/** Starts the rollout of the spec's track when one is due and none runs. */
export function startRolloutIfDue(ctx: PlanContext, draft: StatusDraft): void {
  const status = draft.status;
  if (rolloutMode(ctx, status) !== "rollingOut" || status.rollout) return;
  status.rollout = { version: ctx.specVersion, revision: ctx.revision, startedAt: ctx.nowIso };
  beginStep(ctx, draft, status.rollout, 0);
  status.candidateVersion = ctx.specVersion;
  status.candidateRevision = ctx.revision;
  status.checks = checksOf(ctx.md).map((c) => ({ name: c.name, phase: "Pending" as const }));
  status.scaleDown = (status.scaleDown ?? []).filter(
    (e) => !sameTrack(e, { version: ctx.specVersion, revision: ctx.revision }),
  );
  if (status.scaleDown.length === 0) delete status.scaleDown;
  const start =
    ctx.specVersion === status.stableVersion
      ? {
          kind: "template" as const,
          version: ctx.specVersion,
          revision: ctx.revision,
          deployment: ctx.spec.name,
          stableRevision: status.stableRevision,
        }
      : {
          kind: "version" as const,
          version: ctx.specVersion,
          revision: ctx.revision,
          stableLabel: stableLabel(ctx, status),
        };
  const how =
    ctx.strategy === "Canary"
      ? { strategy: "Canary" as const, steps: ctx.steps.length }
      : { strategy: "BlueGreen" as const, previewReplicas: previewReplicasOf(ctx.md) };
  recordEvent(draft, "Normal", Reasons.RolloutStarted, text.rolloutStarted(start, how));
}

/**
 * What every rollback writes of the rollout under way: status.aborted (which keeps the
 * version from being rolled out again until the spec or a retry says so) and a history entry.
 */
export function recordRollBack(
  ctx: PlanContext,
  draft: StatusDraft,
  rollout: RolloutState,
  reason: Reason,
  message: string,
  outcome: "RolledBack" | "Aborted",
): void {
  const { version, revision } = rollout;
  draft.status.aborted = { version, revision, reason, message, time: ctx.nowIso };
  recordHistory(ctx, draft, { version, revision, outcome, reason, message });
}

/** Moves all traffic back to the stable version and records why. */
export function rollBack(
  ctx: PlanContext,
  draft: StatusDraft,
  reason: Reason,
  message: string,
  outcome: "RolledBack" | "Aborted",
): void {
  const status = draft.status;
  const rollout = status.rollout;
  if (!rollout) return;
  recordRollBack(ctx, draft, rollout, reason, message, outcome);
  const label = versionLabel(ctx, status, rollout.version, rollout.revision);
  recordEvent(
    draft,
    "Warning",
    Reasons.RolledBack,
    text.rolledBack(label, reason, message, stableLabel(ctx, status)),
  );
  clearRollout(status);
}

/**
 * The candidate becomes the stable version; a blue/green predecessor is kept for
 * scaleDownDelaySeconds, or until `scaleDownAt` when the delay was spent before (checks
 * after the switch).
 */
export function promote(ctx: PlanContext, draft: StatusDraft, why: string, scaleDownAt?: string): void {
  const status = draft.status;
  const rollout = status.rollout;
  if (!rollout) return;
  const old = status.stableVersion;
  const oldRevision = status.stableRevision;
  const oldLabel = stableLabel(ctx, status);
  const label = versionLabel(ctx, status, rollout.version, rollout.revision);
  status.stableVersion = rollout.version;
  status.stableRevision = rollout.revision;
  recordHistory(ctx, draft, {
    version: rollout.version,
    revision: rollout.revision,
    outcome: "Promoted",
    message: why,
  });
  recordEvent(draft, "Normal", Reasons.Promoted, text.promoted(label, old ? oldLabel : undefined, why));
  if (
    ctx.strategy === "BlueGreen" &&
    old !== undefined &&
    !(old === rollout.version && oldRevision === rollout.revision)
  ) {
    scheduleScaleDown(status, { version: old, revision: oldRevision }, scaleDownAt ?? scaleDownTime(ctx));
  }
  clearRollout(status);
}

/** The first version is Available at its size: it becomes stable. */
export function promoteFirstVersion(ctx: PlanContext, draft: StatusDraft): void {
  const status = draft.status;
  status.stableVersion = ctx.specVersion;
  status.stableRevision = ctx.revision;
  recordHistory(ctx, draft, {
    version: ctx.specVersion,
    revision: ctx.revision,
    outcome: "Promoted",
    message: text.firstVersionHistory(ctx.replicas),
  });
  recordEvent(draft, "Normal", Reasons.Promoted, text.firstVersionPromoted(ctx.specVersion, ctx.replicas));
}
