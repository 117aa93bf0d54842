// The weights the clients' Service really sees: its ready endpoints per version, from its
// EndpointSlices, mapped to versions by pod name.
import type { V1Deployment } from "@kubernetes/client-node";
import { LABEL_VERSION } from "../api/constants.ts";
import type { TrafficWeight } from "../api/types.ts";
import type { Observed } from "./types.ts";

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/**
 * The version whose Deployment made pod `podName`: pods of Deployment D are named
 * D-<replicaset hash>-<suffix>; the longest matching Deployment name wins.
 */
export function versionOfPod(deployments: readonly V1Deployment[], podName: string): string | undefined {
  const sorted = [...deployments].sort(
    (a, b) => (b.metadata?.name?.length ?? 0) - (a.metadata?.name?.length ?? 0),
  );
  for (const d of sorted) {
    const name = d.metadata?.name;
    const version = d.metadata?.labels?.[LABEL_VERSION];
    if (!name || version === undefined) continue;
    if (new RegExp(`^${escapeRegExp(name)}-[a-z0-9]+-[a-z0-9]+$`).test(podName)) return version;
  }
  return undefined;
}

/**
 * Ready endpoints per version and their weights (percent, summing to 100 by largest
 * remainder; all 0 when nothing is ready). Lists the stable version first, then the
 * candidate, then any other version that has ready endpoints (by name).
 */
export function computeTraffic(
  observed: Observed,
  stableVersion: string | undefined,
  candidateVersion: string | undefined,
): TrafficWeight[] {
  const ready = new Map<string, number>();
  const seen = new Set<string>();
  for (const slice of observed.endpointSlices) {
    for (const ep of slice.endpoints ?? []) {
      if (ep.conditions?.ready === false) continue;
      const ref = ep.targetRef;
      if (!ref || ref.kind !== "Pod" || !ref.name) continue;
      if (seen.has(ref.name)) continue; // the same pod in an IPv4 and an IPv6 slice
      seen.add(ref.name);
      const version = versionOfPod(observed.deployments, ref.name);
      if (version === undefined) continue;
      ready.set(version, (ready.get(version) ?? 0) + 1);
    }
  }
  const versions: string[] = [];
  for (const v of [stableVersion, candidateVersion])
    if (v !== undefined && !versions.includes(v)) versions.push(v);
  for (const v of [...ready.keys()].sort()) if (!versions.includes(v)) versions.push(v);

  const total = versions.reduce((sum, v) => sum + (ready.get(v) ?? 0), 0);
  const weights = versions.map((v) => (total === 0 ? 0 : (100 * (ready.get(v) ?? 0)) / total));
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
  return versions.map((version, i) => ({
    version,
    weight: floors[i] ?? 0,
    readyEndpoints: ready.get(version) ?? 0,
  }));
}
