// The rollout state machine. PURE: plan(input) decides everything from the ModelDeployment
// (its status is the memory of the rollout), what is observed, the measurements taken in
// this reconcile and `now`. The same input always gives the same plan, and a plan whose
// status is fed back with the world unchanged gives the same status and no events.
//
// The parts, in the order one plan runs them: the spec is followed (lifecycle.ts), an action
// acted on (actions.ts), the checks' results merged (check-results.ts), the strategy moves
// the rollout on (canary-stepper.ts, bluegreen.ts), the desired children are computed
// (desired.ts, with the traffic router of routers/), then the status (status.ts) and when to
// come back (requeue.ts). They share a read-only context and change only the draft (context.ts).
import { LABEL_MODEL } from "../api/constants.ts";
import { Reasons } from "../api/reasons.ts";
import { actOn, rearmAfterHold, settleAction } from "./actions.ts";
import { adoptionPollMs, advanceAdoption, isAdopting, planAdoptedScales, planAdoption } from "./adoption.ts";
import { stepBlueGreen } from "./bluegreen.ts";
import { stepCanary } from "./canary-stepper.ts";
import { dryRunChecksFailedNow, failedCheck, mergeMeasurements } from "./check-results.ts";
import {
  createContext,
  createDraft,
  isHeld,
  recordEvent,
  rolloutMode,
  type PlanContext,
  type RolloutMode,
  type StatusDraft,
} from "./context.ts";
import { desiredChildren } from "./desired.ts";
import { followSpec, promoteFirstVersion, rollBack, startRolloutIfDue } from "./lifecycle.ts";
import { isAvailableAt } from "./lookups.ts";
import { checkFailed, dryRunCheckFailed } from "./messages.ts";
import { computeReadinessGateStatus, planPodConditions } from "./readiness-gate.ts";
import { requeueAfterMs } from "./requeue.ts";
import { finishStatus, invalidSpecStatus } from "./status.ts";
import type { Plan, PlanInput } from "./types.ts";
import { formatProblems, validateModelDeployment } from "./validate.ts";

export { isAvailableAt } from "./lookups.ts";

/** Moves the rollout on: the first version's promotion, a rollback on a failed check, or a strategy's step. */
function advance(ctx: PlanContext, draft: StatusDraft): RolloutMode {
  const status = draft.status;
  const mode = rolloutMode(ctx, status);
  if (mode === "firstVersion") {
    if (!isAvailableAt(ctx.specDeployment, ctx.replicas, ctx.revision)) return mode;
    promoteFirstVersion(ctx, draft);
    return "atRest";
  }
  if (mode === "atRest") {
    if (status.stableRevision === undefined) status.stableRevision = ctx.revision;
    return mode;
  }
  if (mode !== "rollingOut") return mode;
  const checksBefore = status.checks;
  mergeMeasurements(ctx, status);
  for (const dry of dryRunChecksFailedNow(ctx, checksBefore, status))
    recordEvent(draft, "Warning", Reasons.DryRunCheckFailed, dryRunCheckFailed(dry.result, dry.threshold));
  const failed = status.rollout?.promote === "Full" ? undefined : failedCheck(ctx, status);
  if (failed) {
    const texts = checkFailed(failed.result, failed.threshold);
    recordEvent(draft, "Warning", Reasons.CheckFailed, texts.event);
    rollBack(ctx, draft, Reasons.HealthCheckFailed, texts.rollback, "RolledBack");
  } else if (ctx.strategy === "Canary") stepCanary(ctx, draft);
  else stepBlueGreen(ctx, draft);
  return rolloutMode(ctx, status);
}

function planValid(ctx: PlanContext): Plan {
  const draft = createDraft(ctx.previous);
  const status = draft.status;
  status.observedGeneration = ctx.md.metadata?.generation ?? status.observedGeneration;
  status.strategy = ctx.strategy;
  status.selector = `${LABEL_MODEL}=${ctx.name}`;

  followSpec(ctx, draft);
  // An existing Deployment to adopt (spec.workloadRef) before the first promotion: the
  // adoption decides the plan until its new version is promoted (adoption.ts).
  if (isAdopting(ctx, status)) {
    const step = advanceAdoption(ctx, draft);
    if (step.kind !== "promoted") return planAdoption(ctx, draft, step);
  }
  // Before the action, so that an action finds the rollout the spec asks for; after it,
  // because retry clears status.aborted and the rollout then starts in this same plan.
  startRolloutIfDue(ctx, draft);
  settleAction(draft, ctx.md, (action) => actOn(ctx, draft, action));
  startRolloutIfDue(ctx, draft);
  if (
    status.rollout &&
    ctx.previous.phase === "Paused" &&
    !isHeld(ctx, status) &&
    !ctx.previous.rollout?.pausedByAction
  ) {
    rearmAfterHold(ctx, draft);
  }

  const mode = advance(ctx, draft);
  const children = desiredChildren(ctx, draft, mode);
  finishStatus(ctx, draft, mode);
  // The readiness gate follows the status this plan ends with: a 0% stage that completed in
  // it opens the gate in the same reconcile.
  const podConditions = planPodConditions(ctx, status);
  const gate = computeReadinessGateStatus(ctx, status, podConditions);
  if (gate) status.readinessGate = gate;
  else delete status.readinessGate;
  const plan: Plan = {
    apply: children.apply,
    delete: children.delete,
    status,
    events: draft.events,
    clearAction: draft.clearAction,
  };
  if (podConditions.length > 0) plan.podConditions = podConditions;
  if (children.edits.length > 0) plan.edits = children.edits;
  // After promotion (or when workloadRef goes): the adopted Deployment's scale-down or restoration.
  const scales = planAdoptedScales(ctx, draft);
  if (scales.length > 0) plan.scales = scales;
  const requeue = requeueAfterMs(ctx, status);
  const poll = adoptionPollMs(status);
  const soonest = requeue === undefined ? poll : poll === undefined ? requeue : Math.min(requeue, poll);
  if (soonest !== undefined) plan.requeueAfterMs = soonest;
  return plan;
}

/** The plan for an invalid spec: stall with the problems, keep every child as it is. */
function planInvalid(ctx: PlanContext, problems: string): Plan {
  const draft = createDraft(ctx.previous);
  const refusal = invalidSpecStatus(ctx, draft, problems);
  settleAction(draft, ctx.md, () => ({ ok: false, message: refusal }));
  return {
    apply: [],
    delete: [],
    status: draft.status,
    events: draft.events,
    clearAction: draft.clearAction,
  };
}

/**
 * The whole decision of one reconcile: the complete desired children, children to delete,
 * the next status, Events, whether to clear the action annotation, and when to come back.
 * Pure and deterministic; see docs/rollouts.md for the behaviour it implements.
 */
export function plan(input: PlanInput): Plan {
  const problems = [...validateModelDeployment(input.md), ...(input.platformProblems ?? [])];
  const ctx = createContext(input);
  if (problems.length > 0) return planInvalid(ctx, formatProblems(problems));
  return planValid(ctx);
}
