// InferencePool backends (spec.traffic.gatewayAPI.inferencePool), an option of both Gateway
// API routers: instead of the versions' Services NAME-V, the route's backendRefs name one
// InferencePool (inference.networking.k8s.io/v1) per version, NAME-V, selecting that
// version's pods, as the Inference Extension's rollout guides do (a new pool per version,
// the HTTPRoute's weights between the pools). The operator owns the pools (server-side apply,
// controller ownerReference, so garbage collection removes them with the ModelDeployment) and
// deletes a pool once its version no longer gets traffic and is not previewed.
//
// Each pool's endpoint picker (EPP) is the user's: an EPP serves exactly one pool (its
// --pool-name flag), so the spec names it with {{pool}}, replaced by the pool's name.
//
// PURE, like every router: it computes the pools and reads the observed ones.
import type { KubernetesObject, V1Deployment, V1PodTemplateSpec } from "@kubernetes/client-node";
import { LABEL_VERSION } from "../../api/constants.ts";
import { Reasons } from "../../api/reasons.ts";
import type { InferencePoolBackends, ModelDeployment } from "../../api/types.ts";
import { childLabels, ownerReference } from "../children.ts";
import { DEFAULT_TARGET_PORT, firstContainerPort, servicePortOf } from "../spec.ts";
import type { ChildRef } from "../types.ts";
import type { HTTPBackendRef } from "./httproute.ts";
import type { RouterView, TrafficIntent, TrafficProblem, TrafficTarget } from "./router.ts";

export const INFERENCEPOOL_GROUP = "inference.networking.k8s.io";
export const INFERENCEPOOL_API_VERSION = `${INFERENCEPOOL_GROUP}/v1`;
export const INFERENCEPOOL_KIND = "InferencePool";
export const INFERENCEPOOL_PLURAL = "inferencepools";
/** Replaced by the pool's name in spec.traffic.gatewayAPI.inferencePool.endpointPickerRef.name. */
export const POOL_PLACEHOLDER = "{{pool}}";

/** The parts of an InferencePool (v1, Inference Extension v1.6) that the operator writes and reads. */
export interface InferencePool extends KubernetesObject {
  spec?: {
    selector: { matchLabels: Record<string, string> };
    targetPorts: { number: number }[];
    appProtocol?: string;
    endpointPickerRef?: {
      group?: string;
      kind?: string;
      name: string;
      port?: { number: number };
      failureMode?: string;
    };
  };
  status?: {
    parents?: {
      parentRef: { group?: string; kind?: string; namespace?: string; name: string };
      conditions?: { type: string; status: string; reason?: string; message?: string }[];
    }[];
  };
}

/** The spec's InferencePool backends; undefined: the route's backends are the versions' Services. */
export function inferencePoolSpecOf(md: ModelDeployment): InferencePoolBackends | undefined {
  return md.spec.traffic?.gatewayAPI?.inferencePool;
}

export function usesInferencePools(md: ModelDeployment): boolean {
  return inferencePoolSpecOf(md) !== undefined;
}

/** Does the cluster serve inferencepools.inference.networking.k8s.io/v1 (as the reconciler saw it)? */
export function poolApiAvailable(view: RouterView): boolean {
  return view.input.observed.pools?.available === true;
}

/** The pools whose controller ownerReference is this ModelDeployment, by name. */
function observedPools(view: RouterView): Map<string, InferencePool> {
  const out = new Map<string, InferencePool>();
  for (const p of view.input.observed.pools?.inferencePools ?? [])
    if (p.metadata?.name !== undefined) out.set(p.metadata.name, p);
  return out;
}

/** The EPP's name for the pool `pool`: the spec's name with {{pool}} replaced. */
export function endpointPickerName(template: string, pool: string): string {
  return template.split(POOL_PLACEHOLDER).join(pool);
}

/** The number of the container port `port` names (a number is itself), in a pod template. */
function resolvePort(template: V1PodTemplateSpec | undefined, port: number | string): number | undefined {
  if (typeof port === "number") return port;
  if (/^\d+$/.test(port)) return Number(port);
  for (const c of template?.spec?.containers ?? [])
    for (const p of c.ports ?? []) if (p.name === port) return p.containerPort;
  return undefined;
}

/**
 * The pod ports of a track's pool: the spec's targetPorts; else the port spec.service.targetPort
 * names in the track's own pod template (its Deployment's, the spec's for the spec's track),
 * else that template's first container port, else 8080. A retained version whose template no
 * longer resolves keeps the ports its observed pool has.
 */
export function computeTargetPorts(
  md: ModelDeployment,
  template: V1PodTemplateSpec | undefined,
  observed?: InferencePool,
): { number: number }[] {
  const spec = inferencePoolSpecOf(md)?.targetPorts;
  if (spec?.length) return spec.map((p) => ({ number: p.number }));
  const named = md.spec.service?.targetPort ?? firstContainerPort(template?.spec?.containers?.[0]?.ports);
  const resolved = named !== undefined ? resolvePort(template, named) : DEFAULT_TARGET_PORT;
  if (resolved !== undefined) return [{ number: resolved }];
  const kept = observed?.spec?.targetPorts;
  return kept?.length ? kept.map((p) => ({ number: p.number })) : [{ number: DEFAULT_TARGET_PORT }];
}

/** The pool of one track: NAME-V, selecting the track's pods, with the spec's ports, protocol and EPP. */
export function computeInferencePool(
  md: ModelDeployment,
  target: TrafficTarget & { name: string },
  template: V1PodTemplateSpec | undefined,
  observed?: InferencePool,
): InferencePool {
  const backends = inferencePoolSpecOf(md) ?? {};
  const spec: NonNullable<InferencePool["spec"]> = {
    selector: { matchLabels: { ...target.selector } },
    targetPorts: computeTargetPorts(md, template, observed),
  };
  if (backends.appProtocol !== undefined) spec.appProtocol = backends.appProtocol;
  const epp = backends.endpointPickerRef;
  if (epp) {
    const ref: NonNullable<typeof spec.endpointPickerRef> = {
      name: endpointPickerName(epp.name, target.name),
    };
    if (epp.group !== undefined) ref.group = epp.group;
    if (epp.kind !== undefined) ref.kind = epp.kind;
    if (epp.port !== undefined) ref.port = { number: epp.port.number };
    if (epp.failureMode !== undefined) ref.failureMode = epp.failureMode;
    spec.endpointPickerRef = ref;
  }
  return {
    apiVersion: INFERENCEPOOL_API_VERSION,
    kind: INFERENCEPOOL_KIND,
    metadata: {
      name: target.name,
      namespace: md.metadata?.namespace,
      labels: childLabels(md, "version", target.version),
      ownerReferences: [ownerReference(md)],
    },
    spec,
  };
}

/** The backendRef of a track's pool: no port (the pool has its targetPorts). */
export function poolBackendRef(target: TrafficTarget, weight?: number): HTTPBackendRef {
  const ref: HTTPBackendRef = {
    group: INFERENCEPOOL_GROUP,
    kind: INFERENCEPOOL_KIND,
    name: target.name ?? "",
  };
  if (weight !== undefined) ref.weight = weight;
  return ref;
}

/** The backendRef of a track's Service NAME-V on the spec's port. */
export function serviceBackendRef(
  md: ModelDeployment,
  target: TrafficTarget,
  weight?: number,
): HTTPBackendRef {
  const ref: HTTPBackendRef = {
    group: "",
    kind: "Service",
    name: target.name ?? "",
    port: servicePortOf(md),
  };
  if (weight !== undefined) ref.weight = weight;
  return ref;
}

/** Every track the intent sends to (or previews), once, with a name: each gets a pool. */
function poolTargets(intent: TrafficIntent): (TrafficTarget & { name: string })[] {
  const all = [
    ...intent.weights.map((w) => w.target),
    ...(intent.headerRoutes ?? []).map((h) => h.target),
    ...(intent.mirror ? [intent.mirror.target] : []),
    ...(intent.preview ? [intent.preview] : []),
  ];
  const out = new Map<string, TrafficTarget & { name: string }>();
  for (const t of all) if (t.name !== undefined && !out.has(t.name)) out.set(t.name, { ...t, name: t.name });
  return [...out.values()];
}

/** The pod template a track's pods are made from: its Deployment's, else the spec's. */
function templateOf(view: RouterView, name: string): V1PodTemplateSpec | undefined {
  const d: V1Deployment | undefined = view.deployments.get(name);
  if (name === view.spec.name || !d) return view.md.spec.template as V1PodTemplateSpec | undefined;
  return d.spec?.template;
}

/**
 * The pools that carry `intent` (one per track it sends to or previews, before the route that
 * names them), and the owned pools of tracks that get nothing any more (retired versions), or
 * all of them when the spec no longer asks for pools. Nothing is written without the API.
 */
export function computePoolObjects(
  view: RouterView,
  intent: TrafficIntent,
): { apply: KubernetesObject[]; delete: ChildRef[] } {
  const observed = observedPools(view);
  const wanted = usesInferencePools(view.md) && poolApiAvailable(view) ? poolTargets(intent) : [];
  const apply = wanted.map((t) =>
    computeInferencePool(view.md, t, templateOf(view, t.name), observed.get(t.name)),
  );
  const keep = new Set(wanted.map((t) => t.name));
  const del: ChildRef[] = [...observed.keys()]
    .filter((name) => !keep.has(name))
    .map((name) => ({ kind: "InferencePool" as const, name }));
  return { apply, delete: del };
}

/** Without the InferencePool API no route is written that names pools: the stable version keeps its traffic. */
export function poolApiProblem(view: RouterView, route: string): TrafficProblem | undefined {
  if (!usesInferencePools(view.md) || poolApiAvailable(view)) return undefined;
  const clients = view.md.metadata?.name ?? "";
  return {
    reason: Reasons.InferencePoolAPIMissing,
    message:
      `the InferencePool API (inferencepools.inference.networking.k8s.io/v1) is not installed in the cluster (or the operator may not list InferencePools), ` +
      `so the pools of spec.traffic.gatewayAPI.inferencePool cannot be written and the HTTPRoute ${route} is not pointed at them: ` +
      `the stable version keeps its traffic (the Service ${clients} selects it alone) and the rollout waits; ` +
      `install the Inference Extension's CRDs to roll out`,
  };
}

/**
 * A pool of a version that gets traffic whose parent (a Gateway) refuses it or cannot resolve
 * its endpoint picker, as the pool's status says: the rollout holds, as for a route that a
 * parent does not accept. A pool no parent has reported on yet holds nothing (the Inference
 * Extension writes pool status only when a Gateway takes it).
 */
export function poolParentProblem(view: RouterView): TrafficProblem | undefined {
  if (!usesInferencePools(view.md)) return undefined;
  const pools = observedPools(view);
  const names = [...pools.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  for (const name of names) {
    for (const parent of pools.get(name)?.status?.parents ?? []) {
      const version = pools.get(name)?.metadata?.labels?.[LABEL_VERSION] ?? "";
      for (const type of ["Accepted", "ResolvedRefs"]) {
        const c = parent.conditions?.find((x) => x.type === type);
        if (c?.status !== "False") continue;
        return {
          reason: Reasons.InferencePoolNotAccepted,
          message:
            `the parent ${parent.parentRef.kind ?? "Gateway"} ${parent.parentRef.namespace ?? view.md.metadata?.namespace ?? ""}/${parent.parentRef.name} ` +
            `reports ${type}=False on the InferencePool ${name} (version ${version})${c.reason ? ` (${c.reason})` : ""}${c.message ? `: ${c.message}` : ""}; the rollout waits`,
        };
      }
    }
  }
  return undefined;
}
