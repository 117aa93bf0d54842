// The pod readiness gate of a canary without a router (spec.strategy.canary.readinessGate).
//
// Without a route the clients' Service NAME selects every version's pods, so a candidate pod
// takes client requests the moment it is Ready. With the gate, every pod of the ModelDeployment
// carries the readiness gate mlops.dev/admitted: the kubelet reports such a pod Ready only
// once the operator set that condition True in the pod's status. The gate is CLOSED for the
// candidate during the steps at weight 0 at the start of a canary (the 0% stage) and after a
// rollback or an abort: its pods run, its own Service NAME-V publishes not-ready addresses so
// that its checks reach them, and the clients' Service leaves them out. It is OPEN for every
// other pod (the stable version's, the candidate's from the first step with a weight), whose
// condition the operator sets True. Level-triggered: the desired condition of each pod follows
// from the status alone, so a restarted operator carries on with the same patches, and a pod
// already as desired is never written.
import type { V1Deployment, V1Pod, V1PodTemplateSpec } from "@kubernetes/client-node";
import { CONDITION_ADMITTED, LABEL_READINESS_GATE, LABEL_REVISION, LABEL_VERSION } from "../api/constants.ts";
import type { ModelDeployment, ModelDeploymentStatus } from "../api/types.ts";
import { weightAtStep } from "./canary.ts";
import { rolloutMode, type PlanContext } from "./context.ts";
import type { Observed } from "./types.ts";

/** One write of a pod's gate condition (a strategic-merge patch of pods/status). */
export interface PodConditionPatch {
  pod: string;
  conditionType: string;
  status: "True" | "False";
  reason: string;
  message: string;
}

/** Is the readiness gate on: spec.strategy.canary.readinessGate without spec.traffic. */
export function readinessGateOf(md: ModelDeployment): boolean {
  return md.spec?.strategy?.canary?.readinessGate === true && md.spec.traffic === undefined;
}

/** `template` with the gate: the readiness gate mlops.dev/admitted and the label the operator watches pods by. */
export function withReadinessGate(template: V1PodTemplateSpec): V1PodTemplateSpec {
  const gates = (template.spec?.readinessGates ?? []).filter((g) => g.conditionType !== CONDITION_ADMITTED);
  return {
    ...template,
    metadata: {
      ...template.metadata,
      labels: { ...template.metadata?.labels, [LABEL_READINESS_GATE]: "true" },
    },
    spec: {
      ...(template.spec ?? { containers: [] }),
      readinessGates: [...gates, { conditionType: CONDITION_ADMITTED }],
    },
  };
}

function condition(pod: V1Pod, type: string): string | undefined {
  return pod.status?.conditions?.find((c) => c.type === type)?.status;
}

function carriesGate(pod: V1Pod): boolean {
  return (pod.spec?.readinessGates ?? []).some((g) => g.conditionType === CONDITION_ADMITTED);
}

function isTerminating(pod: V1Pod): boolean {
  return pod.metadata?.deletionTimestamp !== undefined && pod.metadata.deletionTimestamp !== null;
}

/** Is `pod` of the track `version` at `revision`? */
function podOfTrack(pod: V1Pod, version: string, revision: string | undefined): boolean {
  const labels = pod.metadata?.labels ?? {};
  return labels[LABEL_VERSION] === version && (revision === undefined || labels[LABEL_REVISION] === revision);
}

/** A gated pod that runs with its containers ready: what the gate waits to admit. */
function isRunningBehindGate(pod: V1Pod): boolean {
  return (
    carriesGate(pod) &&
    !isTerminating(pod) &&
    pod.status?.phase === "Running" &&
    condition(pod, "ContainersReady") === "True"
  );
}

/** Pods of `version` at `revision` that run with their containers ready, whatever the gate says. */
export function runningGatedPods(observed: Observed, version: string, revision: string | undefined): number {
  return (observed.pods ?? []).filter((p) => podOfTrack(p, version, revision) && isRunningBehindGate(p))
    .length;
}

/**
 * Can the candidate's checks measure it: it has an available replica, or (behind the gate,
 * whose pods are not Ready before they are admitted) a running pod, which its checks reach
 * through its own Service.
 */
export function hasMeasurablePod(
  md: ModelDeployment,
  observed: Observed,
  d: V1Deployment | undefined,
  version: string,
  revision: string | undefined,
): boolean {
  if ((d?.status?.availableReplicas ?? 0) >= 1) return true;
  return d !== undefined && readinessGateOf(md) && runningGatedPods(observed, version, revision) >= 1;
}

/**
 * Is the gate closed for the spec's track (the candidate): during a canary's leading steps at
 * weight 0 (setWeight only rises, so these are the steps before the first weight), and after a
 * rollback or an abort. Every other pod of the ModelDeployment is admitted.
 */
export function gateClosedForCandidate(ctx: PlanContext, status: ModelDeploymentStatus): boolean {
  if (!readinessGateOf(ctx.md)) return false;
  const mode = rolloutMode(ctx, status);
  if (mode === "aborted") return true;
  if (mode !== "rollingOut" || !status.rollout) return false;
  const step = status.currentStep ?? 0;
  return step < ctx.steps.length && weightAtStep(ctx.md, step) === 0;
}

/**
 * Is the candidate's Deployment at `n` replicas with `n` pods running behind the closed gate:
 * the readiness of a 0% stage, whose pods are not Ready (so not Available) until admitted.
 */
export function candidateRunningAt(ctx: PlanContext, d: V1Deployment | undefined, n: number): boolean {
  if (!d) return n === 0;
  if ((d.status?.observedGeneration ?? 0) < (d.metadata?.generation ?? 0)) return false;
  if ((d.spec?.replicas ?? 1) !== n) return false;
  if (n === 0) return true;
  return (
    (d.status?.updatedReplicas ?? 0) >= n &&
    runningGatedPods(ctx.input.observed, ctx.specVersion, ctx.revision) >= n
  );
}

/**
 * The writes that bring every gated pod's condition to what the gate says: True for an
 * admitted pod that is not True yet, False for a pod of a closed candidate that is True (a
 * rollback after its pods had been admitted). A pod already as desired gets no write.
 */
export function planPodConditions(ctx: PlanContext, status: ModelDeploymentStatus): PodConditionPatch[] {
  const closed = gateClosedForCandidate(ctx, status);
  const patches: PodConditionPatch[] = [];
  for (const pod of ctx.input.observed.pods ?? []) {
    const name = pod.metadata?.name;
    if (!name || !carriesGate(pod) || isTerminating(pod)) continue;
    const current = condition(pod, CONDITION_ADMITTED);
    const shut = closed && podOfTrack(pod, ctx.specVersion, ctx.revision);
    if (!shut && current !== "True")
      patches.push({
        pod: name,
        conditionType: CONDITION_ADMITTED,
        status: "True",
        reason: "Admitted",
        message: `admitted to the clients' Service ${ctx.name} by the operator`,
      });
    else if (shut && current === "True")
      patches.push({
        pod: name,
        conditionType: CONDITION_ADMITTED,
        status: "False",
        reason: "NotAdmitted",
        message: `kept out of the clients' Service ${ctx.name}: the rollout of its version was rolled back or aborted`,
      });
  }
  return patches.sort((a, b) => (a.pod < b.pod ? -1 : a.pod > b.pod ? 1 : 0));
}

/** status.readinessGate: where the gate stands and what it waits for; undefined without the gate. */
export function computeReadinessGateStatus(
  ctx: PlanContext,
  status: ModelDeploymentStatus,
  patches: readonly PodConditionPatch[],
): ModelDeploymentStatus["readinessGate"] {
  if (!readinessGateOf(ctx.md)) return undefined;
  const pods = (ctx.input.observed.pods ?? []).filter((p) => carriesGate(p) && !isTerminating(p));
  const candidate = pods.filter((p) => podOfTrack(p, ctx.specVersion, ctx.revision));
  const admitted = pods.filter((p) => condition(p, CONDITION_ADMITTED) === "True").length;
  const closed = gateClosedForCandidate(ctx, status);
  const mode = rolloutMode(ctx, status);
  let message: string;
  if (closed && mode === "aborted") {
    message = `closed: the rollout of ${ctx.specVersion} was stopped, its pods stay out of the clients' Service ${ctx.name}`;
  } else if (closed) {
    const step = status.currentStep ?? 0;
    const running = candidate.filter(isRunningBehindGate).length;
    const next = ctx.steps.findIndex((s, i) => i > step && s.setWeight !== undefined && s.setWeight > 0);
    const until = next < 0 ? "the promotion" : `step ${next} (setWeight ${ctx.steps[next]?.setWeight})`;
    message =
      `closed: ${running} of ${candidate.length} pods of ${ctx.specVersion} run behind the gate, reached by its checks ` +
      `through its own Service ${ctx.spec.name}; they join the clients' Service ${ctx.name} when ${until} begins`;
  } else if (patches.length > 0) {
    message = `open: admitting ${patches.length} pods to the clients' Service ${ctx.name}`;
  } else {
    message = `open: every running pod is admitted to the clients' Service ${ctx.name}`;
  }
  return {
    conditionType: CONDITION_ADMITTED,
    open: !closed,
    candidatePods: candidate.length,
    admittedPods: admitted,
    waitingPods: patches.length,
    message,
  };
}
