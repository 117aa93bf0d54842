// The operator's Prometheus metrics, in one registry of their own (no global state), with
// the Node.js process and event-loop metrics. Served on /metrics by probes.ts.
//
// The controller, work-queue, API-client and leader-election series carry the names that
// controller-runtime (Go) operators export, so the dashboards and alerts written for
// those work unchanged:
//   controller_runtime_reconcile_total{controller,result}   result: success, error, requeue, requeue_after
//   controller_runtime_reconcile_errors_total{controller}
//   controller_runtime_reconcile_time_seconds{controller}
//   controller_runtime_max_concurrent_reconciles{controller}, controller_runtime_active_workers{controller}
//   workqueue_depth / _adds_total / _retries_total / _queue_duration_seconds /
//     _work_duration_seconds / _unfinished_work_seconds / _longest_running_processor_seconds {name}
//   rest_client_requests_total{code,method}
//   leader_election_master_status{name}
//
// The rollout series start with model_rollout_. Per-ModelDeployment series carry
// {namespace, name}; forgetModelDeployment() removes them when the object is deleted, so
// deleted objects do not linger in dashboards.
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import type { ModelDeploymentStatus } from "../api/types.ts";
import type { Priority, QueueObserver } from "../controller/queue.ts";
import { trafficOf } from "../plan/tracks.ts";
import { finishedRollouts, type FinishedRollout } from "./finished-rollouts.ts";
import { collectProcessMetrics } from "./process-metrics.ts";

export const METRIC_PREFIX = "model_rollout_";

/** controller-runtime's result label values. requeue_after: a planned wait (pause, next measurement). */
export const RECONCILE_RESULTS = ["success", "error", "requeue", "requeue_after"] as const;
export type ReconcileResult = (typeof RECONCILE_RESULTS)[number];

/** Buckets of the reconcile duration histogram, in seconds (5 ms .. 60 s). */
export const RECONCILE_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/** client-go's work-queue buckets: 10 ns .. 1000 s, times ten each. */
export const WORKQUEUE_BUCKETS = Array.from({ length: 12 }, (_, i) =>
  Number((1e-8 * 10 ** i).toPrecision(1)),
);

/** Buckets of the rollout duration histogram, in seconds (10 s .. 6 h). */
export const ROLLOUT_BUCKETS = [10, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600];

export interface MetricsOptions {
  /** Collect Node.js process metrics (CPU, memory, event loop lag, GC...). Default true. */
  processMetrics?: boolean;
  /** The leader-election Lease name: the `name` label of leader_election_master_status. */
  leaderElectionId?: string;
  /** Milliseconds since the epoch; for tests (default Date.now). */
  now?: () => number;
}

/** The work-queue series of one queue, plus what the queue itself cannot tell. */
export interface QueueMetrics extends QueueObserver {
  /**
   * A worker took `key`, at `priority`, and starts on it: observes how long it waited in
   * the queue (by priority: whether users' changes wait is the question when the queue is
   * long). Returns the function to call when the work is done (observes the work duration).
   */
  started(key: string, priority: Priority): () => void;
}

type MdLabels = "namespace" | "name";

export class OperatorMetrics {
  readonly registry = new Registry();

  readonly reconcileTotal: Counter<"controller" | "result">;
  readonly reconcileErrors: Counter<"controller">;
  readonly reconcileDuration: Histogram<"controller">;
  readonly maxConcurrentReconciles: Gauge<"controller">;
  readonly activeWorkers: Gauge<"controller">;
  readonly queueDepth: Gauge<"name">;
  readonly queueAdds: Counter<"name">;
  readonly queueRetries: Counter<"name">;
  readonly queueDuration: Histogram<"name" | "priority">;
  readonly workDuration: Histogram<"name">;
  readonly unfinishedWork: Gauge<"name">;
  readonly longestRunningProcessor: Gauge<"name">;
  readonly restClientRequests: Counter<"code" | "method">;
  readonly rateLimiterWait: Histogram;
  readonly leader: Gauge<"name">;

  readonly rolloutPhase: Gauge<MdLabels | "phase">;
  readonly rolloutInfo: Gauge<MdLabels | "stable_version" | "candidate_version">;
  readonly trafficWeight: Gauge<MdLabels | "version">;
  readonly candidateWeight: Gauge<MdLabels>;
  readonly healthCheckResult: Gauge<MdLabels | "check" | "phase">;
  readonly healthCheckMeasurements: Counter<MdLabels | "check" | "phase">;
  readonly rollouts: Counter<MdLabels | "outcome">;
  readonly rolloutDuration: Histogram<"outcome">;
  readonly rollbacks: Counter<MdLabels | "reason">;
  readonly notificationDeliveries: Counter<"destination" | "result">;
  readonly notificationQueue: Gauge<"destination">;

  readonly #now: () => number;
  readonly #leaseName: string;
  /** Per queue: when each waiting key was added, and when each key in work started. */
  readonly #queues = new Map<string, { addedAt: Map<string, number>; startedAt: Map<string, number>[] }>();
  /** Per ModelDeployment (namespace/name): the label sets of its series, to remove them. */
  readonly #phases = new Map<string, string>();
  readonly #info = new Map<string, [string, string]>();
  readonly #versions = new Map<string, Set<string>>();
  readonly #checkResults = new Map<string, Map<string, string>>();
  readonly #measurementLabels = new Map<string, Set<string>>();
  readonly #rolloutOutcomes = new Map<string, Set<string>>();
  readonly #rollbackReasons = new Map<string, Set<string>>();

  // Long but better whole: 23 metric definitions in a row, each read on its own; parts would only add jumps.
  constructor(options: MetricsOptions = {}) {
    const registers = [this.registry];
    const p = METRIC_PREFIX;
    this.#now = options.now ?? Date.now;
    this.#leaseName = options.leaderElectionId ?? "model-rollout-operator";

    this.reconcileTotal = new Counter({
      name: "controller_runtime_reconcile_total",
      help: "Total number of reconciliations per controller, by result: success, error (retried with backoff), requeue, requeue_after (a planned wait).",
      labelNames: ["controller", "result"],
      registers,
    });
    this.reconcileErrors = new Counter({
      name: "controller_runtime_reconcile_errors_total",
      help: "Total number of reconciliation errors per controller.",
      labelNames: ["controller"],
      registers,
    });
    this.reconcileDuration = new Histogram({
      name: "controller_runtime_reconcile_time_seconds",
      help: "Length of time per reconciliation per controller, health-check measurements included.",
      labelNames: ["controller"],
      buckets: RECONCILE_BUCKETS,
      registers,
    });
    this.maxConcurrentReconciles = new Gauge({
      name: "controller_runtime_max_concurrent_reconciles",
      help: "Maximum number of concurrent reconciles per controller (--workers).",
      labelNames: ["controller"],
      registers,
    });
    this.activeWorkers = new Gauge({
      name: "controller_runtime_active_workers",
      help: "Number of currently used workers per controller.",
      labelNames: ["controller"],
      registers,
    });

    this.queueDepth = new Gauge({
      name: "workqueue_depth",
      help: "Current depth of workqueue: keys waiting to be reconciled.",
      labelNames: ["name"],
      registers,
    });
    this.queueAdds = new Counter({
      name: "workqueue_adds_total",
      help: "Total number of adds handled by workqueue (adds of a key that was already waiting are merged and not counted).",
      labelNames: ["name"],
      registers,
    });
    this.queueRetries = new Counter({
      name: "workqueue_retries_total",
      help: "Total number of retries handled by workqueue: keys re-queued with backoff after a failed reconcile.",
      labelNames: ["name"],
      registers,
    });
    this.queueDuration = new Histogram({
      name: "workqueue_queue_duration_seconds",
      help: "How long in seconds an item stays in workqueue before being requested, by the priority it was taken at (high: a user's change; normal: a rollout's progress; low: relists and passing measurements).",
      labelNames: ["name", "priority"],
      buckets: WORKQUEUE_BUCKETS,
      registers,
    });
    this.workDuration = new Histogram({
      name: "workqueue_work_duration_seconds",
      help: "How long in seconds processing an item from workqueue takes.",
      labelNames: ["name"],
      buckets: WORKQUEUE_BUCKETS,
      registers,
    });
    const queues = this.#queues;
    const now = this.#now;
    this.unfinishedWork = new Gauge({
      name: "workqueue_unfinished_work_seconds",
      help: "How many seconds of work has been done that is in progress and hasn't been observed by work_duration.",
      labelNames: ["name"],
      registers,
      collect() {
        for (const [name, q] of queues) {
          let total = 0;
          for (const started of q.startedAt.flatMap((m) => [...m.values()])) total += now() - started;
          this.set({ name }, total / 1000);
        }
      },
    });
    this.longestRunningProcessor = new Gauge({
      name: "workqueue_longest_running_processor_seconds",
      help: "How many seconds has the longest running processor for workqueue been running.",
      labelNames: ["name"],
      registers,
      collect() {
        for (const [name, q] of queues) {
          let longest = 0;
          for (const started of q.startedAt.flatMap((m) => [...m.values()]))
            longest = Math.max(longest, now() - started);
          this.set({ name }, longest / 1000);
        }
      },
    });

    this.restClientRequests = new Counter({
      name: "rest_client_requests_total",
      help: "Number of HTTP requests to the API server, partitioned by status code (0: no answer) and method.",
      labelNames: ["code", "method"],
      registers,
    });
    this.rateLimiterWait = new Histogram({
      name: "rest_client_rate_limiter_duration_seconds",
      help: "How long requests to the API server waited for the client-side rate limit (--kube-api-qps, --kube-api-burst).",
      buckets: [0.005, 0.025, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60],
      registers,
    });
    this.leader = new Gauge({
      name: "leader_election_master_status",
      help: "1 while this replica is the leader (or leader election is off), 0 on a standby.",
      labelNames: ["name"],
      registers,
    });
    this.leader.set({ name: this.#leaseName }, 0);

    this.rolloutPhase = new Gauge({
      name: `${p}phase`,
      help: "1 for the current status.phase of each ModelDeployment (Progressing, Paused, Healthy, Degraded).",
      labelNames: ["namespace", "name", "phase"],
      registers,
    });
    this.rolloutInfo = new Gauge({
      name: `${p}info`,
      help: "1, with the stable and candidate version of each ModelDeployment as labels (candidate_version empty when nothing rolls out).",
      labelNames: ["namespace", "name", "stable_version", "candidate_version"],
      registers,
    });
    this.trafficWeight = new Gauge({
      name: `${p}traffic_weight_percent`,
      help: "Percent of client traffic each version receives (status.traffic).",
      labelNames: ["namespace", "name", "version"],
      registers,
    });
    this.candidateWeight = new Gauge({
      name: `${p}candidate_weight_percent`,
      help: "Percent of client traffic the candidate version receives; absent when nothing rolls out.",
      labelNames: ["namespace", "name"],
      registers,
    });
    this.healthCheckResult = new Gauge({
      name: `${p}health_check_result`,
      help: "1 for the last result of each health check (status.checks): Pending, Successful, Failed or Error.",
      labelNames: ["namespace", "name", "check", "phase"],
      registers,
    });
    this.healthCheckMeasurements = new Counter({
      name: `${p}health_check_measurements_total`,
      help: "Health-check measurements by check and result (Successful, Failed, Error).",
      labelNames: ["namespace", "name", "check", "phase"],
      registers,
    });
    this.notificationDeliveries = new Counter({
      name: `${p}notification_deliveries_total`,
      help: "Notification deliveries by destination and result: delivered, failed (one attempt that will be retried or given up), dropped (given up).",
      labelNames: ["destination", "result"],
      registers,
    });
    this.notificationQueue = new Gauge({
      name: `${p}notification_queue`,
      help: "Notifications waiting for, or being sent to, each destination.",
      labelNames: ["destination"],
      registers,
    });
    this.rollouts = new Counter({
      name: `${p}rollouts_total`,
      help: "Rollouts that ended, by outcome (Promoted, RolledBack, Aborted, Superseded, Reverted).",
      labelNames: ["namespace", "name", "outcome"],
      registers,
    });
    this.rolloutDuration = new Histogram({
      name: `${p}rollout_duration_seconds`,
      help: "Time from the start of a rollout to its end, by outcome.",
      labelNames: ["outcome"],
      buckets: ROLLOUT_BUCKETS,
      registers,
    });
    this.rollbacks = new Counter({
      name: `${p}rollbacks_total`,
      help: "Automatic rollbacks by reason (HealthCheckFailed, ProgressDeadlineExceeded).",
      labelNames: ["namespace", "name", "reason"],
      registers,
    });
    if (options.processMetrics ?? true) collectProcessMetrics(this.registry);
  }

  /** Counts one reconcile and its duration in seconds; an error also counts as a reconcile error. */
  observeReconcile(controller: string, result: ReconcileResult, seconds: number): void {
    this.reconcileTotal.inc({ controller, result });
    if (result === "error") this.reconcileErrors.inc({ controller });
    this.reconcileDuration.observe({ controller }, seconds);
  }

  /** The number of workers of a controller (controller_runtime_max_concurrent_reconciles). */
  setWorkers(controller: string, workers: number): void {
    this.maxConcurrentReconciles.set({ controller }, workers);
    this.activeWorkers.set({ controller }, 0);
    for (const result of RECONCILE_RESULTS) this.reconcileTotal.inc({ controller, result }, 0);
    this.reconcileErrors.inc({ controller }, 0);
  }

  /** A worker of `controller` starts; returns the function to call when it is done. */
  workerStarted(controller: string): () => void {
    this.activeWorkers.inc({ controller });
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.activeWorkers.dec({ controller });
    };
  }

  /** The QueueObserver of queue `name` (give it to the WorkQueue) with started() for the workers. */
  queueObserver(name: string): QueueMetrics {
    this.queueDepth.set({ name }, 0);
    this.queueAdds.inc({ name }, 0);
    this.queueRetries.inc({ name }, 0);
    const addedAt = new Map<string, number>();
    const inWork = new Map<string, number>();
    let state = this.#queues.get(name);
    if (!state) this.#queues.set(name, (state = { addedAt, startedAt: [] }));
    state.startedAt.push(inWork);
    return {
      added: (key) => {
        this.queueAdds.inc({ name });
        if (!addedAt.has(key)) addedAt.set(key, this.#now());
      },
      retried: () => this.queueRetries.inc({ name }),
      depthChanged: (depth) => this.queueDepth.set({ name }, depth),
      started: (key, priority) => {
        const now = this.#now();
        const at = addedAt.get(key);
        addedAt.delete(key);
        if (at !== undefined) this.queueDuration.observe({ name, priority }, Math.max(0, now - at) / 1000);
        inWork.set(key, now);
        let done = false;
        return () => {
          if (done) return;
          done = true;
          inWork.delete(key);
          this.workDuration.observe({ name }, Math.max(0, this.#now() - now) / 1000);
        };
      },
    };
  }

  /** One request to the API server: its method and status code (0 when no answer came). */
  countRequest(method: string, code: number): void {
    this.restClientRequests.inc({ method: method.toUpperCase(), code: String(code) });
  }

  /** A request waited `waitMs` for the client-side rate limit (0: it went at once). */
  observeRateLimiterWait(waitMs: number): void {
    this.rateLimiterWait.observe(waitMs / 1000);
  }

  setLeader(leading: boolean): void {
    this.leader.set({ name: this.#leaseName }, leading ? 1 : 0);
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

  /**
   * Sets every gauge of a ModelDeployment from its status: phase, versions, traffic weight
   * per version, the last result of each health check. Series that no longer apply go.
   */
  observeStatus(namespace: string, name: string, status: ModelDeploymentStatus | undefined): void {
    const key = `${namespace}/${name}`;
    this.setRolloutPhase(namespace, name, status?.phase);

    const info: [string, string] = [status?.stableVersion ?? "", status?.candidateVersion ?? ""];
    const oldInfo = this.#info.get(key);
    if (oldInfo && (oldInfo[0] !== info[0] || oldInfo[1] !== info[1]))
      this.rolloutInfo.remove({ namespace, name, stable_version: oldInfo[0], candidate_version: oldInfo[1] });
    if (info[0] || info[1]) {
      this.rolloutInfo.set({ namespace, name, stable_version: info[0], candidate_version: info[1] }, 1);
      this.#info.set(key, info);
    } else this.#info.delete(key);

    // Two revisions of one version (a new pod template rolling out) add up under that version.
    const weights = new Map<string, number>();
    for (const t of status?.traffic ?? []) weights.set(t.version, (weights.get(t.version) ?? 0) + t.weight);
    const versions = new Set(weights.keys());
    for (const [version, weight] of weights) this.trafficWeight.set({ namespace, name, version }, weight);
    for (const v of this.#versions.get(key) ?? [])
      if (!versions.has(v)) this.trafficWeight.remove({ namespace, name, version: v });
    this.#versions.set(key, versions);

    if (status?.candidateVersion) {
      const w = trafficOf(status.traffic, status.candidateVersion, status.candidateRevision)?.weight;
      this.setCandidateWeight(namespace, name, w ?? status.candidateWeight ?? 0);
    } else this.setCandidateWeight(namespace, name, undefined);

    const results = new Map<string, string>();
    for (const c of status?.checks ?? []) results.set(c.name, c.phase);
    const oldResults = this.#checkResults.get(key) ?? new Map<string, string>();
    for (const [check, phase] of oldResults)
      if (results.get(check) !== phase) this.healthCheckResult.remove({ namespace, name, check, phase });
    for (const [check, phase] of results) this.healthCheckResult.set({ namespace, name, check, phase }, 1);
    this.#checkResults.set(key, results);
  }

  /**
   * Counts the rollouts that ended from `previous` to `next` status (new history entries)
   * by outcome, and their durations. Returns them.
   */
  observeTransition(
    namespace: string,
    name: string,
    previous: ModelDeploymentStatus | undefined,
    next: ModelDeploymentStatus | undefined,
  ): FinishedRollout[] {
    const finished = finishedRollouts(previous, next);
    for (const f of finished) this.countRollout(namespace, name, f.outcome, f.seconds);
    return finished;
  }

  /** One rollout ended with `outcome`, after `seconds` when known. */
  countRollout(namespace: string, name: string, outcome: string, seconds?: number): void {
    this.rollouts.inc({ namespace, name, outcome });
    remember(this.#rolloutOutcomes, `${namespace}/${name}`, outcome);
    if (seconds !== undefined) this.rolloutDuration.observe({ outcome }, seconds);
  }

  countHealthCheckMeasurement(namespace: string, name: string, check: string, phase: string): void {
    this.healthCheckMeasurements.inc({ namespace, name, check, phase });
    remember(this.#measurementLabels, `${namespace}/${name}`, JSON.stringify([check, phase]));
  }

  countNotification(destination: string, result: "delivered" | "failed" | "dropped"): void {
    this.notificationDeliveries.inc({ destination, result });
  }

  setNotificationQueue(destination: string, length: number): void {
    this.notificationQueue.set({ destination }, length);
  }

  countRollback(namespace: string, name: string, reason: string): void {
    this.rollbacks.inc({ namespace, name, reason });
    remember(this.#rollbackReasons, `${namespace}/${name}`, reason);
  }

  /** Removes every series of a deleted ModelDeployment. */
  forgetModelDeployment(namespace: string, name: string): void {
    const key = `${namespace}/${name}`;
    this.observeStatus(namespace, name, undefined);
    this.#versions.delete(key);
    this.#checkResults.delete(key);
    for (const labels of this.#measurementLabels.get(key) ?? []) {
      const [check, phase] = JSON.parse(labels) as [string, string];
      this.healthCheckMeasurements.remove({ namespace, name, check, phase });
    }
    this.#measurementLabels.delete(key);
    for (const outcome of this.#rolloutOutcomes.get(key) ?? [])
      this.rollouts.remove({ namespace, name, outcome });
    this.#rolloutOutcomes.delete(key);
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
