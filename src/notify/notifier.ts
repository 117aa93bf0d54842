// Delivers the notifications a ModelDeployment's status holds (status.pendingNotifications)
// beside the work queue: a reconcile only hands the written status over (offer, which never
// waits) and reads back what is settled, so a slow or dead destination never holds a
// reconcile up. Status is the outbox: this class keeps nothing that a restart would lose
// (what it has in memory is rebuilt from the next reconcile's status).
//
// Per destination one request at a time (its queue bounded by maxQueuePerDestination), each
// attempt bounded by the destination's timeout, failed attempts retried with exponential
// backoff (1 s, 2 s, 4 s ... at most 60 s, with jitter) up to the destination's maxAttempts.
// Every attempt's URL is judged by the platform's destination policy as written, and each
// address it resolves to when it connects (the health checks' fetch, dial.ts), so a destination
// cannot reach what the platform forbids. A failure is a metric, and an Event through the
// reconcile (takeReports); the URL of a urlFile (it holds a token) is never in a message.
import type { ModelDeployment } from "../api/types.ts";
import type { CredentialFiles } from "../health/credential-files.ts";
import { destinationOfUrl, type DestinationPolicyJudge } from "../health/destination-policy.ts";
import type { CheckFetch } from "../health/dial.ts";
import type { PendingNotification, SettledDelivery } from "../plan/notifications.ts";
import type { DestinationRegistry, NotificationDestination } from "./destinations.ts";
import { buildRequest, type NotificationSubject } from "./payloads.ts";

export const DEFAULT_MAX_QUEUE_PER_DESTINATION = 1000;
export const BACKOFF_BASE_MS = 1000;
export const BACKOFF_MAX_MS = 60_000;
/** Most bytes of a response read (and thrown away) before the connection is let go. */
const MAX_RESPONSE_BYTES = 64 * 1024;

export type DeliveryResult = "delivered" | "failed" | "dropped";

export interface NotifierMetrics {
  countNotification(destination: string, result: DeliveryResult): void;
  setNotificationQueue(destination: string, length: number): void;
}

/** What a reconcile turns into an Event. */
export interface DeliveryReport {
  kind: "failed" | "dropped";
  id: string;
  event: string;
  destination: string;
  message: string;
}

export interface NotifierOptions {
  destinations: DestinationRegistry;
  policy: DestinationPolicyJudge;
  send: CheckFetch;
  files: Pick<CredentialFiles, "readText">;
  metrics?: NotifierMetrics;
  /** A delivery of `key` settled or failed: reconcile it (the operator wires it to the queue). */
  onChange: (key: string) => void;
  maxQueuePerDestination?: number;
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  /** For tests: Math.random by default. */
  random?: () => number;
}

interface Job {
  key: string;
  subject: NotificationSubject;
  n: PendingNotification;
  destination: string;
  attempts: number;
  state: "queued" | "sending" | "waiting";
  timer?: ReturnType<typeof setTimeout>;
  /** The reconcile no longer holds it (removed from status by someone else): results are ignored. */
  cancelled?: boolean;
}

interface Outcome {
  /** Permanent: no retry (a policy denial, a 4xx other than 408 and 429, a redirect). */
  permanent?: boolean;
  ok: boolean;
  message: string;
}

const jobId = (key: string, id: string, destination: string) => `${key}\n${id}\n${destination}`;

export class Notifier {
  readonly #o: NotifierOptions;
  readonly #jobs = new Map<string, Job>();
  readonly #queues = new Map<string, string[]>();
  readonly #sending = new Set<string>();
  /** Settled deliveries per key, until a status without them is offered. */
  readonly #settled = new Map<string, Map<string, SettledDelivery>>();
  readonly #reports = new Map<string, DeliveryReport[]>();
  readonly #abort = new AbortController();
  #stopped = false;

  constructor(options: NotifierOptions) {
    this.#o = options;
  }

  /**
   * Hands over the notifications of a status as written. Never waits. Returns how many it
   * could not take now (a destination's queue is full): they stay in status, and the caller
   * offers them again later.
   */
  offer(key: string, md: ModelDeployment): number {
    if (this.#stopped) return 0;
    const pending = md.status?.pendingNotifications ?? [];
    const inStatus = new Set<string>();
    for (const n of pending) for (const d of n.destinations) inStatus.add(jobId(key, n.id, d));
    // Settled deliveries that status no longer holds are done with.
    const settled = this.#settled.get(key);
    if (settled) {
      for (const k of [...settled.keys()]) if (!inStatus.has(k)) settled.delete(k);
      if (settled.size === 0) this.#settled.delete(key);
    }
    // Jobs whose notification left status (pushed out of a full outbox, the object replaced).
    for (const [k, job] of this.#jobs) if (job.key === key && !inStatus.has(k)) this.#cancel(k, job);
    const subject = {
      namespace: md.metadata?.namespace ?? "",
      name: md.metadata?.name ?? "",
      uid: md.metadata?.uid ?? "",
    };
    let rejected = 0;
    for (const n of pending) {
      for (const destination of n.destinations) {
        const k = jobId(key, n.id, destination);
        if (this.#jobs.has(k) || this.#settled.get(key)?.has(k)) continue;
        const d = this.#o.destinations.get(destination);
        if (!d) {
          this.#settle(
            key,
            k,
            n,
            destination,
            "dropped",
            `the platform no longer declares destination ${destination}`,
          );
          continue;
        }
        const queue = this.#queueOf(destination);
        if (queue.length >= (this.#o.maxQueuePerDestination ?? DEFAULT_MAX_QUEUE_PER_DESTINATION)) {
          rejected++;
          continue;
        }
        this.#jobs.set(k, { key, subject, n, destination, attempts: 0, state: "queued" });
        queue.push(k);
        this.#gauge(destination);
      }
    }
    for (const destination of this.#queues.keys()) this.#pump(destination);
    return rejected;
  }

  /** The deliveries of `key` that are done with (delivered, or given up on): the reconcile removes them from status. */
  settled(key: string): SettledDelivery[] {
    return [...(this.#settled.get(key)?.values() ?? [])];
  }

  /** Failures and drops since the last call, for Events. */
  takeReports(key: string): DeliveryReport[] {
    const r = this.#reports.get(key) ?? [];
    this.#reports.delete(key);
    return r;
  }

  /** The ModelDeployment is gone. */
  forget(key: string): void {
    for (const [k, job] of this.#jobs) if (job.key === key) this.#cancel(k, job);
    this.#settled.delete(key);
    this.#reports.delete(key);
  }

  /** Notifications waiting or being sent, for tests and the queue gauge. */
  get size(): number {
    return this.#jobs.size;
  }

  stop(): void {
    this.#stopped = true;
    this.#abort.abort();
    for (const [k, job] of this.#jobs) this.#cancel(k, job);
  }

  #queueOf(destination: string): string[] {
    let q = this.#queues.get(destination);
    if (!q) this.#queues.set(destination, (q = []));
    return q;
  }

  #gauge(destination: string): void {
    let n = 0;
    for (const j of this.#jobs.values()) if (j.destination === destination) n++;
    this.#o.metrics?.setNotificationQueue(destination, n);
  }

  #cancel(k: string, job: Job): void {
    job.cancelled = true;
    if (job.timer) clearTimeout(job.timer);
    this.#jobs.delete(k);
    const q = this.#queues.get(job.destination);
    const i = q?.indexOf(k) ?? -1;
    if (q && i >= 0) q.splice(i, 1);
    this.#gauge(job.destination);
  }

  /** Starts the next queued delivery of a destination when none is being sent. */
  #pump(destination: string): void {
    if (this.#stopped || this.#sending.has(destination)) return;
    const q = this.#queues.get(destination);
    const k = q?.shift();
    if (k === undefined) return;
    const job = this.#jobs.get(k);
    if (!job) return this.#pump(destination);
    const d = this.#o.destinations.get(destination);
    if (!d) {
      this.#jobs.delete(k);
      this.#settle(
        job.key,
        k,
        job.n,
        destination,
        "dropped",
        `the platform no longer declares destination ${destination}`,
      );
      return this.#pump(destination);
    }
    this.#sending.add(destination);
    job.state = "sending";
    job.attempts++;
    void this.#attempt(job, d)
      .catch((err: unknown): Outcome => ({ ok: false, message: (err as Error).message }))
      .then((outcome) => {
        this.#sending.delete(destination);
        if (!job.cancelled) this.#finish(k, job, d, outcome);
        this.#pump(destination);
      });
  }

  #finish(k: string, job: Job, d: NotificationDestination, outcome: Outcome): void {
    if (outcome.ok) {
      this.#jobs.delete(k);
      this.#o.metrics?.countNotification(d.name, "delivered");
      this.#settle(job.key, k, job.n, d.name, "delivered", outcome.message);
      this.#gauge(d.name);
      return;
    }
    this.#o.metrics?.countNotification(d.name, "failed");
    const what = `notification ${job.n.event} (id ${job.n.id}) to ${d.name}`;
    if (outcome.permanent || job.attempts >= d.maxAttempts || this.#stopped) {
      this.#jobs.delete(k);
      const why = outcome.permanent ? "" : ` after ${job.attempts} attempt${job.attempts === 1 ? "" : "s"}`;
      this.#settle(job.key, k, job.n, d.name, "dropped", `${what} was given up${why}: ${outcome.message}`);
      this.#gauge(d.name);
      return;
    }
    const base = this.#o.backoffBaseMs ?? BACKOFF_BASE_MS;
    const max = this.#o.backoffMaxMs ?? BACKOFF_MAX_MS;
    const jitter = 0.8 + 0.4 * (this.#o.random ?? Math.random)();
    const delay = Math.round(Math.min(max, base * 2 ** (job.attempts - 1)) * jitter);
    if (job.attempts === 1) {
      this.#report(job.key, {
        kind: "failed",
        id: job.n.id,
        event: job.n.event,
        destination: d.name,
        message: `${what} failed: ${outcome.message}; retrying with backoff (at most ${d.maxAttempts} attempts)`,
      });
      this.#o.onChange(job.key);
    }
    job.state = "waiting";
    job.timer = setTimeout(() => {
      job.timer = undefined;
      if (job.cancelled || this.#stopped) return;
      job.state = "queued";
      this.#queueOf(d.name).push(k);
      this.#pump(d.name);
    }, delay);
    job.timer.unref?.();
  }

  #settle(
    key: string,
    k: string,
    n: PendingNotification,
    destination: string,
    result: "delivered" | "dropped",
    message: string,
  ): void {
    let m = this.#settled.get(key);
    if (!m) this.#settled.set(key, (m = new Map()));
    m.set(k, { id: n.id, destination });
    if (result === "dropped") {
      this.#o.metrics?.countNotification(destination, "dropped");
      this.#report(key, { kind: "dropped", id: n.id, event: n.event, destination, message });
    }
    this.#o.onChange(key);
  }

  #report(key: string, r: DeliveryReport): void {
    let list = this.#reports.get(key);
    if (!list) this.#reports.set(key, (list = []));
    // Bounded: a reconcile takes them; a key that is never reconciled keeps the newest few.
    if (list.length >= 20) list.shift();
    list.push(r);
  }

  /** One POST of the notification to the destination. */
  async #attempt(job: Job, d: NotificationDestination): Promise<Outcome> {
    const owner = `notification destination ${d.name}`;
    let url = d.url;
    if (url === undefined) {
      const text = (await this.#o.files.readText(owner, "urlFile", d.urlFile ?? "")).trim();
      if (/[\r\n]/.test(text) || !/^https?:\/\//.test(text))
        return {
          ok: false,
          permanent: true,
          message: `its urlFile ${d.urlFile} does not hold one http(s) URL`,
        };
      url = text;
    }
    // Named in messages: the URL as written in the file of destinations, or only the file.
    const where = d.url ?? `the URL in ${d.urlFile}`;
    const dest = destinationOfUrl(url, job.subject.namespace);
    if (!dest) return { ok: false, permanent: true, message: `${where} is not a URL` };
    const verdict = this.#o.policy.judge(dest);
    if (!verdict.allowed)
      return {
        ok: false,
        permanent: true,
        message: `${where} is denied by the platform's policy: ${verdict.reason}`,
      };
    const req = buildRequest(job.n, job.subject, { format: d.format, cloudEventsMode: d.cloudEventsMode });
    const headers: Record<string, string> = { ...req.headers, "user-agent": "model-rollout-operator" };
    if (d.bearerTokenFile !== undefined) {
      const token = (await this.#o.files.readText(owner, "bearerTokenFile", d.bearerTokenFile)).trim();
      if (token === "" || /[\r\n]/.test(token))
        return {
          ok: false,
          permanent: true,
          message: `its bearerTokenFile ${d.bearerTokenFile} does not hold one token`,
        };
      headers.authorization = `Bearer ${token}`;
    }
    let res: Response;
    try {
      res = await this.#o.send(url, {
        method: "POST",
        headers,
        body: req.body,
        redirect: "manual",
        signal: AbortSignal.any([AbortSignal.timeout(d.timeoutMs), this.#abort.signal]),
      });
    } catch (err) {
      const e = err as Error & { cause?: { code?: string; message?: string } };
      if (e.name === "TimeoutError") return { ok: false, message: `no answer within ${d.timeoutMs} ms` };
      const cause = e.cause;
      if ((cause as { code?: string } | undefined)?.code === "EDESTINATIONREFUSED")
        return { ok: false, permanent: true, message: cause?.message ?? "the destination is refused" };
      return { ok: false, message: cause?.code ?? cause?.message ?? e.message };
    }
    await drain(res);
    if (res.status >= 200 && res.status < 300) return { ok: true, message: `HTTP ${res.status}` };
    if (res.status >= 300 && res.status < 400)
      return { ok: false, permanent: true, message: `HTTP ${res.status}: redirects are not followed` };
    const retry = res.status === 408 || res.status === 429 || res.status >= 500;
    return { ok: false, permanent: !retry, message: `HTTP ${res.status}` };
  }
}

/** Reads at most MAX_RESPONSE_BYTES of a response and lets the rest go. */
async function drain(res: Response): Promise<void> {
  const reader = res.body?.getReader();
  if (!reader) return;
  let n = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      n += value.byteLength;
      if (n > MAX_RESPONSE_BYTES) {
        await reader.cancel();
        return;
      }
    }
  } catch {
    // The answer's status is what counts.
  }
}
