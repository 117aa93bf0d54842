// Reaction time to spec changes, as a user sees it: spec.replicas of one ModelDeployment
// changed, until both its Deployment asks for that many replicas and status.observedGeneration
// caught up, both seen through watches. Shared by the sizes (harness.ts) and the slow-checks
// case (slow-checks.ts), which runs the same stream with and without rollouts under way.
import { performance } from "node:perf_hooks";
import type { KubernetesObject, V1Deployment } from "@kubernetes/client-node";
import { LABEL_MODEL } from "../src/api/constants.ts";
import type { Informer } from "../src/controller/informer.ts";
import { round } from "./figures.ts";
import { MD_RESOURCE, type BenchKube } from "./kube.ts";
import { percentile, pollUntil } from "./wait.ts";

export interface LatencyResult {
  samples: number;
  /** Changes that did not complete within the deadline. */
  timedOut: number;
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
  maxMs: number;
}

export function latency(values: number[], timedOut: number): LatencyResult {
  return {
    samples: values.length,
    timedOut,
    p50Ms: round(percentile(values, 50), 1),
    p95Ms: round(percentile(values, 95), 1),
    p99Ms: round(percentile(values, 99), 1),
    maxMs: round(values.length ? Math.max(...values) : NaN, 1),
  };
}

interface Pending {
  sentAt: number;
  /** The generation the change got (known when the patch answers). */
  gen?: number;
  mdAt?: number;
  depAt?: number;
}

/**
 * One stream at a time: feed it every ModelDeployment and Deployment the informers see
 * (onModelDeployment, onDeployment), then run() a stream of changes.
 */
export class ReactionStream {
  #pending = new Map<string, Pending>();
  #replicas = 0;

  readonly onModelDeployment = (
    md: KubernetesObject & { status?: { observedGeneration?: number } },
    at: number,
  ): void => {
    const p = this.#pending.get(md.metadata?.name ?? "");
    if (p && p.gen !== undefined && p.mdAt === undefined && (md.status?.observedGeneration ?? 0) >= p.gen)
      p.mdAt = at;
  };

  readonly onDeployment = (d: V1Deployment, at: number): void => {
    const p = this.#pending.get(d.metadata?.labels?.[LABEL_MODEL] ?? "");
    if (p && p.depAt === undefined && d.spec?.replicas === this.#replicas) p.depAt = at;
  };

  /**
   * Sets spec.replicas of each of `names` to `replicas`, `ratePerSecond` of them a second,
   * and waits (up to `timeoutMs`) for every reaction.
   */
  async run(o: {
    kube: BenchKube;
    namespace: string;
    names: readonly string[];
    replicas: number;
    ratePerSecond: number;
    mds: Informer<KubernetesObject>;
    deps: Informer<V1Deployment>;
    timeoutMs?: number;
  }): Promise<LatencyResult> {
    const pending = new Map<string, Pending>();
    this.#pending = pending;
    this.#replicas = o.replicas;
    const start = performance.now();
    const sends: Promise<void>[] = [];
    for (const [i, name] of o.names.entries()) {
      const wait = start + (i * 1000) / o.ratePerSecond - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      const entry: Pending = { sentAt: performance.now() };
      pending.set(name, entry);
      sends.push(
        o.kube.mergePatch(MD_RESOURCE, o.namespace, name, { spec: { replicas: o.replicas } }).then((res) => {
          entry.gen = res.metadata?.generation ?? Infinity;
          // The watch may have delivered before this answer: look at the caches too.
          const cachedMd = o.mds.get(o.namespace, name);
          if (cachedMd) this.onModelDeployment(cachedMd, performance.now());
          for (const d of o.deps.list(o.namespace))
            if (d.metadata?.labels?.[LABEL_MODEL] === name) this.onDeployment(d, performance.now());
        }),
      );
    }
    await Promise.all(sends);
    const done = () => [...pending.values()].filter((p) => p.mdAt !== undefined && p.depAt !== undefined);
    await pollUntil(
      "every spec change reconciled",
      () => done().length === o.names.length,
      o.timeoutMs ?? 120_000,
      50,
    ).catch(() => {});
    const reactions = done().map((p) => Math.max(p.mdAt as number, p.depAt as number) - p.sentAt);
    return latency(reactions, o.names.length - reactions.length);
  }
}
