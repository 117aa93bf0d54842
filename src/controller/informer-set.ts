// One informer per watched namespace (or one for all namespaces), seen as one cache.
import type { KubernetesObject } from "@kubernetes/client-node";
import type { EventHandlers, Informer } from "./informer.ts";

export class InformerSet<T extends KubernetesObject> {
  readonly informers: readonly Informer<T>[];
  readonly #byNamespace = new Map<string, Informer<T>>();

  /** `namespaces` undefined: one informer for every namespace. */
  constructor(
    make: (namespace: string | undefined) => Informer<T>,
    namespaces: readonly string[] | undefined,
  ) {
    if (namespaces === undefined) {
      this.informers = [make(undefined)];
    } else {
      this.informers = namespaces.map((ns) => {
        const inf = make(ns);
        this.#byNamespace.set(ns, inf);
        return inf;
      });
    }
  }

  #for(namespace: string): Informer<T> | undefined {
    return this.#byNamespace.size ? this.#byNamespace.get(namespace) : this.informers[0];
  }

  list(namespace?: string): readonly T[] {
    if (namespace !== undefined) return this.#for(namespace)?.list(namespace) ?? [];
    return this.informers.flatMap((i) => i.list());
  }

  get(namespace: string, name: string): T | undefined {
    return this.#for(namespace)?.get(namespace, name);
  }

  addEventHandler(handlers: EventHandlers<T>): void {
    for (const i of this.informers) i.addEventHandler(handlers);
  }
}
