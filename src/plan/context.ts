// What one plan() call works with. The context is read-only: the ModelDeployment, what is
// observed, the measurements of this reconcile and `now`, with the figures every part of the
// planner needs computed once. The draft is the one thing the parts change: the next status,
// the Events, and two flags; plan() hands it back as the Plan.
import type { V1Deployment, V1Service } from "@kubernetes/client-node";
import type { CanaryStep, HistoryEntry, ModelDeployment, ModelDeploymentStatus } from "../api/types.ts";
import type { Reason } from "../api/reasons.ts";
import { timeMs } from "./checks.ts";
import { computeRevision } from "./naming.ts";
import type { TrafficRouter } from "./routers/router.ts";
import { routerFor } from "./routers/index.ts";
import { HISTORY_LIMIT, replicasOf, strategyOf } from "./spec.ts";
import { deploymentsByName, specTrack, type Track } from "./tracks.ts";
import type { PlanInput, PlannedEvent } from "./types.ts";

export interface PlanContext {
  readonly input: PlanInput;
  readonly md: ModelDeployment;
  readonly now: Date;
  readonly nowMs: number;
  readonly nowIso: string;
  readonly name: string;
  /** spec.replicas with its default: the size of a version that serves all traffic. */
  readonly replicas: number;
  /** The spec's revision (hash of the pod template and the model fields). */
  readonly revision: string;
  readonly specVersion: string;
  readonly strategy: "Canary" | "BlueGreen";
  readonly steps: readonly CanaryStep[];
  /** The status as read: what the draft started from. */
  readonly previous: ModelDeploymentStatus;
  /** The ModelDeployment's Deployments by name: one per track (a version at a revision). */
  readonly deployments: ReadonlyMap<string, V1Deployment>;
  /** The ModelDeployment's Services by name. */
  readonly services: ReadonlyMap<string, V1Service>;
  /** The spec's version at the spec's revision: the track a rollout brings in. */
  readonly spec: Track;
  /** The spec's track's Deployment as observed. */
  readonly specDeployment: V1Deployment | undefined;
  /** How client traffic reaches the versions. */
  readonly router: TrafficRouter;
}

/** The part of one plan that its steps build up, in order. */
export interface StatusDraft {
  /** The next status: starts as a copy of the previous one. */
  status: ModelDeploymentStatus;
  events: PlannedEvent[];
  /** The action annotation was acted on or refused: remove it. */
  clearAction: boolean;
  /** A step began in this plan: its readiness is timed from now, not from before the measurements. */
  stepBegan: boolean;
}

/**
 * Where the ModelDeployment stands: no version yet, one version at rest (the spec is the
 * stable track), a rollout of the spec's track under way, or that rollout stopped.
 */
export type RolloutMode = "firstVersion" | "atRest" | "rollingOut" | "aborted";

export function createContext(input: PlanInput): PlanContext {
  const md = input.md;
  const revision = computeRevision(md);
  const deployments = deploymentsByName(md, input.observed.deployments);
  const spec = specTrack(md, deployments, revision);
  const services = new Map<string, V1Service>();
  for (const svc of input.observed.services) if (svc.metadata?.name) services.set(svc.metadata.name, svc);
  return {
    input,
    md,
    now: input.now,
    nowMs: input.now.getTime(),
    nowIso: input.now.toISOString(),
    name: md.metadata?.name ?? "",
    replicas: replicasOf(md),
    revision,
    specVersion: md.spec.model.version,
    strategy: strategyOf(md),
    steps: md.spec.strategy?.canary?.steps ?? [],
    previous: md.status ?? {},
    deployments,
    services,
    spec,
    specDeployment: deployments.get(spec.name),
    router: routerFor(md),
  };
}

export function createDraft(previous: ModelDeploymentStatus | undefined): StatusDraft {
  return { status: clone(previous ?? {}), events: [], clearAction: false, stepBegan: false };
}

export function recordEvent(
  draft: StatusDraft,
  type: "Normal" | "Warning",
  reason: Reason,
  message: string,
): void {
  draft.events.push({ type, reason, message });
}

/** Adds a history entry at `now`, newest first, keeping HISTORY_LIMIT entries. */
export function recordHistory(ctx: PlanContext, draft: StatusDraft, entry: Omit<HistoryEntry, "time">): void {
  const h: HistoryEntry = { ...entry, time: ctx.nowIso } as HistoryEntry;
  for (const k of Object.keys(h) as (keyof HistoryEntry)[]) if (h[k] === undefined) delete h[k];
  draft.status.history = [h, ...(draft.status.history ?? [])].slice(0, HISTORY_LIMIT);
}

export function rolloutMode(ctx: PlanContext, status: ModelDeploymentStatus): RolloutMode {
  if (status.stableVersion === undefined) return "firstVersion";
  // A status without stableRevision (none is written so) counts its version as the spec's.
  if (isSpecTrack(ctx, status.stableVersion, status.stableRevision ?? ctx.revision)) return "atRest";
  if (status.aborted) return "aborted";
  return "rollingOut";
}

/** Is `version` at `revision` the spec's track? */
export function isSpecTrack(
  ctx: PlanContext,
  version: string | undefined,
  revision: string | undefined,
): boolean {
  return version === ctx.specVersion && revision === ctx.revision;
}

/** The rollout is held: by spec.paused or by the pause action. */
export function isHeld(ctx: PlanContext, status: ModelDeploymentStatus): boolean {
  return ctx.md.spec.paused === true || status.rollout?.pausedByAction === true;
}

/** The time a step's readiness is recorded at: before this reconcile's measurements were taken. */
export function readyTime(ctx: PlanContext, draft: StatusDraft): string {
  if (draft.stepBegan) return ctx.nowIso;
  let t = ctx.nowMs;
  for (const m of ctx.input.measurements) {
    const ms = timeMs(m.time);
    if (!Number.isNaN(ms) && ms < t) t = ms;
  }
  return new Date(t).toISOString();
}

export function clone<T>(value: T): T {
  return JSON.parse(JSON.stringify(value ?? {})) as T;
}
