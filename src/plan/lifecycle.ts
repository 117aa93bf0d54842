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
export function beginStep(ctx: PlanContext, draft: StatusDraft, r: RolloutState, index: number): void {
  draft.status.currentStep = index;
  r.stepStartedAt = ctx.nowIso;
  delete r.stepReadyAt;
  draft.stepBegan = true;
}

/** Reacts to a spec that moved away from the rollout or the aborted rollout in the status. */
export function followSpec(ctx: PlanContext, draft: StatusDraft): void {
  const s = draft.status;
  if (s.aborted && !isSpecTrack(ctx, s.aborted.version, s.aborted.revision)) delete s.aborted;
  const r = s.rollout;
  if (r && !isSpecTrack(ctx, r.version, r.revision)) {
    endSupersededRollout(ctx, draft, r);
  } else if (r && ctx.previous.strategy !== undefined && ctx.previous.strategy !== ctx.strategy) {
    s.rollout = { version: r.version, revision: r.revision, startedAt: r.startedAt };
    beginStep(ctx, draft, s.rollout, 0);
    recordEvent(
      draft,
      "Normal",
      Reasons.RolloutStarted,
      text.strategyChanged(ctx.strategy, specLabel(ctx, s)),
    );
  }
}

/** The rollout `r` is of a track the spec no longer asks for: it ends, reverted or superseded. */
function endSupersededRollout(ctx: PlanContext, draft: StatusDraft, r: RolloutState): void {
  const s = draft.status;
  const was = versionLabel(ctx, s, r.version, r.revision);
  const rName = trackNameOf(ctx, r.version, r.revision);
  if (r.switchedAt !== undefined && rName !== undefined && ctx.router.observeSoleTrack(ctx) === rName) {
    // Blue/green, switched but not yet promoted: the clients stay on r's track until the
    // stable one is Available and selected again, then it scales down as after a switch.
    scheduleScaleDown(s, r, scaleDownTime(ctx));
  }
  const sameVersion = r.version === ctx.specVersion;
  const base = { version: r.version, revision: r.revision };
  if (isSpecTrack(ctx, s.stableVersion, s.stableRevision ?? ctx.revision)) {
    const message = text.revertedHistory(sameVersion, ctx.specVersion, ctx.revision);
    recordHistory(ctx, draft, { ...base, outcome: "Reverted", reason: Reasons.RolloutReverted, message });
    const event = text.revertedEvent(sameVersion, ctx.specVersion, ctx.revision, {
      label: was,
      revision: r.revision,
    });
    recordEvent(draft, "Normal", Reasons.RolloutReverted, event);
  } else {
    const why = text.supersededBy(sameVersion, r.version, ctx.specVersion, ctx.revision);
    recordHistory(ctx, draft, {
      ...base,
      outcome: "Superseded",
      reason: Reasons.RolloutSuperseded,
      message: why,
    });
    recordEvent(draft, "Normal", Reasons.RolloutSuperseded, text.superseded(was, why));
  }
  clearRollout(s);
}

/** Starts the rollout of the spec's track when one is due and none runs. */
export function startRolloutIfDue(ctx: PlanContext, draft: StatusDraft): void {
  const s = draft.status;
  if (rolloutMode(ctx, s) !== "rollingOut" || s.rollout) return;
  s.rollout = { version: ctx.specVersion, revision: ctx.revision, startedAt: ctx.nowIso };
  beginStep(ctx, draft, s.rollout, 0);
  s.candidateVersion = ctx.specVersion;
  s.candidateRevision = ctx.revision;
  s.checks = checksOf(ctx.md).map((c) => ({ name: c.name, phase: "Pending" as const }));
  s.scaleDown = (s.scaleDown ?? []).filter(
    (e) => !sameTrack(e, { version: ctx.specVersion, revision: ctx.revision }),
  );
  if (s.scaleDown.length === 0) delete s.scaleDown;
  const start =
    ctx.specVersion === s.stableVersion
      ? {
          kind: "template" as const,
          version: ctx.specVersion,
          revision: ctx.revision,
          deployment: ctx.spec.name,
          stableRevision: s.stableRevision,
        }
      : {
          kind: "version" as const,
          version: ctx.specVersion,
          revision: ctx.revision,
          stableLabel: stableLabel(ctx, s),
        };
  const how =
    ctx.strategy === "Canary"
      ? { strategy: "Canary" as const, steps: ctx.steps.length }
      : { strategy: "BlueGreen" as const, previewReplicas: previewReplicasOf(ctx.md) };
  recordEvent(draft, "Normal", Reasons.RolloutStarted, text.rolloutStarted(start, how));
}

/** Moves all traffic back to the stable version and records why. */
export function rollBack(
  ctx: PlanContext,
  draft: StatusDraft,
  reason: Reason,
  message: string,
  outcome: "RolledBack" | "Aborted",
): void {
  const s = draft.status;
  const r = s.rollout;
  if (!r) return;
  s.aborted = { version: r.version, revision: r.revision, reason, message, time: ctx.nowIso };
  recordHistory(ctx, draft, { version: r.version, revision: r.revision, outcome, reason, message });
  const label = versionLabel(ctx, s, r.version, r.revision);
  recordEvent(
    draft,
    "Warning",
    Reasons.RolledBack,
    text.rolledBack(label, reason, message, stableLabel(ctx, s)),
  );
  clearRollout(s);
}

/** The candidate becomes the stable version; a blue/green predecessor is kept for scaleDownDelaySeconds. */
export function promote(ctx: PlanContext, draft: StatusDraft, why: string): void {
  const s = draft.status;
  const r = s.rollout;
  if (!r) return;
  const old = s.stableVersion;
  const oldRevision = s.stableRevision;
  const oldLabel = stableLabel(ctx, s);
  const label = versionLabel(ctx, s, r.version, r.revision);
  s.stableVersion = r.version;
  s.stableRevision = r.revision;
  recordHistory(ctx, draft, { version: r.version, revision: r.revision, outcome: "Promoted", message: why });
  recordEvent(draft, "Normal", Reasons.Promoted, text.promoted(label, old ? oldLabel : undefined, why));
  if (
    ctx.strategy === "BlueGreen" &&
    old !== undefined &&
    !(old === r.version && oldRevision === r.revision)
  ) {
    scheduleScaleDown(s, { version: old, revision: oldRevision }, scaleDownTime(ctx));
  }
  clearRollout(s);
}

/** The first version is Available at its size: it becomes stable. */
export function promoteFirstVersion(ctx: PlanContext, draft: StatusDraft): void {
  const s = draft.status;
  s.stableVersion = ctx.specVersion;
  s.stableRevision = ctx.revision;
  recordHistory(ctx, draft, {
    version: ctx.specVersion,
    revision: ctx.revision,
    outcome: "Promoted",
    message: text.firstVersionHistory(ctx.replicas),
  });
  recordEvent(draft, "Normal", Reasons.Promoted, text.firstVersionPromoted(ctx.specVersion, ctx.replicas));
}
