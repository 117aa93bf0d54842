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
import { hasPostPromotionChecks, revisionHistoryLimitOf } from "./spec.ts";
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
      const status = draft.status;
      if (!status.aborted) return refuse(say.nothingToRetry);
      const label = versionLabel(ctx, status, status.aborted.version, status.aborted.revision);
      delete status.aborted;
      return accept(say.retried(label));
    }
    case "pause": {
      const rollout = draft.status.rollout;
      if (!rollout) return refuse(noRolloutMessage(ctx, draft.status));
      if (rollout.pausedByAction) return refuse(say.alreadyPaused);
      rollout.pausedByAction = true;
      return accept(say.pausing(specLabel(ctx, draft.status)));
    }
    case "resume":
      return resumeAction(ctx, draft);
    case "rollback":
      return rollbackAction(ctx, draft);
  }
  return refuse(say.unknown(ACTIONS));
}

function promoteAction(ctx: PlanContext, draft: StatusDraft, action: "promote" | "promote-full"): Outcome {
  const status = draft.status;
  const rollout = status.rollout;
  if (!rollout) return refuse(noRolloutMessage(ctx, status));
  if (rollout.switchedAt !== undefined) {
    // While checks run after the switch, promote-full ends them: promoted at once.
    if (action !== "promote-full" || !hasPostPromotionChecks(ctx.md) || rollout.promote === "Full")
      return refuse(say.alreadySwitched(specLabel(ctx, status)));
    rollout.promote = "Full";
    return accept(say.promoteFullAfterSwitch(specLabel(ctx, status)));
  }
  if (isHeld(ctx, status)) return refuse(ctx.md.spec.paused === true ? say.heldBySpec : say.paused);
  if (rollout.promote === "Full") return refuse(say.promoteFullUnderWay);
  if (action === "promote-full") {
    rollout.promote = "Full";
    if (ctx.strategy === "Canary") beginStep(ctx, draft, rollout, ctx.steps.length);
    return accept(say.promoteFull(specLabel(ctx, status), ctx.replicas));
  }
  rollout.promote = "Step";
  if (ctx.strategy === "BlueGreen") return accept(say.promoteBlueGreen(specLabel(ctx, status)));
  const i = status.currentStep ?? 0;
  const step = ctx.steps[i];
  if (step && step.setWeight === undefined) return accept(say.promotePause(i, ctx.steps.length));
  return accept(say.promoteStep(i, ctx.steps.length, specLabel(ctx, status)));
}

function abortAction(ctx: PlanContext, draft: StatusDraft): Outcome {
  const status = draft.status;
  const rollout = status.rollout;
  if (!rollout) return refuse(noRolloutMessage(ctx, status));
  // While checks run after a switch the old version is still ready: abort switches back.
  if (rollout.switchedAt !== undefined && !hasPostPromotionChecks(ctx.md))
    return refuse(say.alreadySwitched(specLabel(ctx, status)));
  const label = specLabel(ctx, status);
  rollBack(ctx, draft, Reasons.Aborted, say.abortReason, "Aborted");
  return accept(say.aborted(label, stableLabel(ctx, status)));
}

function resumeAction(ctx: PlanContext, draft: StatusDraft): Outcome {
  const rollout = draft.status.rollout;
  if (rollout?.pausedByAction) {
    delete rollout.pausedByAction;
    rearmAfterHold(ctx, draft);
    return accept(ctx.md.spec.paused ? say.resumedButHeld : say.resumed(specLabel(ctx, draft.status)));
  }
  if (ctx.md.spec.paused) return refuse(say.resumeHeldBySpec);
  return refuse(rollout ? say.notPaused : noRolloutMessage(ctx, draft.status));
}

/** After a hold ends, a step waiting for replicas gets a fresh progress deadline. */
export function rearmAfterHold(ctx: PlanContext, draft: StatusDraft): void {
  const rollout = draft.status.rollout;
  if (!rollout || isHeld(ctx, draft.status) || rollout.stepReadyAt !== undefined) return;
  const step = ctx.steps[draft.status.currentStep ?? 0];
  if (ctx.strategy === "Canary" && step && step.setWeight === undefined) return;
  rollout.stepStartedAt = ctx.nowIso;
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
  const status = draft.status;
  const stable = status.stableVersion;
  const stableRevision = status.stableRevision;
  if (stable === undefined) return refuse(say.nothingPromoted);
  const wasLabel = stableLabel(ctx, status);
  const targetDep = previousPromoted(ctx, status);
  if (targetDep === undefined)
    return refuse(say.noPreviousDeployment(wasLabel, revisionHistoryLimitOf(ctx.md)));
  const target = versionOf(targetDep) ?? "";
  const targetRevision = revisionOf(targetDep) ?? "";
  const targetLabel = versionLabel(ctx, status, target, targetRevision);
  const reason = say.rollbackReason(targetLabel);
  const rollout = status.rollout;
  if (rollout) {
    recordHistory(ctx, draft, {
      version: rollout.version,
      revision: rollout.revision,
      outcome: "RolledBack",
      reason: Reasons.RolledBack,
      message: reason,
    });
    clearRollout(status);
  }
  status.stableVersion = target;
  status.stableRevision = targetRevision;
  recordHistory(ctx, draft, {
    version: target,
    revision: targetRevision,
    outcome: "Promoted",
    reason: Reasons.RolledBack,
    message: say.rollbackPromoted(reason, wasLabel),
  });
  // The version rolled back from scales down at once; the target no longer does.
  scheduleScaleDown(status, { version: stable, revision: stableRevision }, ctx.nowIso, [
    { version: target, revision: targetRevision },
  ]);
  if (!isSpecTrack(ctx, target, targetRevision)) {
    status.aborted = {
      version: ctx.specVersion,
      revision: ctx.revision,
      reason: Reasons.RolledBack,
      message: say.rollbackHold(reason, ctx.specVersion === target, target, targetRevision),
      time: ctx.nowIso,
    };
  }
  return accept(say.rolledBackTo(targetLabel, wasLabel, ctx.replicas));
}
