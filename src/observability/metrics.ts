// The operator's Prometheus metrics, in one registry of their own (no global state), with
// the Node.js process metrics. Served on /metrics by probes.ts.
//
// Per-ModelDeployment series carry {namespace, name}; forgetModelDeployment() removes
// them when the object is deleted, so deleted objects do not linger in dashboards.
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import type { QueueObserver } from "../controller/queue.ts";

export const METRIC_PREFIX = "model_rollout_";

export const RECONCILE_RESULTS = ["success", "error", "requeue"] as const;
export type ReconcileResult = (typeof RECONCILE_RESULTS)[number];

/** Buckets of the reconcile duration histogram, in seconds (5 ms .. 60 s). */
export const RECONCILE_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

export interface MetricsOptions {
  /** Collect Node.js process metrics (CPU, memory, event loop lag, GC...). Default true. */
  processMetrics?: boolean;
}

export class OperatorMetrics {
  readonly registry = new Registry();

  readonly reconcileTotal: Counter<"controller" | "result">;
  readonly reconcileDuration: Histogram<"controller">;
  readonly queueDepth: Gauge<"name">;
  readonly queueAdds: Counter<"name">;
  readonly queueRetries: Counter<"name">;
  readonly leader: Gauge;
  readonly rolloutPhase: Gauge<"namespace" | "name" | "phase">;
  readonly candidateWeight: Gauge<"namespace" | "name">;
  readonly healthCheckMeasurements: Counter<"namespace" | "name" | "check" | "phase">;
  readonly rollbacks: Counter<"namespace" | "name" | "reason">;

  /** Per ModelDeployment (namespace/name): its phase series and the label sets of its counters. */
  readonly #phases = new Map<string, string>();
  readonly #measurementLabels = new Map<string, Set<string>>();
  readonly #rollbackReasons = new Map<string, Set<string>>();

  constructor(options: MetricsOptions = {}) {
    const registers = [this.registry];
    const p = METRIC_PREFIX;
    this.reconcileTotal = new Counter({
      name: `${p}reconcile_total`,
      help: "Reconciles by controller and result: success, error (will retry with backoff) or requeue (planned wait).",
      labelNames: ["controller", "result"],
      registers,
    });
    this.reconcileDuration = new Histogram({
      name: `${p}reconcile_duration_seconds`,
      help: "Time one reconcile took, health-check measurements included.",
      labelNames: ["controller"],
      buckets: RECONCILE_BUCKETS,
      registers,
    });
    this.queueDepth = new Gauge({
      name: `${p}workqueue_depth`,
      help: "Keys waiting in the work queue to be reconciled.",
      labelNames: ["name"],
      registers,
    });
    this.queueAdds = new Counter({
      name: `${p}workqueue_adds_total`,
      help: "Keys put on the work queue (adds of a key that was already waiting are not counted).",
      labelNames: ["name"],
      registers,
    });
    this.queueRetries = new Counter({
      name: `${p}workqueue_retries_total`,
      help: "Keys re-queued with backoff after a failed reconcile.",
      labelNames: ["name"],
      registers,
    });
    this.leader = new Gauge({
      name: `${p}leader`,
      help: "1 while this replica is the leader (or leader election is off), 0 on a standby.",
      registers,
    });
    this.rolloutPhase = new Gauge({
      name: `${p}phase`,
      help: "1 for the current status.phase of each ModelDeployment (Progressing, Paused, Healthy, Degraded).",
      labelNames: ["namespace", "name", "phase"],
      registers,
    });
    this.candidateWeight = new Gauge({
      name: `${p}candidate_weight_percent`,
      help: "Percent of client traffic the candidate version receives (status.traffic); absent when nothing rolls out.",
      labelNames: ["namespace", "name"],
      registers,
    });
    this.healthCheckMeasurements = new Counter({
      name: `${p}health_check_measurements_total`,
      help: "Health-check measurements by check and phase (Successful, Failed, Error).",
      labelNames: ["namespace", "name", "check", "phase"],
      registers,
    });
    this.rollbacks = new Counter({
      name: `${p}rollbacks_total`,
      help: "Automatic rollbacks by reason (HealthCheckFailed, ProgressDeadlineExceeded).",
      labelNames: ["namespace", "name", "reason"],
      registers,
    });
    if (options.processMetrics ?? true) collectDefaultMetrics({ register: this.registry });
  }

  /** Counts one reconcile and its duration in seconds. */
  observeReconcile(controller: string, result: ReconcileResult, seconds: number): void {
    this.reconcileTotal.inc({ controller, result });
    this.reconcileDuration.observe({ controller }, seconds);
  }

  /** A QueueObserver that feeds the work-queue series of queue `name`. */
  queueObserver(name: string): QueueObserver {
    this.queueDepth.set({ name }, 0);
    this.queueAdds.inc({ name }, 0);
    this.queueRetries.inc({ name }, 0);
    return {
      added: () => this.queueAdds.inc({ name }),
      retried: () => this.queueRetries.inc({ name }),
      depthChanged: (depth) => this.queueDepth.set({ name }, depth),
    };
  }

  setLeader(leading: boolean): void {
    this.leader.set(leading ? 1 : 0);
  }

  /** Sets the phase series of a ModelDeployment to `phase` (the previous phase's series goes away). */
  setRolloutPhase(namespace: string, name: string, phase: string | undefined): void {
    const key = `${namespace}/${name}`;
    const previous = this.#phases.get(key);
    if (previous !== undefined && previous !== phase)
      this.rolloutPhase.remove({ namespace, name, phase: previous });
    if (phase === undefined || phase === "") {
      this.#phases.delete(key);
      return;
    }
    this.rolloutPhase.set({ namespace, name, phase }, 1);
    this.#phases.set(key, phase);
  }

  /** The candidate's traffic weight in percent; undefined removes the series (nothing rolls out). */
  setCandidateWeight(namespace: string, name: string, percent: number | undefined): void {
    if (percent === undefined) this.candidateWeight.remove({ namespace, name });
    else this.candidateWeight.set({ namespace, name }, percent);
  }

  countHealthCheckMeasurement(namespace: string, name: string, check: string, phase: string): void {
    this.healthCheckMeasurements.inc({ namespace, name, check, phase });
    remember(this.#measurementLabels, `${namespace}/${name}`, JSON.stringify([check, phase]));
  }

  countRollback(namespace: string, name: string, reason: string): void {
    this.rollbacks.inc({ namespace, name, reason });
    remember(this.#rollbackReasons, `${namespace}/${name}`, reason);
  }

  /** Removes every series of a deleted ModelDeployment. */
  forgetModelDeployment(namespace: string, name: string): void {
    const key = `${namespace}/${name}`;
    this.setRolloutPhase(namespace, name, undefined);
    this.candidateWeight.remove({ namespace, name });
    for (const labels of this.#measurementLabels.get(key) ?? []) {
      const [check, phase] = JSON.parse(labels) as [string, string];
      this.healthCheckMeasurements.remove({ namespace, name, check, phase });
    }
    this.#measurementLabels.delete(key);
    for (const reason of this.#rollbackReasons.get(key) ?? [])
      this.rollbacks.remove({ namespace, name, reason });
    this.#rollbackReasons.delete(key);
  }

  /** The exposition text and its content type, for GET /metrics. */
  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}

function remember(map: Map<string, Set<string>>, key: string, value: string): void {
  let set = map.get(key);
  if (!set) map.set(key, (set = new Set()));
  set.add(value);
}
