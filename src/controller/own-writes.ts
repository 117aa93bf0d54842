// The echo of the operator's own writes of a ModelDeployment. Every write comes back as a
// watch event, which queues the key again. That reconcile is what brings a rollout's next
// step after a status write that recorded a decision, so it must not wait, unless the write
// came from a low-priority reconcile (a passing measurement, a relist): then its echo is low
// too. With 1000 rollouts measuring, about 30 passing measurements a second are written,
// and at normal priority their echoes would go before every user's change.
import type { Priority } from "./queue.ts";

export class OwnWrites {
  /** The last write of each key: its resourceVersion and the priority of its reconcile. */
  readonly #last = new Map<string, { resourceVersion: string; priority: Priority }>();

  /** A reconcile of `key` at `priority` wrote the ModelDeployment; the API server answered with `resourceVersion`. */
  record(key: string, resourceVersion: string | undefined, priority: Priority): void {
    if (resourceVersion) this.#last.set(key, { resourceVersion, priority });
  }

  /**
   * The priority of the reconcile whose write the event's object (`resourceVersion`) is,
   * or undefined when it is anyone else's change or an older one. Each write's echo is
   * answered once.
   */
  echoPriority(key: string, resourceVersion: string | undefined): Priority | undefined {
    const last = this.#last.get(key);
    if (!last || last.resourceVersion !== resourceVersion) return undefined;
    this.#last.delete(key);
    return last.priority;
  }

  /** The ModelDeployment is gone. */
  forget(key: string): void {
    this.#last.delete(key);
  }

  /** Keys with a write whose echo has not come yet (for tests). */
  get size(): number {
    return this.#last.size;
  }
}
