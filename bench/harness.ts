// The benchmark: a local control plane with kwok nodes (test/cluster/cluster.ts, with the
// operator's reads audited), the operator as its own process, and the measurements of
// issue 7: convergence, writes at rest, reaction time, blue/green promotion overhead,
// memory, and planner speed. runBench() returns every figure; run.ts prints and saves them.
import { execFile } from "node:child_process";
import { mkdirSync, rmSync } from "node:fs";
import { cpus, release, totalmem } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { promisify } from "node:util";
import {
  KubeConfig,
  type KubernetesObject,
  type V1Deployment,
  type V1Service,
} from "@kubernetes/client-node";
import { LABEL_MANAGED_BY, LABEL_MODEL, LABEL_VERSION, OPERATOR_NAME } from "../src/api/constants.ts";
import { collectionPath } from "../src/kube/listwatch.ts";
import { GC_TRACED, startCluster, type Cluster } from "../test/cluster/cluster.ts";
import { AuditLog, type RequestCount } from "./audit.ts";
import { cpuOf, machineLoad, pressureOf, round, type Load, type WaitedOn } from "./figures.ts";
import { componentGcDuring, type GcSummary } from "./gctrace.ts";
import { BenchKube, DEPLOYMENT_RESOURCE, MD_RESOURCE, NAMESPACE_RESOURCE, SERVICE_RESOURCE } from "./kube.ts";
import { startOperatorProcess, type MemorySample, type OperatorProcess } from "./operator.ts";
import { measurePlanner, type PlannerResult } from "./planner.ts";
import { latency, ReactionStream, type LatencyResult } from "./reaction.ts";
import {
  slowChecks,
  slowChecksPods,
  slowChecksTarget,
  type SlowChecksOptions,
  type SlowChecksResult,
} from "./slow-checks.ts";
import { convergeTimeoutMs, pollUntil } from "./wait.ts";
import { benchModelDeployment, mdName } from "./workload.ts";

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, "..");
const MANAGED = `${LABEL_MANAGED_BY}=${OPERATOR_NAME}`;
/**
 * How long after a stream its garbage collections are all in the logs: longer than any
 * collection seen (the API server's took up to 11 s at 10,000 ModelDeployments on 2 cores).
 */
const GC_LOGGED_AFTER_MS = 30_000;
const HTTPROUTE_RESOURCE = {
  apiVersion: "gateway.networking.k8s.io/v1",
  kind: "HTTPRoute",
  plural: "httproutes",
};
/** The managed route of the rollout-cost case: one Gateway parent, every request. */
const BENCH_TRAFFIC = {
  gatewayAPI: { httpRoute: { parentRefs: [{ name: "inference-gateway", sectionName: "http" }] } },
};

/** What a Gateway controller writes into a route's status when its one parent accepts it. */
function acceptedStatus(): unknown {
  const now = new Date().toISOString().replace(/\.\d+Z$/, "Z");
  const cond = (type: string) => ({
    type,
    status: "True",
    reason: type,
    message: "",
    lastTransitionTime: now,
  });
  return {
    status: {
      parents: [
        {
          parentRef: {
            group: "gateway.networking.k8s.io",
            kind: "Gateway",
            name: "inference-gateway",
            sectionName: "http",
          },
          controllerName: "gateway.envoyproxy.io/gatewayclass-controller",
          conditions: [cond("Accepted"), cond("ResolvedRefs")],
        },
      ],
    },
  };
}

export interface BenchOptions {
  /** Numbers of ModelDeployments, each measured with a fresh operator (default 100, 1000). */
  sizes: number[];
  /** The at-rest window, seconds (default 60). */
  restSeconds: number;
  /** Spec changes in the reaction-time stream, at most one per ModelDeployment (default 200). */
  changes: number;
  /** Spec changes per second (default 10). */
  changeRate: number;
  /** Blue/green ModelDeployments promoted (default 20). */
  promotions: number;
  /** Version changes of the blue/green ModelDeployments per second (default 2). */
  promotionRate: number;
  /** How long N ModelDeployments may take to become Ready (default max(300, 1.8 N)). */
  convergeTimeoutSeconds?: number;
  /** Seconds of plan() per planner scenario (default 3). */
  plannerSeconds: number;
  /** The control plane's folder (emptied first); the operator's logs land there too. */
  clusterDir: string;
  /** kube-apiserver, etcd, kwok... (MRO_TOOLS_BIN). */
  binDir: string;
  /** Extra operator flags, e.g. --workers=4. */
  operatorArgs: string[];
  /** Extra Node.js flags for the operator process, e.g. --cpu-prof. */
  nodeArgs?: string[];
  /** The operator's entry point (default src/main.ts, as the tests run it; dist/main.js after npm run build, as the image runs it). */
  operatorEntry?: string;
  /**
   * Entry points whose memory with no ModelDeployment is measured (default the operator's
   * entry, then dist/main.js: the TypeScript sources and the compiled JavaScript, which
   * hack/run.sh bench builds first). CPU at rest is measured for the first only.
   */
  baselineEntries?: string[];
  /**
   * ModelDeployments in each mode of the rollout-cost case (replica ratio, then a managed
   * HTTPRoute): each converges, then rolls out a new version (default 0: not run; npm run
   * bench: 20). The route mode needs the Gateway API CRDs (MRO_GATEWAY_API_CRDS).
   */
  routeRollouts?: number;
  /** The slow-checks case (bench/slow-checks.ts; absent or 0 rollouts: not run; npm run bench: 1000). */
  slowChecks?: SlowChecksOptions;
  /** Leave the control plane running at the end. */
  keepCluster?: boolean;
  /**
   * Tune the local control plane for thousands of objects (test/cluster/cluster.ts,
   * ClusterOptions.tuned; default true): the benchmark measures the operator, not
   * kube-controller-manager's default client rate or the API server's collections.
   */
  tuneControlPlane?: boolean;
  log?: (message: string) => void;
}

export const DEFAULT_OPTIONS: Omit<BenchOptions, "clusterDir" | "binDir"> = {
  sizes: [100, 1000],
  restSeconds: 60,
  changes: 200,
  changeRate: 10,
  promotions: 20,
  promotionRate: 2,
  plannerSeconds: 3,
  routeRollouts: 20,
  slowChecks: { rollouts: 1000, checkDelayMs: 2000 },
  operatorArgs: [],
};

export type { Load } from "./figures.ts";

export interface SizeResult {
  n: number;
  convergence: {
    /** From the first create to the last ModelDeployment Ready (observedGeneration current). */
    allReadySeconds: number;
    /** From the first create to the last ModelDeployment's Deployment created: the operator's share. */
    childrenCreatedSeconds: number;
    /** Operator CPU (user + system) from the first create until it had sent nothing for 10 s. */
    cpuSeconds: number;
    requests: RequestCount;
    /** Requests about single objects (writes and gets) per ModelDeployment; the informers' lists and watches are in requests.listWatch. */
    requestsPerModelDeployment: number;
    writesPerModelDeployment: number;
    load: Load;
  };
  rest: { seconds: number; writes: number; requests: RequestCount; cpuSeconds: number; load: Load };
  memory: {
    atZero: MemorySample;
    atN: MemorySample;
    /** (heap at N - heap at 0) / N, after a full GC each time. */
    heapPerModelDeploymentBytes: number;
    rssPerModelDeploymentBytes: number;
    load: Load;
  };
  reaction: LatencyResult &
    WaitedOn & {
      ratePerSecond: number;
      /** The API server's latency for the operator's writes during the stream (audit log). */
      apiWriteLatencyMs?: RequestCount["writeLatencyMs"];
      /** CPU (cores) of the control plane's processes, the operator and the benchmark during the stream. */
      cpu?: Record<string, number>;
      load: Load;
    };
}

export type { LatencyResult };

export interface PromotionResult extends WaitedOn {
  /** From the new version's Deployment Available to the clients' Service selecting it. */
  overhead: LatencyResult;
  /** From the version change to the clients' Service switching, for scale. */
  total: LatencyResult;
  ratePerSecond: number;
  load: Load;
  /** CPU (cores) of the control plane's processes and the operator, from the first version change until every switch. */
  cpu?: Record<string, number>;
}

/** What N first versions and then N rollouts cost in API requests, in one traffic mode. */
export interface RolloutCostResult {
  /** "replica ratio" (the clients' Service) or "HTTPRoute" (a managed route, spec.traffic.gatewayAPI.httpRoute). */
  mode: "replica ratio" | "HTTPRoute";
  n: number;
  /** From the first create until every ModelDeployment is Ready and the operator quiet for 5 s. */
  converge: {
    seconds: number;
    requests: RequestCount;
    requestsPerModelDeployment: number;
    writesPerModelDeployment: number;
    load: Load;
  };
  /** From the first version change until every ModelDeployment has promoted it, the old version scaled to 0, and the operator quiet for 5 s. */
  rollout: {
    seconds: number;
    requests: RequestCount;
    requestsPerRollout: number;
    writesPerRollout: number;
    load: Load;
  };
}

export interface TargetResult {
  target: string;
  measured: string;
  met: boolean;
}

/** The operator's memory with no ModelDeployment: right after start, and after a first reconcile. */
export interface BaselineResult {
  /** The entry point it was started from (src/main.ts, dist/main.js). */
  entry: string;
  /** Caches synced, nothing to do. */
  atStart: MemorySample;
  /** After one ModelDeployment was reconciled to Ready and deleted again (the reconcile path loaded). */
  afterFirstReconcile: MemorySample;
  /** CPU at rest with no ModelDeployment, per minute of the window (the first entry only). */
  restCpuSecondsPerMinute?: number;
  load: Load;
}

export interface BenchResult {
  startedAt: string;
  finishedAt: string;
  machine: { cores: number; cpuModel: string; memoryBytes: number; node: string; kernel: string };
  options: Omit<BenchOptions, "log">;
  planner: PlannerResult[];
  /** One per entry point (BenchOptions.baselineEntries), the operator's own first. */
  baselines: BaselineResult[];
  sizes: SizeResult[];
  promotion: PromotionResult;
  /** The rollout-cost case, by replica ratio and through a route (absent: not run). */
  rolloutCost?: RolloutCostResult[];
  /** The slow-checks case (absent: not run). */
  slowChecks?: SlowChecksResult;
  targets: TargetResult[];
}

const isReady = (
  md: KubernetesObject & {
    status?: { observedGeneration?: number; conditions?: { type: string; status: string }[] };
  },
) =>
  md.status?.observedGeneration === md.metadata?.generation &&
  md.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") === true;

class Bench {
  readonly o: BenchOptions;
  readonly log: (m: string) => void;
  cluster: Cluster | undefined;
  kubeconfig = "";
  kube!: BenchKube;
  audit!: AuditLog;
  #seq = 0;
  /** The streams' windows, whose garbage collections are read at the end (fillControlPlaneGc). */
  #gcWindows: { stream: WaitedOn; fromMs: number; toMs: number }[] = [];

  constructor(o: BenchOptions) {
    this.o = o;
    this.log = o.log ?? (() => {});
  }

  async startCluster(): Promise<void> {
    const pods =
      this.o.sizes.reduce((a, b) => a + b, 0) +
      this.o.changes * this.o.sizes.length +
      this.o.promotions * 2 +
      slowChecksPods(this.o);
    this.cluster = await startCluster({
      dir: this.o.clusterDir,
      binDir: this.o.binDir,
      nodes: Math.max(2, Math.ceil(pods / 1500)),
      auditReads: true,
      tuned: this.o.tuneControlPlane ?? true,
      log: (m) => this.log(`[cluster] ${m}`),
    });
    const kubectl = join(this.o.binDir, "kubectl");
    const env = { ...process.env, KUBECONFIG: this.cluster.kubeconfig };
    await run(kubectl, ["apply", "--server-side", "-f", join(ROOT, "crds")], { env });
    await run(
      kubectl,
      ["wait", "--for=condition=Established", "--timeout=60s", "crd/modeldeployments.mlops.dev"],
      {
        env,
      },
    );
    if ((this.o.routeRollouts ?? 0) > 0) {
      // The rollout-cost case through a route: the Gateway API CRDs (hack/build-dataplane.sh).
      const crds = process.env.MRO_GATEWAY_API_CRDS;
      if (!crds) throw new Error("MRO_GATEWAY_API_CRDS is not set: run it with `npm run bench`");
      await run(kubectl, ["apply", "--server-side", "-f", crds], { env });
      await run(
        kubectl,
        ["wait", "--for=condition=Established", "--timeout=60s", "crd/httproutes.gateway.networking.k8s.io"],
        { env },
      );
    }
    this.kubeconfig = this.cluster.kubeconfig;
    const kc = new KubeConfig();
    kc.loadFromFile(this.kubeconfig);
    this.kube = new BenchKube(kc);
    this.audit = new AuditLog(this.cluster.auditLog);
  }

  async namespace(prefix: string): Promise<string> {
    const name = `${prefix}-${++this.#seq}`;
    await this.kube.create(NAMESPACE_RESOURCE, undefined, {
      apiVersion: "v1",
      kind: "Namespace",
      metadata: { name },
    });
    return name;
  }

  operator(namespace: string, label: string, entry = this.o.operatorEntry): Promise<OperatorProcess> {
    return startOperatorProcess({
      kubeconfig: this.kubeconfig,
      dir: this.o.clusterDir,
      label,
      args: [`--watch-namespace=${namespace}`, ...this.o.operatorArgs],
      nodeArgs: this.o.nodeArgs ?? [],
      ...(entry ? { entry } : {}),
    });
  }

  /** Has fillControlPlaneGc fill in `stream.gc` with the collections that overlapped [fromMs, toMs]. */
  recordGcWindow(stream: WaitedOn, fromMs: number, toMs: number): void {
    this.#gcWindows.push({ stream, fromMs, toMs });
  }

  /**
   * Fills in the `gc` of each window recorded (the sizes' reaction streams, the promotions,
   * the slow-checks case's streams). Go logs a collection when it ends, and at 10,000 objects
   * the API server's take up to 11 s, so one still running when a window ended is read once
   * GC_LOGGED_AFTER_MS has passed (usually long since: other cases ran meanwhile).
   */
  async fillControlPlaneGc(): Promise<void> {
    const lastEnd = Math.max(0, ...this.#gcWindows.map((w) => w.toMs));
    const wait = lastEnd + GC_LOGGED_AFTER_MS - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    for (const w of this.#gcWindows) {
      const gc = this.controlPlaneGc(w.fromMs, w.toMs);
      if (gc) w.stream.gc = gc;
    }
  }

  /** The API server's and etcd's garbage collections in [fromMs, toMs], by component (tuned cluster only). */
  controlPlaneGc(fromMs: number, toMs: number): Record<string, GcSummary> | undefined {
    if (!this.cluster) return undefined;
    const out: Record<string, GcSummary> = {};
    for (const name of GC_TRACED) {
      const pid = this.cluster.pids[name];
      const gc = pid && componentGcDuring(join(this.cluster.dir, "logs", `${name}.log`), pid, fromMs, toMs);
      if (gc) out[name] = gc;
    }
    return Object.keys(out).length ? out : undefined;
  }

  /** Waits until the operator sent no write for `quietMs`; false if it kept writing until the deadline. */
  async quiet(quietMs: number, timeoutMs = 120_000): Promise<boolean> {
    const since = Date.now();
    try {
      await pollUntil(
        "the operator to stop writing",
        () => Date.now() - Math.max(since, this.audit.lastWriteAt()) >= quietMs,
        timeoutMs,
        200,
      );
      return true;
    } catch {
      return false;
    }
  }

  async createAll(namespace: string, names: string[], strategy: "canary" | "blueGreen"): Promise<void> {
    await BenchKube.pool(names, 16, async (name) => {
      await this.kube.create(MD_RESOURCE, namespace, benchModelDeployment(name, "1", strategy));
    });
  }

  async baseline(entry: string, measureRest: boolean): Promise<BaselineResult> {
    const ns = await this.namespace("bench-baseline");
    this.log(`baseline: the operator (${entry}) with no ModelDeployment`);
    const op = await this.operator(ns, `operator-baseline-${ns}`, entry);
    try {
      await this.quiet(2000);
      const atStart = await op.memory();
      let ready = false;
      const mds = await this.kube.informer(MD_RESOURCE, ns, (md) => {
        if (isReady(md)) ready = true;
      });
      const name = mdName(0);
      await this.kube.create(MD_RESOURCE, ns, benchModelDeployment(name, "1", "canary"));
      await pollUntil("the first ModelDeployment Ready", () => ready, 120_000, 100);
      await this.kube.request("DELETE", `${collectionPath(MD_RESOURCE, ns)}/${name}`);
      await pollUntil("the first ModelDeployment gone", () => mds.list(ns).length === 0, 60_000, 100);
      await mds.stop();
      await this.quiet(2000);
      const afterFirstReconcile = await op.memory();
      if (!measureRest) return { entry, atStart, afterFirstReconcile, load: machineLoad() };
      // CPU at rest with nothing to do, over the same window as the sizes' at rest.
      const restStart = op.cpuSeconds();
      const t0 = performance.now();
      await new Promise((r) => setTimeout(r, this.o.restSeconds * 1000));
      const minutes = (performance.now() - t0) / 60_000;
      return {
        entry,
        atStart,
        afterFirstReconcile,
        restCpuSecondsPerMinute: round((op.cpuSeconds() - restStart) / minutes, 3),
        load: machineLoad(),
      };
    } finally {
      await op.stop();
    }
  }

  async size(n: number): Promise<SizeResult> {
    const ns = await this.namespace(`bench-n${n}`);
    const names = Array.from({ length: n }, (_, i) => mdName(i));
    this.log(`N=${n}: starting the operator (namespace ${ns})`);
    const op = await this.operator(ns, `operator-n${n}`);
    try {
      await this.quiet(2000);
      const atZero = await op.memory();

      const readyAt = new Map<string, number>();
      const childAt = new Map<string, number>();
      const stream = new ReactionStream();
      const mds = await this.kube.informer(MD_RESOURCE, ns, (md, at) => {
        const name = md.metadata?.name ?? "";
        if (!readyAt.has(name) && isReady(md)) readyAt.set(name, at);
        stream.onModelDeployment(md, at);
      });
      const deps = await this.kube.informer<V1Deployment>(
        DEPLOYMENT_RESOURCE,
        ns,
        (d, at) => {
          const model = d.metadata?.labels?.[LABEL_MODEL] ?? "";
          if (!childAt.has(model)) childAt.set(model, at);
          stream.onDeployment(d, at);
        },
        MANAGED,
      );

      // 1. Convergence.
      this.log(`N=${n}: creating ${n} ModelDeployments`);
      const wall0 = Date.now();
      const t0 = performance.now();
      const cpu0 = op.cpuSeconds();
      await this.createAll(ns, names, "canary");
      let nextProgress = Date.now() + 30_000;
      await pollUntil(
        `${n} ModelDeployments Ready`,
        () => {
          if (Date.now() >= nextProgress) {
            nextProgress += 30_000;
            this.log(`N=${n}: ${readyAt.size} Ready, ${childAt.size} with a Deployment`);
          }
          return readyAt.size === n;
        },
        convergeTimeoutMs(this.o.convergeTimeoutSeconds, n),
        200,
      );
      const allReadySeconds = (Math.max(...readyAt.values()) - t0) / 1000;
      const childrenCreatedSeconds = (Math.max(...childAt.values()) - t0) / 1000;
      this.log(
        `N=${n}: all Ready after ${allReadySeconds.toFixed(1)} s; waiting until the operator is quiet`,
      );
      // At rest starts when the operator has sent nothing for 10 s (its last Events included).
      await this.quiet(10_000);
      const convergenceEnd = Date.now();
      const requests = this.audit.count(wall0, convergenceEnd);
      const convergence = {
        allReadySeconds: round(allReadySeconds),
        childrenCreatedSeconds: round(childrenCreatedSeconds),
        cpuSeconds: round(op.cpuSeconds() - cpu0),
        requests,
        requestsPerModelDeployment: round((requests.total - requests.listWatch) / n),
        writesPerModelDeployment: round(requests.writes / n),
        load: machineLoad(),
      };

      // 2. At rest.
      this.log(`N=${n}: ${this.o.restSeconds} s at rest`);
      const rest0 = Date.now();
      const restCpu0 = op.cpuSeconds();
      await new Promise((r) => setTimeout(r, this.o.restSeconds * 1000));
      const restRequests = this.audit.count(rest0, rest0 + this.o.restSeconds * 1000);
      const rest = {
        seconds: this.o.restSeconds,
        writes: restRequests.writes,
        requests: restRequests,
        cpuSeconds: round(op.cpuSeconds() - restCpu0),
        load: machineLoad(),
      };

      // 3. Memory at N.
      const atN = await op.memory();
      const memory = {
        atZero,
        atN,
        heapPerModelDeploymentBytes: Math.round((atN.heapUsedBytes - atZero.heapUsedBytes) / n),
        rssPerModelDeploymentBytes: Math.round((atN.rssBytes - atZero.rssBytes) / n),
        load: machineLoad(),
      };

      // 4. Reaction time: a stream of spec changes (replicas 1 -> 2), each to its own ModelDeployment.
      const k = Math.min(this.o.changes, n);
      const step = Math.max(1, Math.floor(n / k));
      const targets = Array.from({ length: k }, (_, i) => names[i * step] as string);
      this.log(`N=${n}: ${k} spec changes at ${this.o.changeRate}/s`);
      const reactionWall0 = Date.now();
      const cpu = cpuOf({ ...this.cluster?.pids, operator: op.pid });
      const pressure = pressureOf();
      const changed = await stream.run({
        kube: this.kube,
        namespace: ns,
        names: targets,
        replicas: 2,
        ratePerSecond: this.o.changeRate,
        mds,
        deps,
      });
      const reaction: SizeResult["reaction"] = {
        ...changed,
        ratePerSecond: this.o.changeRate,
        // How fast the API server answered the operator meanwhile: most of a reaction.
        apiWriteLatencyMs: this.audit.count(reactionWall0).writeLatencyMs,
        // Where the machine's CPU went meanwhile (a control plane at 10,000 objects is busy).
        cpu: cpu.cores(),
        pressure: pressure.percent(),
        load: machineLoad(),
      };

      this.recordGcWindow(reaction, reactionWall0, Date.now());

      await mds.stop();
      await deps.stop();
      return { n, convergence, rest, memory, reaction };
    } finally {
      await op.stop();
    }
  }

  /**
   * The API requests of N first versions and then N rollouts (a one-step canary at 50%, 1
   * replica), by replica ratio or through a managed HTTPRoute. The harness plays the
   * Gateway controller: it writes Accepted into each route's status (requests of its own,
   * not counted).
   */
  async rolloutCost(n: number, routed: boolean): Promise<RolloutCostResult> {
    const mode = routed ? "HTTPRoute" : "replica ratio";
    const ns = await this.namespace(routed ? "bench-route" : "bench-ratio");
    const names = Array.from({ length: n }, (_, i) => mdName(i));
    this.log(`rollout cost (${mode}): ${n} ModelDeployments (namespace ${ns})`);
    const op = await this.operator(ns, routed ? "operator-route" : "operator-ratio");
    try {
      await this.quiet(2000);
      const states = new Map<string, { ready: boolean; stable?: string; candidate?: string }>();
      const mds = await this.kube.informer(MD_RESOURCE, ns, (md) => {
        const st = (md as { status?: { stableVersion?: string; candidateVersion?: string } }).status;
        states.set(md.metadata?.name ?? "", {
          ready: isReady(md),
          stable: st?.stableVersion,
          candidate: st?.candidateVersion,
        });
      });
      const accepted = new Set<string>();
      const routes = routed
        ? await this.kube.informer(HTTPROUTE_RESOURCE, ns, (r) => {
            const name = r.metadata?.name ?? "";
            if (accepted.has(name)) return;
            accepted.add(name);
            void this.kube
              .request(
                "PATCH",
                `${collectionPath(HTTPROUTE_RESOURCE, ns)}/${name}/status`,
                acceptedStatus(),
                "application/merge-patch+json",
              )
              .catch((err: unknown) =>
                this.log(`could not accept the route ${name}: ${(err as Error).message}`),
              );
          })
        : undefined;
      const spec = (name: string, version: string) => {
        const md = benchModelDeployment(name, version, "canary");
        if (routed) md.spec.traffic = BENCH_TRAFFIC;
        return md;
      };
      const deps = await this.kube.informer<V1Deployment>(DEPLOYMENT_RESOURCE, ns, () => {}, MANAGED);
      const oldGone = () =>
        deps
          .list(ns)
          .every((d) => d.metadata?.labels?.[LABEL_VERSION] !== "1" || (d.status?.replicas ?? 0) === 0);

      const t0 = Date.now();
      await BenchKube.pool(names, 16, async (name) => {
        await this.kube.create(MD_RESOURCE, ns, spec(name, "1"));
      });
      const allAt = (pred: (s: { ready: boolean; stable?: string; candidate?: string }) => boolean) =>
        names.every((name) => {
          const st = states.get(name);
          return st !== undefined && pred(st);
        });
      await pollUntil(
        `${n} ModelDeployments Ready (${mode})`,
        () => allAt((s) => s.ready && s.stable === "1"),
        300_000,
        200,
      );
      await this.quiet(5000);
      const t1 = Date.now();
      const convergeRequests = this.audit.count(t0, t1);

      this.log(`rollout cost (${mode}): rolling out version 2 of ${n} ModelDeployments`);
      await BenchKube.pool(names, 16, async (name) => {
        const next = spec(name, "2");
        await this.kube.mergePatch(MD_RESOURCE, ns, name, {
          spec: { model: next.spec.model, template: next.spec.template },
        });
      });
      await pollUntil(
        `${n} rollouts promoted (${mode})`,
        () => allAt((s) => s.ready && s.stable === "2" && s.candidate === undefined) && oldGone(),
        300_000,
        200,
      );
      await this.quiet(5000);
      const t2 = Date.now();
      const rolloutRequests = this.audit.count(t1, t2);
      await mds.stop();
      await deps.stop();
      await routes?.stop();
      const quietMs = 5000;
      return {
        mode,
        n,
        converge: {
          seconds: round((t1 - t0 - quietMs) / 1000),
          requests: convergeRequests,
          requestsPerModelDeployment: round((convergeRequests.total - convergeRequests.listWatch) / n),
          writesPerModelDeployment: round(convergeRequests.writes / n),
          load: machineLoad(),
        },
        rollout: {
          seconds: round((t2 - t1 - quietMs) / 1000),
          requests: rolloutRequests,
          requestsPerRollout: round((rolloutRequests.total - rolloutRequests.listWatch) / n),
          writesPerRollout: round(rolloutRequests.writes / n),
          load: machineLoad(),
        },
      };
    } finally {
      await op.stop();
    }
  }

  async promotion(): Promise<PromotionResult> {
    const m = this.o.promotions;
    const ns = await this.namespace("bench-bluegreen");
    const names = Array.from({ length: m }, (_, i) => mdName(i));
    this.log(`promotion: ${m} blue/green ModelDeployments (namespace ${ns})`);
    const op = await this.operator(ns, "operator-bluegreen");
    try {
      const readyAt = new Map<string, number>();
      const sentAt = new Map<string, number>();
      const availableAt = new Map<string, number>();
      const switchedAt = new Map<string, number>();
      const mds = await this.kube.informer(MD_RESOURCE, ns, (md, at) => {
        if (!readyAt.has(md.metadata?.name ?? "") && isReady(md)) readyAt.set(md.metadata?.name ?? "", at);
      });
      const deps = await this.kube.informer<V1Deployment>(
        DEPLOYMENT_RESOURCE,
        ns,
        (d, at) => {
          const model = d.metadata?.labels?.[LABEL_MODEL] ?? "";
          if (d.metadata?.labels?.[LABEL_VERSION] !== "2" || availableAt.has(model)) return;
          const want = d.spec?.replicas ?? 0;
          const st = d.status ?? {};
          if (
            want > 0 &&
            (st.observedGeneration ?? 0) >= (d.metadata?.generation ?? 1) &&
            (st.availableReplicas ?? 0) >= want &&
            (st.updatedReplicas ?? 0) >= want
          )
            availableAt.set(model, at);
        },
        MANAGED,
      );
      const svcs = await this.kube.informer<V1Service>(
        SERVICE_RESOURCE,
        ns,
        (s, at) => {
          const model = s.metadata?.labels?.[LABEL_MODEL] ?? "";
          if (s.metadata?.name !== model || switchedAt.has(model)) return;
          if (s.spec?.selector?.[LABEL_VERSION] === "2") switchedAt.set(model, at);
        },
        MANAGED,
      );
      await this.createAll(ns, names, "blueGreen");
      await pollUntil(`${m} blue/green ModelDeployments Ready`, () => readyAt.size === m, 180_000, 200);
      await this.quiet(2000);

      this.log(`promotion: changing the version of ${m} ModelDeployments at ${this.o.promotionRate}/s`);
      // What the machine did meanwhile: after a large size, the same control plane serves it.
      const wall0 = Date.now();
      const cpu = cpuOf({ ...this.cluster?.pids, operator: op.pid });
      const pressure = pressureOf();
      const start = performance.now();
      for (let i = 0; i < m; i++) {
        const wait = start + (i * 1000) / this.o.promotionRate - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        const name = names[i] as string;
        const next = benchModelDeployment(name, "2", "blueGreen");
        sentAt.set(name, performance.now());
        await this.kube.mergePatch(MD_RESOURCE, ns, name, {
          spec: { model: next.spec.model, template: next.spec.template },
        });
      }
      await pollUntil("every clients' Service switched", () => switchedAt.size === m, 180_000, 50).catch(
        () => {},
      );
      const overheads: number[] = [];
      const totals: number[] = [];
      for (const name of names) {
        const sw = switchedAt.get(name);
        const av = availableAt.get(name);
        if (sw === undefined) continue;
        totals.push(sw - (sentAt.get(name) as number));
        if (av !== undefined) overheads.push(sw - av);
      }
      const result: PromotionResult = {
        overhead: latency(overheads, m - overheads.length),
        total: latency(totals, m - totals.length),
        ratePerSecond: this.o.promotionRate,
        load: machineLoad(),
        cpu: cpu.cores(),
        pressure: pressure.percent(),
      };
      this.recordGcWindow(result, wall0, Date.now());
      await mds.stop();
      await deps.stop();
      await svcs.stop();
      return result;
    } finally {
      await op.stop();
    }
  }
}

function kb(bytes: number): string {
  return `${(bytes / 1024).toFixed(1)} KB`;
}

export function evaluateTargets(
  sizes: SizeResult[],
  promotion: PromotionResult,
  baselines: BaselineResult[] = [],
  slowChecksResult?: SlowChecksResult,
): TargetResult[] {
  const largest = sizes.reduce<SizeResult | undefined>((a, b) => (!a || b.n > a.n ? b : a), undefined);
  const at1000 = sizes.find((s) => s.n === 1000) ?? largest;
  const out: TargetResult[] = [];
  const restWrites = sizes.map((s) => `${s.rest.writes} at N=${s.n}`).join(", ");
  out.push({
    target: "0 writes at rest",
    measured: restWrites,
    met: sizes.every((s) => s.rest.writes === 0),
  });
  out.push({
    target: "at most 6 API requests per ModelDeployment to converge its first version",
    measured: sizes.map((s) => `${s.convergence.requestsPerModelDeployment} at N=${s.n}`).join(", "),
    met: sizes.every((s) => s.convergence.requestsPerModelDeployment <= 6),
  });
  if (at1000) {
    out.push({
      target: "reaction p99 under 500 ms at N = 1000",
      measured: `${at1000.reaction.p99Ms} ms at N=${at1000.n} (${at1000.reaction.timedOut} timed out)`,
      met: at1000.reaction.p99Ms < 500 && at1000.reaction.timedOut === 0 && at1000.n >= 1000,
    });
    out.push({
      target: "under 40 KB of heap per ModelDeployment at N = 1000",
      measured: `${kb(at1000.memory.heapPerModelDeploymentBytes)} at N=${at1000.n}`,
      met: at1000.memory.heapPerModelDeploymentBytes < 40 * 1024 && at1000.n >= 1000,
    });
  }
  for (const { entry, atStart, afterFirstReconcile } of baselines) {
    const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;
    out.push({
      target: `RSS with no ModelDeployment at most 100 MiB, at start and after the first reconcile (node ${entry})`,
      measured: `${mib(atStart.rssBytes)} at start, ${mib(afterFirstReconcile.rssBytes)} after the first reconcile`,
      met: Math.max(atStart.rssBytes, afterFirstReconcile.rssBytes) <= 100 * 2 ** 20,
    });
  }
  const perMinute = (s: SizeResult) => (s.rest.cpuSeconds * 60) / s.rest.seconds;
  out.push({
    target: "CPU at rest at most 0.1 s per minute (N = 1000)",
    measured: sizes.map((s) => `${perMinute(s).toFixed(3)} s at N=${s.n}`).join(", "),
    met: sizes.some((s) => s.n >= 1000) && sizes.every((s) => s.n < 1000 || perMinute(s) <= 0.1),
  });
  out.push({
    target: "promotion overhead p99 under 250 ms",
    measured: `${promotion.overhead.p99Ms} ms (${promotion.overhead.samples} promotions, ${promotion.overhead.timedOut} missing)`,
    met: promotion.overhead.p99Ms < 250 && promotion.overhead.timedOut === 0,
  });
  if (slowChecksResult) out.push(slowChecksTarget(slowChecksResult));
  return out;
}

export async function runBench(options: BenchOptions): Promise<BenchResult> {
  const startedAt = new Date().toISOString();
  const log = options.log ?? (() => {});
  mkdirSync(options.clusterDir, { recursive: true });
  log(`planner: ${options.plannerSeconds} s per scenario`);
  const planner = measurePlanner(options.plannerSeconds);
  const bench = new Bench(options);
  // Ctrl-C or SIGTERM: stop the control plane and the operator (their exit handlers) first.
  const onSignal = () => {
    void bench.cluster?.stop().finally(() => process.exit(130));
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  try {
    await bench.startCluster();
    const entries = options.baselineEntries ?? [
      ...new Set([options.operatorEntry ?? "src/main.ts", "dist/main.js"]),
    ];
    // The compiled JavaScript is built from this checkout's sources, as `npm run build` does, so
    // that it is never an older build than what the rest measures.
    if (entries.some((e) => e.startsWith("dist/"))) {
      log("npm run build: the compiled JavaScript for the baseline");
      rmSync(join(ROOT, "dist"), { recursive: true, force: true });
      await run(
        process.execPath,
        [join(ROOT, "node_modules", "typescript", "bin", "tsc"), "-p", "tsconfig.build.json"],
        {
          cwd: ROOT,
        },
      );
    }
    const baselines: BaselineResult[] = [];
    for (const [i, entry] of entries.entries()) baselines.push(await bench.baseline(entry, i === 0));
    const sizes: SizeResult[] = [];
    for (const n of options.sizes) sizes.push(await bench.size(n));
    const promotion = await bench.promotion();
    const rolloutCost: RolloutCostResult[] = [];
    if ((options.routeRollouts ?? 0) > 0) {
      rolloutCost.push(await bench.rolloutCost(options.routeRollouts ?? 0, false));
      rolloutCost.push(await bench.rolloutCost(options.routeRollouts ?? 0, true));
    }
    const slow = options.slowChecks?.rollouts ? await slowChecks(bench, options.slowChecks) : undefined;
    await bench.fillControlPlaneGc();
    const { log: _log, ...opts } = options;
    return {
      startedAt,
      finishedAt: new Date().toISOString(),
      machine: {
        cores: cpus().length,
        cpuModel: cpus()[0]?.model ?? "unknown",
        memoryBytes: totalmem(),
        node: process.version,
        kernel: release(),
      },
      options: opts,
      planner,
      baselines,
      sizes,
      promotion,
      ...(rolloutCost.length ? { rolloutCost } : {}),
      ...(slow ? { slowChecks: slow } : {}),
      targets: evaluateTargets(sizes, promotion, baselines, slow),
    };
  } finally {
    process.removeListener("SIGINT", onSignal);
    process.removeListener("SIGTERM", onSignal);
    bench.kube?.close();
    if (!options.keepCluster) await bench.cluster?.stop();
    else log(`the control plane keeps running: export KUBECONFIG=${bench.kubeconfig}`);
  }
}
