// The Service router: today's way of reaching clients, with nothing but the clients' Service.
// Canary: it selects every version's pods, so traffic splits by ready replicas and a weight is
// a replica count (20% of 10 replicas = 2 new + 8 old). Blue/green: it selects one track's
// pods, and the switch is one write of its selector; the candidate is reachable before it
// through the preview Service. What clients get is read from the ready endpoints of the
// clients' Service's EndpointSlices, mapped to Deployments by pod name.
import type { KubernetesObject, V1Deployment } from "@kubernetes/client-node";
import { LABEL_REVISION, LABEL_VERSION } from "../../api/constants.ts";
import type { TrafficWeight } from "../../api/types.ts";
import { canaryStableReplicas, computeCanaryReplicas } from "../canary.ts";
import { computeClientsService, computePreviewService } from "../children.ts";
import { clientsServiceName, podNameTest, previewServiceName } from "../naming.ts";
import type { ChildRef, Observed } from "../types.ts";
import { findTrackDeployment, observedTrack, revisionOf } from "../tracks.ts";
import type { RouterView, TrafficIntent, TrafficRef, TrafficRouter } from "./router.ts";

export type { TrafficRef } from "./router.ts";

/**
 * A function from a pod's name to the Deployment that made it: pods of Deployment D are
 * named D-<replicaset hash>-<suffix>, cut where that is too long (podNameTest); the longest
 * matching Deployment name wins. Built once for all the pods of one ModelDeployment.
 */
function podOwners(deployments: readonly V1Deployment[]): (podName: string) => V1Deployment | undefined {
  const patterns = deployments
    .filter((d) => d.metadata?.name && d.metadata.labels?.[LABEL_VERSION] !== undefined)
    .sort((a, b) => (b.metadata?.name?.length ?? 0) - (a.metadata?.name?.length ?? 0))
    .map((d) => ({ d, test: podNameTest(d.metadata?.name ?? "") }));
  return (podName) => patterns.find((p) => p.test(podName))?.d;
}

/** The Deployment that made pod `podName` (see podOwners). */
export function deploymentOfPod(
  deployments: readonly V1Deployment[],
  podName: string,
): V1Deployment | undefined {
  return podOwners(deployments)(podName);
}

/** The version whose Deployment made pod `podName`. */
export function versionOfPod(deployments: readonly V1Deployment[], podName: string): string | undefined {
  return deploymentOfPod(deployments, podName)?.metadata?.labels?.[LABEL_VERSION];
}

interface Row {
  version: string;
  revision?: string | undefined;
  ready: number;
}

/**
 * Ready endpoints per track (a version at a revision) and their weights (percent, summing to
 * 100 by largest remainder; all 0 when nothing is ready). Lists the stable track first, then
 * the candidate, then any other with ready endpoints (by version, then Deployment name).
 * An entry has `revision` when its Deployment carries one.
 */
export function computeTraffic(
  observed: Observed,
  stable: TrafficRef | string | undefined,
  candidate: TrafficRef | string | undefined,
): TrafficWeight[] {
  const rows = new Map<string, Row>();
  const seen = new Set<string>();
  const rowOf = (d: V1Deployment): Row => {
    const name = d.metadata?.name ?? "";
    let row = rows.get(name);
    if (!row) {
      row = { version: d.metadata?.labels?.[LABEL_VERSION] ?? "", revision: revisionOf(d), ready: 0 };
      rows.set(name, row);
    }
    return row;
  };
  const ownerOf = podOwners(observed.deployments);
  for (const slice of observed.endpointSlices) {
    for (const ep of slice.endpoints ?? []) {
      if (ep.conditions?.ready === false) continue;
      const ref = ep.targetRef;
      if (!ref || ref.kind !== "Pod" || !ref.name) continue;
      if (seen.has(ref.name)) continue; // the same pod in an IPv4 and an IPv6 slice
      seen.add(ref.name);
      const d = ownerOf(ref.name);
      if (d) rowOf(d).ready++;
    }
  }
  const first: Row[] = [];
  for (const given of [stable, candidate]) {
    if (given === undefined) continue;
    const ref = typeof given === "string" ? { version: given } : given;
    const d = findTrackDeployment(observed.deployments, ref.version, ref.revision);
    const row = d ? rowOf(d) : { version: ref.version, revision: ref.revision, ready: 0 };
    if (!first.includes(row)) first.push(row);
  }
  const others = [...rows.entries()]
    .filter(([, row]) => !first.includes(row) && row.ready > 0)
    .sort(([an, a], [bn, b]) => (a.version < b.version ? -1 : a.version > b.version ? 1 : an < bn ? -1 : 1))
    .map(([, row]) => row);
  const list = [...first, ...others];

  const total = list.reduce((sum, r) => sum + r.ready, 0);
  const weights = list.map((r) => (total === 0 ? 0 : (100 * r.ready) / total));
  const floors = weights.map(Math.floor);
  let rest = total === 0 ? 0 : 100 - floors.reduce((a, b) => a + b, 0);
  const order = weights
    .map((w, i) => ({ i, frac: w - Math.floor(w) }))
    .sort((a, b) => b.frac - a.frac || a.i - b.i);
  for (const { i } of order) {
    if (rest <= 0) break;
    floors[i] = (floors[i] ?? 0) + 1;
    rest--;
  }
  return list.map((r, i) => {
    const entry: TrafficWeight = { version: r.version, weight: floors[i] ?? 0, readyEndpoints: r.ready };
    if (r.revision !== undefined) entry.revision = r.revision;
    return entry;
  });
}

/** The clients' Service, and the preview Service while the intent has a preview. */
function desiredServices(
  view: RouterView,
  intent: TrafficIntent,
): { apply: KubernetesObject[]; delete: ChildRef[] } {
  const md = view.md;
  // Blue/green sends all client traffic to one target; a canary's Service selects every
  // version and its split is in the replica counts, so its targets' selectors are not used.
  let sole: TrafficIntent["weights"][number] | undefined;
  for (const w of intent.weights) if (sole === undefined || w.weight > sole.weight) sole = w;
  const apply: KubernetesObject[] = [computeClientsService(md, sole?.target.selector)];
  const del: ChildRef[] = [];
  if (intent.preview) apply.push(computePreviewService(md, intent.preview.selector));
  else if (view.services.has(previewServiceName(md)))
    del.push({ kind: "Service", name: previewServiceName(md) });
  // spec.traffic was removed: the route the operator wrote for it goes.
  if (view.input.observed.routes?.httpRoutes.some((r) => r.metadata?.name === clientsServiceName(md)))
    del.push({ kind: "HTTPRoute", name: clientsServiceName(md) });
  if (view.input.observed.grpcRoutes?.routes.some((r) => r.metadata?.name === clientsServiceName(md)))
    del.push({ kind: "GRPCRoute", name: clientsServiceName(md) });
  // ... and so do the InferencePools it wrote (spec.traffic.gatewayAPI.inferencePool).
  for (const p of view.input.observed.pools?.inferencePools ?? [])
    if (p.metadata?.name !== undefined) del.push({ kind: "InferencePool", name: p.metadata.name });
  return { apply, delete: del };
}

/**
 * The track whose pods the clients' Service selects alone (blue/green): the one whose
 * selector it equals, else (a selector written before revisions) one of its version.
 */
function clientsSelectedTrack(view: RouterView): string | undefined {
  const sel = view.services.get(clientsServiceName(view.md))?.spec?.selector;
  if (!sel || sel[LABEL_VERSION] === undefined) return undefined;
  let loose: string | undefined;
  for (const name of new Set([view.spec.name, ...view.deployments.keys()])) {
    const observed = view.deployments.get(name);
    const t = name === view.spec.name ? view.spec : observed ? observedTrack(view.md, observed) : undefined;
    if (!t) continue;
    if (sameLabels(sel, t.selector)) return name;
    if (
      loose === undefined &&
      sel[LABEL_VERSION] === t.version &&
      (sel[LABEL_REVISION] === undefined || sel[LABEL_REVISION] === t.revision)
    )
      loose = name;
  }
  return loose;
}

function sameLabels(a: Record<string, string>, b: Record<string, string>): boolean {
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => a[k] === b[k]);
}

export const serviceRouter: TrafficRouter = {
  kind: "Service",
  splitsByReplicas: true,
  canaryReplicas(replicas, weight, candidateAvailable) {
    const { candidate } = computeCanaryReplicas(replicas, weight);
    return {
      candidate,
      stable: canaryStableReplicas(replicas, weight, Math.min(candidateAvailable, candidate)),
    };
  },
  desiredObjects: desiredServices,
  observeWeights: (view, stable, candidate) => computeTraffic(view.input.observed, stable, candidate),
  observeSoleTrack: clientsSelectedTrack,
};
