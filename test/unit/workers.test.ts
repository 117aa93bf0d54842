import { expect } from "chai";
import { WorkQueue } from "../../src/controller/queue.ts";
import type { Reconciler } from "../../src/controller/reconciler.ts";
import { createLogger } from "../../src/observability/log.ts";
import { requestPriority } from "../../src/kube/ratelimit.ts";
import { OperatorMetrics } from "../../src/observability/metrics.ts";
import { IDLE_REQUEUE_FLOOR_MS, reconcileKey } from "../../src/operator/workers.ts";

/** The delays reconcileKey asks the queue for, one per reconcile. */
async function requeueDelays(results: { writes: number; requeueAfterMs?: number }[]): Promise<number[]> {
  const queue = new WorkQueue();
  const asked: number[] = [];
  queue.addAfter = (_key: string, ms: number) => void asked.push(ms);
  const metrics = new OperatorMetrics({ processMetrics: false });
  const queueMetrics = metrics.queueObserver("modeldeployment");
  const logger = createLogger({ level: "error" });
  for (const result of results) {
    const reconciler = { reconcile: async () => result } as unknown as Reconciler;
    await reconcileKey("ns/a", reconciler, queue, metrics, queueMetrics, logger);
  }
  return asked;
}

describe("queue worker: requeues", () => {
  it("a reconcile that wrote nothing and asks for now waits the idle floor instead of spinning", async () => {
    expect(await requeueDelays([{ writes: 0, requeueAfterMs: 0 }])).to.deep.equal([IDLE_REQUEUE_FLOOR_MS]);
    expect(await requeueDelays([{ writes: 0, requeueAfterMs: 40 }])).to.deep.equal([IDLE_REQUEUE_FLOOR_MS]);
  });

  it("a reconcile that wrote, or asks for later than the floor, is requeued as it asks", async () => {
    expect(await requeueDelays([{ writes: 2, requeueAfterMs: 0 }])).to.deep.equal([0]);
    expect(await requeueDelays([{ writes: 0, requeueAfterMs: 30_000 }])).to.deep.equal([30_000]);
    expect(await requeueDelays([{ writes: 0 }])).to.deep.equal([]);
  });
});

describe("queue worker: priority", () => {
  it("reconciles a key, and sends its requests, at the priority the queue handed it out at", async () => {
    const queue = new WorkQueue({ maxLowInFlight: 1 });
    const metrics = new OperatorMetrics({ processMetrics: false });
    const queueMetrics = metrics.queueObserver("modeldeployment");
    const logger = createLogger({ level: "error" });
    const seen: [string, string | undefined, string | undefined][] = [];
    const reconciler = {
      reconcile: async (key: string, _log: unknown, priority?: string) => {
        await Promise.resolve();
        seen.push([key, priority, requestPriority.getStore()]);
        return { writes: 0 };
      },
    } as unknown as Reconciler;
    queue.add("ns/relisted", "low");
    queue.add("ns/progress");
    queue.add("ns/changed", "high");
    const done = queue.run(1, (key) => reconcileKey(key, reconciler, queue, metrics, queueMetrics, logger));
    for (let i = 0; i < 30 && seen.length < 3; i++) await new Promise((r) => setImmediate(r));
    await queue.shutdown();
    await done;
    expect(seen).to.deep.equal([
      ["ns/changed", "high", "high"],
      ["ns/progress", "normal", "normal"],
      ["ns/relisted", "low", "low"],
    ]);
  });
});
