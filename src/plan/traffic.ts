// The weights the clients' Service really sees: its ready endpoints per track (a version at
// a revision), from its EndpointSlices, mapped to Deployments by pod name.
import type { V1Deployment } from "@kubernetes/client-node";
import { LABEL_VERSION } from "../api/constants.ts";
import type { TrafficWeight } from "../api/types.ts";
import type { Observed } from "./types.ts";
import { revisionOf } from "./tracks.ts";

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/**
 * The Deployment that made pod `podName`: pods of Deployment D are named
 * D-<replicaset hash>-<suffix>; the longest matching Deployment name wins.
 */
export function deploymentOfPod(
  deployments: readonly V1Deployment[],
  podName: string,
): V1Deployment | undefined {
  const sorted = [...deployments].sort(
    (a, b) => (b.metadata?.name?.length ?? 0) - (a.metadata?.name?.length ?? 0),
  );
  for (const d of sorted) {
    const name = d.metadata?.name;
    if (!name || d.metadata?.labels?.[LABEL_VERSION] === undefined) continue;
    if (new RegExp(`^${escapeRegExp(name)}-[a-z0-9]+-[a-z0-9]+$`).test(podName)) return d;
  }
  return undefined;
}

/** The version whose Deployment made pod `podName`. */
export function versionOfPod(deployments: readonly V1Deployment[], podName: string): string | undefined {
  return deploymentOfPod(deployments, podName)?.metadata?.labels?.[LABEL_VERSION];
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
  for (const slice of observed.endpointSlices) {
    for (const ep of slice.endpoints ?? []) {
      if (ep.conditions?.ready === false) continue;
      const ref = ep.targetRef;
      if (!ref || ref.kind !== "Pod" || !ref.name) continue;
      if (seen.has(ref.name)) continue; // the same pod in an IPv4 and an IPv6 slice
      seen.add(ref.name);
      const d = deploymentOfPod(observed.deployments, ref.name);
      if (d) rowOf(d).ready++;
    }
  }
  const first: Row[] = [];
  for (const given of [stable, candidate]) {
    if (given === undefined) continue;
    const ref = typeof given === "string" ? { version: given } : given;
    const d = observed.deployments.find(
      (x) =>
        x.metadata?.labels?.[LABEL_VERSION] === ref.version &&
        (ref.revision === undefined || revisionOf(x) === ref.revision),
    );
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
