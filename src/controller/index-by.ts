// Secondary indexes of a cache, kept current by the informer's event handlers, so a
// reconcile finds a ModelDeployment's children without scanning its namespace.
import type { KubernetesObject } from "@kubernetes/client-node";
import type { EventHandlers } from "./informer.ts";

export class IndexBy<T extends KubernetesObject> {
  readonly #byKey = new Map<string, Map<string, T>>();
  readonly #keyOf = new Map<string, string>();
  readonly #indexKey: (obj: T) => string | undefined;

  /** `indexKey` gives the key an object is found under (undefined: not indexed). */
  constructor(indexKey: (obj: T) => string | undefined) {
    this.#indexKey = indexKey;
  }

  get handlers(): EventHandlers<T> {
    return {
      add: (obj) => this.#put(obj),
      update: (_old, obj) => this.#put(obj),
      delete: (obj) => this.#remove(id(obj)),
    };
  }

  get(key: string): readonly T[] {
    const m = this.#byKey.get(key);
    return m ? [...m.values()] : [];
  }

  #put(obj: T): void {
    const oid = id(obj);
    const key = this.#indexKey(obj);
    const previous = this.#keyOf.get(oid);
    if (previous !== undefined && previous !== key) this.#remove(oid);
    if (key === undefined) return;
    let m = this.#byKey.get(key);
    if (!m) this.#byKey.set(key, (m = new Map()));
    m.set(oid, obj);
    this.#keyOf.set(oid, key);
  }

  #remove(oid: string): void {
    const key = this.#keyOf.get(oid);
    if (key === undefined) return;
    this.#keyOf.delete(oid);
    const m = this.#byKey.get(key);
    m?.delete(oid);
    if (m?.size === 0) this.#byKey.delete(key);
  }
}

function id(obj: KubernetesObject): string {
  return `${obj.metadata?.namespace ?? ""}/${obj.metadata?.name ?? ""}`;
}

/** The uid of an object's controller owner. */
export function controllerUid(obj: KubernetesObject): string | undefined {
  return obj.metadata?.ownerReferences?.find((r) => r.controller)?.uid;
}

/** `namespace/model` of a pod (label mlops.dev/model): the key of the ModelDeployment whose Deployment made it. */
export function modelKeyOfPod(pod: KubernetesObject): string | undefined {
  const model = pod.metadata?.labels?.["mlops.dev/model"];
  return model && pod.metadata?.namespace ? `${pod.metadata.namespace}/${model}` : undefined;
}

/** `namespace/service-name` of an EndpointSlice: the key of the Service it belongs to. */
export function serviceKeyOfSlice(slice: KubernetesObject): string | undefined {
  const svc = slice.metadata?.labels?.["kubernetes.io/service-name"];
  return svc && slice.metadata?.namespace ? `${slice.metadata.namespace}/${svc}` : undefined;
}
