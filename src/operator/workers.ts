// What a queue worker does with one key: the reconcile, timed, logged and requeued.
import { randomUUID } from "node:crypto";
import type { WorkQueue } from "../controller/queue.ts";
import type { Reconciler } from "../controller/reconciler.ts";
import { isConflict, isNotFound } from "../kube/client.ts";
import { requestPriority } from "../kube/ratelimit.ts";
import { childLogger, type Logger } from "../observability/log.ts";
import type { OperatorMetrics } from "../observability/metrics.ts";

export const CONTROLLER = "modeldeployment";

/**
 * The shortest wait before a reconcile that wrote nothing runs again. Such a reconcile saw
 * the same caches it will see at once, so asking "now" again would only spin the CPU
 * (a plan that keeps finding something due but has nothing to write); within this time a
 * change in the world arrives as a watch event anyway.
 */
export const IDLE_REQUEUE_FLOOR_MS = 250;

function requeueDelayMs(result: { requeueAfterMs?: number; writes: number }, log: Logger): number {
  const ms = Math.max(0, result.requeueAfterMs ?? 0);
  if (result.writes > 0 || ms >= IDLE_REQUEUE_FLOOR_MS) return ms;
  log.debug("nothing was written: the next reconcile waits", {
    requeueAfterMs: ms,
    waitMs: IDLE_REQUEUE_FLOOR_MS,
  });
  return IDLE_REQUEUE_FLOOR_MS;
}

/** One reconcile of `key` as a queue worker runs it: timed, logged, requeued as the result or the error says. */
export async function reconcileKey(
  key: string,
  reconciler: Reconciler,
  queue: WorkQueue,
  metrics: OperatorMetrics,
  queueMetrics: ReturnType<OperatorMetrics["queueObserver"]>,
  logger: Logger,
): Promise<void> {
  const priority = queue.processingPriority(key) ?? "normal";
  const workDone = queueMetrics.started(key, priority);
  const workerDone = metrics.workerStarted(CONTROLLER);
  const started = process.hrtime.bigint();
  const log = childLogger(logger, {
    controller: CONTROLLER,
    modelDeployment: { namespace: key.split("/")[0], name: key.split("/")[1] },
    reconcileID: randomUUID(),
  });
  try {
    // Its requests wait for the client-side rate limit at its priority, too.
    const result = await requestPriority.run(priority, () => reconciler.reconcile(key, log, priority));
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    queue.forget(key);
    if (result.requeueAfterMs !== undefined) {
      queue.addAfter(key, requeueDelayMs(result, log));
      metrics.observeReconcile(CONTROLLER, "requeue_after", seconds);
    } else {
      metrics.observeReconcile(CONTROLLER, "success", seconds);
    }
    if (result.writes > 0)
      log.debug("reconciled", { writes: result.writes, requeueAfterMs: result.requeueAfterMs });
  } catch (err) {
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    metrics.observeReconcile(CONTROLLER, "error", seconds);
    // 409 Conflict: the cache was behind; 404: an object went away. Both are normal.
    if (isConflict(err) || isNotFound(err))
      log.debug("reconcile will be retried", { err: (err as Error).message });
    else log.error("reconcile failed", { err: (err as Error).message });
    queue.addRateLimited(key);
  } finally {
    workDone();
    workerDone();
  }
}
