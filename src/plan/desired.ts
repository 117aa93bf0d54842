// The desired children of one plan: the replicas of every track, the Deployments and Services
// of the tracks, the traffic objects of the router, and the children to delete. Deployments
// that scale up are applied first, those that scale down last, the traffic objects between.
import type { KubernetesObject, V1Deployment, V1Service } from "@kubernetes/client-node";
import { Reasons } from "../api/reasons.ts";
import type { ModelDeploymentStatus } from "../api/types.ts";
import { blueGreenCandidateReplicas } from "./bluegreen.ts";
import { boundCanaryReplicas, canaryWeightAt } from "./capacity-plan.ts";
import { canaryReplicasAtStep } from "./canary-stepper.ts";
import { timeMs } from "./checks.ts";
import {
  computeRetainedDeployment,
  computeRetainedService,
  computeVersionDeployment,
  computeVersionService,
} from "./children.ts";
import { recordEvent, type PlanContext, type RolloutMode, type StatusDraft } from "./context.ts";
import {
  isAvailableAt,
  stableLabel,
  stableTrackName,
  trackByName,
  trackNameOf,
  trackSelectorByName,
  versionLabel,
} from "./lookups.ts";
import * as text from "./messages.ts";
import type { TrafficIntent, TrafficTarget } from "./routers/router.ts";
import { computeRouteRelease } from "./routers/user-route.ts";
import { revisionHistoryLimitOf } from "./spec.ts";
import { isLegacyDeployment, revisionOf, versionOf } from "./tracks.ts";
import type { ChildRef, ObjectEdit } from "./types.ts";

/** Replicas by Deployment name. */
type Replicas = Map<string, number>;

/** What the strategy wants of the tracks that serve (or are about to): the spec's and the stable one. */
function servingReplicas(ctx: PlanContext, status: ModelDeploymentStatus, mode: RolloutMode): Replicas {
  const replicas: Replicas = new Map();
  const stable = stableTrackName(ctx, status);
  if (mode === "firstVersion") replicas.set(ctx.spec.name, ctx.replicas);
  else if (mode === "rollingOut" && status.rollout && status.stableVersion !== undefined) {
    if (ctx.strategy === "Canary") {
      const sizes = canaryReplicasAtStep(ctx, status.currentStep ?? 0);
      replicas.set(ctx.spec.name, sizes.candidate);
      if (stable !== undefined) replicas.set(stable, sizes.stable);
    } else {
      replicas.set(ctx.spec.name, blueGreenCandidateReplicas(ctx, status));
      if (stable !== undefined) replicas.set(stable, ctx.replicas);
    }
  } else if (stable !== undefined) {
    replicas.set(stable, ctx.replicas);
  }
  return replicas;
}

/**
 * Old tracks kept ready for a while (blue/green scaleDownDelaySeconds, a rollback) keep their
 * replicas until their time has come, the stable track is Available and the clients are on
 * it; then they scale to 0. Returns the names of those still kept.
 */
function keepScalingDown(
  ctx: PlanContext,
  draft: StatusDraft,
  replicas: Replicas,
  stableUp: boolean,
): Set<string> {
  const status = draft.status;
  const stable = stableTrackName(ctx, status);
  const clientsOnStable = ctx.strategy === "Canary" || ctx.router.observeSoleTrack(ctx) === stable;
  const keep: NonNullable<ModelDeploymentStatus["scaleDown"]> = [];
  const draining = new Set<string>();
  for (const entry of status.scaleDown ?? []) {
    const name = trackNameOf(ctx, entry.version, entry.revision);
    const d = name !== undefined ? ctx.deployments.get(name) : undefined;
    if (name === undefined || !d || replicas.has(name)) continue;
    if (ctx.nowMs >= timeMs(entry.after) && stableUp && clientsOnStable) {
      const label = versionLabel(ctx, status, entry.version, revisionOf(d));
      recordEvent(draft, "Normal", Reasons.ScaledDown, text.scaledDown(label, stableLabel(ctx, status)));
      continue;
    }
    keep.push(entry);
    draining.add(name);
    // It keeps what it has, but never more than spec.replicas: an autoscaler that scaled the
    // ModelDeployment down since the switch needs no larger fallback than that.
    replicas.set(name, Math.min(d.spec?.replicas ?? 0, ctx.replicas));
  }
  if (keep.length) status.scaleDown = keep;
  else delete status.scaleDown;
  return draining;
}

/**
 * Tracks that serve nothing: the most recent revisionHistoryLimit stay at 0 replicas (most
 * recently in history first, then the newest), older ones are deleted.
 */
function retireIdleTracks(ctx: PlanContext, status: ModelDeploymentStatus, replicas: Replicas): ChildRef[] {
  const historyIndex = (name: string) => {
    const d = ctx.deployments.get(name);
    const i = (status.history ?? []).findIndex(
      (h) => h.version === versionOf(d) && (h.revision === undefined || h.revision === revisionOf(d)),
    );
    return i < 0 ? Number.MAX_SAFE_INTEGER : i;
  };
  const created = (d: V1Deployment | undefined) =>
    d ? timeMs(String(d.metadata?.creationTimestamp ?? "")) || 0 : 0;
  const idle = [...ctx.deployments.keys()]
    .filter((name) => !replicas.has(name))
    .sort(
      (a, b) =>
        historyIndex(a) - historyIndex(b) ||
        created(ctx.deployments.get(b)) - created(ctx.deployments.get(a)) ||
        (a < b ? -1 : a > b ? 1 : 0),
    );
  const limit = revisionHistoryLimitOf(ctx.md);
  const del: ChildRef[] = [];
  idle.forEach((name, i) => {
    if (i < limit) replicas.set(name, 0);
    else {
      del.push({ kind: "Deployment", name });
      if (ctx.services.has(name)) del.push({ kind: "Service", name });
    }
  });
  return del;
}

/** The Deployment of every track at its replicas, and the Service of every track that serves. */
function trackObjects(
  ctx: PlanContext,
  replicas: Replicas,
  serving: ReadonlySet<string>,
): { up: V1Deployment[]; down: V1Deployment[]; services: V1Service[] } {
  const md = ctx.md;
  const spec = ctx.spec.name;
  const out = { up: [] as V1Deployment[], down: [] as V1Deployment[], services: [] as V1Service[] };
  const ordered = [...replicas.keys()].sort((a, b) => (a === spec ? -1 : b === spec ? 1 : 0));
  for (const name of ordered) {
    const n = replicas.get(name) ?? 0;
    const observed = ctx.deployments.get(name);
    const fromSpec = name === spec && !(observed && isLegacyDeployment(observed));
    const obj = fromSpec
      ? computeVersionDeployment(md, n, ctx.spec)
      : observed
        ? computeRetainedDeployment(md, observed, n)
        : undefined;
    if (!obj) continue;
    (n < (observed?.spec?.replicas ?? 0) ? out.down : out.up).push(obj);
    if (!serving.has(name)) continue;
    const observedSvc = ctx.services.get(name);
    const track = trackByName(ctx, name) ?? ctx.spec;
    out.services.push(
      fromSpec
        ? computeVersionService(md, ctx.spec)
        : observedSvc
          ? computeRetainedService(md, observedSvc, track.version)
          : computeVersionService(md, track, observed?.spec?.template),
    );
  }
  return out;
}

/**
 * What the clients should get. Canary: the candidate its step's weight. Blue/green: one track
 * all of it, the stable one, the candidate once switched; before the stable track is
 * Available again the clients stay where they are, on a track kept for scale-down, or on the
 * one they were switched to before its rollout started again (a template change right after
 * the switch) while it has ready pods. The candidate is previewed until the switch.
 */
function trafficIntent(
  ctx: PlanContext,
  status: ModelDeploymentStatus,
  stableUp: boolean,
  draining: ReadonlySet<string>,
  replicas: ReadonlyMap<string, number>,
): TrafficIntent {
  const spec = ctx.spec.name;
  const rollout = status.rollout;
  const stable = stableTrackName(ctx, status);
  // The stable track (by its status when its Deployment is gone), the spec's before the first.
  let active: string | undefined = status.stableVersion === undefined ? spec : stable;
  if (rollout?.switchedAt !== undefined) active = spec;
  else if (ctx.strategy === "BlueGreen" && stable !== undefined && !stableUp) {
    const selected = ctx.router.observeSoleTrack(ctx);
    const kept = selected !== undefined && draining.has(selected);
    const restarted =
      selected !== undefined &&
      rollout !== undefined &&
      selected === spec &&
      (ctx.deployments.get(selected)?.status?.readyReplicas ?? 0) > 0;
    if (selected !== undefined && (kept || restarted)) active = selected;
  }
  const target = (name: string | undefined): TrafficTarget => {
    const t = name !== undefined ? trackByName(ctx, name) : undefined;
    if (t) return t;
    return {
      version: status.stableVersion ?? ctx.specVersion,
      revision: status.stableRevision,
      selector: trackSelectorByName(ctx, status, name),
    };
  };
  if (ctx.strategy === "Canary" && rollout && status.stableVersion !== undefined) {
    const weight = canaryWeightAt(ctx, status, status.currentStep ?? 0, replicas);
    const intent: TrafficIntent = {
      weights: [
        { target: target(active), weight: 100 - weight },
        { target: ctx.spec, weight },
      ],
    };
    // A header or mirror rule lives as long as its step: gone when the step ends, on abort
    // (no rollout then) and on promotion.
    const step = ctx.steps[status.currentStep ?? 0];
    if (step?.setHeaderRoute) {
      const h = step.setHeaderRoute;
      intent.headerRoutes = [
        {
          name: h.name,
          headers: h.match.map((m) => ({
            name: m.headerName,
            exact: m.headerValue.exact,
            regex: m.headerValue.regex,
          })),
          target: ctx.spec,
        },
      ];
    }
    if (step?.setMirrorRoute) {
      const m = step.setMirrorRoute;
      intent.mirror = { name: m.name, percentage: m.percentage, target: ctx.spec };
    }
    return intent;
  }
  const intent: TrafficIntent = { weights: [{ target: target(active), weight: 100 }] };
  if (ctx.strategy === "BlueGreen" && rollout && rollout.switchedAt === undefined) intent.preview = ctx.spec;
  return intent;
}

/** The children to apply, in order, and those to delete. */
export function desiredChildren(
  ctx: PlanContext,
  draft: StatusDraft,
  mode: RolloutMode,
): { apply: KubernetesObject[]; delete: ChildRef[]; edits: ObjectEdit[] } {
  const status = draft.status;
  const spec = ctx.spec.name;
  const replicas = servingReplicas(ctx, status, mode);
  const stable = stableTrackName(ctx, status);
  const stableDep = stable !== undefined ? ctx.deployments.get(stable) : undefined;
  const stableUp =
    stable !== undefined &&
    isAvailableAt(stableDep, ctx.replicas, stable === spec ? ctx.revision : undefined);
  const draining = keepScalingDown(ctx, draft, replicas, stableUp);
  // A rolled-back or aborted spec track serves nothing (unless it is still draining above).
  if (!replicas.has(spec)) replicas.set(spec, 0);
  const del = retireIdleTracks(ctx, status, replicas);
  // maxSurge and maxUnavailable: how far the tracks move towards those sizes in this reconcile.
  boundCanaryReplicas(ctx, draft, mode, replicas, draining);
  const serving = new Set<string>([spec, ...draining]);
  if (stable !== undefined) serving.add(stable);
  const tracks = trackObjects(ctx, replicas, serving);
  const intent = trafficIntent(ctx, status, stableUp, draining, replicas);
  const routed = ctx.router.desiredObjects(ctx, intent);
  // A route the user owns that the spec no longer names goes back to the stable version.
  const released = computeRouteRelease(ctx, intent.weights[0]?.target);
  return {
    apply: [...tracks.up, ...tracks.services, ...routed.apply, ...released.apply, ...tracks.down],
    delete: [...del, ...routed.delete],
    edits: [...(routed.edits ?? []), ...released.edits],
  };
}
