// Replica arithmetic of the strategies. Traffic through plain Services splits by ready
// replicas, so a weight is a replica count: 20% of 10 replicas = 2 new + 8 old.
import type { ModelDeployment } from "../api/types.ts";
import { parseDuration } from "./duration.ts";
import { previewReplicasOf, replicasOf, scaleDownDelayMsOf } from "./spec.ts";

/**
 * Replicas of the candidate at `weight` percent of `total`, and the fewest replicas the
 * stable version keeps: candidate = ceil(total*weight/100) (0 at weight 0), stableMin =
 * ceil(total*(100-weight)/100). Both round up, so together they may pass `total` by one:
 * a weight never leaves a version with less than its share.
 */
export function computeCanaryReplicas(
  total: number,
  weight: number,
): { candidate: number; stableMin: number } {
  const t = Math.max(0, Math.floor(total));
  const w = Math.min(100, Math.max(0, weight));
  return {
    candidate: w === 0 ? 0 : Math.ceil((t * w) / 100),
    stableMin: Math.ceil((t * (100 - w)) / 100),
  };
}

/**
 * Replicas of the stable version at canary `weight` percent of `total` while
 * `candidateAvailable` of the candidate's replicas are available: it keeps its share
 * (stableMin) and shrinks only as the candidate's available replicas take over.
 */
export function canaryStableReplicas(total: number, weight: number, candidateAvailable: number): number {
  const { stableMin } = computeCanaryReplicas(total, weight);
  return Math.min(total, Math.max(stableMin, total - candidateAvailable));
}

/** The weight in force at canary step `index`: the last setWeight at or before it (0 before any). */
export function weightAtStep(md: ModelDeployment, index: number): number {
  const steps = md.spec.strategy?.canary?.steps ?? [];
  if (index >= steps.length) return 100;
  let weight = 0;
  for (let i = 0; i <= index && i < steps.length; i++) {
    const w = steps[i]?.setWeight;
    if (w !== undefined) weight = w;
  }
  return weight;
}

/** One canary step as the plugin's offline `plan` command shows it. */
export interface StepPreview {
  index: number;
  kind: "setWeight" | "pause" | "setHeaderRoute" | "setMirrorRoute";
  /** setHeaderRoute, setMirrorRoute: the rule the route holds during the step, for a person. */
  route?: string;
  /** Percent of traffic on the candidate during this step (a pause keeps the weight before it). */
  weight: number;
  /** Candidate replicas during this step. */
  candidateReplicas: number;
  /** Stable replicas once the candidate's replicas are available (it shrinks only then). */
  stableReplicas: number;
  /** The most pods of both versions on the way to this step, under maxSurge and maxUnavailable. */
  peakPods?: number;
  /** pause (and header, mirror) steps: the duration as written, or "until promote". */
  pause?: string;
  /** pause steps with a duration: milliseconds. */
  pauseMs?: number;
}

/** Replicas of the candidate and the stable version at a weight, once the candidate's are available. */
export type CanarySizes = (replicas: number, weight: number) => { candidate: number; stable: number };

/** The replica-ratio sizes (the Service router's): the weight is a replica count. */
export const replicaRatioSizes: CanarySizes = (total, weight) => {
  const { candidate } = computeCanaryReplicas(total, weight);
  return { candidate, stable: canaryStableReplicas(total, weight, candidate) };
};

/**
 * Each canary step of the spec with its replica counts under `sizes` (the router's; default
 * the replica ratio); empty when the strategy is not canary.
 */
export function computeStepPlan(md: ModelDeployment, sizes: CanarySizes = replicaRatioSizes): StepPreview[] {
  const steps = md.spec.strategy?.canary?.steps ?? [];
  const total = replicasOf(md);
  return steps.map((step, index) => {
    const weight = weightAtStep(md, index);
    const size = sizes(total, weight);
    const preview: StepPreview = {
      index,
      kind:
        step.setWeight !== undefined
          ? "setWeight"
          : step.setHeaderRoute
            ? "setHeaderRoute"
            : step.setMirrorRoute
              ? "setMirrorRoute"
              : "pause",
      weight,
      candidateReplicas: size.candidate,
      stableReplicas: size.stable,
    };
    if (step.setHeaderRoute)
      preview.route = `header route ${step.setHeaderRoute.name}: ${step.setHeaderRoute.match
        .map((m) =>
          m.headerValue.regex !== undefined
            ? `${m.headerName}~/${m.headerValue.regex}/`
            : `${m.headerName}=${m.headerValue.exact}`,
        )
        .join(", ")} -> new`;
    if (step.setMirrorRoute)
      preview.route = `mirror route ${step.setMirrorRoute.name}: ${step.setMirrorRoute.percentage}% copied to new`;
    if (step.setWeight === undefined) {
      const duration = step.pause?.duration ?? step.setHeaderRoute?.duration ?? step.setMirrorRoute?.duration;
      preview.pause = duration ?? "until promote";
      if (duration !== undefined) {
        try {
          preview.pauseMs = parseDuration(duration);
        } catch {
          // validateModelDeployment reports it
        }
      }
    }
    return preview;
  });
}

/** One stage of a blue/green rollout as the plugin's offline `plan` command shows it. */
export interface BlueGreenStagePreview {
  stage: "preview" | "scale-up" | "switch" | "scale-down";
  candidateReplicas: number;
  stableReplicas: number;
  /** Percent of the clients' traffic on the candidate. */
  weight: number;
  /** When this stage begins, for a person. */
  when: string;
}

export interface BlueGreenPreview {
  replicas: number;
  previewReplicas: number;
  /** Seconds after the preview is Available and healthy; undefined = on promote. */
  autoPromotionSeconds?: number;
  scaleDownDelaySeconds: number;
  stages: BlueGreenStagePreview[];
}

/** The stages of a blue/green rollout of the spec; undefined when the strategy is not blue/green. */
export function computeBlueGreenPreview(md: ModelDeployment): BlueGreenPreview | undefined {
  const bg = md.spec.strategy?.blueGreen;
  if (!bg) return undefined;
  const total = replicasOf(md);
  const preview = previewReplicasOf(md);
  const delayS = scaleDownDelayMsOf(md) / 1000;
  const auto = bg.autoPromotionSeconds;
  const promotion =
    auto === undefined
      ? "on a promote action"
      : `${auto}s after the preview is Available and every check passed (or on promote)`;
  const stages: BlueGreenStagePreview[] = [
    {
      stage: "preview",
      candidateReplicas: preview,
      stableReplicas: total,
      weight: 0,
      when: "at once: the candidate runs behind the preview Service",
    },
  ];
  if (preview < total) {
    stages.push({
      stage: "scale-up",
      candidateReplicas: total,
      stableReplicas: total,
      weight: 0,
      when: promotion,
    });
  }
  stages.push({
    stage: "switch",
    candidateReplicas: total,
    stableReplicas: total,
    weight: 100,
    when: preview < total ? `when the candidate is Available at ${total} replicas` : promotion,
  });
  stages.push({
    stage: "scale-down",
    candidateReplicas: total,
    stableReplicas: 0,
    weight: 100,
    when: `${delayS}s after the switch`,
  });
  const out: BlueGreenPreview = {
    replicas: total,
    previewReplicas: preview,
    scaleDownDelaySeconds: delayS,
    stages,
  };
  if (auto !== undefined) out.autoPromotionSeconds = auto;
  return out;
}
