// The desired children of a ModelDeployment, as complete plain objects for server-side
// apply: one Deployment and one Service per version, the clients' Service and the blue/green
// preview Service. Exported so that the kubectl plugin can print them.
import type {
  V1Container,
  V1Deployment,
  V1EnvVar,
  V1OwnerReference,
  V1PodTemplateSpec,
  V1Service,
  V1ServicePort,
} from "@kubernetes/client-node";
import {
  ANNOTATION_REVISION,
  API_VERSION,
  ENV_MODEL_FORMAT,
  ENV_MODEL_NAME,
  ENV_MODEL_URI,
  ENV_MODEL_VERSION,
  KIND,
  LABEL_MANAGED_BY,
  LABEL_MODEL,
  LABEL_ROLE,
  LABEL_VERSION,
  OPERATOR_NAME,
} from "../api/constants.ts";
import type { ModelDeployment } from "../api/types.ts";
import { childName, clientsServiceName, computeRevision, previewServiceName } from "./naming.ts";
import { readinessGateOf, withReadinessGate } from "./readiness-gate.ts";
import { specTrack, trackSelector, type Track } from "./tracks.ts";
import { firstContainerPort, modelNameOf, servicePortOf, targetPortOf, DEFAULT_TARGET_PORT } from "./spec.ts";

export type Role = "version" | "clients" | "preview";

/** The controller ownerReference every child carries. */
export function ownerReference(md: ModelDeployment): V1OwnerReference {
  return {
    apiVersion: API_VERSION,
    kind: KIND,
    name: md.metadata?.name ?? "",
    uid: md.metadata?.uid ?? "",
    controller: true,
    blockOwnerDeletion: true,
  };
}

/** Labels of a child: model, managed-by, role, and the version for a version's children. */
export function childLabels(md: ModelDeployment, role: Role, version?: string): Record<string, string> {
  const labels: Record<string, string> = {
    [LABEL_MODEL]: md.metadata?.name ?? "",
    [LABEL_MANAGED_BY]: OPERATOR_NAME,
    [LABEL_ROLE]: role,
  };
  if (version !== undefined) labels[LABEL_VERSION] = version;
  return labels;
}

function childMetadata(md: ModelDeployment, name: string, role: Role, version?: string) {
  return {
    name,
    namespace: md.metadata?.namespace,
    labels: childLabels(md, role, version),
    ownerReferences: [ownerReference(md)],
  };
}

/** A deep copy that is plain JSON (no Dates, no class instances, no undefined). */
function plain<T>(value: T): T {
  return value === undefined ? value : (JSON.parse(JSON.stringify(value)) as T);
}

function modelEnv(md: ModelDeployment): V1EnvVar[] {
  const env: V1EnvVar[] = [
    { name: ENV_MODEL_NAME, value: modelNameOf(md) },
    { name: ENV_MODEL_VERSION, value: md.spec.model.version },
  ];
  if (md.spec.model.uri !== undefined) env.push({ name: ENV_MODEL_URI, value: md.spec.model.uri });
  if (md.spec.model.format !== undefined) env.push({ name: ENV_MODEL_FORMAT, value: md.spec.model.format });
  return env;
}

function withModelEnv(container: V1Container, env: readonly V1EnvVar[]): V1Container {
  const names = new Set(env.map((e) => e.name));
  return { ...container, env: [...(container.env ?? []).filter((e) => !names.has(e.name)), ...env] };
}

/**
 * The Deployment of the spec's track (NAME-V, or NAME-V-REVISION beside another revision of
 * the same version), built from spec.template: pod labels mlops.dev/model, mlops.dev/version
 * and mlops.dev/revision added (its selector), env MODEL_NAME, MODEL_VERSION, MODEL_URI and
 * MODEL_FORMAT in every container, annotation mlops.dev/revision, `replicas` replicas.
 */
export function computeVersionDeployment(
  md: ModelDeployment,
  replicas: number,
  track: Track = specTrack(md),
): V1Deployment {
  const version = md.spec.model.version;
  const template = plain(md.spec.template) as V1PodTemplateSpec;
  const selector = track.selector;
  const env = modelEnv(md);
  const podSpec = template.spec ?? { containers: [] };
  const built: V1PodTemplateSpec = {
    ...template,
    metadata: { ...template.metadata, labels: { ...template.metadata?.labels, ...selector } },
    spec: { ...podSpec, containers: (podSpec.containers ?? []).map((c) => withModelEnv(c, env)) },
  };
  const podTemplate = readinessGateOf(md) ? withReadinessGate(built) : built;
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: {
      ...childMetadata(md, track.name, "version", version),
      annotations: { [ANNOTATION_REVISION]: track.revision ?? computeRevision(md) },
    },
    spec: { replicas, selector: { matchLabels: selector }, template: podTemplate },
  };
}

/**
 * The Deployment of a version other than the spec's (the stable version while a candidate
 * rolls out, an old version kept at zero, a rolled-back candidate), built from what is
 * observed: its pod template, selector and revision stay, only `replicas` is decided.
 * Server-side apply drops fields a manager stops sending, so the object is complete.
 */
export function computeRetainedDeployment(
  md: ModelDeployment,
  observed: V1Deployment,
  replicas: number,
): V1Deployment {
  const version = observed.metadata?.labels?.[LABEL_VERSION] ?? "";
  const template = plain(observed.spec?.template) ?? {};
  if (template.metadata && "creationTimestamp" in template.metadata)
    delete template.metadata.creationTimestamp;
  const revision = observed.metadata?.annotations?.[ANNOTATION_REVISION];
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: {
      ...childMetadata(
        md,
        observed.metadata?.name ?? childName(md.metadata?.name ?? "", version),
        "version",
        version,
      ),
      ...(revision !== undefined ? { annotations: { [ANNOTATION_REVISION]: revision } } : {}),
    },
    spec: {
      replicas,
      selector: plain(observed.spec?.selector) ?? { matchLabels: trackSelector(md, version, revision) },
      template,
    },
  };
}

function servicePort(md: ModelDeployment, targetPort: number | string): V1ServicePort {
  return { name: "http", protocol: "TCP", port: servicePortOf(md), targetPort: targetPort as never };
}

function service(
  md: ModelDeployment,
  name: string,
  role: Role,
  selector: Record<string, string>,
  targetPort: number | string,
  version?: string,
): V1Service {
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: childMetadata(md, name, role, version),
    spec: { type: "ClusterIP", selector, ports: [servicePort(md, targetPort)] },
  };
}

/**
 * The Service of one track (NAME-V), selecting the track's pods: port spec.service.port named
 * http, to targetPort spec.service.targetPort, else the first port of the first container of
 * `podTemplate` (the track's own pods; default the spec's template), else 8080.
 */
export function computeVersionService(
  md: ModelDeployment,
  track: Track = specTrack(md),
  podTemplate?: V1PodTemplateSpec,
): V1Service {
  const targetPort =
    md.spec.service?.targetPort ??
    (podTemplate
      ? (firstContainerPort(podTemplate.spec?.containers?.[0]?.ports) ?? DEFAULT_TARGET_PORT)
      : targetPortOf(md));
  const svc = service(md, track.name, "version", track.selector, targetPort, track.version);
  // Behind a readiness gate the track's pods are not Ready until admitted; its checks still
  // reach them through this Service, which alone lists them.
  if (readinessGateOf(md) && svc.spec) svc.spec.publishNotReadyAddresses = true;
  return svc;
}

/**
 * The clients' Service (NAME). Canary: it selects every version's pods (mlops.dev/model),
 * so traffic splits by ready replicas and versions that must get none are at zero
 * replicas. Blue/green, or `activeOnly` (a router with a route): it selects the active
 * track's pods alone (`active`, its selector); the switch is one write of it.
 */
export function computeClientsService(
  md: ModelDeployment,
  active: Record<string, string> = specTrack(md).selector,
  activeOnly = false,
): V1Service {
  const name = md.metadata?.name ?? "";
  // activeOnly: a router splits the traffic elsewhere (a route), so the Service selects one track.
  const selector: Record<string, string> =
    md.spec.strategy?.blueGreen || activeOnly ? { ...active } : { [LABEL_MODEL]: name };
  return service(md, clientsServiceName(md), "clients", selector, targetPortOf(md));
}

/** The blue/green preview Service (NAME-preview): the candidate track's pods (`selector`), before the switch. */
export function computePreviewService(
  md: ModelDeployment,
  selector: Record<string, string> = specTrack(md).selector,
): V1Service {
  return service(md, previewServiceName(md), "preview", { ...selector }, targetPortOf(md));
}

/**
 * The Service of a version other than the spec's, re-sent as observed (its selector and
 * ports stay what its pods were made for), with the operator's labels and owner.
 */
export function computeRetainedService(md: ModelDeployment, observed: V1Service, version: string): V1Service {
  const ports = (observed.spec?.ports ?? []).map((p) => {
    const port: V1ServicePort = { name: p.name, protocol: p.protocol ?? "TCP", port: p.port };
    if (p.targetPort !== undefined) port.targetPort = p.targetPort;
    return port;
  });
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: childMetadata(
      md,
      observed.metadata?.name ?? childName(md.metadata?.name ?? "", version),
      "version",
      version,
    ),
    spec: {
      type: "ClusterIP",
      selector: plain(observed.spec?.selector) ?? trackSelector(md, version),
      ports,
      ...(observed.spec?.publishNotReadyAddresses === true ? { publishNotReadyAddresses: true } : {}),
    },
  };
}
