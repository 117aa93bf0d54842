// The thread that evaluates successConditions for ConditionPool (condition-pool.ts). It
// parses the response body and runs the CEL program; the main thread only waits for the
// answer and terminates this thread when the evaluation passes its budget.
import { parentPort } from "node:worker_threads";
import { evaluateSuccessCondition, parseJson, type ConditionOutcome } from "./condition.ts";
import type { ConditionTask } from "./condition-pool.ts";

parentPort?.on("message", (task: ConditionTask) => {
  parentPort?.postMessage({ id: task.id, outcome: evaluate(task) });
});

function evaluate(task: ConditionTask): ConditionOutcome {
  const quoteValues = task.quoteValues ?? true;
  if (task.kind === "agreement")
    return evaluateSuccessCondition(
      "agreement",
      task.expression,
      { agreement: task.agreement, agreed: task.agreed, compared: task.compared },
      { quoteValues },
    );
  if (task.kind === "relative")
    return evaluateSuccessCondition(
      "relative",
      task.expression,
      { candidate: task.candidate, stable: task.stable },
      { quoteValues },
    );
  return task.kind === "http"
    ? evaluateSuccessCondition(
        "http",
        task.expression,
        {
          status: task.status,
          body: task.body,
          json: parseJson(task.body),
          headers: new Map(task.headers),
        },
        { quoteValues },
      )
    : evaluateSuccessCondition(
        "prometheus",
        task.expression,
        {
          result: task.values.length === 1 ? task.values[0]! : task.values,
          results: task.values,
        },
        { quoteValues },
      );
}

// Loaded: from now on the pool times evaluations on this thread.
parentPort?.postMessage({ ready: true });
