// Tracks: what one set of pods runs, a version at a revision (the hash of the pod template
// and model), with its own Deployment and Service of one name. A version normally has one
// track, named NAME-V. When the pod template of the stable version changes and the version
// stays, the new revision rolls out on a track of its own, NAME-V-REVISION, beside the old
// one, gated like a new version. Pods and Deployment selectors carry mlops.dev/revision, so
// the two tracks of one version never select each other's pods.
import type { V1Deployment } from "@kubernetes/client-node";
import { ANNOTATION_REVISION, LABEL_MODEL, LABEL_REVISION, LABEL_VERSION } from "../api/constants.ts";
import type { ModelDeployment, TrafficWeight } from "../api/types.ts";
import { childName, computeRevision, shortenName, versionSlug } from "./naming.ts";

export interface Track {
  /** The Deployment and the Service of the track. */
  name: string;
  version: string;
  revision?: string;
  /** The pod labels the track's Deployment selects (and its Service, and a blue/green switch). */
  selector: Record<string, string>;
}

/** The pod labels (and Deployment selector) of a version at a revision. */
export function trackSelector(
  md: ModelDeployment,
  version: string,
  revision?: string,
): Record<string, string> {
  const selector: Record<string, string> = {
    [LABEL_MODEL]: md.metadata?.name ?? "",
    [LABEL_VERSION]: version,
  };
  if (revision !== undefined) selector[LABEL_REVISION] = revision;
  return selector;
}

/** The revision a Deployment was made for (annotation mlops.dev/revision). */
export function revisionOf(d: V1Deployment | undefined): string | undefined {
  return d?.metadata?.annotations?.[ANNOTATION_REVISION];
}

export function versionOf(d: V1Deployment | undefined): string | undefined {
  return d?.metadata?.labels?.[LABEL_VERSION];
}

/**
 * A Deployment whose selector has no mlops.dev/revision (made before revisions were in
 * selectors). Selectors cannot change, so it is kept as it is: only its replicas are set.
 */
export function isLegacyDeployment(d: V1Deployment | undefined): boolean {
  return d !== undefined && d.spec?.selector?.matchLabels?.[LABEL_REVISION] === undefined;
}

/** The ModelDeployment's own Deployments (label mlops.dev/model and a version), by name. */
export function deploymentsByName(
  md: ModelDeployment,
  deployments: readonly V1Deployment[],
): Map<string, V1Deployment> {
  const name = md.metadata?.name ?? "";
  const out = new Map<string, V1Deployment>();
  for (const d of deployments) {
    const n = d.metadata?.name;
    if (n && versionOf(d) !== undefined && d.metadata?.labels?.[LABEL_MODEL] === name) out.set(n, d);
  }
  return out;
}

/** Is `d` the Deployment of `version` at `revision` (at any revision when it is undefined)? */
export function isTrackOf(
  d: V1Deployment | undefined,
  version: string | undefined,
  revision: string | undefined,
): boolean {
  return (
    version !== undefined &&
    versionOf(d) === version &&
    (revision === undefined || revisionOf(d) === revision)
  );
}

/** The first of `deployments` of `version` at `revision` (any revision when it is undefined). */
export function findTrackDeployment(
  deployments: Iterable<V1Deployment>,
  version: string,
  revision: string | undefined,
): V1Deployment | undefined {
  for (const d of deployments) if (isTrackOf(d, version, revision)) return d;
  return undefined;
}

/**
 * The name of the track of `version` at `revision`: the name of its Deployment when one is
 * observed; else NAME-V when no Deployment has that name; else NAME-V-REVISION (NAME-V is
 * another revision of the version, or another version with the same DNS-safe form).
 */
export function trackName(
  md: ModelDeployment,
  deps: ReadonlyMap<string, V1Deployment>,
  version: string,
  revision: string,
): string {
  const found = findTrackDeployment(deps.values(), version, revision);
  if (found?.metadata?.name) return found.metadata.name;
  const mdName = md.metadata?.name ?? "";
  const base = childName(mdName, version);
  if (!deps.has(base)) return base;
  const slug = versionSlug(version);
  return shortenName(slug ? `${mdName}-${slug}-${revision}` : `${mdName}-${revision}`);
}

/** The track of an observed Deployment: its name, version, revision and selector as they are. */
export function observedTrack(md: ModelDeployment, d: V1Deployment): Track {
  const version = versionOf(d) ?? "";
  const track: Track = {
    name: d.metadata?.name ?? "",
    version,
    selector: { ...(d.spec?.selector?.matchLabels ?? trackSelector(md, version)) },
  };
  const revision = revisionOf(d);
  if (revision !== undefined) track.revision = revision;
  return track;
}

/**
 * The track of the spec: its version at the spec's revision, among the ModelDeployment's
 * Deployments `deps` (deploymentsByName). An observed legacy Deployment of it keeps its
 * selector; else the selector carries the revision.
 */
export function specTrack(
  md: ModelDeployment,
  deps: ReadonlyMap<string, V1Deployment> = new Map(),
  revision: string = computeRevision(md),
): Track {
  const version = md.spec.model.version;
  const name = trackName(md, deps, version, revision);
  const observed = deps.get(name);
  if (observed && isLegacyDeployment(observed)) return observedTrack(md, observed);
  return { name, version, revision, selector: trackSelector(md, version, revision) };
}

/**
 * The entry of `version` at `revision` in `traffic` (status.traffic; an entry or a revision
 * that is undefined matches any revision of the version).
 */
export function trafficOf(
  traffic: readonly TrafficWeight[] | undefined,
  version: string,
  revision: string | undefined,
): TrafficWeight | undefined {
  return traffic?.find(
    (t) =>
      t.version === version &&
      (t.revision === undefined || revision === undefined || t.revision === revision),
  );
}
