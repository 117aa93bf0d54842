// The Gateway API router (spec.traffic.gatewayAPI.httpRoute, or grpcRoute for gRPC model
// servers): client traffic goes through an HTTPRoute (or a GRPCRoute, which has the same
// split, header and mirror rules) named NAME that the operator owns whole (server-side apply, controller
// ownerReference). Its "split" rule sends to the versions' own Services NAME-V with exact
// weights (setWeight 5 = 5/95 whatever the replicas); a setHeaderRoute step adds a rule
// header-NAME before it, a setMirrorRoute step a RequestMirror filter on it. The clients'
// Service NAME selects the stable version only, so a client that does not go through the
// route never reaches a candidate, and 0% means 0%. With `mesh`, the route also has the
// clients' Service as a parent (GAMMA): a service mesh then splits in-cluster requests to
// NAME by the same weights, while a client outside the mesh still reaches the stable version.
//
// What clients get is read back from the observed route (its split rule's weights), and
// whether each parent accepted it from the route's status; a route that a parent does not
// accept, or a cluster without the HTTPRoute API, holds the rollout (observeProblem).
import type { KubernetesObject, V1Deployment } from "@kubernetes/client-node";
import { LABEL_VERSION } from "../../api/constants.ts";
import { Reasons } from "../../api/reasons.ts";
import type { ModelDeployment, ModelDeploymentStatus, TrafficWeight } from "../../api/types.ts";
import { computeClientsService, computePreviewService, childLabels, ownerReference } from "../children.ts";
import { clientsServiceName, previewServiceName } from "../naming.ts";
import { findTrackDeployment, revisionOf } from "../tracks.ts";
import type { ChildRef } from "../types.ts";
import {
  GRPCROUTE_API_VERSION,
  GRPCROUTE_KIND,
  HEADER_RULE_PREFIX,
  HTTPROUTE_API_VERSION,
  HTTPROUTE_KIND,
  parentLabel,
  sameParent,
  SPLIT_RULE,
  type HTTPBackendRef,
  type HTTPRoute,
  type HTTPRouteMatch,
  type HTTPRouteRule,
  type ParentReference,
} from "./httproute.ts";
import {
  computePoolObjects,
  INFERENCEPOOL_GROUP,
  INFERENCEPOOL_KIND,
  poolApiAvailable,
  poolApiProblem,
  poolBackendRef,
  poolParentProblem,
  serviceBackendRef,
  usesInferencePools,
} from "./inference-pool.ts";
import type { RouterView, TrafficIntent, TrafficProblem, TrafficRouter, TrafficTarget } from "./router.ts";
import { computeTraffic, serviceRouter } from "./service.ts";

/** What the spec says of the managed route: its kind, and its parents, hostnames and matches. */
export interface ManagedRouteSpec {
  kind: typeof HTTPROUTE_KIND | typeof GRPCROUTE_KIND;
  parentRefs?: readonly ParentReference[];
  hostnames?: readonly string[];
  mesh?: boolean;
  matches?: readonly HTTPRouteMatch[];
}

/** spec.traffic.gatewayAPI.grpcRoute makes the managed route a GRPCRoute; else it is an HTTPRoute. */
export function managedRouteSpec(md: ModelDeployment): ManagedRouteSpec {
  const gw = md.spec.traffic?.gatewayAPI;
  if (gw?.grpcRoute) return { kind: GRPCROUTE_KIND, ...(gw.grpcRoute as Omit<ManagedRouteSpec, "kind">) };
  return { kind: HTTPROUTE_KIND, ...((gw?.httpRoute ?? {}) as Omit<ManagedRouteSpec, "kind">) };
}

/** The ModelDeployment's own managed route (of the kind its spec names), as observed. */
export function observedRoute(view: RouterView): HTTPRoute | undefined {
  const name = clientsServiceName(view.md);
  const routes =
    managedRouteSpec(view.md).kind === GRPCROUTE_KIND
      ? view.input.observed.grpcRoutes?.routes
      : view.input.observed.routes?.httpRoutes;
  return routes?.find((r) => r.metadata?.name === name);
}

/** Does the cluster serve HTTPRoutes? */
export function routeApiAvailable(view: RouterView): boolean {
  return view.input.observed.routes?.available === true;
}

/** Does the cluster serve the kind of the managed route? */
function managedRouteApiAvailable(view: RouterView): boolean {
  return managedRouteSpec(view.md).kind === GRPCROUTE_KIND
    ? view.input.observed.grpcRoutes?.available === true
    : routeApiAvailable(view);
}

/** Ready pods of the track a target names (its Deployment's readyReplicas). */
export function readyOf(view: RouterView, target: TrafficTarget): number {
  const d =
    (target.name !== undefined ? view.deployments.get(target.name) : undefined) ??
    findTrackDeployment(view.deployments.values(), target.version, target.revision);
  return d?.status?.readyReplicas ?? 0;
}

/**
 * The weights the route gets: the intent's, except that a target without a ready pod gets
 * none; its share goes to the first target that has one (the stable one first). When no
 * target has a ready pod the intent stands (there is nothing to protect).
 */
export function computeRouteWeights(
  view: RouterView,
  weights: TrafficIntent["weights"],
): { target: TrafficTarget; weight: number }[] {
  const out = weights.map((w) => ({ target: w.target, weight: Math.max(0, Math.min(100, w.weight)) }));
  const ready = out.map((w) => readyOf(view, w.target) > 0);
  const first = ready.indexOf(true);
  if (first < 0) return out;
  for (let i = 0; i < out.length; i++) {
    if (ready[i] || out[i]!.weight === 0) continue;
    out[first]!.weight += out[i]!.weight;
    out[i]!.weight = 0;
  }
  return out;
}

/**
 * The backendRef of a target's Service NAME-V on the spec's port (where a route goes back to
 * the Services: a user's route handed back).
 */
export function backendRef(view: RouterView, target: TrafficTarget, weight?: number): HTTPBackendRef {
  return serviceBackendRef(view.md, target, weight);
}

/**
 * The backendRef that carries a target's traffic: its InferencePool NAME-V with
 * spec.traffic.gatewayAPI.inferencePool, else its Service NAME-V.
 */
export function versionBackendRef(view: RouterView, target: TrafficTarget, weight?: number): HTTPBackendRef {
  return usesInferencePools(view.md)
    ? poolBackendRef(target, weight)
    : serviceBackendRef(view.md, target, weight);
}

/** The spec's matches (every request when none), each with `headers` added. */
function withHeaders(
  base: readonly HTTPRouteMatch[] | undefined,
  headers: HTTPRouteMatch["headers"],
): HTTPRouteMatch[] {
  const matches: HTTPRouteMatch[] = base && base.length ? base.map((m) => ({ ...m })) : [{}];
  return matches.map((m) => ({ ...m, headers: [...(m.headers ?? []), ...(headers ?? [])] }));
}

/** The clients' Service NAME as a parent of the route: the mesh (GAMMA) splits requests to it. */
export function meshParentRef(md: ModelDeployment): ParentReference {
  return { group: "", kind: "Service", name: clientsServiceName(md) };
}

/** The route's parents: the spec's, and the clients' Service when `mesh` is set (once, if listed already). */
export function computeParentRefs(md: ModelDeployment): ParentReference[] {
  const spec = managedRouteSpec(md);
  const parents: ParentReference[] = (spec?.parentRefs ?? []).map((p) => ({ ...p }));
  if (spec?.mesh === true) {
    const mesh = meshParentRef(md);
    if (!parents.some((p) => sameParent(p, mesh, md.metadata?.namespace))) parents.push(mesh);
  }
  return parents;
}

/** The managed route NAME (an HTTPRoute, or a GRPCRoute with grpcRoute) that carries `intent`. */
export function computeHTTPRoute(view: RouterView, intent: TrafficIntent): HTTPRoute {
  const md = view.md;
  const spec = managedRouteSpec(md);
  const base = spec.matches;
  const rules: HTTPRouteRule[] = [];
  for (const h of intent.headerRoutes ?? []) {
    if (h.target.name === undefined || readyOf(view, h.target) === 0) continue;
    const headers = h.headers.map((m) =>
      m.regex !== undefined
        ? { type: "RegularExpression" as const, name: m.name, value: m.regex }
        : { type: "Exact" as const, name: m.name, value: m.exact ?? "" },
    );
    rules.push({
      name: `${HEADER_RULE_PREFIX}${h.name}`,
      matches: withHeaders(base, headers),
      backendRefs: [versionBackendRef(view, h.target, 1)],
    });
  }
  const split: HTTPRouteRule = { name: SPLIT_RULE };
  if (base && base.length) split.matches = base.map((m) => ({ ...m }));
  split.backendRefs = computeRouteWeights(view, intent.weights)
    .filter((w) => w.target.name !== undefined)
    .map((w) => versionBackendRef(view, w.target, w.weight));
  const mirror = intent.mirror;
  if (mirror && mirror.target.name !== undefined && readyOf(view, mirror.target) > 0) {
    split.filters = [
      {
        type: "RequestMirror",
        requestMirror: { backendRef: versionBackendRef(view, mirror.target), percent: mirror.percentage },
      },
    ];
  }
  rules.push(split);
  const routeSpec: NonNullable<HTTPRoute["spec"]> = { parentRefs: computeParentRefs(md) };
  if (spec.hostnames?.length) routeSpec.hostnames = [...spec.hostnames];
  routeSpec.rules = rules;
  return {
    apiVersion: spec.kind === GRPCROUTE_KIND ? GRPCROUTE_API_VERSION : HTTPROUTE_API_VERSION,
    kind: spec.kind,
    metadata: {
      name: clientsServiceName(md),
      namespace: md.metadata?.namespace,
      labels: childLabels(md, "clients"),
      ownerReferences: [ownerReference(md)],
    },
    spec: routeSpec,
  };
}

function desiredObjects(
  view: RouterView,
  intent: TrafficIntent,
): { apply: KubernetesObject[]; delete: ChildRef[] } {
  const md = view.md;
  // The stable target is first: the clients' Service selects it alone, in a canary too.
  const stable = intent.weights[0]?.target;
  const apply: KubernetesObject[] = [computeClientsService(md, stable?.selector, true)];
  const del: ChildRef[] = [];
  if (intent.preview) apply.push(computePreviewService(md, intent.preview.selector));
  else if (view.services.has(previewServiceName(md)))
    del.push({ kind: "Service", name: previewServiceName(md) });
  // The versions' InferencePools, before the route that names them; retired ones go.
  const pools = computePoolObjects(view, intent);
  apply.push(...pools.apply);
  del.push(...pools.delete);
  // Without the route's API (or the InferencePool API the route would name) there is no
  // route to write: the stable version keeps serving through the clients' Service (and a
  // route written before keeps what it has), and observeProblem holds the rollout.
  if (managedRouteApiAvailable(view) && (!usesInferencePools(md) || poolApiAvailable(view)))
    apply.push(computeHTTPRoute(view, intent));
  // The route of the other kind, left from a spec that named it (httpRoute <-> grpcRoute), goes.
  del.push(...otherKindRoutes(view));
  return { apply, delete: del };
}

/** The operator's route NAME of the kind the spec no longer names, if observed. */
export function otherKindRoutes(view: RouterView): ChildRef[] {
  const name = clientsServiceName(view.md);
  const grpc = managedRouteSpec(view.md).kind === GRPCROUTE_KIND;
  const other = grpc ? view.input.observed.routes?.httpRoutes : view.input.observed.grpcRoutes?.routes;
  if (!other?.some((r) => r.metadata?.name === name)) return [];
  return [{ kind: grpc ? HTTPROUTE_KIND : GRPCROUTE_KIND, name }];
}

/** The weight of each backend of the observed rule `ruleName` (the split rule), by Service name. */
function splitWeights(route: HTTPRoute | undefined, ruleName = SPLIT_RULE): Map<string, number> | undefined {
  const rule = route?.spec?.rules?.find((r) => r.name === ruleName);
  if (!rule) return undefined;
  const out = new Map<string, number>();
  for (const b of rule.backendRefs ?? []) out.set(b.name, (out.get(b.name) ?? 0) + (b.weight ?? 1));
  return out;
}

/** Percent of the split rule's requests per Service, summing to 100 (largest remainder). */
function percentages(weights: Map<string, number>): Map<string, number> {
  const total = [...weights.values()].reduce((a, b) => a + b, 0);
  const entries = [...weights.entries()];
  const exact = entries.map(([, w]) => (total === 0 ? 0 : (100 * w) / total));
  const floors = exact.map(Math.floor);
  let rest = total === 0 ? 0 : 100 - floors.reduce((a, b) => a + b, 0);
  const order = exact.map((w, i) => ({ i, f: w - Math.floor(w) })).sort((a, b) => b.f - a.f || a.i - b.i);
  for (const { i } of order) {
    if (rest <= 0) break;
    floors[i] = (floors[i] ?? 0) + 1;
    rest--;
  }
  return new Map(entries.map(([name], i) => [name, floors[i] ?? 0]));
}

function observeWeights(
  view: RouterView,
  stable: { version: string; revision?: string | undefined } | undefined,
  candidate: { version: string; revision?: string | undefined } | undefined,
): TrafficWeight[] {
  return observeRuleWeights(view, observedRoute(view), SPLIT_RULE, stable, candidate);
}

/** What clients get per track, read from the backendRefs of `route`'s rule `ruleName`. */
export function observeRuleWeights(
  view: RouterView,
  route: HTTPRoute | undefined,
  ruleName: string,
  stable: { version: string; revision?: string | undefined } | undefined,
  candidate: { version: string; revision?: string | undefined } | undefined,
): TrafficWeight[] {
  const weights = splitWeights(route, ruleName);
  // No route (yet, or no route API): the clients reach the versions through the clients' Service.
  if (!weights) return computeTraffic(view.input.observed, stable, candidate);
  const shares = percentages(weights);
  const out: TrafficWeight[] = [];
  const seen = new Set<string>();
  const entry = (d: V1Deployment | undefined, version: string, revision: string | undefined) => {
    const name = d?.metadata?.name;
    if (name !== undefined) seen.add(name);
    const e: TrafficWeight = {
      version: d?.metadata?.labels?.[LABEL_VERSION] ?? version,
      weight: name !== undefined ? (shares.get(name) ?? 0) : 0,
      readyEndpoints: d?.status?.readyReplicas ?? 0,
    };
    const rev = d ? revisionOf(d) : revision;
    if (rev !== undefined) e.revision = rev;
    out.push(e);
  };
  for (const ref of [stable, candidate]) {
    if (!ref) continue;
    const d = findTrackDeployment(view.deployments.values(), ref.version, ref.revision);
    if (d?.metadata?.name !== undefined && seen.has(d.metadata.name)) continue;
    entry(d, ref.version, ref.revision);
  }
  for (const [name, share] of shares) {
    const d = view.deployments.get(name);
    if (seen.has(name) || share === 0 || !d) continue;
    entry(d, d.metadata?.labels?.[LABEL_VERSION] ?? "", undefined);
  }
  return out;
}

function observeSoleTrack(view: RouterView): string | undefined {
  return observeRuleSoleTrack(view, observedRoute(view), SPLIT_RULE);
}

/** The track that `route`'s rule `ruleName` and the clients' Service both send everything to. */
export function observeRuleSoleTrack(
  view: RouterView,
  route: HTTPRoute | undefined,
  ruleName: string,
): string | undefined {
  const weights = splitWeights(route, ruleName);
  if (!weights) return serviceRouter.observeSoleTrack(view);
  const carrying = [...weights.entries()].filter(([, w]) => w > 0);
  if (carrying.length !== 1) return undefined;
  const [name] = carrying[0]!;
  // The clients' Service must select the same track: a client inside the cluster uses it.
  return serviceRouter.observeSoleTrack(view) === name ? name : undefined;
}

function observeRoute(view: RouterView): ModelDeploymentStatus["route"] {
  const route = observedRoute(view);
  const name = clientsServiceName(view.md);
  if (!route)
    return managedRouteSpec(view.md).kind === GRPCROUTE_KIND
      ? { name, kind: GRPCROUTE_KIND, parents: [] }
      : { name, parents: [] };
  const rules = route.spec?.rules ?? [];
  const out: NonNullable<ModelDeploymentStatus["route"]> = { name, parents: [] };
  if (managedRouteSpec(view.md).kind === GRPCROUTE_KIND) out.kind = GRPCROUTE_KIND;
  const kind = observeBackendKind(route, SPLIT_RULE);
  if (kind === "InferencePool") out.backendKind = kind;
  const headers = rules
    .map((r) => r.name ?? "")
    .filter((n) => n.startsWith(HEADER_RULE_PREFIX))
    .map((n) => n.slice(HEADER_RULE_PREFIX.length));
  if (headers.length) out.headerRoutes = headers;
  const mirror = rules
    .find((r) => r.name === SPLIT_RULE)
    ?.filters?.find((f) => f.type === "RequestMirror")?.requestMirror;
  if (mirror) out.mirror = { service: mirror.backendRef.name, percentage: mirror.percent ?? 100 };
  out.parents = observeParents(route);
  return out;
}

/** What the weighted backends of `route`'s rule `ruleName` are: InferencePools or Services. */
export function observeBackendKind(
  route: HTTPRoute,
  ruleName: string,
): "Service" | "InferencePool" | undefined {
  const first = route.spec?.rules?.find((r) => r.name === ruleName)?.backendRefs?.[0];
  if (!first) return undefined;
  return first.kind === INFERENCEPOOL_KIND && first.group === INFERENCEPOOL_GROUP
    ? "InferencePool"
    : "Service";
}

/** Each parentRef of `route` with what its status says (Accepted, ResolvedRefs), for status.route.parents. */
export function observeParents(
  route: HTTPRoute,
): NonNullable<NonNullable<ModelDeploymentStatus["route"]>["parents"]> {
  const ns = route.metadata?.namespace;
  const out: NonNullable<NonNullable<ModelDeploymentStatus["route"]>["parents"]> = [];
  for (const p of route.spec?.parentRefs ?? []) {
    const seen = route.status?.parents?.find((s) => sameParent(s.parentRef, p, ns));
    const cond = (type: string) => seen?.conditions?.find((c) => c.type === type);
    const accepted = cond("Accepted");
    const resolved = cond("ResolvedRefs");
    const entry: (typeof out)[number] = {
      name: p.name,
      accepted: accepted?.status ?? "Unknown",
      resolvedRefs: resolved?.status ?? "Unknown",
    };
    if (p.kind !== undefined && p.kind !== "Gateway") entry.kind = p.kind;
    if (p.namespace !== undefined) entry.namespace = p.namespace;
    if (p.sectionName !== undefined) entry.sectionName = p.sectionName;
    const bad = accepted?.status === "False" ? accepted : resolved?.status === "False" ? resolved : undefined;
    if (bad?.reason) entry.reason = bad.reason;
    if (bad?.message) entry.message = bad.message;
    out.push(entry);
  }
  return out;
}

function observeProblem(view: RouterView): TrafficProblem | undefined {
  const name = clientsServiceName(view.md);
  const kind = managedRouteSpec(view.md).kind;
  if (!managedRouteApiAvailable(view)) {
    const plural = kind === GRPCROUTE_KIND ? "grpcroutes" : "httproutes";
    return {
      reason: Reasons.GatewayAPIMissing,
      message:
        `the Gateway API (${plural}.gateway.networking.k8s.io/v1) is not installed in the cluster, so the ${kind} ${name} ` +
        `of spec.traffic cannot be written: the stable version keeps all traffic through the Service ${name}; ` +
        `install the Gateway API CRDs to roll out`,
    };
  }
  const pools = poolApiProblem(view, name);
  if (pools) return pools;
  const route = observedRoute(view);
  if (!route) return undefined; // written in this reconcile; its parents report next
  return parentProblem(route, name) ?? poolParentProblem(view);
}

/** The first parent of `route` (named `name` in messages) that does not accept it or cannot resolve its backends. */
export function parentProblem(route: HTTPRoute, name: string): TrafficProblem | undefined {
  const ns = route.metadata?.namespace;
  const kind = route.kind ?? HTTPROUTE_KIND;
  for (const p of route.spec?.parentRefs ?? []) {
    const seen = route.status?.parents?.find((s) => sameParent(s.parentRef, p, ns));
    const accepted = seen?.conditions?.find((c) => c.type === "Accepted");
    const resolved = seen?.conditions?.find((c) => c.type === "ResolvedRefs");
    const parent = parentLabel(p, ns);
    if (accepted?.status !== "True") {
      const why = accepted
        ? `Accepted=${accepted.status}${accepted.reason ? ` (${accepted.reason})` : ""}${accepted.message ? `: ${accepted.message}` : ""}`
        : "it has not reported on the route (no Accepted condition in the route's status)";
      return {
        reason: Reasons.RouteNotAccepted,
        message: `the parent ${parent} has not accepted the ${kind} ${name}: ${why}; the rollout waits`,
      };
    }
    if (resolved?.status === "False") {
      return {
        reason: Reasons.RouteRefsNotResolved,
        message: `the parent ${parent} cannot resolve the backends of the ${kind} ${name}: ResolvedRefs=False${resolved.reason ? ` (${resolved.reason})` : ""}${resolved.message ? `: ${resolved.message}` : ""}; the rollout waits`,
      };
    }
  }
  return undefined;
}

export const gatewayApiRouter: TrafficRouter = {
  kind: "HTTPRoute",
  splitsByReplicas: false,
  canaryReplicas(replicas, weight) {
    // Exact weights need no replica ratio: the candidate runs at its share (at least one pod,
    // also at 0%, so that its checks have something to measure) and the stable version stays
    // at full size.
    const w = Math.min(100, Math.max(0, weight));
    const candidate = replicas <= 0 ? 0 : Math.max(1, Math.ceil((replicas * w) / 100));
    return { candidate, stable: replicas };
  },
  desiredObjects,
  observeWeights,
  observeSoleTrack,
  observeRoute,
  observeProblem,
};
