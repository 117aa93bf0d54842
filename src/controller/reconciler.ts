// One reconcile of one ModelDeployment: observe from the caches, measure the checks the
// planner says are due, plan, then write only what differs. The deciding is all in
// plan/; this file reads and writes.
import type {
  KubernetesObject,
  V1Deployment,
  V1EndpointSlice,
  V1Pod,
  V1Service,
} from "@kubernetes/client-node";
import { ANNOTATION_ACTION } from "../api/constants.ts";
import { Reasons } from "../api/reasons.ts";
import type { ModelDeployment } from "../api/types.ts";
import { measureChecks, type DestinationPolicyJudge } from "../health/index.ts";
import { computeDestinationProblems } from "../health/destination-check.ts";
import { computePromqlProblems } from "../health/promql-check.ts";
import { computeCredentialProblems, CredentialPolicy } from "../health/credentials.ts";
import type { PromqlNamespaceRule } from "../health/promql-rule.ts";
import { computeMeasureContext, Measurer } from "./measurer.ts";
import type { Logger } from "../observability/log.ts";
import type { OperatorMetrics } from "../observability/metrics.ts";
import { plan, planChecks } from "../plan/index.ts";
import type { DueCheck, Measurement, Observed } from "../plan/types.ts";
import { readinessGateOf } from "../plan/readiness-gate.ts";
import { deploymentOfPod } from "../plan/routers/service.ts";
import { computeConditionWarnings, withSpecWarnings } from "../plan/warnings.ts";
import { applyCheckBudget, DEFAULT_CHECK_BUDGET, type CheckBudget } from "../plan/budget.ts";
import { isNamespaceTerminating, type KubeClient } from "../kube/client.ts";
import {
  emitEvents,
  GATED_POD,
  USER_ROUTE,
  writeChildren,
  writePodConditions,
  writeScales,
  type WriteContext,
} from "./reconcile-writes.ts";
import type { IndexBy } from "./index-by.ts";
import { NotOwnedError, type Shard } from "./shard.ts";
import { deepFreeze } from "./informer.ts";
import type { PodCache } from "./pod-cache.ts";
import type { RouteCache } from "./route-cache.ts";
import type { OwnWrites } from "./own-writes.ts";
import { HeldCheckResults } from "./check-report.ts";
import type { Priority } from "./queue.ts";
import { computeNotificationWarnings, withNotifications, type NotificationWiring } from "./notifications.ts";
import type { InferencePool } from "../plan/routers/inference-pool.ts";
import type { GRPCRoute } from "../plan/routers/httproute.ts";
import {
  changedStatusFields,
  endpointsAheadOfDeployments,
  progressOnly,
  recordsOnly,
} from "./status-write.ts";

/** What the reconciler reads; Informers satisfy it. Objects are frozen: never mutate. */
export interface Cache<T> {
  list(namespace?: string): readonly T[];
  get(namespace: string, name: string): T | undefined;
}

export interface ReconcilerOptions {
  client: KubeClient;
  modelDeployments: Cache<ModelDeployment>;
  logger: Logger;
  metrics?: OperatorMetrics;
  now?: () => Date;
  /** Where checks may go; a destination denied as written makes the spec invalid (default: anywhere). */
  destinations?: DestinationPolicyJudge;
  /** Every Prometheus selector must carry the namespace; a query without it makes the spec invalid (default: not checked). */
  promqlNamespace?: PromqlNamespaceRule;
  /**
   * The platform's check credentials: a check naming one it may not use (unknown, another
   * namespace's) makes the spec invalid (default: none declared, so naming any is invalid).
   */
  credentials?: CredentialPolicy;
  /** The platform's limits on health checks (default DEFAULT_CHECK_BUDGET). */
  checkBudget?: CheckBudget;
  /**
   * Measures due checks beside the queue and asks for a reconcile when one is done (the
   * operator wires it to the queue). Default: one over `measure` that asks for nothing.
   */
  measurer?: Measurer;
  /**
   * --check-report-period: how long a passing check's result that repeats the written
   * verdict may wait for the next status write (check-report.ts). Default 0: at once.
   */
  checkReportPeriodMs?: number;
  /** Where the ModelDeployment writes are recorded, so that their echoes go at the priority they were made at. */
  ownWrites?: OwnWrites;
  /** Takes the due measurements for the default measurer (default: the real HTTP and Prometheus providers). */
  measure?: (due: readonly DueCheck[], now: () => Date) => Promise<Measurement[]>;
  /**
   * Children by the uid of their controller owner (controllerUid), and EndpointSlices by
   * `namespace/service-name` (serviceKeyOfSlice), kept current by the informers.
   */
  index: {
    deployments: IndexBy<V1Deployment>;
    services: IndexBy<V1Service>;
    endpointSlices: IndexBy<V1EndpointSlice>;
    /** Pods that carry the readiness gate, by `namespace/model` (modelKeyOfPod); absent: none watched. */
    pods?: IndexBy<V1Pod>;
  };
  /**
   * The pod cache behind index.pods (pod-cache.ts): opened by the first ModelDeployment with
   * the readiness gate; absent: the index is always current (tests).
   */
  pods?: Pick<PodCache, "want" | "synced">;
  /**
   * HTTPRoutes by owner uid, and by name for a route the user owns (httpRouteRef), for
   * ModelDeployments with spec.traffic (route-cache.ts); absent: none.
   */
  routes?: Pick<RouteCache, "available" | "want" | "byOwner" | "state" | "get">;
  /**
   * The platform's notification destinations and the notifier that delivers
   * status.pendingNotifications beside the queue; absent: spec.notifications is ignored.
   */
  notifications?: NotificationWiring;
  /**
   * The operator's GRPCRoutes by owner uid (spec.traffic.gatewayAPI.grpcRoute; the same kind
   * of cache, of grpcroutes); absent: none.
   */
  grpcRoutes?: Pick<RouteCache<GRPCRoute>, "available" | "want" | "byOwner" | "state">;
  /**
   * The operator's InferencePools by owner uid (spec.traffic.gatewayAPI.inferencePool; the
   * same kind of cache); absent: none.
   */
  pools?: Pick<RouteCache<InferencePool>, "available" | "want" | "byOwner" | "state">;
  /**
   * This process is one shard (--watch-label-selector, shard.ts): a ModelDeployment the
   * selector does not select is not acted on, one that arrived from another instance waits
   * the handoff delay, and each reconcile's writes wait for its fence. Absent: every
   * ModelDeployment in the cache is this process's own.
   */
  shard?: Shard;
}

/** How soon a ModelDeployment comes back when a destination's queue was full. */
const NOTIFY_QUEUE_FULL_REQUEUE_MS = 10_000;

const NO_CREDENTIALS = new CredentialPolicy([]);

/** How soon a ModelDeployment with spec.traffic comes back while the route cache starts. */
const ROUTES_UNKNOWN_REQUEUE_MS = 500;

/** How soon a ModelDeployment with the readiness gate comes back while the pod cache starts. */
const PODS_UNSYNCED_REQUEUE_MS = 500;

/** How soon a reconcile whose fence found a newer ModelDeployment plans again (its watch event normally comes first). */
const SHARD_CHANGED_REQUEUE_MS = 1_000;

/** How long an object the operator wrote stands in for an older cached copy. */
const WRITTEN_TTL_MS = 30_000;

/**
 * Longest wait of a status change that only reports progress while the clients' Service
 * is ahead of the Deployment's status (see reconcile()). The Deployment's status normally
 * follows within a second; with 1000 Deployments created at once, kube-controller-manager
 * (20 requests/s by default) took up to 91 s.
 */
export const PROGRESS_HOLD_MAX_MS = 120_000;

interface Written {
  /** The API server's answer to the write; undefined: deleted. */
  obj: KubernetesObject | undefined;
  /** resourceVersion the cache must reach (or pass) before it is trusted again. */
  resourceVersion: string | undefined;
  at: number;
}

/** a is newer than b, by resourceVersion (etcd revisions); false when either is not a number. */
function newerThan(a: string | undefined, b: string | undefined): boolean {
  if (!a || !b || !/^\d+$/.test(a) || !/^\d+$/.test(b)) return false;
  return BigInt(a) > BigInt(b);
}

export interface ReconcileResult {
  /** Come back after this many ms; undefined = only when something changes. */
  requeueAfterMs?: number;
  /** Writes sent to the API server in this reconcile. */
  writes: number;
}

export class Reconciler {
  readonly #o: ReconcilerOptions;
  readonly #now: () => Date;
  readonly #measurer: Measurer;
  /** What the write phase (reconcile-writes.ts) needs of this reconciler. */
  readonly #writes: WriteContext;

  constructor(options: ReconcilerOptions) {
    this.#o = options;
    this.#now = options.now ?? (() => new Date());
    this.#heldChecks = new HeldCheckResults(options.checkReportPeriodMs ?? 0);
    const measure = options.measure ?? measureChecks;
    this.#measurer =
      options.measurer ??
      new Measurer({
        measure: async (due) => (await measure([due], this.#now))[0]!,
        onMeasured: () => undefined,
      });
    this.#writes = {
      client: options.client,
      logger: options.logger,
      now: () => this.#now(),
      remember: (ownerUid, kind, name, obj, rv) => this.#remember(ownerUid, kind, name, obj, rv),
    };
  }

  /**
   * What the operator itself wrote, per owner uid, until the caches catch up: a reconcile
   * that runs before the watch delivered its own last write must not write it again
   * (or compute a status from a stale copy and lose to a 409).
   */
  readonly #written = new Map<string, Map<string, Written>>();

  /** The operator's own last write of each ModelDeployment (status, action removal), by key. */
  readonly #writtenMd = new Map<string, Written>();

  /** Results of passing checks merged but not written yet (check-report.ts). */
  readonly #heldChecks: HeldCheckResults;

  #rememberMd(key: string, md: ModelDeployment, priority: Priority): void {
    this.#o.ownWrites?.record(key, md.metadata?.resourceVersion, priority);
    this.#writtenMd.set(key, {
      obj: deepFreeze(md),
      resourceVersion: md.metadata?.resourceVersion,
      at: Date.now(),
    });
  }

  #remember(
    ownerUid: string | undefined,
    kind: string,
    name: string,
    obj: KubernetesObject | undefined,
    rv?: string,
  ) {
    if (!ownerUid) return;
    let m = this.#written.get(ownerUid);
    if (!m) this.#written.set(ownerUid, (m = new Map()));
    m.set(`${kind}/${name}`, {
      obj: obj ? deepFreeze(obj) : undefined,
      resourceVersion: obj?.metadata?.resourceVersion ?? rv,
      at: Date.now(),
    });
  }

  /**
   * The cached children of one kind, with the operator's own newer writes laid over them, and
   * (addMissing) the ones it created that the cache does not hold yet.
   */
  #overlay<T extends KubernetesObject>(
    ownerUid: string | undefined,
    kind: string,
    cached: readonly T[],
    { addMissing = true }: { addMissing?: boolean } = {},
  ): readonly T[] {
    const m = ownerUid ? this.#written.get(ownerUid) : undefined;
    if (!m) return cached;
    const now = Date.now();
    const out: T[] = [];
    const seen = new Set<string>();
    for (const obj of cached) {
      const k = `${kind}/${obj.metadata?.name}`;
      seen.add(k);
      const w = m.get(k);
      if (
        w &&
        now - w.at < WRITTEN_TTL_MS &&
        (w.obj === undefined || newerThan(w.resourceVersion, obj.metadata?.resourceVersion))
      ) {
        if (w.obj) out.push(w.obj as T); // else: deleted by the operator, the cache lags
        continue;
      }
      if (w) m.delete(k);
      out.push(obj);
    }
    for (const [k, w] of m) {
      if (!k.startsWith(`${kind}/`) || seen.has(k)) continue;
      if (!addMissing || now - w.at >= WRITTEN_TTL_MS || w.obj === undefined) {
        m.delete(k);
        continue;
      }
      out.push(w.obj as T); // created by the operator, not in the cache yet
    }
    if (m.size === 0 && ownerUid) this.#written.delete(ownerUid);
    return out;
  }

  /** Everything this ModelDeployment owns, as the caches see it now. */
  observe(md: ModelDeployment): Observed {
    const ns = md.metadata?.namespace ?? "";
    const uid = md.metadata?.uid;
    const name = md.metadata?.name ?? "";
    const index = this.#o.index;
    const observed: Observed = {
      deployments: this.#overlay(uid, "Deployment", uid ? index.deployments.get(uid) : []),
      services: this.#overlay(uid, "Service", uid ? index.services.get(uid) : []),
      endpointSlices: index.endpointSlices.get(`${ns}/${name}`),
    };
    // Pods behind the readiness gate: only those that one of this ModelDeployment's
    // Deployments made (a pod that merely carries its labels is not its own).
    if (readinessGateOf(md) || (index.pods?.get(`${ns}/${name}`).length ?? 0) > 0) {
      // The operator's own condition writes laid over pods the cache still has from before
      // them; a written pod gone from the cache stays gone (pods are not the operator's).
      const pods = this.#overlay(uid, GATED_POD, index.pods?.get(`${ns}/${name}`) ?? [], {
        addMissing: false,
      });
      observed.pods = pods.filter(
        (p) => deploymentOfPod(observed.deployments, p.metadata?.name ?? "") !== undefined,
      );
    }
    // Routes: for spec.traffic, and for a route left from a spec.traffic since removed.
    const routes = this.#o.routes;
    const owned = routes?.available() && uid ? routes.byOwner.get(uid) : [];
    const ref = md.spec.traffic?.gatewayAPI?.httpRouteRef;
    // A route the user owns that the spec stopped naming, still in status: handed back once.
    const previous = md.status?.route;
    const released =
      previous?.rule !== undefined && previous.name && previous.name !== ref?.name
        ? previous.name
        : undefined;
    if (routes && (md.spec.traffic !== undefined || owned.length > 0 || released !== undefined)) {
      if (md.spec.traffic !== undefined) routes.want();
      observed.routes = {
        available: routes.available(),
        httpRoutes: routes.available() ? this.#overlay(uid, "HTTPRoute", owned) : [],
      };
      // A route the user owns: by name, with the operator's own last write laid over a
      // cached copy that lags it (a route that is gone from the cache stays gone).
      const userRoute = (routeName: string) => {
        const cached = routes.get(ns, routeName);
        return cached ? this.#overlay(uid, USER_ROUTE, [cached])[0] : undefined;
      };
      if (ref && routes.available()) observed.routes.referenced = userRoute(ref.name);
      if (released !== undefined && routes.available()) observed.routes.released = userRoute(released);
    }
    // GRPCRoutes: for spec.traffic (a spec may have had grpcRoute, whose route goes), and for
    // a GRPCRoute left from a spec.traffic since removed.
    const grpc = this.#o.grpcRoutes;
    const ownedGrpc = grpc?.available() && uid ? grpc.byOwner.get(uid) : [];
    if (grpc && (md.spec.traffic !== undefined || ownedGrpc.length > 0)) {
      if (md.spec.traffic !== undefined) grpc.want();
      observed.grpcRoutes = {
        available: grpc.available(),
        routes: grpc.available() ? this.#overlay(uid, "GRPCRoute", ownedGrpc) : [],
      };
    }
    // InferencePools: for spec.traffic (a spec may have had inferencePool, whose pools go),
    // and for pools left from a spec.traffic since removed.
    const pools = this.#o.pools;
    const ownedPools = pools?.available() && uid ? pools.byOwner.get(uid) : [];
    if (pools && (md.spec.traffic !== undefined || ownedPools.length > 0)) {
      if (md.spec.traffic !== undefined) pools.want();
      observed.pools = {
        available: pools.available(),
        inferencePools: pools.available() ? this.#overlay(uid, "InferencePool", ownedPools) : [],
      };
    }
    return observed;
  }

  /**
   * Does `md` need a route cache whose state is still unknown: the HTTPRoute cache for
   * spec.traffic, the GRPCRoute cache for spec.traffic.gatewayAPI.grpcRoute, the
   * InferencePool cache for spec.traffic.gatewayAPI.inferencePool? The first such cache is
   * asked to start (want), so that its sync brings the ModelDeployment back.
   */
  #routeCachesUnknown(md: ModelDeployment): boolean {
    const gatewayAPI = md.spec.traffic?.gatewayAPI;
    const needed: [boolean, Pick<RouteCache, "want" | "state"> | undefined][] = [
      [md.spec.traffic !== undefined, this.#o.routes],
      [gatewayAPI?.grpcRoute !== undefined, this.#o.grpcRoutes],
      [gatewayAPI?.inferencePool !== undefined, this.#o.pools],
    ];
    for (const [needs, cache] of needed) {
      if (!needs || cache?.state() !== "unknown") continue;
      cache.want();
      return true;
    }
    return false;
  }

  /** Since when (ms) a progress-only status change of a key waits for its Deployment's status. */
  readonly #holding = new Map<string, number>();

  /**
   * Reconciles `key`. `priority` is the one the queue handed it out at: the echo of what
   * this reconcile writes goes at that priority too (own-writes.ts).
   */
  async reconcile(key: string, logger?: Logger, priority: Priority = "normal"): Promise<ReconcileResult> {
    const [namespace = "", name = ""] = key.includes("/") ? key.split("/", 2) : ["", key];
    const cached = this.#readModelDeployment(key, namespace, name);
    const shard = this.#o.shard;
    if (!cached || (shard && !shard.selects(cached))) {
      this.#forget(key, namespace, name);
      return { writes: 0 };
    }
    if (cached.metadata?.deletionTimestamp) return { writes: 0 };
    // Arrived from another shard: its last reconcile there may still be writing.
    const handoffMs = shard?.handoffWaitMs(key) ?? 0;
    if (handoffMs > 0) {
      (logger ?? this.#o.logger).debug("arrived from another instance: waiting the handoff delay", {
        waitMs: handoffMs,
      });
      return { writes: 0, requeueAfterMs: handoffMs };
    }
    // A cache the spec needs that does not know yet whether the cluster serves its API (the
    // first reconciles after a start): nothing to decide on yet; come back shortly.
    if (this.#routeCachesUnknown(cached)) return { writes: 0, requeueAfterMs: ROUTES_UNKNOWN_REQUEUE_MS };
    // The readiness gate before its pods are cached: the planner would see no pod to admit.
    // The first such ModelDeployment opens the pod watch; the cache's sync brings it back.
    if (readinessGateOf(cached) && this.#o.pods && !this.#o.pods.synced()) {
      this.#o.pods.want();
      return { writes: 0, requeueAfterMs: PODS_UNSYNCED_REQUEUE_MS };
    }

    const log = logger ?? this.#o.logger;
    const observed = this.observe(cached);
    await this.#observeWorkloadRef(cached, observed);
    // Passing checks' results not written yet (check-report.ts) are planned from, never lost.
    const current = this.#heldChecks.overlay(key, cached);
    const { p, pending, measurements } = this.#planWithMeasurements(key, current, observed, log);
    const changed = changedStatusFields(cached.status, p.status);
    let holdMs = this.#progressHoldMs(key, name, cached, observed, p, changed, log);
    if (holdMs === undefined) {
      holdMs = this.#checkReportHoldMs(key, cached, p, changed, log);
      // Held in memory as if written: the measurer must not hand them over again.
      if (holdMs !== undefined) this.#measurer.settle(key, measurements);
    }
    // A shard's writes wait for its fence: one fresh read that finds the ModelDeployment still its own.
    const ctx: WriteContext = shard
      ? { ...this.#writes, client: shard.fence(this.#o.client, cached) }
      : this.#writes;
    let written: { md: ModelDeployment; writes: number };
    try {
      written = await this.#writeActionStatusAndChildren(
        ctx,
        { key, priority },
        cached,
        observed,
        p,
        changed,
        holdMs,
        log,
      );
    } catch (err) {
      // The fence: moved to another instance (its DELETED event follows and forgets the key),
      // or changed since the cache read it (its event follows; the requeue is a safety net).
      if (err instanceof NotOwnedError) {
        if (err.why === "moved") {
          log.info(err.message);
          return { writes: 0 };
        }
        log.debug(err.message);
        return { writes: 0, requeueAfterMs: SHARD_CHANGED_REQUEUE_MS };
      }
      // The namespace is being deleted and the ModelDeployment with it: the namespace
      // controller removes its children, and writing them again (with a retry, and an Event
      // that the namespace refuses too) would only fight the deletion. Its deletion is the
      // next event of this key (and the periodic relist, should the deletion stall).
      if (!isNamespaceTerminating(err)) throw err;
      log.debug("the namespace is being deleted: nothing more is written", { err: (err as Error).message });
      return { writes: 0 };
    }
    const writes = written.writes + (await emitEvents(ctx, written.md, p, log));
    this.#recordRolloutMetrics(namespace, name, p);
    // The outbox as written (or as read, when nothing changed) goes to the notifier; it never waits.
    const notRetained = this.#o.notifications?.notifier.offer(key, written.md) ?? 0;

    // A check that is due but still being measured makes the planner say "now"; the
    // measurer asks for this reconcile when it is done, so that is no reason to spin.
    let planned = pending > 0 && p.requeueAfterMs === 0 ? undefined : p.requeueAfterMs;
    if (notRetained > 0)
      planned = Math.min(planned ?? NOTIFY_QUEUE_FULL_REQUEUE_MS, NOTIFY_QUEUE_FULL_REQUEUE_MS);
    const requeueAfterMs =
      holdMs === undefined ? planned : planned === undefined ? holdMs : Math.min(planned, holdMs);
    return { requeueAfterMs, writes };
  }

  /**
   * spec.workloadRef, or an adoption in status that is not complete: the Deployment it names,
   * read by name (the operator watches only its own objects; an adoption comes back every few
   * seconds instead, see plan/adoption.ts), and a Service named like the ModelDeployment that
   * is not its own. Not looked at once the adoption is complete or without one.
   */
  async #observeWorkloadRef(md: ModelDeployment, observed: Observed): Promise<void> {
    const adoption = md.status?.adoption;
    const ref = md.spec.workloadRef;
    const name =
      adoption && adoption.phase !== "Completed"
        ? adoption.deployment
        : ref && md.status?.stableVersion === undefined
          ? ref.name
          : undefined;
    if (name === undefined) return;
    const ns = md.metadata?.namespace ?? "";
    // Another namespace is refused by the planner without reading anything there.
    const deployment =
      ref?.namespace !== undefined && ref.namespace !== ns && name === ref.name
        ? undefined
        : await this.#o.client.get<V1Deployment>("apps/v1", "Deployment", ns, name);
    const clientsName = md.metadata?.name ?? "";
    const owned = observed.services.some((s) => s.metadata?.name === clientsName);
    const service = owned ? undefined : await this.#o.client.get<V1Service>("v1", "Service", ns, clientsName);
    observed.workloadRef = { deployment, foreignClientsService: service };
  }

  /** The cached ModelDeployment, or the one this process wrote last if the cache is behind it. */
  #readModelDeployment(key: string, namespace: string, name: string): ModelDeployment | undefined {
    const cached = this.#o.modelDeployments.get(namespace, name);
    if (cached) {
      const w = this.#writtenMd.get(key);
      if (
        w?.obj &&
        w.obj.metadata?.uid === cached.metadata?.uid &&
        Date.now() - w.at < WRITTEN_TTL_MS &&
        newerThan(w.resourceVersion, cached.metadata?.resourceVersion)
      ) {
        return w.obj as ModelDeployment;
      } else if (w) {
        this.#writtenMd.delete(key);
      }
    }
    return cached;
  }

  /** Deleted: garbage collection removes the children through their owner references. */
  #forget(key: string, namespace: string, name: string): void {
    this.#holding.delete(key);
    this.#writtenMd.delete(key);
    this.#o.ownWrites?.forget(key);
    this.#heldChecks.forget(key);
    this.#measurer.forget(key);
    this.#o.notifications?.notifier.forget(key);
    this.#o.metrics?.forgetModelDeployment(namespace, name);
    this.#o.shard?.forget(key);
  }

  /** Starts the checks that are due, takes the measurements that are in and plans with them. */
  #planWithMeasurements(
    key: string,
    cached: ModelDeployment,
    observed: Observed,
    log: Logger,
  ): { p: ReturnType<typeof plan>; pending: number; measurements: Measurement[] } {
    // The planner sees the checks as the platform allows them (intervals and timeouts clamped).
    const budgeted = applyCheckBudget(cached, this.#o.checkBudget ?? DEFAULT_CHECK_BUDGET);
    const platformProblems = [
      ...(this.#o.destinations ? computeDestinationProblems(cached, this.#o.destinations) : []),
      ...(this.#o.promqlNamespace ? computePromqlProblems(cached, this.#o.promqlNamespace) : []),
      ...computeCredentialProblems(cached, this.#o.credentials ?? NO_CREDENTIALS),
    ];
    const due = platformProblems.length > 0 ? [] : planChecks(budgeted.md, observed, this.#now());
    // Never awaited: what is measured comes back as another reconcile of this key.
    const { measurements, pending } = this.#measurer.take(key, due, computeMeasureContext(cached, observed));
    // (Counted in metrics where they are taken: a measurement is handed over again after a failed reconcile.)
    for (const m of measurements) {
      log.debug("health check measured", {
        check: m.name,
        phase: m.phase,
        value: m.value,
        detail: m.message,
      });
    }
    const now = this.#now();
    const n = this.#o.notifications;
    let p = withSpecWarnings(
      plan({ md: budgeted.md, observed, measurements, now, platformProblems }),
      cached,
      [
        ...budgeted.warnings,
        ...computeConditionWarnings(cached),
        ...(n ? computeNotificationWarnings(cached, n.destinations) : []),
      ],
    );
    if (n) p = withNotifications(key, p, cached, n, now.toISOString());
    return { p, pending, measurements };
  }

  /**
   * How long (ms) the status write waits, or undefined to write now. A change that only
   * reports progress while the clients' Service is ahead of the Deployment's status (its pods
   * are ready, kube-controller-manager has not said so yet) waits for the Deployment, so that
   * the progress and the condition it leads to (Ready) land in one write; bounded by
   * PROGRESS_HOLD_MAX_MS, never for a decision, a condition, a phase or bad news.
   */
  #progressHoldMs(
    key: string,
    name: string,
    cached: ModelDeployment,
    observed: Observed,
    p: ReturnType<typeof plan>,
    changed: ReturnType<typeof changedStatusFields>,
    log: Logger,
  ): number | undefined {
    let holdMs: number | undefined;
    if (
      changed.length > 0 &&
      p.events.length === 0 &&
      progressOnly(cached.status, p.status, changed) &&
      endpointsAheadOfDeployments(observed, name, p.status)
    ) {
      const nowMs = this.#now().getTime();
      const since = this.#holding.get(key) ?? nowMs;
      if (nowMs - since < PROGRESS_HOLD_MAX_MS) {
        this.#holding.set(key, since);
        holdMs = since + PROGRESS_HOLD_MAX_MS - nowMs;
        log.debug("progress waits for the Deployment's status", { fields: changed, waitMs: holdMs });
      }
    }
    if (holdMs === undefined) this.#holding.delete(key);
    return holdMs;
  }

  /**
   * How long (ms) a status change that only repeats passing checks' verdicts waits, or
   * undefined to write now (check-report.ts); never with an Event to send.
   */
  #checkReportHoldMs(
    key: string,
    cached: ModelDeployment,
    p: ReturnType<typeof plan>,
    changed: ReturnType<typeof changedStatusFields>,
    log: Logger,
  ): number | undefined {
    if (p.events.length > 0) return undefined;
    const waitMs = this.#heldChecks.holdMs(key, cached, p.status.checks, changed, this.#now().getTime());
    if (waitMs !== undefined) log.debug("passing checks' results wait for the next status write", { waitMs });
    return waitMs;
  }

  /** Writes the action annotation, the status and the children, in that order of safety. */
  async #writeActionStatusAndChildren(
    ctx: WriteContext,
    { key, priority }: { key: string; priority: Priority },
    cached: ModelDeployment,
    observed: Observed,
    p: ReturnType<typeof plan>,
    changed: ReturnType<typeof changedStatusFields>,
    holdMs: number | undefined,
    log: Logger,
  ): Promise<{ md: ModelDeployment; writes: number }> {
    let writes = 0;
    let md: ModelDeployment = cached;

    // 1. An action is acted on at most once: the annotation goes before its effect is recorded.
    const action = cached.metadata?.annotations?.[ANNOTATION_ACTION];
    if (p.clearAction && action !== undefined) {
      md = await ctx.client.removeAction(cached, action);
      this.#rememberMd(key, md, priority);
      writes++;
    }

    // 2. Status (unless #progressHoldMs holds it back). The status is the operator's memory of
    //    the rollout (step, times, decisions): when it records a decision it is written first,
    //    so that if the process dies after this write the next reconcile finds the decision and
    //    brings the children to it (the other order could undo a step on restart). A status
    //    that only records what was observed (observedGeneration, conditions, progress) carries
    //    no decision the children depend on: it is written at the same time as the children.
    let statusWritten: Promise<unknown> | undefined;
    if (changed.length > 0 && holdMs === undefined) {
      log.debug("writing status", { fields: changed });
      const write = async () => {
        md = await ctx.client.replaceStatus(md, p.status);
        this.#rememberMd(key, md, priority);
        this.#heldChecks.forget(key);
        writes++;
      };
      if (recordsOnly(changed))
        statusWritten = write().then(
          () => undefined,
          (err: unknown) => err ?? new Error("status write failed"),
        );
      else await write();
    }

    // 3. Children: only those whose desired fields differ from what is observed.
    let childError: { err: unknown } | undefined;
    try {
      const childWrites = await writeChildren(ctx, cached, () => md, observed, p);
      writes += childWrites;
      writes += await writeScales(ctx, cached, p);
    } catch (err) {
      childError = { err };
    }
    const statusError = await statusWritten;
    if (childError) throw childError.err;
    if (statusError !== undefined) throw statusError;
    // 4. Pod conditions (the readiness gate) last: they follow the status written above, so a
    //    restart before them finds the same decision and makes the same writes.
    writes += await writePodConditions(ctx, cached, p);
    return { md, writes };
  }

  #recordRolloutMetrics(namespace: string, name: string, p: ReturnType<typeof plan>): void {
    const metrics = this.#o.metrics;
    if (metrics) {
      metrics.setRolloutPhase(namespace, name, p.status.phase);
      metrics.setCandidateWeight(
        namespace,
        name,
        p.status.candidateVersion ? (p.status.candidateWeight ?? 0) : undefined,
      );
      for (const e of p.events)
        if (e.reason === Reasons.RolledBack)
          metrics.countRollback(namespace, name, p.status.aborted?.reason ?? e.reason);
    }
  }
}
