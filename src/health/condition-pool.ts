// successConditions are written by whoever may create a ModelDeployment and run on the
// response of a server the check names: CEL has no loops, but nested comprehensions over a
// long list (or a regular expression that backtracks) cost as much as that server makes
// them cost. cel-js has no runtime cost limit, and a synchronous evaluation cannot be
// interrupted on the thread that runs it, so evaluations run here, on worker threads with
// a heap limit, each under a time budget: a worker that passes it is terminated and
// replaced, and the measurement is an Error that says so. The operator's event loop never
// runs user CEL.
import { Worker } from "node:worker_threads";
import { extname } from "node:path";
import { fileURLToPath } from "node:url";
import type { ConditionOutcome } from "./condition.ts";
import { formatMs } from "./request.ts";

export interface ConditionPoolOptions {
  /** Worker threads evaluating at once (default 2). */
  workers?: number;
  /** Longest one evaluation may run, in ms (default 1000). */
  timeoutMs?: number;
  /** Heap limit of each worker, in MiB (default 64). */
  memoryMb?: number;
}

export const DEFAULT_CONDITION_TIMEOUT_MS = 1000;
export const DEFAULT_CONDITION_MEMORY_MB = 64;
export const DEFAULT_CONDITION_WORKERS = 2;

/** What an HTTP check's condition sees, as sent to a worker (the body is parsed there). */
export interface HttpConditionInput {
  kind: "http";
  expression: string;
  /** Errors may quote values of the response (reveal.ts decides; default true). */
  quoteValues?: boolean;
  status: number;
  body: string;
  headers: [string, string][];
}

/** What a Prometheus check's condition sees. */
export interface PrometheusConditionInput {
  kind: "prometheus";
  expression: string;
  quoteValues?: boolean;
  values: number[];
}

/** What a Prometheus check with compareWithStable sees: one value per version. */
export interface RelativeConditionInput {
  kind: "relative";
  expression: string;
  quoteValues?: boolean;
  candidate: number;
  stable: number;
}

/** What a prediction agreement check sees. */
export interface AgreementConditionInput {
  kind: "agreement";
  expression: string;
  quoteValues?: boolean;
  agreement: number;
  agreed: number;
  compared: number;
}

export type ConditionInput =
  HttpConditionInput | PrometheusConditionInput | RelativeConditionInput | AgreementConditionInput;
export type ConditionTask = ConditionInput & { id: number };

/** Evaluates successConditions; never throws. */
export interface ConditionEvaluator {
  evaluate(input: ConditionInput): Promise<ConditionOutcome>;
}

interface Pending {
  task: ConditionTask;
  resolve: (outcome: ConditionOutcome) => void;
}

interface Slot {
  worker: Worker;
  /** The worker has loaded its modules: an evaluation's budget starts only then. */
  ready: boolean;
  running?: { pending: Pending; timer: NodeJS.Timeout };
}

// The worker is a sibling module with this file's own extension (.ts from source, .js built).
const WORKER_URL = new URL(`./condition-worker${extname(fileURLToPath(import.meta.url))}`, import.meta.url);

export class ConditionPool implements ConditionEvaluator {
  readonly #size: number;
  readonly #timeoutMs: number;
  readonly #memoryMb: number;
  readonly #slots: Slot[] = [];
  readonly #waiting: Pending[] = [];
  #nextId = 1;
  #closed = false;
  /** Evaluations stopped at the budget, and workers replaced after one (for tests and logs). */
  terminated = 0;

  constructor(options: ConditionPoolOptions = {}) {
    this.#size = Math.max(1, options.workers ?? DEFAULT_CONDITION_WORKERS);
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_CONDITION_TIMEOUT_MS;
    this.#memoryMb = options.memoryMb ?? DEFAULT_CONDITION_MEMORY_MB;
  }

  get timeoutMs(): number {
    return this.#timeoutMs;
  }

  evaluate(input: ConditionInput): Promise<ConditionOutcome> {
    if (this.#closed) return Promise.resolve({ ok: false, error: "the operator is shutting down" });
    return new Promise((resolve) => {
      this.#waiting.push({ task: { ...input, id: this.#nextId++ }, resolve });
      this.#dispatch();
    });
  }

  /** Terminates every worker; evaluations still waiting or running end with an error. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const pending of this.#waiting.splice(0))
      pending.resolve({ ok: false, error: "the operator is shutting down" });
    await Promise.all(
      this.#slots.splice(0).map(async (slot) => {
        if (slot.running) {
          clearTimeout(slot.running.timer);
          slot.running.pending.resolve({ ok: false, error: "the operator is shutting down" });
        }
        await slot.worker.terminate();
      }),
    );
  }

  #dispatch(): void {
    while (this.#waiting.length > 0) {
      const slot = this.#slots.find((s) => s.ready && !s.running);
      if (!slot) {
        // New workers take the waiting evaluations when they are ready.
        const starting = this.#slots.filter((s) => !s.ready).length;
        for (let n = starting; n < this.#waiting.length && this.#slots.length < this.#size; n++)
          this.#spawn();
        return;
      }
      const pending = this.#waiting.shift()!;
      const timer = setTimeout(
        () => this.#stop(slot, budgetMessage(pending.task, this.#timeoutMs)),
        this.#timeoutMs,
      );
      slot.running = { pending, timer };
      // A running evaluation keeps the process alive; an idle worker does not.
      slot.worker.ref();
      slot.worker.postMessage(pending.task);
    }
  }

  #spawn(): Slot {
    const worker = new Worker(WORKER_URL, {
      resourceLimits: {
        maxOldGenerationSizeMb: this.#memoryMb,
        maxYoungGenerationSizeMb: Math.min(16, this.#memoryMb),
      },
    });
    const slot: Slot = { worker, ready: false };
    worker.on("message", (answer: { ready?: true; id: number; outcome: ConditionOutcome }) => {
      if (answer.ready) {
        slot.ready = true;
        worker.unref();
        this.#dispatch();
        return;
      }
      const running = slot.running;
      if (!running || running.pending.task.id !== answer.id) return;
      clearTimeout(running.timer);
      slot.running = undefined;
      worker.unref();
      running.pending.resolve(answer.outcome);
      this.#dispatch();
    });
    worker.on("error", (err: Error & { code?: string }) => {
      const running = slot.running;
      const message =
        err.code === "ERR_WORKER_OUT_OF_MEMORY"
          ? memoryMessage(running?.pending.task, this.#memoryMb)
          : `successCondition could not be evaluated: ${err.message}`;
      this.#stop(slot, message);
    });
    worker.on("exit", () => {
      // A worker that exits on its own (it should not) is replaced like a terminated one.
      if (this.#slots.includes(slot)) this.#stop(slot, "successCondition evaluation stopped unexpectedly");
    });
    // A starting worker has evaluations waiting for it and keeps the process alive; once
    // ready it is unref'd whenever it is idle.
    this.#slots.push(slot);
    return slot;
  }

  /** Ends the slot's evaluation with `message`, terminates its worker and lets a new one take its place. */
  #stop(slot: Slot, message: string): void {
    const index = this.#slots.indexOf(slot);
    if (index < 0) return;
    this.#slots.splice(index, 1);
    const running = slot.running;
    slot.running = undefined;
    if (running) {
      clearTimeout(running.timer);
      running.pending.resolve({ ok: false, error: message });
      this.terminated++;
    }
    void slot.worker.terminate();
    if (!slot.ready && !running) {
      // It never started: do not start another one for the same evaluations in a loop.
      for (const pending of this.#waiting.splice(0))
        pending.resolve({ ok: false, error: `successCondition could not be evaluated: ${message}` });
      return;
    }
    if (!this.#closed) this.#dispatch();
  }
}

function budgetMessage(task: ConditionTask, timeoutMs: number): string {
  return (
    `successCondition \`${task.expression}\` was stopped: its evaluation exceeded the budget of ${formatMs(timeoutMs)} ` +
    `(the platform's --check-condition-timeout); make it cheaper, e.g. avoid nested comprehensions over the response`
  );
}

function memoryMessage(task: ConditionTask | undefined, memoryMb: number): string {
  const what = task ? `successCondition \`${task.expression}\`` : "successCondition";
  return `${what} was stopped: its evaluation exceeded the memory budget of ${memoryMb} MiB (the platform's --check-condition-memory)`;
}

let shared: ConditionPool | undefined;

/** A pool with the default budget, for callers that were given none (tools, tests). */
export function defaultConditionPool(): ConditionPool {
  shared ??= new ConditionPool();
  return shared;
}
