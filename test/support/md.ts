// Building and reading ModelDeployments in tests, through the real kubectl.
import { readFileSync } from "node:fs";
import { ModelDeployment } from "../../src/api/model.ts";
import type { ModelDeploymentSpec, ModelDeploymentStatus } from "../../src/api/types.ts";
import { kubectl, kubectlJson, waitFor } from "./kube.ts";

export interface Condition {
  type: string;
  status: string;
  reason: string;
  message: string;
  lastTransitionTime: string;
  observedGeneration?: number;
}

export interface MdStatus {
  observedGeneration?: number;
  phase?: string;
  stableVersion?: string;
  stableRevision?: string;
  candidateVersion?: string;
  candidateRevision?: string;
  candidateWeight?: number;
  currentStep?: number;
  traffic?: { version: string; revision?: string; weight: number; readyEndpoints?: number }[];
  checks?: {
    name: string;
    phase: string;
    value?: string;
    message?: string;
    consecutiveFailures?: number;
    lastMeasured?: string;
  }[];
  warnings?: string[];
  conditions?: Condition[];
  history?: { version: string; revision?: string; outcome: string; reason?: string; message?: string }[];
  aborted?: { version: string; reason: string; message?: string };
  replicas?: number;
  message?: string;
  route?: ModelDeploymentStatus["route"];
  readinessGate?: ModelDeploymentStatus["readinessGate"];
  capacity?: ModelDeploymentStatus["capacity"];
}

export interface Md {
  metadata: {
    name: string;
    namespace: string;
    generation: number;
    uid: string;
    annotations?: Record<string, string>;
  };
  spec: Record<string, unknown>;
  status?: MdStatus;
}

export interface MdOptions {
  version: string;
  replicas?: number;
  strategy?: Record<string, unknown>;
  healthChecks?: Record<string, unknown>;
  progressDeadlineSeconds?: number;
  podLabels?: Record<string, string>;
  extra?: Record<string, unknown>;
}

/** A ModelDeployment manifest, built with the API's model class (apiVersion and kind from the CRD). */
export function modelDeployment(name: string, o: MdOptions): Record<string, unknown> {
  return new ModelDeployment({
    metadata: { name },
    spec: {
      model: { version: o.version, uri: `s3://models/${name}/${o.version}`, format: "sklearn" },
      replicas: o.replicas ?? 2,
      template: {
        metadata: { labels: { app: name, ...o.podLabels } },
        spec: {
          containers: [
            {
              name: "server",
              image: `registry.example/${name}:${o.version}`,
              ports: [{ name: "http", containerPort: 8080 }],
            },
          ],
        },
      },
      service: { port: 80, targetPort: "http" },
      strategy: o.strategy ?? { canary: { steps: [{ setWeight: 50 }] } },
      ...(o.healthChecks ? { healthChecks: o.healthChecks } : {}),
      ...(o.progressDeadlineSeconds ? { progressDeadlineSeconds: o.progressDeadlineSeconds } : {}),
      ...o.extra,
    } as ModelDeploymentSpec,
  }).toJSON() as Record<string, unknown>;
}

export async function applyMd(ns: string, obj: Record<string, unknown>): Promise<void> {
  await kubectl(["-n", ns, "apply", "-f", "-"], JSON.stringify(obj));
}

export function getMd(ns: string, name: string): Promise<Md> {
  return kubectlJson<Md>(["-n", ns, "get", "modeldeployment", name]);
}

export function condition(md: Md, type: string): Condition | undefined {
  return md.status?.conditions?.find((c) => c.type === type);
}

/** Waits until the ModelDeployment's status satisfies `pred`; returns it. */
export function waitForMd(
  ns: string,
  name: string,
  what: string,
  pred: (md: Md) => boolean,
  timeoutMs = 60_000,
): Promise<Md> {
  let last: Md | undefined;
  return waitFor(
    what,
    async () => {
      const md = await getMd(ns, name);
      last = md;
      return pred(md) ? md : undefined;
    },
    { timeoutMs, intervalMs: 200 },
  ).catch(async (err: unknown) => {
    // Say what the status was and what the clients' Service's EndpointSlices show: the first
    // things to look at when a wait times out.
    const slices = await kubectlJson<{
      items: { endpoints?: { targetRef?: { name?: string }; conditions?: { ready?: boolean } }[] }[];
    }>(["-n", ns, "get", "endpointslices", "-l", `kubernetes.io/service-name=${name}`]).then(
      (l) =>
        l.items.map((i) => (i.endpoints ?? []).map((e) => `${e.targetRef?.name}:${e.conditions?.ready}`)),
      (e: unknown) => (e as Error).message,
    );
    throw new Error(
      `${(err as Error).message}; status: ${JSON.stringify(last?.status ?? null)}; endpoint slices: ${JSON.stringify(slices)}`,
    );
  });
}

export const isReady = (md: Md) =>
  condition(md, "Ready")?.status === "True" && md.status?.observedGeneration === md.metadata.generation;

export interface DeploymentView {
  metadata: {
    name: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences?: { kind: string; name: string; controller?: boolean }[];
  };
  spec: {
    replicas: number;
    selector: { matchLabels: Record<string, string> };
    template: {
      metadata: { labels: Record<string, string> };
      spec: { containers: { name: string; env?: { name: string; value?: string }[] }[] };
    };
  };
  status?: { availableReplicas?: number; readyReplicas?: number };
}

export async function deployments(ns: string, model: string): Promise<Map<string, DeploymentView>> {
  const list = await kubectlJson<{ items: DeploymentView[] }>([
    "-n",
    ns,
    "get",
    "deployments",
    "-l",
    `mlops.dev/model=${model}`,
  ]);
  return new Map(list.items.map((d) => [d.metadata.name, d]));
}

export interface EventView {
  reason: string;
  note?: string;
  message?: string;
  type: string;
}

/** Events about a ModelDeployment (events.k8s.io/v1), oldest first. */
export async function mdEvents(ns: string, name: string): Promise<EventView[]> {
  const list = await kubectlJson<{
    items: (EventView & { regarding?: { name: string; kind: string }; eventTime?: string })[];
  }>(["-n", ns, "get", "events.v1.events.k8s.io"]);
  return list.items
    .filter((e) => e.regarding?.kind === "ModelDeployment" && e.regarding.name === name)
    .sort((a, b) => (a.eventTime ?? "").localeCompare(b.eventTime ?? ""))
    .map((e) => ({ ...e, message: e.note }));
}

/**
 * Writes the operator (user agent model-rollout-operator/...) sent after `since`, from the API
 * server's audit log: of every namespace (filter by objectRef.namespace: an operator also
 * writes for the ModelDeployments of other tests, even into a namespace being deleted), with
 * the answer's HTTP status.
 */
export function operatorWrites(since: Date): {
  verb: string;
  uri: string;
  time: string;
  /** model-rollout-operator/VERSION, then " (POD_NAME)" when the process had one. */
  userAgent: string;
  code?: number;
  objectRef?: { resource?: string; namespace?: string; name?: string };
}[] {
  const log = process.env.MRO_AUDIT_LOG;
  if (!log) throw new Error("MRO_AUDIT_LOG is not set: run under the e2e global fixture");
  return readFileSync(log, "utf8")
    .split("\n")
    .filter((l) => l.includes('"userAgent":"model-rollout-operator'))
    .map(
      (l) =>
        JSON.parse(l) as {
          verb: string;
          userAgent: string;
          requestURI: string;
          requestReceivedTimestamp: string;
          responseStatus?: { code?: number };
          objectRef?: { resource?: string; namespace?: string; name?: string };
        },
    )
    .filter((e) => new Date(e.requestReceivedTimestamp) > since)
    .map((e) => ({
      verb: e.verb,
      uri: e.requestURI,
      time: e.requestReceivedTimestamp,
      userAgent: e.userAgent,
      code: e.responseStatus?.code,
      objectRef: e.objectRef,
    }));
}

/**
 * When the API server answered the deletion of namespace `ns` (its audit log), or undefined
 * before it did. From then on the namespace refuses new objects; what was written into it
 * before is ordinary work, however close to the moment the test asked for the deletion.
 */
export function namespaceDeletedAt(ns: string): Date | undefined {
  const log = process.env.MRO_AUDIT_LOG;
  if (!log) throw new Error("MRO_AUDIT_LOG is not set: run under the e2e global fixture");
  for (const line of readFileSync(log, "utf8").split("\n")) {
    if (!line.includes('"resource":"namespaces"') || !line.includes('"verb":"delete"')) continue;
    const e = JSON.parse(line) as {
      verb: string;
      stage?: string;
      stageTimestamp?: string;
      responseStatus?: { code?: number };
      objectRef?: { resource?: string; name?: string };
    };
    if (
      e.verb === "delete" &&
      e.stage === "ResponseComplete" &&
      e.objectRef?.resource === "namespaces" &&
      e.objectRef.name === ns &&
      (e.responseStatus?.code ?? 0) < 300 &&
      e.stageTimestamp
    )
      return new Date(e.stageTimestamp);
  }
  return undefined;
}
