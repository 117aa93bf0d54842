// Health checks are measured here, beside the work queue, never inside a reconcile: a
// reconcile hands over the checks the planner says are due and takes back the
// measurements that are done; each finished measurement puts its ModelDeployment's key on
// the queue again, and that reconcile merges it. So a check that answers in 5 s occupies
// no worker for 5 s, and an unrelated ModelDeployment's change is reconciled at once.
//
// What runs at once is bounded: in total, per destination (host:port), and per
// ModelDeployment by taking the waiting measurements of the ModelDeployments in turn,
// so one with many checks cannot starve the others.
//
// Nothing here is the truth: a measurement is only kept in memory until a reconcile takes
// it; status holds what was merged. A restarted operator measures again what is due.
import type { ModelDeployment } from "../api/types.ts";
import { findTrackDeployment } from "../plan/tracks.ts";
import type { DueCheck, Measurement, Observed } from "../plan/types.ts";

export interface MeasurerOptions {
  /** Takes one measurement; must not throw (the providers never do). */
  measure: (due: DueCheck) => Promise<Measurement>;
  /** A measurement of `key` is ready: reconcile it (the measurement says how urgent that is). */
  onMeasured: (key: string, measurement: Measurement) => void;
  /** Measurements in flight at once, in total (default 64). */
  maxConcurrent?: number;
  /** Measurements in flight at once against one destination, host:port (default 8). */
  maxPerDestination?: number;
}

export const DEFAULT_MAX_CONCURRENT_CHECKS = 64;
export const DEFAULT_MAX_CHECKS_PER_DESTINATION = 8;

interface Job {
  key: string;
  id: string;
  due: DueCheck;
  destination: string;
}

/** What a reconcile gets back from take(). */
export interface Taken {
  /** Finished measurements of checks that are due now, for the planner. */
  measurements: Measurement[];
  /** Due checks still waiting or in flight: a measurement will come back as a new reconcile. */
  pending: number;
}

/** Where a check connects: host:port of its URL or Prometheus address. */
export function destinationOf(due: DueCheck): string {
  const target = due.check.prometheus ? due.check.prometheus.address : due.url;
  if (!target) return "";
  try {
    const u = new URL(target);
    return `${u.hostname}:${u.port || (u.protocol === "https:" ? "443" : "80")}`;
  } catch {
    return target;
  }
}

export class Measurer {
  readonly #o: Required<MeasurerOptions>;
  /** Waiting measurements by key; keys in the order they are served (round robin). */
  readonly #waiting = new Map<string, Job[]>();
  /** ids in flight, by key. */
  readonly #inFlight = new Map<string, Set<string>>();
  readonly #perDestination = new Map<string, number>();
  #running = 0;
  /** Finished measurements by key and id, until a reconcile takes them. */
  readonly #done = new Map<string, Map<string, Measurement>>();
  #closed = false;
  /** When each ModelDeployment last had a measurement started (a counter), for taking turns. */
  readonly #lastServed = new Map<string, number>();
  #turn = 0;

  constructor(options: MeasurerOptions) {
    this.#o = {
      maxConcurrent: DEFAULT_MAX_CONCURRENT_CHECKS,
      maxPerDestination: DEFAULT_MAX_CHECKS_PER_DESTINATION,
      ...options,
    };
  }

  /** Measurements in flight now (for tests and metrics). */
  get running(): number {
    return this.#running;
  }

  /**
   * Hands over the checks due for `key` and takes back those measured. `context` names the
   * state the checks are due in (the rollout, its step, the candidate's readiness): a
   * measurement started in another state is dropped and the check measured again, so the
   * planner never counts a measurement for a step it was not taken in. Waiting
   * measurements of checks that are no longer due are cancelled, and finished ones
   * dropped.
   */
  take(key: string, due: readonly DueCheck[], context: string): Taken {
    const ids = due.map((d) => identity(d, context));
    const done = this.#done.get(key);
    const measurements: Measurement[] = [];
    let pending = 0;
    const waiting = this.#waiting.get(key) ?? [];
    const inFlight = this.#inFlight.get(key);
    const wanted = new Set(ids);
    // Waiting measurements that are no longer wanted never start.
    const keep = waiting.filter((job) => wanted.has(job.id));
    due.forEach((d, i) => {
      const id = ids[i]!;
      const m = done?.get(id);
      if (m) {
        measurements.push(m);
        return;
      }
      pending++;
      if (inFlight?.has(id) || keep.some((job) => job.id === id)) return;
      keep.push({ key, id, due: d, destination: destinationOf(d) });
    });
    // A finished measurement is handed over as long as its check is due: a reconcile that
    // fails (the API server away) gets it again after its backoff, instead of a new
    // measurement asking for an immediate reconcile. Once merged, its check is no longer
    // due, and it is dropped here with those of checks no longer wanted.
    if (done) {
      for (const id of [...done.keys()]) if (!wanted.has(id)) done.delete(id);
      if (done.size === 0) this.#done.delete(key);
    }
    if (keep.length > 0) this.#waiting.set(key, keep);
    else this.#waiting.delete(key);
    this.#pump();
    return { measurements, pending };
  }

  /**
   * These finished measurements of `key` were merged and kept where the next reconcile
   * plans from (check-report.ts holds a passing result in memory): they are not handed over
   * again, so the check's next due time starts a new measurement.
   */
  settle(key: string, measurements: readonly Measurement[]): void {
    const done = this.#done.get(key);
    if (!done) return;
    for (const [id, m] of [...done]) if (measurements.includes(m)) done.delete(id);
    if (done.size === 0) this.#done.delete(key);
  }

  /** The ModelDeployment is gone: drop what waits for it and what comes back. */
  forget(key: string): void {
    this.#lastServed.delete(key);
    this.#waiting.delete(key);
    this.#done.delete(key);
    this.#inFlight.delete(key);
  }

  /** Stops starting measurements; those in flight end unseen. */
  close(): void {
    this.#closed = true;
    this.#waiting.clear();
    this.#done.clear();
  }

  #pump(): void {
    if (this.#closed) return;
    // The next measurement goes to the ModelDeployment served longest ago (never served:
    // first), among those with a measurement whose destination has room.
    while (this.#running < this.#o.maxConcurrent) {
      let best: { key: string; jobs: Job[]; index: number; served: number } | undefined;
      for (const [key, jobs] of this.#waiting) {
        const served = this.#lastServed.get(key) ?? 0;
        if (best && served >= best.served) continue;
        const index = jobs.findIndex(
          (job) => (this.#perDestination.get(job.destination) ?? 0) < this.#o.maxPerDestination,
        );
        if (index >= 0) best = { key, jobs, index, served };
      }
      if (!best) return;
      const [job] = best.jobs.splice(best.index, 1);
      if (best.jobs.length === 0) this.#waiting.delete(best.key);
      this.#lastServed.set(best.key, ++this.#turn);
      this.#start(job!);
    }
  }

  #start(job: Job): void {
    this.#running++;
    this.#perDestination.set(job.destination, (this.#perDestination.get(job.destination) ?? 0) + 1);
    let inFlight = this.#inFlight.get(job.key);
    if (!inFlight) this.#inFlight.set(job.key, (inFlight = new Set()));
    inFlight.add(job.id);
    void this.#o.measure(job.due).then(
      (m) => this.#finish(job, m),
      (err: unknown) =>
        this.#finish(job, {
          name: job.due.check.name,
          phase: "Error",
          message: `measuring the check failed unexpectedly: ${err instanceof Error ? err.message : String(err)}`,
          time: new Date().toISOString(),
        }),
    );
  }

  #finish(job: Job, m: Measurement): void {
    this.#running--;
    const left = (this.#perDestination.get(job.destination) ?? 1) - 1;
    if (left > 0) this.#perDestination.set(job.destination, left);
    else this.#perDestination.delete(job.destination);
    const inFlight = this.#inFlight.get(job.key);
    const wanted = inFlight?.delete(job.id) ?? false;
    if (inFlight?.size === 0) this.#inFlight.delete(job.key);
    if (!this.#closed && wanted) {
      let done = this.#done.get(job.key);
      if (!done) this.#done.set(job.key, (done = new Map()));
      done.set(job.id, m);
      this.#o.onMeasured(job.key, m);
    }
    this.#pump();
  }
}

/** A due check in its state: the check as written with its targets filled, and the context. */
function identity(due: DueCheck, context: string): string {
  return JSON.stringify([
    context,
    due.check,
    due.url,
    due.body,
    due.query,
    due.stable,
    due.timeoutMs,
    due.vars,
  ]);
}

/**
 * The state due checks are measured in, as take() compares it: the rollout (version,
 * revision, start), its step and the step's readiness, and how much of the candidate is
 * available and ready behind the clients' Service. A measurement started in one state
 * is not handed to a plan in another.
 */
export function computeMeasureContext(md: ModelDeployment, observed: Observed): string {
  const r = md.status?.rollout;
  if (!r) return "";
  const candidate = findTrackDeployment(observed.deployments, r.version, r.revision);
  let readyEndpoints = 0;
  for (const slice of observed.endpointSlices)
    for (const e of slice.endpoints ?? []) if (e.conditions?.ready) readyEndpoints++;
  return JSON.stringify([
    r.version,
    r.revision,
    r.startedAt,
    r.stepReadyAt,
    md.status?.currentStep,
    candidate?.status?.availableReplicas ?? 0,
    readyEndpoints,
  ]);
}
