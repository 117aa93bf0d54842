// The mlops.dev/action annotation: acted on once (status.lastAction remembers the action at
// the ModelDeployment's resourceVersion), then removed; an action that does not apply is
// refused with a Warning Event that says why.
import type { V1Deployment } from "@kubernetes/client-node";
import { ACTIONS, ANNOTATION_ACTION } from "../api/constants.ts";
import { Reasons } from "../api/reasons.ts";
import type { ModelDeployment, ModelDeploymentStatus } from "../api/types.ts";
import { isHeld, isSpecTrack, recordHistory, type PlanContext, type StatusDraft } from "./context.ts";
import { beginStep, clearRollout, rollBack, scheduleScaleDown } from "./lifecycle.ts";
import { specLabel, stableLabel, versionLabel } from "./lookups.ts";
import { actionResult, actionTexts as say, noRollout } from "./messages.ts";
import { revisionHistoryLimitOf } from "./spec.ts";
import { findTrackDeployment, revisionOf, versionOf } from "./tracks.ts";
import type { PlannedEvent } from "./types.ts";

export type Outcome = { ok: boolean; message: string };
const refuse = (message: string): Outcome => ({ ok: false, message });
const accept = (message: string): Outcome => ({ ok: true, message });

/**
 * The action on `md` that is still to be acted on, with the key that records it in
 * status.lastAction; `pending` is false when the same action at the same resourceVersion
 * was acted on already (only the annotation is left to remove). Undefined: no action.
 */
function pendingAction(
  md: ModelDeployment,
  status: ModelDeploymentStatus,
): { action: string; key: string; pending: boolean } | undefined {
  const action = md.metadata?.annotations?.[ANNOTATION_ACTION];
  if (action === undefined) return undefined;
  const rv = md.metadata?.resourceVersion;
  const key = rv ? `${action}@${rv}` : action;
  return { action, key, pending: !(rv && status.lastAction === key) };
}

/** The Event that reports an action's outcome. */
function actionEvent(action: string, outcome: Outcome): PlannedEvent {
  return outcome.ok
    ? { type: "Normal", reason: Reasons.ActionAccepted, message: actionResult(action, outcome.message) }
    : { type: "Warning", reason: Reasons.ActionRefused, message: actionResult(action, outcome.message) };
}

/**
 * Settles the action annotation, if there is one: marks it for removal and, when it was not
 * acted on yet, records `decide`'s outcome (status.lastAction and an Event).
 */
export function settleAction(
  draft: StatusDraft,
  md: ModelDeployment,
  decide: (action: string) => Outcome,
): void {
  const found = pendingAction(md, draft.status);
  if (!found) return;
  draft.clearAction = true;
  if (!found.pending) return;
  const outcome = decide(found.action);
  draft.status.lastAction = found.key;
  draft.events.push(actionEvent(found.action, outcome));
}

function noRolloutMessage(ctx: PlanContext, status: ModelDeploymentStatus): string {
  const a = status.aborted;
  if (a)
    return noRollout({
      aborted: { label: versionLabel(ctx, status, a.version, a.revision), reason: a.reason },
    });
  if (status.stableVersion === undefined) return noRollout({ firstVersion: true });
  return noRollout({ stableLabel: stableLabel(ctx, status) });
}

/** Carries out `action` on the draft, or says why it does not apply. */
export function actOn(ctx: PlanContext, draft: StatusDraft, action: string): Outcome {
  if (!(ACTIONS as readonly string[]).includes(action)) return refuse(say.unknown(ACTIONS));
  switch (action) {
    case "promote":
    case "promote-full":
      return promoteAction(ctx, draft, action);
    case "abort":
      return abortAction(ctx, draft);
    case "retry": {
      const s = draft.status;
      if (!s.aborted) return refuse(say.nothingToRetry);
      const label = versionLabel(ctx, s, s.aborted.version, s.aborted.revision);
      delete s.aborted;
      return accept(say.retried(label));
    }
    case "pause": {
      const r = draft.status.rollout;
      if (!r) return refuse(noRolloutMessage(ctx, draft.status));
      if (r.pausedByAction) return refuse(say.alreadyPaused);
      r.pausedByAction = true;
      return accept(say.pausing(specLabel(ctx, draft.status)));
    }
    case "resume":
      return resumeAction(ctx, draft);
    case "rollback":
      return rollbackAction(ctx, draft);
  }
  return refuse("unknown action");
}

function promoteAction(ctx: PlanContext, draft: StatusDraft, action: "promote" | "promote-full"): Outcome {
  const s = draft.status;
  const r = s.rollout;
  if (!r) return refuse(noRolloutMessage(ctx, s));
  if (r.switchedAt !== undefined) return refuse(say.alreadySwitched(specLabel(ctx, s)));
  if (isHeld(ctx, s)) return refuse(ctx.md.spec.paused === true ? say.heldBySpec : say.paused);
  if (r.promote === "Full") return refuse(say.promoteFullUnderWay);
  if (action === "promote-full") {
    r.promote = "Full";
    if (ctx.strategy === "Canary") beginStep(ctx, draft, r, ctx.steps.length);
    return accept(say.promoteFull(specLabel(ctx, s), ctx.replicas));
  }
  r.promote = "Step";
  if (ctx.strategy === "BlueGreen") return accept(say.promoteBlueGreen(specLabel(ctx, s)));
  const i = s.currentStep ?? 0;
  const step = ctx.steps[i];
  if (step && step.setWeight === undefined) return accept(say.promotePause(i, ctx.steps.length));
  return accept(say.promoteStep(i, ctx.steps.length, specLabel(ctx, s)));
}

function abortAction(ctx: PlanContext, draft: StatusDraft): Outcome {
  const s = draft.status;
  const r = s.rollout;
  if (!r) return refuse(noRolloutMessage(ctx, s));
  if (r.switchedAt !== undefined) return refuse(say.alreadySwitched(specLabel(ctx, s)));
  const label = specLabel(ctx, s);
  rollBack(ctx, draft, Reasons.Aborted, say.abortReason, "Aborted");
  return accept(say.aborted(label, stableLabel(ctx, s)));
}

function resumeAction(ctx: PlanContext, draft: StatusDraft): Outcome {
  const r = draft.status.rollout;
  if (r?.pausedByAction) {
    delete r.pausedByAction;
    rearmAfterHold(ctx, draft);
    return accept(ctx.md.spec.paused ? say.resumedButHeld : say.resumed(specLabel(ctx, draft.status)));
  }
  if (ctx.md.spec.paused) return refuse(say.resumeHeldBySpec);
  return refuse(r ? say.notPaused : noRolloutMessage(ctx, draft.status));
}

/** After a hold ends, a step waiting for replicas gets a fresh progress deadline. */
export function rearmAfterHold(ctx: PlanContext, draft: StatusDraft): void {
  const r = draft.status.rollout;
  if (!r || isHeld(ctx, draft.status) || r.stepReadyAt !== undefined) return;
  const step = ctx.steps[draft.status.currentStep ?? 0];
  if (ctx.strategy === "Canary" && step && step.setWeight === undefined) return;
  r.stepStartedAt = ctx.nowIso;
}

/** The Deployment of the version promoted before the stable one, newest first in history, that still exists. */
function previousPromoted(ctx: PlanContext, status: ModelDeploymentStatus): V1Deployment | undefined {
  for (const h of status.history ?? []) {
    if (h.outcome !== "Promoted") continue;
    if (
      h.version === status.stableVersion &&
      (h.revision === undefined || h.revision === status.stableRevision)
    )
      continue;
    const d = findTrackDeployment(ctx.deployments.values(), h.version, h.revision);
    if (d) return d;
  }
  return undefined;
}

/** rollback: the version promoted before the stable one serves again, and the spec's track is held. */
function rollbackAction(ctx: PlanContext, draft: StatusDraft): Outcome {
  const s = draft.status;
  const stable = s.stableVersion;
  const stableRevision = s.stableRevision;
  if (stable === undefined) return refuse(say.nothingPromoted);
  const wasLabel = stableLabel(ctx, s);
  const targetDep = previousPromoted(ctx, s);
  if (targetDep === undefined)
    return refuse(say.noPreviousDeployment(wasLabel, revisionHistoryLimitOf(ctx.md)));
  const target = versionOf(targetDep) ?? "";
  const targetRevision = revisionOf(targetDep) ?? "";
  const targetLabel = versionLabel(ctx, s, target, targetRevision);
  const reason = say.rollbackReason(targetLabel);
  const r = s.rollout;
  if (r) {
    recordHistory(ctx, draft, {
      version: r.version,
      revision: r.revision,
      outcome: "RolledBack",
      reason: Reasons.RolledBack,
      message: reason,
    });
    clearRollout(s);
  }
  s.stableVersion = target;
  s.stableRevision = targetRevision;
  recordHistory(ctx, draft, {
    version: target,
    revision: targetRevision,
    outcome: "Promoted",
    reason: Reasons.RolledBack,
    message: say.rollbackPromoted(reason, wasLabel),
  });
  // The version rolled back from scales down at once; the target no longer does.
  scheduleScaleDown(s, { version: stable, revision: stableRevision }, ctx.nowIso, [
    { version: target, revision: targetRevision },
  ]);
  if (!isSpecTrack(ctx, target, targetRevision)) {
    s.aborted = {
      version: ctx.specVersion,
      revision: ctx.revision,
      reason: Reasons.RolledBack,
      message: say.rollbackHold(reason, ctx.specVersion === target, target, targetRevision),
      time: ctx.nowIso,
    };
  }
  return accept(say.rolledBackTo(targetLabel, wasLabel, ctx.replicas));
}
