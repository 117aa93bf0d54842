// What a queue worker does with one key: the reconcile, timed, logged and requeued.
import { randomUUID } from "node:crypto";
import type { WorkQueue } from "../controller/queue.ts";
import type { Reconciler } from "../controller/reconciler.ts";
import { isConflict, isNotFound } from "../kube/client.ts";
import { childLogger, type Logger } from "../observability/log.ts";
import type { OperatorMetrics } from "../observability/metrics.ts";

export const CONTROLLER = "modeldeployment";

/** One reconcile of `key` as a queue worker runs it: timed, logged, requeued as the result or the error says. */
export async function reconcileKey(
  key: string,
  reconciler: Reconciler,
  queue: WorkQueue,
  metrics: OperatorMetrics,
  queueMetrics: ReturnType<OperatorMetrics["queueObserver"]>,
  logger: Logger,
): Promise<void> {
  const workDone = queueMetrics.started(key);
  const workerDone = metrics.workerStarted(CONTROLLER);
  const started = process.hrtime.bigint();
  const log = childLogger(logger, {
    controller: CONTROLLER,
    modelDeployment: { namespace: key.split("/")[0], name: key.split("/")[1] },
    reconcileID: randomUUID(),
  });
  try {
    const result = await reconciler.reconcile(key, log);
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    queue.forget(key);
    if (result.requeueAfterMs !== undefined) {
      queue.addAfter(key, Math.max(0, result.requeueAfterMs));
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
