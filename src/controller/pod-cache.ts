// The pods behind the readiness gate (spec.strategy.canary.readinessGate), whose condition the
// operator sets. A pod watch is the most expensive one an operator can hold (pods are the most
// numerous and most often updated objects), so it is opened only when a ModelDeployment uses
// the gate: a cluster without one holds no pod watch at all. Once opened it stays (a gate that
// comes back needs it at once; with the label selector below it costs little meanwhile).
//
// Its pods are cached without metadata.managedFields, as controller-runtime's DefaultTransform
// does: the field managers' records are often the largest part of a pod and the operator never
// reads them (it writes pod status with a strategic merge patch of one condition).
import type { KubernetesObject, V1Pod } from "@kubernetes/client-node";
import type { ListWatchSource } from "../kube/listwatch.ts";
import type { Logger } from "../observability/log.ts";
import { IndexBy, modelKeyOfPod } from "./index-by.ts";
import { InformerSet } from "./informer-set.ts";
import { Informer } from "./informer.ts";

/** A cached object without the field managers' records (a copy; the object given is not changed). */
export function stripManagedFields<T extends KubernetesObject>(obj: T): T {
  if (obj.metadata?.managedFields === undefined) return obj;
  const { managedFields: _dropped, ...metadata } = obj.metadata;
  return { ...obj, metadata };
}

export interface PodCacheOptions {
  /** The list and watch of the gated pods of one namespace (undefined: every namespace). */
  source(namespace: string | undefined): ListWatchSource<V1Pod>;
  /** The watched namespaces (undefined: all). */
  namespaces: readonly string[] | undefined;
  resyncPeriodMs?: number;
  /** Every pod event: put its ModelDeployment's key on the queue. */
  onEvent(pod: V1Pod): void;
  /** The cache synced: reconcile every ModelDeployment that uses the gate. */
  onAvailable(): void;
  logger: Logger;
}

export class PodCache {
  readonly #o: PodCacheOptions;
  /** Pods by `namespace/model` (label mlops.dev/model): what one reconcile reads. */
  readonly byModel = new IndexBy<V1Pod>(modelKeyOfPod);
  #informers: InformerSet<V1Pod> | undefined;
  #synced = false;

  constructor(options: PodCacheOptions) {
    this.#o = options;
  }

  /** True once the pod informers have synced. */
  synced(): boolean {
    return this.#synced;
  }

  /** True once a ModelDeployment asked for the pods (the watch is open or opening). */
  started(): boolean {
    return this.#informers !== undefined;
  }

  /** A ModelDeployment uses the readiness gate: open the watch, unless it is open already. */
  want(): void {
    if (this.#informers) return;
    const informers = new InformerSet<V1Pod>(
      (namespace) =>
        new Informer<V1Pod>({
          source: this.#o.source(namespace),
          resyncPeriodMs: this.#o.resyncPeriodMs,
          transform: stripManagedFields,
          logger: this.#o.logger,
        }),
      this.#o.namespaces,
    );
    this.#informers = informers;
    informers.addEventHandler(this.byModel.handlers);
    informers.addEventHandler({
      add: (p) => this.#o.onEvent(p),
      update: (_o, p) => this.#o.onEvent(p),
      delete: (p) => this.#o.onEvent(p),
    });
    for (const i of informers.informers) i.start();
    this.#o.logger.info("a ModelDeployment uses the readiness gate: watching its pods");
    void Promise.all(informers.informers.map((i) => i.waitForSync())).then(
      () => {
        this.#synced = true;
        this.#o.onAvailable();
      },
      () => undefined, // stopped before it synced
    );
  }

  async stop(): Promise<void> {
    await Promise.all((this.#informers?.informers ?? []).map((i) => i.stop()));
  }
}
