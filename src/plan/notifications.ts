// PURE: what a reconcile's status change tells the people subscribed to a ModelDeployment
// (spec.notifications), and the outbox in status that keeps what is still to be delivered.
//
// A transition is read off two statuses: the one the reconcile started from and the one it
// is about to write (a rollout that began, a step, a wait for a promote, a history entry,
// Stalled turning True). Its id is derived from what that status records (the uid, the
// revision, the rollout's start time, the step, the history entry's time), never from a
// clock or a counter, and it is written into status.pendingNotifications in the same write
// as the transition itself. So the outbox survives a restart or a change of leader, and a
// reconcile whose status write failed decides the same transition again (with the same id)
// the next time.
import { createHash } from "node:crypto";
import { CONDITION_STALLED } from "../api/constants.ts";
import type { CheckStatus, ModelDeployment, ModelDeploymentStatus } from "../api/types.ts";

export const NOTIFICATION_EVENTS = [
  "RolloutStarted",
  "StepStarted",
  "AwaitingPromotion",
  "Promoted",
  "RolledBack",
  "Aborted",
  "Stalled",
] as const;
export type NotificationEvent = (typeof NOTIFICATION_EVENTS)[number];

export type PendingNotification = NonNullable<ModelDeploymentStatus["pendingNotifications"]>[number];
/** A transition before it is addressed to destinations. */
export type Transition = Omit<PendingNotification, "destinations">;

/** Most notifications kept in status.pendingNotifications (the CRD's maxItems). */
export const OUTBOX_LIMIT = 20;
/** Longest message kept in a notification (the CRD's maxLength). */
export const NOTIFICATION_MESSAGE_MAX = 1024;
/** Longest check value kept. */
export const NOTIFICATION_VALUE_MAX = 256;
/** History entries read per reconcile: a reconcile records at most two (rollback action). */
const NEW_HISTORY_MAX = 4;

/** The stable id of a transition: the same for the same ModelDeployment and status facts. */
export function notificationId(uid: string, key: string): string {
  return createHash("sha256").update(`${uid}\n${key}`).digest("hex").slice(0, 32);
}

export function truncate(text: string | undefined, max: number): string | undefined {
  if (text === undefined) return undefined;
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/** The transitions between `prev` (as read) and `next` (as planned), oldest first. */
export function computeTransitions(
  md: ModelDeployment,
  prev: ModelDeploymentStatus | undefined,
  next: ModelDeploymentStatus,
  nowIso: string,
): Transition[] {
  const uid = md.metadata?.uid ?? `${md.metadata?.namespace}/${md.metadata?.name}`;
  const before = prev ?? {};
  const out: Transition[] = [];
  const add = (key: string, t: Omit<Transition, "id">) => {
    const clean = Object.fromEntries(Object.entries(t).filter(([, v]) => v !== undefined)) as Omit<
      Transition,
      "id"
    >;
    if (clean.message !== undefined) clean.message = truncate(clean.message, NOTIFICATION_MESSAGE_MAX);
    out.push({ id: notificationId(uid, key), ...clean });
  };
  const steps = md.spec.strategy?.canary?.steps;
  const r = next.rollout;
  const sameRollout =
    r !== undefined && before.rollout?.revision === r.revision && before.rollout.startedAt === r.startedAt;
  const rolloutKey = r ? `${r.revision}/${r.startedAt}` : "";
  const base = r
    ? { version: r.version, revision: r.revision, stableVersion: next.stableVersion }
    : { stableVersion: next.stableVersion };

  if (r && !sameRollout) {
    add(`RolloutStarted/${rolloutKey}`, {
      event: "RolloutStarted",
      time: r.startedAt,
      ...base,
      ...(steps ? { steps: steps.length } : {}),
      message: next.message,
    });
  }
  if (r && steps && next.currentStep !== undefined && next.currentStep < steps.length) {
    const step = next.currentStep;
    if (!sameRollout || before.currentStep !== step) {
      const s = steps[step];
      add(`StepStarted/${rolloutKey}/${step}`, {
        event: "StepStarted",
        time: nowIso,
        ...base,
        step,
        steps: steps.length,
        weight: s?.setWeight,
        message: describeStep(s, step, steps.length),
      });
    }
  }
  if (
    awaitingPromotion(md, next) &&
    !(sameRollout && awaitingPromotion(md, before) && before.currentStep === next.currentStep)
  ) {
    add(`AwaitingPromotion/${rolloutKey}/${next.currentStep ?? 0}`, {
      event: "AwaitingPromotion",
      time: nowIso,
      ...base,
      ...(steps ? { step: next.currentStep ?? 0, steps: steps.length } : {}),
      weight: next.candidateWeight,
      message: next.message,
    });
  }
  for (const h of newHistory(before, next).reverse()) {
    if (h.outcome !== "Promoted" && h.outcome !== "RolledBack" && h.outcome !== "Aborted") continue;
    const failed =
      h.outcome === "RolledBack" && h.reason === "HealthCheckFailed" ? failedCheck(next.checks) : undefined;
    add(`${h.outcome}/${h.version}/${h.revision ?? ""}/${h.time}`, {
      event: h.outcome,
      time: h.time,
      version: h.version,
      revision: h.revision,
      stableVersion: next.stableVersion,
      reason: h.reason,
      message: h.message,
      ...(failed ? { check: failed } : {}),
    });
  }
  const stalled = next.conditions?.find((c) => c.type === CONDITION_STALLED);
  const wasStalled = before.conditions?.find((c) => c.type === CONDITION_STALLED);
  if (
    stalled?.status === "True" &&
    !(wasStalled?.status === "True" && wasStalled.reason === stalled.reason)
  ) {
    add(`Stalled/${stalled.reason}/${stalled.lastTransitionTime}/${stalled.observedGeneration ?? ""}`, {
      event: "Stalled",
      time: stalled.lastTransitionTime,
      version: md.spec.model?.version,
      stableVersion: next.stableVersion,
      reason: stalled.reason,
      message: stalled.message,
    });
  }
  return out;
}

function describeStep(
  s: NonNullable<NonNullable<ModelDeployment["spec"]["strategy"]>["canary"]>["steps"][number] | undefined,
  i: number,
  n: number,
): string {
  const where = `step ${i + 1} of ${n}`;
  if (s?.setWeight !== undefined) return `${where}: ${s.setWeight}% of traffic to the new version`;
  if (s?.pause)
    return s.pause.duration ? `${where}: pause ${s.pause.duration}` : `${where}: wait for a promote`;
  if (s?.setHeaderRoute) return `${where}: header route ${s.setHeaderRoute.name}`;
  if (s?.setMirrorRoute) return `${where}: mirror route ${s.setMirrorRoute.name}`;
  return where;
}

/** The rollout waits for a person's promote: a canary pause without a duration, a blue/green preview without autoPromotionSeconds. */
export function awaitingPromotion(md: ModelDeployment, status: ModelDeploymentStatus): boolean {
  const r = status.rollout;
  if (!r || r.promote !== undefined) return false;
  const canary = md.spec.strategy?.canary;
  if (canary) {
    const s = canary.steps[status.currentStep ?? 0];
    return s?.pause !== undefined && s.pause.duration === undefined;
  }
  const bg = md.spec.strategy?.blueGreen;
  if (bg)
    return bg.autoPromotionSeconds === undefined && r.availableAt !== undefined && r.switchedAt === undefined;
  return false;
}

/** History entries `next` has that `prev` had not (newest first, as history is kept). */
function newHistory(prev: ModelDeploymentStatus, next: ModelDeploymentStatus) {
  const old = prev.history?.[0];
  const entries = next.history ?? [];
  const out = [];
  for (const h of entries.slice(0, NEW_HISTORY_MAX)) {
    if (
      old &&
      h.time === old.time &&
      h.version === old.version &&
      h.outcome === old.outcome &&
      h.revision === old.revision
    )
      break;
    out.push(h);
  }
  return out;
}

/** The gating check that failed most times in a row, with its last value. */
function failedCheck(
  checks: readonly CheckStatus[] | undefined,
): { name: string; value?: string } | undefined {
  const failed = (checks ?? [])
    .filter((c) => !c.dryRun && (c.phase === "Failed" || c.phase === "Error"))
    .sort((a, b) => (b.consecutiveFailures ?? 0) - (a.consecutiveFailures ?? 0))[0];
  if (!failed) return undefined;
  const value = truncate(failed.value, NOTIFICATION_VALUE_MAX);
  return value === undefined ? { name: failed.name } : { name: failed.name, value };
}

/** Which destinations take an event, as the spec subscribes and the platform allows. */
export type Subscribers = (event: NotificationEvent) => string[];

/** The spec's subscriptions, restricted to the destinations `allowed` says may be used. */
export function subscribersOf(md: ModelDeployment, allowed: (destination: string) => boolean): Subscribers {
  const subs = md.spec.notifications ?? [];
  return (event) =>
    subs
      .filter((s) => allowed(s.destination) && (s.events === undefined || s.events.includes(event)))
      .map((s) => s.destination);
}

/** One (notification, destination) that is done with: delivered, or given up on. */
export interface SettledDelivery {
  id: string;
  destination: string;
}

export interface OutboxPlan {
  pending: PendingNotification[];
  /** Notifications pushed out of a full outbox (oldest first), with the destinations they missed. */
  overflow: PendingNotification[];
}

/**
 * The next outbox: the previous one less what is settled, plus the new transitions for their
 * subscribers (a transition already in the outbox is not added twice), the oldest dropped
 * beyond OUTBOX_LIMIT (the caller says so with an Event).
 */
export function planOutbox(
  previous: readonly PendingNotification[] | undefined,
  transitions: readonly Transition[],
  subscribers: Subscribers,
  settled: readonly SettledDelivery[],
): OutboxPlan {
  const done = new Set(settled.map((s) => `${s.id}\n${s.destination}`));
  const pending: PendingNotification[] = [];
  for (const p of previous ?? []) {
    const destinations = p.destinations.filter((d) => !done.has(`${p.id}\n${d}`));
    if (destinations.length > 0) pending.push({ ...p, destinations });
  }
  const known = new Set((previous ?? []).map((p) => p.id));
  for (const t of transitions) {
    if (known.has(t.id)) continue;
    const destinations = subscribers(t.event as NotificationEvent);
    if (destinations.length === 0) continue;
    pending.push({ ...t, destinations });
    known.add(t.id);
  }
  const overflow = pending.length > OUTBOX_LIMIT ? pending.splice(0, pending.length - OUTBOX_LIMIT) : [];
  return { pending, overflow };
}
