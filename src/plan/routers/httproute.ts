// The parts of a Gateway API HTTPRoute (gateway.networking.k8s.io/v1, v1.6) that the operator
// writes and reads (and of a GRPCRoute, which has the same shape there), and the pure helpers over them. Written by routers/gateway-api.ts.
import type { KubernetesObject } from "@kubernetes/client-node";

export const HTTPROUTE_API_VERSION = "gateway.networking.k8s.io/v1";
export const HTTPROUTE_KIND = "HTTPRoute";
/** A GRPCRoute (spec.traffic.gatewayAPI.grpcRoute) is served by the same API group and version. */
export const GRPCROUTE_API_VERSION = "gateway.networking.k8s.io/v1";
export const GRPCROUTE_KIND = "GRPCRoute";
export const GRPCROUTE_PLURAL = "grpcroutes";

/** The rule that carries the weighted split of client traffic. */
export const SPLIT_RULE = "split";
/** Header rules are named header-NAME after their step's name. */
export const HEADER_RULE_PREFIX = "header-";

export interface HTTPBackendRef {
  group?: string;
  kind?: string;
  name: string;
  namespace?: string;
  port?: number;
  weight?: number;
  [key: string]: unknown;
}

export interface HTTPHeaderMatch {
  type?: "Exact" | "RegularExpression";
  name: string;
  value: string;
}

export interface HTTPRouteMatch {
  headers?: HTTPHeaderMatch[];
  [key: string]: unknown;
}

export interface HTTPRouteFilter {
  type: string;
  requestMirror?: { backendRef: HTTPBackendRef; percent?: number; [key: string]: unknown };
  [key: string]: unknown;
}

export interface HTTPRouteRule {
  name?: string;
  matches?: HTTPRouteMatch[];
  filters?: HTTPRouteFilter[];
  backendRefs?: HTTPBackendRef[];
  /** timeouts, retry, sessionPersistence, ...: kept as the route's owner wrote them. */
  [key: string]: unknown;
}

export interface ParentReference {
  group?: string;
  kind?: string;
  namespace?: string;
  name: string;
  sectionName?: string;
  port?: number;
}

export interface RouteCondition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
  observedGeneration?: number;
}

export interface HTTPRoute extends KubernetesObject {
  spec?: {
    parentRefs?: ParentReference[];
    hostnames?: string[];
    rules?: HTTPRouteRule[];
  };
  status?: {
    parents?: { parentRef: ParentReference; controllerName?: string; conditions?: RouteCondition[] }[];
  };
}

/**
 * A GRPCRoute, in the parts the operator writes and reads: the same shape as an HTTPRoute's
 * (named rules with matches, a RequestMirror filter, weighted backendRefs; its matches hold
 * `method` and `headers` instead of paths), so the same helpers serve both kinds.
 */
export type GRPCRoute = HTTPRoute;

/** Does a parentRef in route status name the same parent as one in the spec? Defaults: the route's namespace, Gateway. */
export function sameParent(
  a: ParentReference,
  b: ParentReference,
  routeNamespace: string | undefined,
): boolean {
  const ns = (p: ParentReference) => p.namespace ?? routeNamespace ?? "";
  const kind = (p: ParentReference) => p.kind ?? "Gateway";
  return (
    a.name === b.name &&
    ns(a) === ns(b) &&
    kind(a) === kind(b) &&
    (a.sectionName ?? "") === (b.sectionName ?? "") &&
    (a.port ?? 0) === (b.port ?? 0)
  );
}

/** "namespace/name" or "namespace/name/section" of a parent, for messages. */
export function parentLabel(p: ParentReference, routeNamespace: string | undefined): string {
  const base = `${p.kind && p.kind !== "Gateway" ? `${p.kind} ` : ""}${p.namespace ?? routeNamespace ?? ""}/${p.name}`;
  return p.sectionName ? `${base}/${p.sectionName}` : base;
}
