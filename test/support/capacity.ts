// What the capacity tests watch (capacity.test.ts, capacity-abort.test.ts): every pod and
// Deployment of one model in a namespace, from the start, so that a test sees each moment the
// API server saw; the route's accepting parent a Gateway controller would report; the
// replicas and the route's split as they stand.
import * as k8s from "@kubernetes/client-node";
import { kubeConfig, kubectl, kubectlJson, waitFor } from "./kube.ts";
import { deployments } from "./md.ts";

interface Meta {
  metadata: { name: string; deletionTimestamp?: string; labels?: Record<string, string> };
  spec?: { replicas?: number };
  status?: { replicas?: number; conditions?: { type: string; status: string }[] };
}

/** One moment: the pods (with those being deleted), and the ready ones of each Deployment. */
export interface CapacitySample {
  at: number;
  pods: number;
  podsWithTerminating: number;
  /** Ready pods not being deleted, by Deployment name. */
  ready: Record<string, number>;
}

const isReadyPod = (p: Meta) =>
  p.metadata.deletionTimestamp === undefined &&
  (p.status?.conditions ?? []).some((c) => c.type === "Ready" && c.status === "True");

/**
 * Watches the pods and Deployments of model `model` in a namespace and keeps the largest
 * totals it saw: pods that are not being deleted (what a Deployment's maxSurge counts), every
 * pod (a pod being deleted still holds its node's accelerator), and the Deployments' replicas
 * added up; and every moment, with each Deployment's ready pods.
 */
export class CapacityWatch {
  private pods = new Map<string, Meta>();
  private deps = new Map<string, Meta>();
  private aborts: AbortController[] = [];
  readonly samples: CapacitySample[] = [];
  maxPods = 0;
  maxPodsWithTerminating = 0;
  maxReplicas = 0;

  static async start(ns: string, model: string): Promise<CapacityWatch> {
    const w = new CapacityWatch();
    const watch = new k8s.Watch(kubeConfig());
    const on = (into: Map<string, Meta>) => (type: string, obj: Meta) => {
      if (obj.metadata.labels?.["mlops.dev/model"] !== model) return;
      if (type === "DELETED") into.delete(obj.metadata.name);
      else into.set(obj.metadata.name, obj);
      w.sample();
    };
    const done = () => {};
    w.aborts.push(await watch.watch(`/api/v1/namespaces/${ns}/pods`, {}, on(w.pods), done));
    w.aborts.push(await watch.watch(`/apis/apps/v1/namespaces/${ns}/deployments`, {}, on(w.deps), done));
    return w;
  }

  private sample(): void {
    const live = [...this.pods.values()].filter((p) => p.metadata.deletionTimestamp === undefined).length;
    this.maxPods = Math.max(this.maxPods, live);
    this.maxPodsWithTerminating = Math.max(this.maxPodsWithTerminating, this.pods.size);
    const replicas = [...this.deps.values()].reduce((sum, d) => sum + (d.spec?.replicas ?? 0), 0);
    this.maxReplicas = Math.max(this.maxReplicas, replicas);
    const ready: Record<string, number> = {};
    for (const d of this.deps.keys()) ready[d] = this.readyOf(d);
    this.samples.push({ at: Date.now(), pods: live, podsWithTerminating: this.pods.size, ready });
  }

  /** Pods of each Deployment (by the name prefix the ReplicaSet gives them), not being deleted. */
  podsOf(deployment: string): number {
    return [...this.pods.values()].filter(
      (p) => p.metadata.deletionTimestamp === undefined && p.metadata.name.startsWith(`${deployment}-`),
    ).length;
  }

  /** Ready pods of a Deployment, not being deleted. */
  readyOf(deployment: string): number {
    return [...this.pods.values()].filter(
      (p) => isReadyPod(p) && p.metadata.name.startsWith(`${deployment}-`),
    ).length;
  }

  /** Forget the maxima and the moments (the first version's own rollout is not the canary's). */
  reset(): void {
    this.maxPods = this.maxPodsWithTerminating = this.maxReplicas = 0;
    this.samples.length = 0;
    this.sample();
  }

  stop(): void {
    for (const a of this.aborts) a.abort();
  }
}

/** What a Gateway controller would write: the one parent of the route accepts it. */
export async function acceptRoute(ns: string, name: string): Promise<void> {
  await waitFor("the route", () => kubectlJson(["-n", ns, "get", "httproute", name]).catch(() => undefined));
  const now = new Date().toISOString().replace(/\.\d+Z$/, "Z");
  const cond = (type: string) => ({
    type,
    status: "True",
    reason: type,
    message: "",
    lastTransitionTime: now,
  });
  const status = {
    parents: [
      {
        parentRef: {
          group: "gateway.networking.k8s.io",
          kind: "Gateway",
          name: "inference-gateway",
          sectionName: "http",
        },
        controllerName: "gateway.envoyproxy.io/gatewayclass-controller",
        conditions: [cond("Accepted"), cond("ResolvedRefs")],
      },
    ],
  };
  await kubectl([
    "-n",
    ns,
    "patch",
    "httproute",
    name,
    "--subresource=status",
    "--type=merge",
    "-p",
    JSON.stringify({ status }),
  ]);
}

/** spec.replicas of each of the model's Deployments. */
export const replicasOf = async (ns: string, model: string) =>
  Object.fromEntries([...(await deployments(ns, model))].map(([n, d]) => [n, d.spec.replicas]));

/** The weights of the route's split rule, by Service. */
export const splitOf = async (ns: string, name: string) => {
  const r = await kubectlJson<{
    spec: { rules?: { name?: string; backendRefs?: { name: string; weight?: number }[] }[] };
  }>(["-n", ns, "get", "httproute", name]);
  return Object.fromEntries(
    (r.spec.rules?.find((x) => x.name === "split")?.backendRefs ?? []).map((b) => [b.name, b.weight]),
  );
};
