// One shard's hold on its ModelDeployments (--watch-label-selector, docs/sharding.md). The
// informer's selector decides what the shard sees; this decides when it may act on it, so
// that a ModelDeployment whose shard label moves is never acted on by two shards at once:
//
// - A fence before the first write of each reconcile: the ModelDeployment is read again
//   from the API server (a quorum read) and must still be selected and unchanged since the
//   copy the reconcile planned from (same resourceVersion); otherwise nothing is written.
//   The old shard's watch may deliver the relabelling late; its writes do not wait for it.
// - A handoff delay on arrival: a ModelDeployment that enters the shard already reconciled
//   (it has a status.observedGeneration: another instance had it) is left alone for
//   `handoffMs`, longer than a reconcile that passed its fence just before the move takes to
//   finish its writes. A new ModelDeployment (no status yet) is acted on at once.
import type { KubernetesObject } from "@kubernetes/client-node";
import { API_VERSION, KIND } from "../api/constants.ts";
import { matchesLabelSelector, type Requirement } from "../api/label-selector.ts";
import type { ModelDeployment } from "../api/types.ts";
import type { KubeClient } from "../kube/client.ts";

/** The default handoff delay: a reconcile's writes take well under a second on a healthy API server. */
export const DEFAULT_HANDOFF_MS = 5_000;

/** The fence found the ModelDeployment gone from this shard, or changed since it was read: nothing is written. */
export class NotOwnedError extends Error {
  /** "moved": no longer selected (or deleted); "changed": a newer version exists, the cache will bring it. */
  readonly why: "moved" | "changed";
  constructor(why: "moved" | "changed", message: string) {
    super(message);
    this.name = "NotOwnedError";
    this.why = why;
  }
}

export interface ShardOptions {
  /** The parsed --watch-label-selector. */
  requirements: readonly Requirement[];
  /** How long a ModelDeployment that arrives already reconciled is left alone (default DEFAULT_HANDOFF_MS). */
  handoffMs?: number;
  nowMs?: () => number;
}

export class Shard {
  readonly #requirements: readonly Requirement[];
  readonly #handoffMs: number;
  readonly #nowMs: () => number;
  /** Keys that arrived already reconciled: not acted on before this time (ms). */
  readonly #notBefore = new Map<string, number>();

  constructor(options: ShardOptions) {
    this.#requirements = options.requirements;
    this.#handoffMs = options.handoffMs ?? DEFAULT_HANDOFF_MS;
    this.#nowMs = options.nowMs ?? Date.now;
  }

  /** Whether the selector selects this ModelDeployment's labels. */
  selects(md: KubernetesObject): boolean {
    return matchesLabelSelector(this.#requirements, md.metadata?.labels);
  }

  /** The informer added it: if another instance reconciled it before, wait the handoff delay. */
  arrived(key: string, md: ModelDeployment): void {
    if (md.status?.observedGeneration !== undefined && this.#handoffMs > 0)
      this.#notBefore.set(key, this.#nowMs() + this.#handoffMs);
  }

  /** How long (ms) the key must still be left alone; 0 = act. */
  handoffWaitMs(key: string): number {
    const until = this.#notBefore.get(key);
    if (until === undefined) return 0;
    const left = until - this.#nowMs();
    if (left <= 0) this.#notBefore.delete(key);
    return Math.max(0, left);
  }

  /** It left the shard (or was deleted): a later arrival starts a new handoff. */
  forget(key: string): void {
    this.#notBefore.delete(key);
  }

  /**
   * A client for one reconcile of `read` (the copy it planned from): its first write waits
   * for one fresh read of the ModelDeployment, and every write fails with NotOwnedError
   * unless that read found it still selected and at the same resourceVersion. Reads go
   * through as they are.
   */
  fence(client: KubeClient, read: ModelDeployment): KubeClient {
    let confirmed: Promise<void> | undefined;
    const confirm = () => (confirmed ??= this.#confirm(client, read));
    // Every method spelt out (not a spread: a client may keep its methods on a prototype),
    // so that a new write method of KubeClient cannot pass unfenced without a compile error.
    return {
      get: (apiVersion, kind, namespace, name) => client.get(apiVersion, kind, namespace, name),
      async apply(obj, options) {
        await confirm();
        return client.apply(obj, options);
      },
      async replace(obj) {
        await confirm();
        return client.replace(obj);
      },
      async delete(apiVersion, kind, namespace, name) {
        await confirm();
        return client.delete(apiVersion, kind, namespace, name);
      },
      async replaceStatus(md, status) {
        await confirm();
        return client.replaceStatus(md, status);
      },
      async removeAction(md, action) {
        await confirm();
        return client.removeAction(md, action);
      },
      async recordEvent(md, event, now) {
        await confirm();
        return client.recordEvent(md, event, now);
      },
      async patchPodCondition(namespace, patch, now) {
        await confirm();
        return client.patchPodCondition(namespace, patch, now);
      },
      async scaleDeployment(namespace, name, replicas) {
        await confirm();
        return client.scaleDeployment(namespace, name, replicas);
      },
    };
  }

  async #confirm(client: KubeClient, read: ModelDeployment): Promise<void> {
    const ns = read.metadata?.namespace ?? "";
    const name = read.metadata?.name ?? "";
    const now = await client.get<ModelDeployment>(API_VERSION, KIND, ns, name);
    if (!now || now.metadata?.uid !== read.metadata?.uid || !this.selects(now))
      throw new NotOwnedError("moved", `${ns}/${name} is no longer in this shard: nothing is written`);
    if (now.metadata?.resourceVersion !== read.metadata?.resourceVersion)
      throw new NotOwnedError(
        "changed",
        `${ns}/${name} changed since it was read (resourceVersion ${read.metadata?.resourceVersion} -> ${now.metadata?.resourceVersion}): planned again`,
      );
  }
}
