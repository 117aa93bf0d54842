// How a reconcile writes the status it planned: which fields changed, whether the change
// only records what was observed (so the children can be written at the same time), and
// whether a change that only reports progress should wait for the Deployment's status to
// catch up with the clients' Service, so that both land in one write.
import { LABEL_MODEL } from "../api/constants.ts";
import type { ModelDeploymentStatus } from "../api/types.ts";
import type { Observed } from "../plan/types.ts";
import { adoptedTrafficName } from "../plan/adoption.ts";
import { isTrackOf } from "../plan/tracks.ts";
import { sameJson } from "./diff.ts";

/**
 * Status fields that record what was observed, not what was decided. A status write that
 * changes only these carries no decision the children depend on: the next reconcile plans
 * the same children from the previous status (the memory of the rollout: rollout,
 * stableVersion, currentStep, history, ...), so the order of the two writes does not matter.
 */
const OBSERVED_FIELDS: ReadonlySet<string> = new Set([
  "observedGeneration",
  "phase",
  "conditions",
  "message",
  "traffic",
  "replicas",
  "candidateWeight",
  // Derived from the status and the pods alone: where the readiness gate stands.
  "readinessGate",
  // The pod budget and the pods as observed; the planner never reads it back.
  "capacity",
]);

/** Progress figures: ready endpoints and weights, ready replicas, the counts in messages, the pods. */
const PROGRESS_FIELDS: ReadonlySet<string> = new Set([
  "traffic",
  "replicas",
  "candidateWeight",
  "message",
  "conditions",
  "capacity",
]);

/** Top-level status fields whose values differ (keys whose value is undefined count as absent). */
export function changedStatusFields(
  prev: ModelDeploymentStatus | undefined,
  next: ModelDeploymentStatus,
): string[] {
  const a = (prev ?? {}) as Record<string, unknown>;
  const b = next as Record<string, unknown>;
  const out: string[] = [];
  for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) if (!sameJson(a[k], b[k])) out.push(k);
  return out;
}

/** The change only records observations (conditions, phase, progress): no decision in it. */
export function recordsOnly(changed: readonly string[]): boolean {
  return changed.every((k) => OBSERVED_FIELDS.has(k));
}

/**
 * The change only moves progress figures: traffic, ready replicas, candidate weight and
 * messages. Conditions may differ in their message alone: a condition whose status,
 * reason or observedGeneration changes is not progress, nor is a phase.
 */
export function progressOnly(
  prev: ModelDeploymentStatus | undefined,
  next: ModelDeploymentStatus,
  changed: readonly string[] = changedStatusFields(prev, next),
): boolean {
  if (changed.length === 0 || !changed.every((k) => PROGRESS_FIELDS.has(k))) return false;
  if (!changed.includes("conditions")) return true;
  const before = prev?.conditions ?? [];
  const after = next.conditions ?? [];
  if (before.length !== after.length) return false;
  return after.every((c, i) => {
    const o = before[i];
    return o !== undefined && sameJson({ ...o, message: undefined }, { ...c, message: undefined });
  });
}

/**
 * The clients' Service shows more ready endpoints of a version (at a revision) than its
 * Deployment reports ready replicas: the pods are ready, the Deployment's status has not
 * caught up yet (kube-controller-manager updates it after the EndpointSlice, seconds later
 * when it is busy). Fewer endpoints than ready replicas (bad news) is not "ahead".
 */
export function endpointsAheadOfDeployments(
  observed: Observed,
  modelName: string,
  status: ModelDeploymentStatus,
): boolean {
  // An adopted Deployment (spec.workloadRef) in status.traffic is no version of the model.
  const adopted = status.adoption ? adoptedTrafficName(status.adoption.deployment) : undefined;
  for (const t of status.traffic ?? []) {
    const ready = t.readyEndpoints ?? 0;
    if (ready === 0 || t.version === adopted) continue;
    // The Deployment of that version at that revision (two revisions of one version may run).
    const d = observed.deployments.find(
      (x) => x.metadata?.labels?.[LABEL_MODEL] === modelName && isTrackOf(x, t.version, t.revision),
    );
    if (ready > (d?.status?.readyReplicas ?? 0)) return true;
  }
  return false;
}
