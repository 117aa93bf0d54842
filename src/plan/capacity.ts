// Capacity of a canary in a Deployment's vocabulary: maxSurge bounds the pods of all versions
// together (spec.replicas + maxSurge), maxUnavailable the ready pods that serve clients
// (spec.replicas - maxUnavailable). A step's sizes are where the versions should get to; this
// module decides how far each may move in one reconcile without leaving those bounds.
//
// The rules, as a Deployment's rolling update applies them to its ReplicaSets:
// - a version shrinks only as far as the ready serving pods of the others still cover
//   spec.replicas - maxUnavailable (the ReplicaSet controller removes unready pods first);
// - a version grows only into the room the pods that exist now leave under the budget. A pod
//   that is being taken away is still counted until its Deployment reports it gone, so a
//   swap (maxSurge 0) takes a stable pod away in one reconcile and adds a candidate pod in a
//   later one, never both at once.
// PURE: plain numbers in, plain numbers out.
import type { ModelDeployment } from "../api/types.ts";
import { replicasOf } from "./spec.ts";

/** maxSurge when the spec has none: each version may run at full size beside the other. */
export const DEFAULT_MAX_SURGE = "100%";
/** maxUnavailable when the spec has none: capacity never drops. */
export const DEFAULT_MAX_UNAVAILABLE = 0;

export interface CapacityBounds {
  /** spec.replicas. */
  replicas: number;
  /** maxSurge resolved against spec.replicas (rounded up). */
  surge: number;
  /** maxUnavailable resolved against spec.replicas (rounded down). */
  unavailable: number;
  /** replicas + surge: the most pods of all versions together. */
  maxPods: number;
  /** replicas - unavailable: the fewest ready pods that serve clients. */
  minReady: number;
}

/**
 * A number, or a percentage of `total` rounded up (maxSurge) or down (maxUnavailable), as a
 * Deployment resolves its rollingUpdate fields; undefined for a value it cannot read.
 */
export function resolveIntOrPercent(
  value: number | string,
  total: number,
  round: "up" | "down",
): number | undefined {
  if (typeof value === "number") return Number.isInteger(value) && value >= 0 ? value : undefined;
  const m = /^([0-9]{1,3})%$/.exec(value);
  if (!m) return undefined;
  const exact = (Number(m[1]) * total) / 100;
  return round === "up" ? Math.ceil(exact) : Math.floor(exact);
}

/**
 * The bounds of a canary of `md` at `replicas` (spec.replicas, or the total an autoscaler set).
 * Both resolving to 0 (percentages of a small total) allows one unavailable pod, as a
 * Deployment does, so that the rollout can move at all.
 */
export function capacityBoundsOf(md: ModelDeployment, replicas: number = replicasOf(md)): CapacityBounds {
  const canary = md.spec.strategy?.canary;
  const r = Math.max(0, Math.floor(replicas));
  let surge = resolveIntOrPercent(canary?.maxSurge ?? DEFAULT_MAX_SURGE, r, "up") ?? r;
  let unavailable = resolveIntOrPercent(canary?.maxUnavailable ?? DEFAULT_MAX_UNAVAILABLE, r, "down") ?? 0;
  unavailable = Math.min(unavailable, r);
  if (surge === 0 && unavailable === 0 && r > 0) unavailable = 1;
  surge = Math.max(0, surge);
  return { replicas: r, surge, unavailable, maxPods: r + surge, minReady: r - unavailable };
}

/**
 * The stable version's size at a step whose sizes, with room for both, are `natural`: it
 * gives up the pods the candidate needs that the surge does not cover, and never more, so
 * that an abort finds as many stable pods as the budget allowed to keep.
 */
export function boundedStableTarget(
  bounds: CapacityBounds,
  candidate: number,
  naturalStable: number,
): number {
  return Math.max(0, Math.min(naturalStable, bounds.maxPods - candidate));
}

/** One version as the capacity step sees it. */
export interface TrackPods {
  /** The replicas the version should get to. */
  target: number;
  /** Its Deployment's spec.replicas as observed (0 without one). */
  replicas: number;
  /** Its pods as observed: the larger of its spec.replicas and its status.replicas. */
  pods: number;
  /** Its Deployment's status.replicas: the pods that exist now. */
  running?: number;
  /** Its available pods that serve clients now (0 while clients do not reach it). */
  serving: number;
  /** The version clients fall back to (the stable one): it grows first, and grows to cover what the others do not serve yet. */
  primary?: boolean;
  /** A version kept only as a fallback (after a rollback action): it gives way when the primary has no room. */
  yields?: boolean;
}

/** Replicas per version for this reconcile, in the order of `tracks`: as far towards each target as the bounds allow. */
export function computeCapacityStep(bounds: CapacityBounds, tracks: readonly TrackPods[]): number[] {
  const targets = tracks.map((t) => t.target);
  const next = tracks.map((t) => t.replicas);
  const serving = tracks.map((t) => t.serving);
  // What the others serve; for the primary, without the versions that give way to it, so
  // that it never shrinks (or stops growing) on the strength of pods that are going.
  const othersServing = (i: number) =>
    serving.reduce((sum, s, j) => (j === i || (tracks[i]!.primary && tracks[j]!.yields) ? sum : sum + s), 0);
  const othersPods = (i: number) =>
    tracks.reduce((sum, t, j) => (j === i ? sum : sum + Math.max(t.pods, next[j]!)), 0);
  const primary = tracks.findIndex((t) => t.primary);
  // A fallback that keeps the primary from growing back gives way, within maxUnavailable.
  if (primary >= 0) {
    const want = Math.max(targets[primary]!, bounds.minReady - othersServing(primary));
    const room = bounds.maxPods - othersPods(primary);
    if (Math.min(want, bounds.replicas) > Math.max(next[primary]!, room))
      tracks.forEach((t, i) => {
        if (t.yields) targets[i] = 0;
      });
  }
  // Shrink first, each version only as far as the others' ready serving pods cover.
  tracks.forEach((t, i) => {
    if (targets[i]! >= t.replicas) return;
    // The ReplicaSet controller takes unready pods away first: keeping k pods keeps min(k, serving).
    // The primary, the clients' fallback, keeps its unready pods too: they may come back.
    const needed = Math.max(0, bounds.minReady - othersServing(i));
    const floor = t.primary ? needed : Math.min(t.serving, needed);
    next[i] = Math.max(targets[i]!, Math.min(t.replicas, floor));
    serving[i] = Math.min(t.serving, next[i]!);
  });
  // Then grow, the primary first, into the room the existing pods leave.
  const order = tracks.map((_, i) => i).sort((a, b) => Number(b === primary) - Number(a === primary));
  for (const i of order) {
    let want = targets[i]!;
    if (i === primary) want = Math.max(want, Math.min(bounds.replicas, bounds.minReady - othersServing(i)));
    if (want <= next[i]!) continue;
    next[i] = Math.min(want, Math.max(next[i]!, bounds.maxPods - othersPods(i)));
  }
  return next;
}
