// The weights the clients' Service really sees: its ready endpoints per track (a version at
// a revision), from its EndpointSlices, mapped to Deployments by pod name.
import type { V1Deployment } from "@kubernetes/client-node";
import { LABEL_VERSION } from "../../api/constants.ts";
import type { TrafficWeight } from "../../api/types.ts";
import type { Observed } from "../types.ts";
import { findTrackDeployment, revisionOf } from "../tracks.ts";

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/**
 * A function from a pod's name to the Deployment that made it: pods of Deployment D are
 * named D-<replicaset hash>-<suffix>; the longest matching Deployment name wins. Built once
 * for all the pods of one ModelDeployment.
 */
function podOwners(deployments: readonly V1Deployment[]): (podName: string) => V1Deployment | undefined {
  const patterns = deployments
    .filter((d) => d.metadata?.name && d.metadata.labels?.[LABEL_VERSION] !== undefined)
    .sort((a, b) => (b.metadata?.name?.length ?? 0) - (a.metadata?.name?.length ?? 0))
    .map((d) => ({ d, re: new RegExp(`^${escapeRegExp(d.metadata?.name ?? "")}-[a-z0-9]+-[a-z0-9]+$`) }));
  return (podName) => patterns.find((p) => p.re.test(podName))?.d;
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

/**
 * The entry of `version` at `revision` in `traffic` (an entry or a revision that is
 * undefined matches any revision of the version).
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

/** A version at a revision (revision undefined: whichever Deployment has the version). */
export interface TrafficRef {
  version: string;
  revision?: string | undefined;
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
