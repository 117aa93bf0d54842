// Leader election on a coordination.k8s.io/v1 Lease, with client-go's semantics, so that
// of several replicas of the operator exactly one reconciles at a time.
//
// - A candidate takes the Lease when nobody holds it, when the holder released it, or
//   when the holder has not renewed it for leaseDurationSeconds (measured on the
//   candidate's own clock from when it last saw the Lease change, so clock skew between
//   replicas does not matter).
// - The leader renews every retryPeriod. When it cannot renew for renewDeadline (the API
//   server is unreachable, or someone else took the Lease), it has lost: onStoppedLeading
//   is called and the process should exit, so it restarts clean as a candidate.
// - On graceful shutdown (stop()) the leader releases the Lease (empty holderIdentity,
//   leaseDurationSeconds 1) so a standby takes over at once instead of after 15 s.
// - A 409 Conflict on create or update means another candidate wrote first: it won.
import { randomUUID } from "node:crypto";
import { hostname } from "node:os";
import type { V1Lease } from "@kubernetes/client-node";
import { sleep, systemClock, type Clock } from "../clock.ts";
import { describeError, statusCodeOf } from "./errors.ts";
import type { KubeConnection } from "./kubeconfig.ts";
import { requestJson } from "./request.ts";
import { discardLogs, type LogSink } from "../observability/log.ts";

/**
 * A Lease's acquireTime and renewTime: a metav1.MicroTime, serialized with microseconds as
 * client-go writes it (JSON.stringify calls toISOString through Date's toJSON).
 */
export class MicroTime extends Date {
  override toISOString(): string {
    return `${super.toISOString().slice(0, -1)}000Z`;
  }
}

/** Another writer changed the Lease first (HTTP 409). */
export class LeaseConflictError extends Error {
  constructor(message = "the Lease was changed by someone else (409 Conflict)") {
    super(message);
    this.name = "LeaseConflictError";
  }
}

/** The API calls leader election makes. kubeLeaseClient() is the real one. */
export interface LeaseClient {
  /** The Lease, or undefined when it does not exist. */
  get(namespace: string, name: string): Promise<V1Lease | undefined>;
  /** Creates the Lease; LeaseConflictError when it already exists. */
  create(namespace: string, lease: V1Lease): Promise<V1Lease>;
  /** Replaces the Lease (metadata.resourceVersion must match); LeaseConflictError when it does not. */
  update(namespace: string, lease: V1Lease): Promise<V1Lease>;
}

export interface LeaderElectionOptions {
  client: LeaseClient;
  namespace: string;
  /** Lease name, e.g. "model-rollout-operator". */
  name: string;
  /** This replica's identity (default: hostname_uuid). */
  identity?: string;
  /** How long a Lease holds without renewal (default 15 s). */
  leaseDurationMs?: number;
  /** How long the leader keeps trying to renew before it gives up (default 10 s). */
  renewDeadlineMs?: number;
  /** Time between attempts (default 2 s). */
  retryPeriodMs?: number;
  clock?: Clock;
  /** 0 <= random() < 1; spreads the acquire attempts of candidates (default Math.random). */
  random?: () => number;
  logger?: LogSink;
  /** This replica became the leader: start the controllers. */
  onStartedLeading?: () => void;
  /** This replica lost the lease (not called after stop()): exit the process. */
  onStoppedLeading?: () => void;
  /** The holder of the Lease changed (identity, or "" when released). */
  onNewLeader?: (identity: string) => void;
}

export const DEFAULT_LEASE_DURATION_MS = 15_000;
export const DEFAULT_RENEW_DEADLINE_MS = 10_000;
export const DEFAULT_RETRY_PERIOD_MS = 2_000;

/** client-go's default identity shape: the host name (pod name in a cluster) and a unique suffix. */
export function defaultIdentity(): string {
  return `${hostname()}_${randomUUID()}`;
}

/** leading: we hold the Lease now; held-by-other: someone else does; conflict: a write lost a race. */
type Attempt = "leading" | "held-by-other" | "conflict" | "failed";

export class LeaderElector {
  readonly identity: string;
  readonly #client: LeaseClient;
  readonly #namespace: string;
  readonly #name: string;
  readonly #leaseDurationMs: number;
  readonly #renewDeadlineMs: number;
  readonly #retryPeriodMs: number;
  readonly #clock: Clock;
  readonly #random: () => number;
  readonly #log: LogSink;
  readonly #onStartedLeading: () => void;
  readonly #onStoppedLeading: () => void;
  readonly #onNewLeader: (identity: string) => void;

  /** The Lease as last read or written. */
  #observed: V1Lease | undefined;
  /** Local time at which #observed last changed (resourceVersion). */
  #observedAt = 0;
  /** Local time of the last successful API call about the Lease. */
  #lastContactAt = -Infinity;
  #leader: string | undefined;
  #leading = false;
  readonly #stop = new AbortController();
  #running: Promise<void> | undefined;

  constructor(options: LeaderElectionOptions) {
    this.#client = options.client;
    this.#namespace = options.namespace;
    this.#name = options.name;
    this.identity = options.identity ?? defaultIdentity();
    this.#leaseDurationMs = options.leaseDurationMs ?? DEFAULT_LEASE_DURATION_MS;
    this.#renewDeadlineMs = options.renewDeadlineMs ?? DEFAULT_RENEW_DEADLINE_MS;
    this.#retryPeriodMs = options.retryPeriodMs ?? DEFAULT_RETRY_PERIOD_MS;
    this.#clock = options.clock ?? systemClock;
    this.#random = options.random ?? Math.random;
    this.#log = options.logger ?? discardLogs;
    this.#onStartedLeading = options.onStartedLeading ?? (() => {});
    this.#onStoppedLeading = options.onStoppedLeading ?? (() => {});
    this.#onNewLeader = options.onNewLeader ?? (() => {});
    if (!this.#namespace) throw new Error("leader election needs a namespace for its Lease");
    if (!this.#name) throw new Error("leader election needs a Lease name");
    if (!(this.#leaseDurationMs > this.#renewDeadlineMs)) {
      throw new RangeError("leaseDuration must be greater than renewDeadline");
    }
    if (!(this.#renewDeadlineMs > this.#retryPeriodMs)) {
      throw new RangeError("renewDeadline must be greater than retryPeriod");
    }
    if (!(this.#retryPeriodMs > 0)) throw new RangeError("retryPeriod must be > 0");
  }

  /** True while this replica holds the Lease. */
  isLeader(): boolean {
    return this.#leading;
  }

  /** The holder of the Lease as last seen ("" when released, undefined before the first read). */
  currentLeader(): string | undefined {
    return this.#leader;
  }

  /**
   * Leading, or a standby that can take over: it reached the API server and read the
   * Lease within the last lease duration.
   */
  isReady(): boolean {
    return this.#leading || this.#clock.now() - this.#lastContactAt <= this.#leaseDurationMs;
  }

  /**
   * Campaigns until this replica leads, then renews until the Lease is lost or stop() is
   * called. Resolves when it has stopped.
   */
  run(): Promise<void> {
    if (this.#running) throw new Error("leader election is already running");
    this.#running = this.#campaign();
    return this.#running;
  }

  /** Stops campaigning or renewing; a leader releases the Lease. */
  async stop(): Promise<void> {
    this.#stop.abort();
    await this.#running;
    if (this.#leading) {
      this.#leading = false;
      await this.#release();
    }
  }

  async #campaign(): Promise<void> {
    const stop = this.#stop.signal;
    const lease = `${this.#namespace}/${this.#name}`;
    this.#log.info("waiting to become the leader", { lease, identity: this.identity });
    while (!stop.aborted) {
      if ((await this.#attempt(this.#renewDeadlineMs)) === "leading") break;
      // Like client-go's JitterUntil(retryPeriod, 1.2): spread the candidates' attempts.
      await sleep(this.#clock, this.#retryPeriodMs * (1 + 1.2 * this.#random()), stop);
    }
    if (stop.aborted) return;

    this.#leading = true;
    this.#log.info("became the leader", { lease, identity: this.identity });
    this.#onStartedLeading();

    let lastRenewAt = this.#clock.now();
    let reason = "";
    while (!stop.aborted) {
      await sleep(this.#clock, this.#retryPeriodMs, stop);
      if (stop.aborted) return;
      const remaining = lastRenewAt + this.#renewDeadlineMs - this.#clock.now();
      const result = remaining > 0 ? await this.#attempt(remaining) : "failed";
      if (stop.aborted) return;
      if (result === "leading") {
        lastRenewAt = this.#clock.now();
        continue;
      }
      if (result === "held-by-other") {
        reason = `the Lease is held by ${this.#leader || "nobody"}`;
        break;
      }
      if (this.#clock.now() - lastRenewAt >= this.#renewDeadlineMs) {
        reason = `could not renew the Lease within ${this.#renewDeadlineMs} ms`;
        break;
      }
    }
    this.#leading = false;
    this.#log.error("lost leadership", { lease, identity: this.identity, reason });
    this.#onStoppedLeading();
  }

  /** One tryAcquireOrRenew, given up after timeoutMs. */
  async #attempt(timeoutMs: number): Promise<Attempt> {
    const timeout = new AbortController();
    const onStop = () => timeout.abort();
    this.#stop.signal.addEventListener("abort", onStop, { once: true });
    try {
      return await Promise.race([
        this.#tryAcquireOrRenew(),
        sleep(this.#clock, timeoutMs, timeout.signal).then((elapsed): Attempt => {
          if (elapsed) this.#log.warn("Lease request timed out", { lease: this.#name, timeoutMs });
          return "failed";
        }),
      ]);
    } finally {
      timeout.abort();
      this.#stop.signal.removeEventListener("abort", onStop);
    }
  }

  async #tryAcquireOrRenew(): Promise<Attempt> {
    const now = this.#clock.now();
    const stamp = new MicroTime(now);
    const durationSeconds = Math.ceil(this.#leaseDurationMs / 1000);
    // Fast path, as client-go's: the leader renews the Lease it wrote last without reading it
    // first (half the requests at rest). If someone else changed it, the write is refused
    // (409, stale resourceVersion) and the Lease is read and decided on as below.
    const mine = this.#observed;
    if (this.#leading && mine?.spec?.holderIdentity === this.identity) {
      try {
        const renewed = await this.#client.update(this.#namespace, {
          ...mine,
          spec: { ...mine.spec, leaseDurationSeconds: durationSeconds, renewTime: stamp },
        });
        this.#lastContactAt = this.#clock.now();
        this.#observe(renewed);
        return "leading";
      } catch (err) {
        this.#log.debug("renewing the Lease as last written failed; reading it", {
          lease: this.#name,
          err: describeError(err),
        });
      }
    }
    try {
      const current = await this.#client.get(this.#namespace, this.#name);
      this.#lastContactAt = this.#clock.now();
      if (!current) {
        const created = await this.#client.create(this.#namespace, {
          apiVersion: "coordination.k8s.io/v1",
          kind: "Lease",
          metadata: { name: this.#name, namespace: this.#namespace },
          spec: {
            holderIdentity: this.identity,
            leaseDurationSeconds: durationSeconds,
            acquireTime: stamp,
            renewTime: stamp,
            leaseTransitions: 0,
          },
        });
        this.#observe(created);
        return "leading";
      }
      this.#observe(current);

      const holder = current.spec?.holderIdentity ?? "";
      const heldByUs = holder === this.identity;
      const recordDurationMs = (current.spec?.leaseDurationSeconds ?? durationSeconds) * 1000;
      if (holder !== "" && !heldByUs && this.#observedAt + recordDurationMs > this.#clock.now()) {
        return "held-by-other";
      }

      const transitions = current.spec?.leaseTransitions ?? 0;
      const updated = await this.#client.update(this.#namespace, {
        ...current,
        spec: {
          ...current.spec,
          holderIdentity: this.identity,
          leaseDurationSeconds: durationSeconds,
          acquireTime: heldByUs ? (current.spec?.acquireTime ?? stamp) : stamp,
          renewTime: stamp,
          leaseTransitions: heldByUs ? transitions : transitions + 1,
        },
      });
      this.#observe(updated);
      return "leading";
    } catch (err) {
      if (err instanceof LeaseConflictError) {
        this.#lastContactAt = this.#clock.now();
        this.#log.debug("another candidate wrote the Lease first", { lease: this.#name });
        return "conflict";
      }
      this.#log.warn("Lease request failed", { lease: this.#name, err: describeError(err) });
      return "failed";
    }
  }

  #observe(lease: V1Lease): void {
    if (lease.metadata?.resourceVersion !== this.#observed?.metadata?.resourceVersion || !this.#observed) {
      this.#observedAt = this.#clock.now();
    }
    this.#observed = lease;
    const holder = lease.spec?.holderIdentity ?? "";
    if (holder !== this.#leader) {
      this.#leader = holder;
      if (holder !== this.identity)
        this.#log.info("new leader", { lease: this.#name, leader: holder || "(none)" });
      this.#onNewLeader(holder);
    }
  }

  /**
   * Gives the Lease up. A renewal that was still in flight when stop() was called may land
   * first and make our copy stale (409): then read the Lease again and, while it is still
   * ours, release that version.
   */
  async #release(): Promise<void> {
    const where = `${this.#namespace}/${this.#name}`;
    let lease = this.#observed;
    for (let attempt = 1; attempt <= 3; attempt++) {
      if (!lease || lease.spec?.holderIdentity !== this.identity) return;
      const stamp = new MicroTime(this.#clock.now());
      try {
        const released = await this.#client.update(this.#namespace, {
          ...lease,
          spec: {
            ...lease.spec,
            holderIdentity: "",
            leaseDurationSeconds: 1,
            acquireTime: stamp,
            renewTime: stamp,
          },
        });
        this.#observe(released);
        this.#log.info("released the Lease", { lease: where });
        return;
      } catch (err) {
        if (!(err instanceof LeaseConflictError) || attempt === 3) {
          // Another replica will take it when it expires.
          this.#log.warn("could not release the Lease", { lease: where, err: describeError(err) });
          return;
        }
      }
      try {
        lease = await this.#client.get(this.#namespace, this.#name);
        if (lease) this.#observe(lease);
      } catch (err) {
        this.#log.warn("could not release the Lease", { lease: where, err: describeError(err) });
        return;
      }
    }
  }
}

export interface KubeLeaseClientOptions {
  /** Called once per request with its method and status code (0: no answer), e.g. for rest_client_requests_total. */
  onRequest?: (method: string, code: number) => void;
}

/** How long one Lease request may take (the default renew deadline). */
const LEASE_REQUEST_TIMEOUT_MS = 10_000;

/**
 * LeaseClient on the API server of `kc`. Not rate limited: the leader must be able to renew
 * however busy the controller is.
 */
export function kubeLeaseClient(kc: KubeConnection, options: KubeLeaseClientOptions = {}): LeaseClient {
  const path = (namespace: string, name?: string) =>
    `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(namespace)}/leases${
      name === undefined ? "" : `/${encodeURIComponent(name)}`
    }`;
  const send = (method: string, p: string, body?: V1Lease) =>
    requestJson<V1Lease>(kc, { method, path: p, body, timeoutMs: LEASE_REQUEST_TIMEOUT_MS }, options);
  const conflict = (err: unknown): never => {
    if (statusCodeOf(err) === 409) throw new LeaseConflictError();
    throw err;
  };
  return {
    async get(namespace, name) {
      try {
        return await send("GET", path(namespace, name));
      } catch (err) {
        if (statusCodeOf(err) === 404) return undefined;
        throw err;
      }
    },
    create: (namespace, lease) => send("POST", path(namespace), lease).catch(conflict),
    update: (namespace, lease) =>
      send("PUT", path(namespace, lease.metadata?.name ?? ""), lease).catch(conflict),
  };
}
