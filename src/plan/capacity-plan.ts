// The canary's replicas under maxSurge and maxUnavailable, over one plan's context: the sizes
// a step wants (canaryTargetAt), how far the versions move towards them in this reconcile
// (boundCanaryReplicas), and status.capacity, which says where the pods stand and what the
// next move waits for. The arithmetic is capacity.ts.
import type { ModelDeploymentStatus } from "../api/types.ts";
import { weightAtStep } from "./canary.ts";
import { anyCheckFailing } from "./check-results.ts";
import {
  boundedStableTarget,
  capacityBoundsOf,
  computeCapacityStep,
  type CapacityBounds,
  type TrackPods,
} from "./capacity.ts";
import type { PlanContext, RolloutMode, StatusDraft } from "./context.ts";
import { specLabel as specLabelOf, stableTrackName, versionLabel } from "./lookups.ts";
import { revisionOf, trafficOf, versionOf } from "./tracks.ts";

/** The explicit candidate replicas in force at step `index`: those of the last setWeight at or before it. */
export function stepReplicasAt(ctx: Pick<PlanContext, "steps">, index: number): number | undefined {
  if (index >= ctx.steps.length) return undefined;
  for (let i = Math.min(index, ctx.steps.length - 1); i >= 0; i--) {
    const step = ctx.steps[i];
    if (step?.setWeight !== undefined) return step.replicas;
  }
  return undefined;
}

/**
 * The sizes canary step `index` (steps.length: the final stage) wants once its pods are up:
 * the router's for the weight (the step's own `replicas` for the candidate when it has them),
 * with the stable version giving up what the surge does not cover.
 */
export function canaryTargetAt(
  ctx: Pick<PlanContext, "md" | "steps" | "router" | "replicas">,
  index: number,
): { candidate: number; stable: number } {
  const natural = ctx.router.canaryReplicas(ctx.replicas, weightAtStep(ctx.md, index), ctx.replicas);
  const explicit = stepReplicasAt(ctx, index);
  const candidate = explicit === undefined ? natural.candidate : Math.min(explicit, ctx.replicas);
  const bounds = capacityBoundsOf(ctx.md, ctx.replicas);
  return { candidate, stable: boundedStableTarget(bounds, candidate, natural.stable) };
}

/**
 * The candidate's weight at canary step `index`. At 100% (after the last step, or a
 * setWeight 100) the versions trade pods until the candidate runs them all; a route's weights
 * then follow the ready pods that stay (`planned`: this plan's replicas by Deployment name),
 * never below the last weight under 100, so that the stable version keeps clients while it
 * has ready pods and the candidate does not take them all on its first one; the promotion
 * moves the rest in one write. While a check fails they never rise above what the route
 * holds now.
 */
export function canaryWeightAt(
  ctx: PlanContext,
  status: ModelDeploymentStatus,
  index: number,
  planned?: ReadonlyMap<string, number>,
): number {
  const weight = weightAtStep(ctx.md, index);
  if (weight < 100) return weight;
  // All of it (after the last step, or a setWeight 100): from the last weight below 100.
  let last = 0;
  for (let i = Math.min(index, ctx.steps.length) - 1; i >= 0; i--) {
    const w = weightAtStep(ctx.md, i);
    if (w < 100) {
      last = w;
      break;
    }
  }
  const up = (name: string | undefined) => {
    if (name === undefined) return 0;
    const available = ctx.deployments.get(name)?.status?.availableReplicas ?? 0;
    return Math.min(available, planned?.get(name) ?? available);
  };
  const candidate = up(ctx.spec.name);
  const total = candidate + up(stableTrackName(ctx, status));
  const share = total === 0 ? last : Math.max(last, Math.floor((100 * candidate) / total));
  if (!anyCheckFailing(ctx, status)) return share;
  // What the route holds now, read as boundCanaryReplicas reads it, not status.traffic: that is
  // the previous reconcile's reading, from before its write. Capped by that stale figure, a
  // failing check could take the candidate's clients away in the same plan that shrinks the
  // stable version on the strength of the candidate's serving pods (or raise the weight back
  // to a figure a later write had lowered).
  const observed = status.rollout
    ? trafficOf(
        ctx.router.observeWeights(ctx, stableRef(status), status.rollout),
        status.rollout.version,
        status.rollout.revision,
      )?.weight
    : undefined;
  return Math.max(last, Math.min(share, observed ?? last));
}

/** Each track's pods and the ready ones that serve clients (a track at weight 0 serves none). */
function trackPods(ctx: PlanContext, status: ModelDeploymentStatus, name: string, target: number): TrackPods {
  const d = ctx.deployments.get(name);
  const replicas = d?.spec?.replicas ?? 0;
  const traffic = trafficOf(status.traffic, versionOf(d) ?? "", revisionOf(d));
  const available = d?.status?.availableReplicas ?? 0;
  const serving =
    traffic && traffic.weight > 0 ? Math.min(available, traffic.readyEndpoints ?? available) : 0;
  const running = d?.status?.replicas ?? 0;
  return { target, replicas, pods: Math.max(replicas, running), running, serving };
}

/**
 * Moves the canary's tracks in `replicas` (Deployment name -> the size the strategy wants) only
 * as far as the bounds allow in this reconcile, and writes status.capacity. The stable track
 * grows first; a rolled-back or aborted candidate serves nothing (its traffic went back first);
 * a track kept after a rollback action, or a candidate superseded while it held clients, gives
 * way as the stable one comes back.
 */
export function boundCanaryReplicas(
  ctx: PlanContext,
  draft: StatusDraft,
  mode: RolloutMode,
  replicas: Map<string, number>,
  draining: ReadonlySet<string>,
): void {
  const status = draft.status;
  if (ctx.strategy !== "Canary" || (mode !== "rollingOut" && mode !== "aborted")) {
    delete status.capacity;
    return;
  }
  // What clients get now, as last observed (this plan's status.traffic is written after).
  const observed = { ...status, traffic: ctx.router.observeWeights(ctx, stableRef(status), status.rollout) };
  const stable = stableTrackName(ctx, status);
  const names = [...replicas.keys()];
  const tracks = names.map((name) => {
    const t = trackPods(ctx, observed, name, replicas.get(name) ?? 0);
    if (name === stable) t.primary = true;
    else if (draining.has(name)) t.yields = true;
    else if (name === ctx.spec.name) {
      if (mode !== "rollingOut") t.serving = 0;
    }
    // A candidate superseded by a newer version may still hold clients: it gives way like a
    // fallback, and only as far as the others' ready pods cover what it serves.
    else t.yields = true;
    return t;
  });
  // A failing check never gives the candidate more pods while it has some for the check to
  // measure, ready or not yet (promote-full does not wait for checks).
  const spec = names.indexOf(ctx.spec.name);
  const held =
    mode === "rollingOut" &&
    spec >= 0 &&
    status.rollout?.promote === undefined &&
    tracks[spec]!.replicas > 0 &&
    anyCheckFailing(ctx, status);
  const wanted = spec >= 0 ? tracks[spec]!.target : 0;
  // Held at the pods it has; but where it had reached its step's share of the size it ran at
  // (the stable and the candidate pods together), a new size (an autoscaler's) still moves
  // both versions in proportion, as without a failing check. At 100% (the final stage)
  // through a route, the candidate goes to full size and the promotion waits there for the
  // checks: the route's split is held (canaryWeightAt). By replica ratio the pods are the
  // split, so the final stage holds like any step, and the stable version also keeps the pods
  // it has (up to spec.replicas): were it to shrink onto the held candidate, the candidate's
  // share of the clients would rise while its check fails.
  const weight = weightAtStep(ctx.md, status.currentStep ?? 0);
  const holds = held && (weight < 100 || ctx.router.splitsByReplicas);
  if (holds) {
    const candidate = tracks[spec]!.replicas;
    const primary = tracks.find((t) => t.primary);
    const stablePods = primary?.replicas ?? 0;
    const share = (total: number) => Math.ceil((weight * total) / 100);
    const reached = candidate >= share(candidate + stablePods);
    tracks[spec]!.target = Math.min(wanted, reached ? Math.max(candidate, share(ctx.replicas)) : candidate);
    if (weight >= 100 && primary && !reached)
      primary.target = Math.max(primary.target, Math.min(stablePods, ctx.replicas));
  }
  const bounds = capacityBoundsOf(ctx.md, ctx.replicas);
  const next = computeCapacityStep(bounds, tracks);
  names.forEach((name, i) => replicas.set(name, next[i]!));
  const settled = tracks.every((t, i) => next[i] === t.target && (t.running ?? 0) <= t.target);
  // Once an abort or a rollback has put every pod back, there is nothing left to say.
  if (mode === "aborted" && settled) delete status.capacity;
  else {
    writeCapacity(ctx, status, bounds, names, tracks, next);
    if (holds && wanted > tracks[spec]!.target && status.capacity)
      status.capacity.message = `a failing check holds ${specLabelOf(ctx, status)} at ${tracks[spec]!.target} of ${wanted} pods; ${status.capacity.message}`;
  }
}

function stableRef(status: ModelDeploymentStatus) {
  return status.stableVersion !== undefined
    ? { version: status.stableVersion, revision: status.stableRevision }
    : undefined;
}

/** status.capacity: the budget, the pods as observed, and what the next move waits for. */
function writeCapacity(
  ctx: PlanContext,
  status: ModelDeploymentStatus,
  bounds: CapacityBounds,
  names: readonly string[],
  tracks: readonly TrackPods[],
  next: readonly number[],
): void {
  // The pods that exist or are coming once this plan is written: the same when it is fed back.
  const pods = tracks.reduce((sum, t, i) => sum + Math.max(next[i]!, t.running ?? 0), 0);
  const ready = tracks.reduce((sum, t) => sum + t.serving, 0);
  const label = (i: number) => {
    const d = ctx.deployments.get(names[i]!);
    return versionLabel(ctx, status, versionOf(d) ?? ctx.specVersion, revisionOf(d) ?? ctx.revision);
  };
  const grow = tracks
    .map((t, i) =>
      next[i]! < t.target
        ? `${label(i)} to grow to ${t.target} pods as pods of the other versions go (maxSurge ${bounds.surge})`
        : "",
    )
    .filter(Boolean);
  const shrink = tracks
    .map((t, i) =>
      next[i]! > t.target
        ? `${label(i)} to go down to ${t.target} pods as the other versions' pods become ready (maxUnavailable ${bounds.unavailable})`
        : "",
    )
    .filter(Boolean);
  const waits = [...shrink, ...grow];
  const budget = `${pods} of at most ${bounds.maxPods} pods, ${ready} ready serving of at least ${bounds.minReady}`;
  let message = waits.length ? `waiting for ${waits.join(", and for ")}` : "every version is at its size";
  const lost = Math.max(0, bounds.replicas - ready);
  if (lost > 0 && bounds.surge === 0)
    message += `; swap mode: ${lost} pod(s) of capacity below ${bounds.replicas} while a pod is replaced`;
  status.capacity = {
    maxPods: bounds.maxPods,
    minReadyPods: bounds.minReady,
    pods,
    readyPods: ready,
    unavailable: lost,
    message: `${message} (${budget})`,
  };
}
