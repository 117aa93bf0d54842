// A canary's pod counts step by step, computed offline for the kubectl plugin's `plan`: the
// planner's own capacity step (capacity.ts) walked from the stable version at full size
// through every step to the promotion, with every pod ready as soon as it is asked for. It
// gives each step's sizes and the most pods the move to it runs at once, the peak.
import type { ModelDeployment } from "../api/types.ts";
import { computeStepPlan, weightAtStep, type StepPreview } from "./canary.ts";
import { canaryTargetAt } from "./capacity-plan.ts";
import { capacityBoundsOf, computeCapacityStep, type CapacityBounds } from "./capacity.ts";
import { routerFor } from "./routers/index.ts";
import { replicasOf } from "./spec.ts";

/** One stage of the walk: a canary step, or (index = steps.length) the promotion. */
export interface CapacityStage {
  index: number;
  weight: number;
  /** The sizes once the step's pods are up. */
  candidate: number;
  stable: number;
  /** The most pods of both versions together on the way to this step. */
  peakPods: number;
  /** The fewest ready pods that serve clients on the way to this step. */
  minReadyPods: number;
}

export interface CapacityWalk {
  bounds: CapacityBounds;
  stages: CapacityStage[];
  /** The most pods of both versions at any moment of the rollout. */
  peakPods: number;
}

/** Moves (candidate, stable) to `target` as the operator would, pods ready at once; the peak and the low of the way. */
function walkTo(
  bounds: CapacityBounds,
  from: { candidate: number; stable: number },
  target: { candidate: number; stable: number },
  serves: { candidate: boolean; stable: boolean },
): { at: { candidate: number; stable: number }; peak: number; low: number } {
  let c = from.candidate;
  let s = from.stable;
  let peak = c + s;
  let low = (serves.candidate ? c : 0) + (serves.stable ? s : 0);
  // Each pass is one reconcile and the pods catching up; a move takes at most one pass per pod.
  for (let pass = 0; pass <= 2 * (bounds.maxPods + 2); pass++) {
    if (c === target.candidate && s === target.stable) break;
    const [nc, ns] = computeCapacityStep(bounds, [
      { target: target.candidate, replicas: c, pods: c, serving: serves.candidate ? c : 0 },
      { target: target.stable, replicas: s, pods: s, serving: serves.stable ? s : 0, primary: true },
    ]);
    // Until the next pass the pods being taken away still run beside the new ones.
    peak = Math.max(peak, Math.max(c, nc!) + Math.max(s, ns!));
    low = Math.min(low, (serves.candidate ? Math.min(c, nc!) : 0) + (serves.stable ? Math.min(s, ns!) : 0));
    if (nc === c && ns === s) break; // nothing can move: the bounds allow no way there
    c = nc!;
    s = ns!;
  }
  return { at: { candidate: c, stable: s }, peak, low };
}

/** The canary of `md` walked step by step; undefined when the strategy is not canary. */
export function computeCapacityWalk(md: ModelDeployment): CapacityWalk | undefined {
  const steps = md.spec.strategy?.canary?.steps;
  if (!steps) return undefined;
  const replicas = replicasOf(md);
  const ctx = { md, steps, router: routerFor(md), replicas };
  const bounds = capacityBoundsOf(md, replicas);
  const routed = md.spec.traffic !== undefined;
  const stages: CapacityStage[] = [];
  let at = { candidate: 0, stable: replicas };
  for (let index = 0; index <= steps.length; index++) {
    const weight = weightAtStep(md, index);
    const target = canaryTargetAt(ctx, index);
    // Through a route a candidate at weight 0 serves no client; by replica ratio every ready pod
    // does. At 100% the route follows the pods, so the stable version serves while it has some.
    const serves = { candidate: !routed || weight > 0, stable: true };
    const move = walkTo(bounds, at, target, serves);
    at = move.at;
    stages.push({ index, weight, ...target, peakPods: move.peak, minReadyPods: move.low });
  }
  return { bounds, stages, peakPods: Math.max(...stages.map((s) => s.peakPods)) };
}

/**
 * The canary's steps as the plugin shows them: each with the sizes the operator gives the
 * versions (maxSurge, a step's own replicas) and the peak on the way there, then the
 * promotion (the stage after the last step).
 */
export function computeCanaryStepPlan(
  md: ModelDeployment,
): { steps: StepPreview[]; promote: CapacityStage; walk: CapacityWalk } | undefined {
  const walk = computeCapacityWalk(md);
  if (!walk) return undefined;
  const steps = computeStepPlan(md).map((step, i) => {
    const stage = walk.stages[i]!;
    return {
      ...step,
      candidateReplicas: stage.candidate,
      stableReplicas: stage.stable,
      peakPods: stage.peakPods,
    };
  });
  return { steps, promote: walk.stages[walk.stages.length - 1]!, walk };
}
