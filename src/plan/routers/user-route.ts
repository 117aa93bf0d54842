// The Gateway API router for a route the user owns (spec.traffic.gatewayAPI.httpRouteRef):
// client traffic goes through an existing HTTPRoute that GitOps or another team writes; the
// operator manages only the backendRefs of the rule it is told to (by name) and its own
// header and mirror rules beside it (route-edit.ts), and writes the route by read-modify-write
// (the reconciler, from the plan's `edits`). No ownerReference: the route is never deleted
// with the ModelDeployment.
//
// Weights, header rules, the mirror, the clients' Service (stable only) and the way a parent's
// refusal holds the rollout are those of the managed route (gateway-api.ts); what differs is
// where they are read from (the named rule) and what is missing: a route or a rule that does
// not exist is a condition and an Event, and the stable version keeps the clients' Service.
import type { KubernetesObject } from "@kubernetes/client-node";
import { Reasons } from "../../api/reasons.ts";
import type { ModelDeploymentStatus } from "../../api/types.ts";
import { computeClientsService, computePreviewService } from "../children.ts";
import { clientsServiceName, previewServiceName } from "../naming.ts";
import type { ChildRef, ObjectEdit } from "../types.ts";
import {
  backendRef,
  computeRouteWeights,
  gatewayApiRouter,
  observeBackendKind,
  observeParents,
  observeRuleSoleTrack,
  observeRuleWeights,
  parentProblem,
  readyOf,
  routeApiAvailable,
  versionBackendRef,
} from "./gateway-api.ts";
import {
  computePoolObjects,
  poolApiAvailable,
  poolApiProblem,
  poolParentProblem,
  usesInferencePools,
} from "./inference-pool.ts";
import { HTTPROUTE_KIND, type HTTPHeaderMatch, type HTTPRoute } from "./httproute.ts";
import {
  editManagedRule,
  isOwnRule,
  ownHeaderStep,
  ownMirrorRuleName,
  type ManagedRuleDecision,
} from "./route-edit.ts";
import type { RouterView, TrafficIntent, TrafficProblem, TrafficRouter, TrafficTarget } from "./router.ts";

/** The reference of the spec (the router is chosen only when it is set). */
function refOf(view: RouterView): { name: string; rule: string } {
  return view.md.spec.traffic?.gatewayAPI?.httpRouteRef ?? { name: "", rule: "" };
}

/** The user's route as observed; undefined when it does not exist. */
export function referencedRoute(view: RouterView): HTTPRoute | undefined {
  return view.input.observed.routes?.referenced;
}

function hasRule(route: HTTPRoute | undefined, rule: string): boolean {
  return (route?.spec?.rules ?? []).some((r) => r.name === rule);
}

/** What the operator wants its part of the route to be, for `intent`. */
export function computeRuleDecision(view: RouterView, intent: TrafficIntent): ManagedRuleDecision {
  const ref = refOf(view);
  const decision: ManagedRuleDecision = {
    mdName: view.md.metadata?.name ?? "",
    rule: ref.rule,
    backendRefs: computeRouteWeights(view, intent.weights)
      .filter((w) => w.target.name !== undefined)
      .map((w) => versionBackendRef(view, w.target, w.weight)),
    headerRoutes: [],
  };
  // A header rule or a mirror waits for a ready pod of its target, as on the managed route.
  for (const h of intent.headerRoutes ?? []) {
    if (h.target.name === undefined || readyOf(view, h.target) === 0) continue;
    const headers: HTTPHeaderMatch[] = h.headers.map((m) =>
      m.regex !== undefined
        ? { type: "RegularExpression", name: m.name, value: m.regex }
        : { type: "Exact", name: m.name, value: m.exact ?? "" },
    );
    decision.headerRoutes.push({
      step: h.name,
      headers,
      backendRefs: [versionBackendRef(view, h.target, 1)],
    });
  }
  const mirror = intent.mirror;
  if (mirror && mirror.target.name !== undefined && readyOf(view, mirror.target) > 0)
    decision.mirror = { backendRef: versionBackendRef(view, mirror.target), percent: mirror.percentage };
  return decision;
}

function desiredObjects(
  view: RouterView,
  intent: TrafficIntent,
): { apply: KubernetesObject[]; delete: ChildRef[]; edits: ObjectEdit[] } {
  const md = view.md;
  const ref = refOf(view);
  const stable = intent.weights[0]?.target;
  const apply: KubernetesObject[] = [computeClientsService(md, stable?.selector, true)];
  const del: ChildRef[] = [];
  const edits: ObjectEdit[] = [];
  if (intent.preview) apply.push(computePreviewService(md, intent.preview.selector));
  else if (view.services.has(previewServiceName(md)))
    del.push({ kind: "Service", name: previewServiceName(md) });
  // From spec.traffic.gatewayAPI.httpRoute to a reference: the route the operator owned goes.
  const managed = clientsServiceName(md);
  if (
    managed !== ref.name &&
    view.input.observed.routes?.httpRoutes.some((r) => r.metadata?.name === managed)
  )
    del.push({ kind: "HTTPRoute", name: managed });
  // ... and so does a GRPCRoute it owned (spec.traffic.gatewayAPI.grpcRoute).
  if (view.input.observed.grpcRoutes?.routes.some((r) => r.metadata?.name === managed))
    del.push({ kind: "GRPCRoute", name: managed });
  // The versions' InferencePools, before the route that names them; retired ones go.
  const pools = computePoolObjects(view, intent);
  apply.push(...pools.apply);
  del.push(...pools.delete);
  const route = referencedRoute(view);
  if (routeApiAvailable(view) && route && (!usesInferencePools(md) || poolApiAvailable(view))) {
    const decision = computeRuleDecision(view, intent);
    const edit = (current: HTTPRoute) => editManagedRule(current, decision);
    apply.push(edit(route));
    edits.push({ kind: HTTPROUTE_KIND, name: ref.name, edit });
  }
  return { apply, delete: del, edits };
}

function observeRoute(view: RouterView): ModelDeploymentStatus["route"] {
  const ref = refOf(view);
  const route = referencedRoute(view);
  const out: NonNullable<ModelDeploymentStatus["route"]> = { name: ref.name, rule: ref.rule, parents: [] };
  if (!route) return out;
  const kind = observeBackendKind(route, ref.rule);
  if (kind === "InferencePool") out.backendKind = kind;
  const mdName = view.md.metadata?.name ?? "";
  const rules = route.spec?.rules ?? [];
  const headers = rules.map((r) => ownHeaderStep(r.name, mdName)).filter((s) => s !== undefined);
  if (headers.length) out.headerRoutes = headers;
  const mirror = rules
    .find((r) => r.name === ownMirrorRuleName(mdName))
    ?.filters?.filter((f) => f.type === "RequestMirror")
    .at(-1)?.requestMirror;
  if (mirror) out.mirror = { service: mirror.backendRef.name, percentage: mirror.percent ?? 100 };
  out.parents = observeParents(route);
  return out;
}

function observeProblem(view: RouterView): TrafficProblem | undefined {
  const ref = refOf(view);
  const clients = clientsServiceName(view.md);
  const ns = view.md.metadata?.namespace ?? "";
  const keeps = `the stable version keeps its traffic (the Service ${clients} selects it alone) and the rollout waits`;
  if (!routeApiAvailable(view)) {
    return {
      reason: Reasons.GatewayAPIMissing,
      message:
        `the Gateway API (httproutes.gateway.networking.k8s.io/v1) is not installed in the cluster, so the HTTPRoute ${ref.name} ` +
        `named by spec.traffic.gatewayAPI.httpRouteRef cannot carry the rollout: ${keeps}; install the Gateway API CRDs to roll out`,
    };
  }
  const pools = poolApiProblem(view, ref.name);
  if (pools) return pools;
  const route = referencedRoute(view);
  if (!route) {
    return {
      reason: Reasons.RouteNotFound,
      message: `the HTTPRoute ${ref.name} named by spec.traffic.gatewayAPI.httpRouteRef does not exist in the namespace ${ns}: ${keeps} until it does`,
    };
  }
  if (!hasRule(route, ref.rule)) {
    const names = (route.spec?.rules ?? []).map((r) => r.name ?? "(unnamed)");
    return {
      reason: Reasons.RouteRuleNotFound,
      message:
        `the HTTPRoute ${ref.name} has no rule named ${ref.rule} (spec.traffic.gatewayAPI.httpRouteRef.rule; ` +
        `its rules: ${names.length ? names.join(", ") : "none"}): ${keeps}; the route is left as it is`,
    };
  }
  return parentProblem(route, ref.name) ?? poolParentProblem(view);
}

/**
 * The reference was removed (or now names another route) while status.route still names the
 * user's route and its rule: the rule goes back to the stable version's Service alone and the
 * operator's own rules go, in one write; after that the route is the user's alone. Any
 * router's plan carries this (desired.ts), whatever replaced the reference.
 */
export function computeRouteRelease(
  view: RouterView,
  stable: TrafficTarget | undefined,
): { apply: KubernetesObject[]; edits: ObjectEdit[] } {
  const route = view.input.observed.routes?.released;
  const rule = view.md.status?.route?.rule;
  const name = route?.metadata?.name;
  if (!route || name === undefined || rule === undefined || stable?.name === undefined)
    return { apply: [], edits: [] };
  const decision: ManagedRuleDecision = {
    mdName: view.md.metadata?.name ?? "",
    rule,
    backendRefs: [backendRef(view, stable, 100)],
    headerRoutes: [],
  };
  const edit = (current: HTTPRoute) => editManagedRule(current, decision);
  return { apply: [edit(route)], edits: [{ kind: HTTPROUTE_KIND, name, edit }] };
}

/**
 * Does the released route still hold something of the operator's (its own rules, or the rule
 * on anything but the stable version's Service alone)? While it does, status.route keeps
 * naming it, so that a failed write is retried.
 */
export function routeReleasePending(view: RouterView, stableName: string | undefined): boolean {
  const route = view.input.observed.routes?.released;
  const rule = view.md.status?.route?.rule;
  if (!route || rule === undefined || stableName === undefined) return false;
  const mdName = view.md.metadata?.name ?? "";
  const rules = route.spec?.rules ?? [];
  if (rules.some((r) => isOwnRule(r.name, mdName))) return true;
  const refs = rules.find((r) => r.name === rule)?.backendRefs;
  if (!refs) return false;
  return !(refs.length === 1 && refs[0]!.name === stableName && (refs[0]!.weight ?? 1) > 0);
}

export const userRouteRouter: TrafficRouter = {
  kind: "HTTPRoute (user-owned)",
  splitsByReplicas: false,
  // Called through, not copied at load: the router modules import each other, and a copy
  // taken while gateway-api.ts is still loading is undefined (whichever module loads first).
  canaryReplicas: (...args) => gatewayApiRouter.canaryReplicas(...args),
  desiredObjects,
  observeWeights: (view, stable, candidate) => {
    const route = referencedRoute(view);
    const rule = refOf(view).rule;
    return observeRuleWeights(view, hasRule(route, rule) ? route : undefined, rule, stable, candidate);
  },
  observeSoleTrack: (view) => {
    const route = referencedRoute(view);
    const rule = refOf(view).rule;
    return observeRuleSoleTrack(view, hasRule(route, rule) ? route : undefined, rule);
  },
  observeRoute,
  observeProblem,
};
