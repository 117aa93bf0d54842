// What a user or a GitOps tool reading status.traffic would have seen, moment by moment,
// beside what the clients' Service really did: one watch on the ModelDeployment and one on
// the EndpointSlices of its namespace, each event kept with its resourceVersion. Both kinds
// share the API server's etcd revision, so ordering the events by it puts every status the
// operator wrote beside the endpoints the clients' Service had when it was written.
import * as k8s from "@kubernetes/client-node";
import { kubeConfig } from "./kube.ts";
import type { MdStatus } from "./md.ts";

interface Slice {
  metadata: { name: string; resourceVersion?: string; labels?: Record<string, string> };
  endpoints?: { targetRef?: { name?: string }; conditions?: { ready?: boolean } }[];
}

interface MdObject {
  metadata: { name: string; resourceVersion?: string };
  status?: MdStatus;
}

type Event =
  | { rv: bigint; kind: "slice"; name: string; slice: Slice | undefined }
  | { rv: bigint; kind: "status"; status: MdStatus | undefined };

/** A status that said the stable version gets 0% while every ready endpoint of the clients' Service was its own. */
export interface DishonestStatus {
  traffic: MdStatus["traffic"];
  readyEndpoints: string[];
}

const rvOf = (o: { metadata: { resourceVersion?: string } }): bigint =>
  BigInt(o.metadata.resourceVersion ?? "0");

export class TrafficWatch {
  private readonly events: Event[] = [];
  private readonly aborts: AbortController[] = [];

  private readonly name: string;

  private constructor(name: string) {
    this.name = name;
  }

  /** Starts watching ModelDeployment `name` and the EndpointSlices of namespace `ns`. */
  static async start(ns: string, name: string): Promise<TrafficWatch> {
    const w = new TrafficWatch(name);
    const watch = new k8s.Watch(kubeConfig());
    const done = () => {};
    w.aborts.push(
      await watch.watch(
        `/apis/discovery.k8s.io/v1/namespaces/${ns}/endpointslices`,
        {},
        (type: string, obj: Slice) =>
          w.events.push({
            rv: rvOf(obj),
            kind: "slice",
            name: obj.metadata.name,
            slice: type === "DELETED" ? undefined : obj,
          }),
        done,
      ),
    );
    w.aborts.push(
      await watch.watch(
        `/apis/mlops.dev/v1alpha1/namespaces/${ns}/modeldeployments`,
        { fieldSelector: `metadata.name=${name}` },
        (type: string, obj: MdObject) =>
          w.events.push({
            rv: rvOf(obj),
            kind: "status",
            status: type === "DELETED" ? undefined : obj.status,
          }),
        done,
      ),
    );
    return w;
  }

  stop(): void {
    for (const a of this.aborts) a.abort();
  }

  /** How many statuses of the ModelDeployment the watch saw. */
  get statuses(): number {
    return this.events.filter((e) => e.kind === "status").length;
  }

  /**
   * Every status seen that gave the stable version (its pods named `stablePodPrefix`...)
   * weight 0, or no entry, while the clients' Service NAME had ready endpoints and all of
   * them were the stable version's pods.
   */
  dishonest(stableVersion: string, stablePodPrefix: string): DishonestStatus[] {
    const slices = new Map<string, Slice>();
    const out: DishonestStatus[] = [];
    const ordered = [...this.events].sort((a, b) => (a.rv < b.rv ? -1 : a.rv > b.rv ? 1 : 0));
    for (const e of ordered) {
      if (e.kind === "slice") {
        if (e.slice) slices.set(e.name, e.slice);
        else slices.delete(e.name);
        continue;
      }
      const s = e.status;
      if (s?.stableVersion !== stableVersion || !s.traffic?.length) continue;
      const ready = [...slices.values()]
        .filter((sl) => sl.metadata.labels?.["kubernetes.io/service-name"] === this.name)
        .flatMap((sl) => sl.endpoints ?? [])
        .filter((ep) => ep.conditions?.ready !== false && ep.targetRef?.name)
        .map((ep) => ep.targetRef!.name!);
      if (ready.length === 0 || !ready.every((p) => p.startsWith(stablePodPrefix))) continue;
      const stableWeight = s.traffic.find((t) => t.version === stableVersion)?.weight ?? 0;
      if (stableWeight === 0) out.push({ traffic: s.traffic, readyEndpoints: ready });
    }
    return out;
  }

  /** For a failure message: every status's traffic, in order. */
  trafficHistory(): string {
    return this.events
      .filter((e) => e.kind === "status")
      .map((e) => `${e.rv}: ${JSON.stringify(e.kind === "status" ? e.status?.traffic : null)}`)
      .join("\n");
  }
}
