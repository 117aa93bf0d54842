// Track lookups over one plan's context: which observed Deployment is a version at a
// revision, which is the stable one, whether one is Available, and how a version is named in
// messages. They read the draft's status (the stable version can change within a plan).
import type { V1Deployment } from "@kubernetes/client-node";
import { ANNOTATION_REVISION } from "../api/constants.ts";
import type { ModelDeploymentStatus } from "../api/types.ts";
import { isSpecTrack, type PlanContext } from "./context.ts";
import * as text from "./messages.ts";
import {
  findTrackDeployment,
  observedTrack,
  revisionOf,
  trackSelector,
  versionOf,
  type Track,
} from "./tracks.ts";

/** Is `d` Available at size n: its controller saw the current spec, replicas == n, n updated and available. */
export function isAvailableAt(d: V1Deployment | undefined, n: number, revision?: string): boolean {
  if (!d) return n === 0;
  if (revision !== undefined && d.metadata?.annotations?.[ANNOTATION_REVISION] !== revision) return false;
  if ((d.status?.observedGeneration ?? 0) < (d.metadata?.generation ?? 0)) return false;
  if ((d.spec?.replicas ?? 1) !== n) return false;
  const available = d.status?.availableReplicas ?? 0;
  if (n === 0) return available === 0;
  return (d.status?.updatedReplicas ?? 0) >= n && available >= n;
}

/** Is a status entry (scaleDown) of the track `t`? An entry without a revision matches any. */
export function sameTrack(
  e: { version: string; revision?: string | undefined },
  t: { version: string; revision?: string | undefined },
): boolean {
  return (
    e.version === t.version &&
    (e.revision === undefined || t.revision === undefined || e.revision === t.revision)
  );
}

/** The Deployment name of `version` at `revision` (any revision when undefined), if observed. */
export function trackNameOf(
  ctx: PlanContext,
  version: string,
  revision: string | undefined,
): string | undefined {
  if (isSpecTrack(ctx, version, revision)) return ctx.spec.name;
  return findTrackDeployment(ctx.deployments.values(), version, revision)?.metadata?.name;
}

/**
 * The stable track's name: the spec's when the spec is stable (its Deployment is made
 * from the spec), else the observed Deployment of the stable version at the stable
 * revision (or, for a status without one, another Deployment of the stable version).
 */
export function stableTrackName(ctx: PlanContext, status: ModelDeploymentStatus): string | undefined {
  const { stableVersion, stableRevision } = status;
  if (stableVersion === undefined) return undefined;
  if (isSpecTrack(ctx, stableVersion, stableRevision)) return ctx.spec.name;
  const exact = trackNameOf(ctx, stableVersion, stableRevision);
  if (exact !== undefined) return exact;
  for (const [name, d] of ctx.deployments)
    if (versionOf(d) === stableVersion && name !== ctx.spec.name) return name;
  return undefined;
}

export function stableDeployment(ctx: PlanContext, status: ModelDeploymentStatus): V1Deployment | undefined {
  const name = stableTrackName(ctx, status);
  return name !== undefined ? ctx.deployments.get(name) : undefined;
}

/** The track named `name`: observed, or the spec's. */
export function trackByName(ctx: PlanContext, name: string): Track | undefined {
  if (name === ctx.spec.name) return ctx.spec;
  const d = ctx.deployments.get(name);
  return d ? observedTrack(ctx.md, d) : undefined;
}

/** The pod selector of a track (the stable one's from the status when its Deployment is gone). */
export function trackSelectorByName(
  ctx: PlanContext,
  status: ModelDeploymentStatus,
  name: string | undefined,
): Record<string, string> {
  const t = name !== undefined ? trackByName(ctx, name) : undefined;
  if (t) return t.selector;
  return trackSelector(ctx.md, status.stableVersion ?? ctx.specVersion, status.stableRevision);
}

/**
 * How a version is named in messages: "1.2.0", or "1.2.0 (revision abc)" while another
 * revision of the same version is in play.
 */
export function versionLabel(
  ctx: PlanContext,
  status: ModelDeploymentStatus,
  version: string | undefined,
  revision: string | undefined,
): string {
  if (version === undefined) return "none";
  if (revision === undefined) return version;
  const others = [
    ...[...ctx.deployments.values()].map((d) => ({ version: versionOf(d), revision: revisionOf(d) })),
    { version: ctx.specVersion, revision: ctx.revision },
    { version: status.stableVersion, revision: status.stableRevision },
  ];
  // Another revision of the same version is in play.
  const shared = others.some(
    (o) => o.version === version && o.revision !== undefined && o.revision !== revision,
  );
  return shared ? text.versionAtRevision(version, revision) : version;
}

export function stableLabel(ctx: PlanContext, status: ModelDeploymentStatus): string {
  return versionLabel(ctx, status, status.stableVersion, status.stableRevision);
}

export function specLabel(ctx: PlanContext, status: ModelDeploymentStatus): string {
  return versionLabel(ctx, status, ctx.specVersion, ctx.revision);
}
