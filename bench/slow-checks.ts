// The slow-checks case (issue 20): N ModelDeployments roll out at once, each canary gated by
// an HTTP check whose server answers after a delay (2 s), and meanwhile a stream of unrelated
// spec changes. The rollouts then stay at a pause of their canary, their checks measured
// again and again, so that all N are measuring at once for as long as the case needs. The
// reaction time of the unrelated changes is measured five times in one operator's life: with
// no rollout under way; twice with the same N rolled out to their pause at 50% without
// checks (the figure the issue compares with: the cluster of the streams with checks, no
// check), once scaling the unrelated ModelDeployments down and once up; right after every
// rollout with checks was first measured (scaling up); and once they are steady (scaling
// down). Each stream with checks is compared with the stream without checks that makes the
// same change: creating 200 pods (scheduled, started by kwok, added to EndpointSlices) and
// deleting them are different work for the control plane. Measuring beside the work queue
// (src/controller/measurer.ts) is what keeps the streams with checks near the ones without;
// when the workers awaited the checks, an unrelated change waited for a free worker.
import { performance } from "node:perf_hooks";
import type { KubernetesObject, V1Deployment } from "@kubernetes/client-node";
import { ANNOTATION_ACTION, LABEL_MANAGED_BY, OPERATOR_NAME } from "../src/api/constants.ts";
import { PRIORITIES, type Priority } from "../src/controller/queue.ts";
import type { AuditLog, RequestCount } from "./audit.ts";
import { cpuOf, machineLoad, pressureOf, round, type Load, type WaitedOn } from "./figures.ts";
import type { BenchOptions, TargetResult } from "./harness.ts";
import { BenchKube, DEPLOYMENT_RESOURCE, MD_RESOURCE } from "./kube.ts";
import { startOperatorProcess, type OperatorProcess } from "./operator.ts";
import { ReactionStream, type LatencyResult } from "./reaction.ts";
import { SlowCheckServers } from "./slow-check-servers.ts";
import { convergeTimeoutMs, pollUntil } from "./wait.ts";
import { benchModelDeployment } from "./workload.ts";

/** The operator's default caps (--check-concurrency, --check-concurrency-per-destination). */
export const DEFAULT_CHECK_CAPS = { total: 64, perDestination: 8 };
/** Measurements of every rollout's check before the steady stream. */
export const STEADY_MEASUREMENTS = 3;
/** Unrelated ModelDeployments at most: one change each in each stream. */
export const MAX_UNRELATED = 500;

export interface SlowChecksOptions {
  /** ModelDeployments rolling out at once (0: the case is skipped). */
  rollouts: number;
  /** How long each check's server takes to answer, ms (default 2000). */
  checkDelayMs: number;
  /** spec.healthChecks.interval of the rollouts (default: unset, the API's 10s). */
  checkInterval?: string;
  /**
   * The operator of this case, when not the benchmark's own (e.g. the code before measuring
   * beside the queue, checked out elsewhere: an absolute path).
   */
  entry?: string;
  /** Leave out the check-destination flags (an operator from before the destination policy knows none). */
  withoutCheckFlags?: boolean;
}

export interface SlowChecksResult {
  rollouts: number;
  /** The ModelDeployments without checks that the stream changes (one change each per stream). */
  unrelated: number;
  checkDelayMs: number;
  /** spec.healthChecks.interval of the rollouts ("10s": the default). */
  checkInterval: string;
  /** Test servers on 127.0.0.1, the rollouts spread over them. */
  servers: number;
  /** The operator's entry point. */
  entry: string;
  /** From the first create until all N + K ModelDeployments were Ready. */
  convergeSeconds: number;
  /** The stream with no rollout under way (spec.replicas 1 -> 2). */
  baseline: StreamResult;
  /** From the version change without checks until every rollout was at its pause. */
  withoutChecksPausedSeconds: number;
  /**
   * The stream once the N rollouts without checks are all paused at 50% and the operator
   * is quiet (spec.replicas 2 -> 1, pods deleted): the cluster of the measuring streams
   * (1000 candidates up), no check. The figure the steady stream (the same change) is
   * compared with.
   */
  withoutChecks: StreamResult;
  /**
   * Right after it, the same cluster scaling up (spec.replicas 1 -> 2, pods created): the
   * figure the loaded stream (the same change) is compared with.
   */
  withoutChecksUp: StreamResult;
  /** From the version change without checks until all N were promoted (promote-full) and Ready again, the unrelated ones back to 1 replica. */
  withoutChecksDoneSeconds: number;
  /** The same stream while the N rollouts' checks are in flight (version 3, spec.replicas 1 -> 2). */
  loaded: StreamResult;
  /**
   * The stream once more, once every rollout's check was measured STEADY_MEASUREMENTS times
   * (spec.replicas 2 -> 1): the rollouts paused, their checks passing again and again, no
   * first result or step left to write.
   */
  steady?: StreamResult;
  /** How long the harness took to send the N version changes (with checks). */
  versionChangesSentSeconds: number;
  /** p99 ratios of the streams with checks to the streams without checks (the same change each) and to the one with no rollout. */
  ratios: P99Ratios;
  /** What the check servers saw during the loaded stream. */
  checksDuringStream: { received: number; peakInFlight: number; inFlightAtStart: number };
  /**
   * From the first version change until every rollout's check had been measured at least
   * once (the loaded stream's start): the rollouts' start, bound by creating their
   * candidates' Deployments and Services, then by the checks' global cap.
   */
  allMeasuringAfterSeconds: number;
  /** Rollouts whose check the servers had received when the loaded stream started (N, unless the wait timed out). */
  measuring: number;
  /**
   * Every request the servers received, the most in flight at once, and the most of one
   * rollout in flight at once, over the whole case.
   */
  checks: { received: number; peakInFlight: number; peakInFlightPerRollout: number };
  load: Load;
}

/** What the operator did during a stream, from its /metrics and /proc. */
export interface OperatorDuringStream {
  /** Most keys waiting in its work queue (workqueue_depth, sampled every QUEUE_SAMPLE_MS). */
  peakQueueDepth: number;
  /** Keys added to the work queue per second (workqueue_adds_total). */
  queueAddsPerSecond: number;
  /** Its CPU (user + system) per second of the stream: 1 is one core. */
  cpuCores: number;
  /** Requests it sent per second (through its client-side rate limit; the Lease's aside). */
  requestsPerSecond?: number;
  /** How long a request waited for the rate limit on average, ms (rest_client_rate_limiter_duration_seconds). */
  rateLimitWaitMs?: number;
  /**
   * How long the keys taken during the stream had waited in the work queue on average, ms,
   * by the priority they were taken at (workqueue_queue_duration_seconds); a priority
   * with no key taken is left out. "high" is the stream's changes.
   */
  queueWaitMs?: Partial<Record<Priority, number>>;
}

export type StreamResult = LatencyResult &
  WaitedOn & {
    ratePerSecond: number;
    load: Load;
    operator: OperatorDuringStream;
    /** The operator's writes during the stream as the API server saw them (its audit log). */
    api: { writesPerSecond: number; writeLatencyMs?: RequestCount["writeLatencyMs"] };
    /**
     * CPU (cores) of the control plane's processes and of the benchmark itself (with its
     * test servers) during the stream: where a 2-core machine's time went.
     */
    cpu?: Record<string, number>;
  };

/** What the case needs of the benchmark (harness.ts Bench). */
export interface SlowChecksBench {
  readonly o: BenchOptions;
  readonly kube: BenchKube;
  readonly kubeconfig: string;
  readonly audit: AuditLog;
  /** The local control plane's processes by name (test/cluster/cluster.ts). */
  readonly cluster: { pids: Record<string, number> } | undefined;
  readonly log: (m: string) => void;
  namespace(prefix: string): Promise<string>;
  quiet(quietMs: number, timeoutMs?: number): Promise<boolean>;
  /** Has the end of the run fill in `stream.gc` with the collections that overlapped [fromMs, toMs]. */
  recordGcWindow(stream: WaitedOn, fromMs: number, toMs: number): void;
}

/** Servers so that the global cap binds, not the per-destination one: 64 / 8 = 8. */
export function serverCount(rollouts: number, caps = DEFAULT_CHECK_CAPS): number {
  return Math.max(1, Math.min(rollouts, Math.ceil(caps.total / caps.perDestination)));
}

/** Unrelated ModelDeployments: one per change of the stream, at most MAX_UNRELATED, at least 1. */
export function unrelatedCount(changes: number): number {
  return Math.max(1, Math.min(changes, MAX_UNRELATED));
}

/**
 * How long the version changes may take until every rollout is measuring: creating N
 * candidates (about 4 a second on a busy local control plane, whose Service creation is the
 * slow part) and then one round of checks at the global cap, doubled; at least 5 minutes.
 */
export function measuringTimeoutSeconds(
  rollouts: number,
  checkDelayMs: number,
  caps = DEFAULT_CHECK_CAPS,
): number {
  const oneRound = (rollouts * checkDelayMs) / 1000 / caps.total;
  return Math.max(300, Math.ceil(2 * (rollouts / 4 + oneRound)));
}

/** Pods the case runs at most: each rollout's two versions, and the unrelated ones at 2 replicas. */
export function slowChecksPods(o: Pick<BenchOptions, "changes" | "slowChecks">): number {
  const n = o.slowChecks?.rollouts ?? 0;
  return n > 0 ? 2 * n + 2 * unrelatedCount(o.changes) : 0;
}

/** p99 / the reference's p99 (NaN when either is missing). */
export function p99Ratio(referenceP99Ms: number, p99Ms: number): number {
  if (!(referenceP99Ms > 0) || !Number.isFinite(p99Ms)) return NaN;
  return round(p99Ms / referenceP99Ms);
}

export interface P99Ratios {
  /** loaded / without checks scaling up (withoutChecksUp): the target's. */
  loaded: number;
  /** steady / without checks scaling down (withoutChecks): the target's too (NaN without a steady stream). */
  steady: number;
  /** loaded / no rollout under way: the rollouts' own load counted too. */
  loadedToNoRollout: number;
  /** steady / no rollout under way. */
  steadyToNoRollout: number;
}

export function p99Ratios(
  r: Pick<SlowChecksResult, "baseline" | "withoutChecks" | "withoutChecksUp" | "loaded" | "steady">,
): P99Ratios {
  const steady = r.steady?.p99Ms ?? NaN;
  return {
    loaded: p99Ratio(r.withoutChecksUp.p99Ms, r.loaded.p99Ms),
    steady: p99Ratio(r.withoutChecks.p99Ms, steady),
    loadedToNoRollout: p99Ratio(r.baseline.p99Ms, r.loaded.p99Ms),
    steadyToNoRollout: p99Ratio(r.baseline.p99Ms, steady),
  };
}

/**
 * The target: 1000 rollouts at once, each gated by a slow check; the reaction p99
 * of unrelated changes within twice the figure without checks (the same rollouts paused at
 * 50% without checks, the same change), right after every rollout's first measurement and
 * once they are steady.
 */
export function slowChecksTarget(r: SlowChecksResult): TargetResult {
  const steady = r.steady
    ? `; steady ${r.steady.p99Ms} ms against ${r.withoutChecks.p99Ms} ms scaling down (${r.ratios.steady}x)`
    : "";
  const timedOut = [r.withoutChecks, r.withoutChecksUp, r.loaded, ...(r.steady ? [r.steady] : [])].reduce(
    (n, s) => n + s.timedOut,
    0,
  );
  const measured =
    `${r.loaded.p99Ms} ms with ${r.rollouts} rollouts measuring ${r.checkDelayMs / 1000} s checks ` +
    `against ${r.withoutChecksUp.p99Ms} ms with ${r.rollouts} rollouts paused without checks, scaling up (${r.ratios.loaded}x${steady}; ` +
    `${timedOut} timed out, ${r.checksDuringStream.peakInFlight} checks in flight at most)`;
  return {
    target: "slow checks: reaction p99 within twice the figure without checks",
    measured,
    met:
      r.rollouts >= 1000 &&
      r.ratios.loaded <= 2 &&
      (r.steady === undefined || r.ratios.steady <= 2) &&
      timedOut === 0 &&
      r.measuring === r.rollouts &&
      r.checksDuringStream.peakInFlight > 0,
  };
}

/**
 * The sum of every series of `name` in a Prometheus text exposition; with `label`
 * (`key="value"`), of the series that carry that label only.
 */
export function sumSeries(text: string, name: string, label?: string): number {
  let sum = 0;
  for (const line of text.split("\n")) {
    if (!(line.startsWith(`${name} `) || line.startsWith(`${name}{`))) continue;
    const series = line.slice(0, line.lastIndexOf(" "));
    if (
      label !== undefined &&
      ![`{${label},`, `,${label},`, `{${label}}`, `,${label}}`].some((x) => series.includes(x))
    )
      continue;
    sum += Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return sum;
}

/** Mean queue wait by priority between two scrapes of the operator's /metrics, ms. */
export function queueWaitByPriority(before: string, after: string): Partial<Record<Priority, number>> {
  const out: Partial<Record<Priority, number>> = {};
  for (const p of PRIORITIES) {
    const label = `priority="${p}"`;
    const delta = (name: string) => sumSeries(after, name, label) - sumSeries(before, name, label);
    const count = delta("workqueue_queue_duration_seconds_count");
    if (count > 0) out[p] = round((delta("workqueue_queue_duration_seconds_sum") / count) * 1000, 1);
  }
  return out;
}

/**
 * How often the operator's work queue depth is sampled during a stream. Each sample is a
 * whole scrape of its /metrics, which with 1200 ModelDeployments is thousands of series:
 * sampled every 250 ms, the scrapes were the largest part of the operator's CPU during
 * the streams (by a CPU profile, prom-client's serialization 10 to 18% of its time and
 * most of its garbage collection), CPU the API server needed on a 2-core machine. A
 * Prometheus scrapes every 15 to 60 s.
 */
export const QUEUE_SAMPLE_MS = 2000;

/** Runs `work` while sampling the operator's work queue and CPU. */
async function watchOperator<T>(
  op: OperatorProcess,
  work: () => Promise<T>,
): Promise<{ value: T; operator: OperatorDuringStream }> {
  const scrape = async () => {
    try {
      return await (await fetch(op.metricsUrl)).text();
    } catch {
      return "";
    }
  };
  const before = await scrape();
  const adds0 = sumSeries(before, "workqueue_adds_total");
  const waited0 = sumSeries(before, "rest_client_rate_limiter_duration_seconds_sum");
  const waits0 = sumSeries(before, "rest_client_rate_limiter_duration_seconds_count");
  const cpu0 = op.cpuSeconds();
  const t0 = performance.now();
  let peak = 0;
  let running = true;
  const sampler = (async () => {
    while (running) {
      peak = Math.max(peak, sumSeries(await scrape(), "workqueue_depth"));
      await new Promise((r) => setTimeout(r, QUEUE_SAMPLE_MS));
    }
  })();
  try {
    const value = await work();
    const seconds = (performance.now() - t0) / 1000;
    const after = await scrape();
    const adds = sumSeries(after, "workqueue_adds_total") - adds0;
    const waits = sumSeries(after, "rest_client_rate_limiter_duration_seconds_count") - waits0;
    const waited = sumSeries(after, "rest_client_rate_limiter_duration_seconds_sum") - waited0;
    return {
      value,
      operator: {
        peakQueueDepth: peak,
        queueAddsPerSecond: round(adds / seconds, 1),
        cpuCores: round((op.cpuSeconds() - cpu0) / seconds),
        requestsPerSecond: round(waits / seconds, 1),
        rateLimitWaitMs: waits > 0 ? round((waited / waits) * 1000, 1) : 0,
        queueWaitMs: queueWaitByPriority(before, after),
      },
    };
  } finally {
    running = false;
    await sampler;
  }
}

type MdState = { ready: boolean; stable?: string; candidate?: string; step?: number };

function mdState(md: KubernetesObject): MdState {
  const m = md as KubernetesObject & {
    status?: {
      observedGeneration?: number;
      stableVersion?: string;
      candidateVersion?: string;
      currentStep?: number;
      conditions?: { type: string; status: string }[];
    };
  };
  return {
    ready:
      m.status?.observedGeneration === m.metadata?.generation &&
      m.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") === true,
    stable: m.status?.stableVersion,
    candidate: m.status?.candidateVersion,
    step: m.status?.currentStep,
  };
}

/**
 * A rollout whose canary, gated by the HTTP check at `url`, goes to 50% and then pauses
 * until promoted: its check is measured every interval until the case ends.
 */
function slowModelDeployment(name: string, version: string, url: string, interval: string | undefined) {
  const md = benchModelDeployment(name, version, "canary");
  md.spec.strategy = { canary: { steps: [{ setWeight: 50 }, { pause: {} }] } };
  md.spec.healthChecks = {
    ...(interval ? { interval } : {}),
    checks: [{ name: "slow", timeout: "30s", http: { url } }],
  };
  return md;
}

export async function slowChecks(bench: SlowChecksBench, o: SlowChecksOptions): Promise<SlowChecksResult> {
  const n = o.rollouts;
  const k = unrelatedCount(bench.o.changes);
  const rate = bench.o.changeRate;
  const ns = await bench.namespace("bench-slow-checks");
  const servers = await SlowCheckServers.start(serverCount(n), o.checkDelayMs);
  const slow = Array.from({ length: n }, (_, i) => `slow-${String(i).padStart(5, "0")}`);
  const unrelated = Array.from({ length: k }, (_, i) => `unrelated-${String(i).padStart(5, "0")}`);
  const entry = o.entry ?? bench.o.operatorEntry ?? "src/main.ts";
  bench.log(
    `slow checks: ${n} rollouts over ${servers.count} servers answering after ${o.checkDelayMs} ms, ` +
      `${k} unrelated ModelDeployments (namespace ${ns}, operator ${entry})`,
  );
  const op = await startOperatorProcess({
    kubeconfig: bench.kubeconfig,
    dir: bench.o.clusterDir,
    label: "operator-slow-checks",
    args: [`--watch-namespace=${ns}`, ...bench.o.operatorArgs],
    nodeArgs: bench.o.nodeArgs ?? [],
    entry,
    checkFlags: !o.withoutCheckFlags,
  });
  try {
    await bench.quiet(2000);
    const stream = new ReactionStream();
    const states = new Map<string, MdState>();
    const mds = await bench.kube.informer(MD_RESOURCE, ns, (md, at) => {
      states.set(md.metadata?.name ?? "", mdState(md));
      stream.onModelDeployment(md, at);
    });
    const deps = await bench.kube.informer<V1Deployment>(
      DEPLOYMENT_RESOURCE,
      ns,
      (d, at) => stream.onDeployment(d, at),
      `${LABEL_MANAGED_BY}=${OPERATOR_NAME}`,
    );
    const count = (names: string[], pred: (s: MdState) => boolean) =>
      names.filter((name) => {
        const st = states.get(name);
        return st !== undefined && pred(st);
      }).length;

    // 1. Every ModelDeployment converged: first versions are measured by no check.
    const t0 = performance.now();
    await BenchKube.pool([...slow, ...unrelated], 16, async (name, i) => {
      const md =
        i < n
          ? slowModelDeployment(name, "1", servers.url(i, name), o.checkInterval)
          : benchModelDeployment(name, "1");
      await bench.kube.create(MD_RESOURCE, ns, md);
    });
    await pollUntil(
      `${n + k} ModelDeployments Ready (slow checks)`,
      () => count(slow, (s) => s.ready && s.stable === "1") + count(unrelated, (s) => s.ready) === n + k,
      convergeTimeoutMs(bench.o.convergeTimeoutSeconds, n + k),
      200,
    );
    const convergeSeconds = round((performance.now() - t0) / 1000);
    await bench.quiet(5000);

    // 2. The baseline: the stream with no rollout under way.
    bench.log(`slow checks: baseline, ${k} spec changes at ${rate}/s`);
    const runStream = async (replicas: number): Promise<StreamResult> => {
      const wall0 = Date.now();
      const cpu = cpuOf(bench.cluster?.pids ?? {});
      const pressure = pressureOf();
      const { value, operator } = await watchOperator(op, () =>
        stream.run({
          kube: bench.kube,
          namespace: ns,
          names: unrelated,
          replicas,
          ratePerSecond: rate,
          mds,
          deps,
        }),
      );
      const wall1 = Date.now();
      const writes = bench.audit.count(wall0, wall1);
      const api = {
        writesPerSecond: round(writes.writes / ((wall1 - wall0) / 1000), 1),
        writeLatencyMs: writes.writeLatencyMs,
      };
      const result: StreamResult = {
        ...value,
        ratePerSecond: rate,
        load: machineLoad(),
        operator,
        api,
        cpu: cpu.cores(),
        pressure: pressure.percent(),
      };
      bench.recordGcWindow(result, wall0, wall1);
      return result;
    };
    const baseline = await runStream(2);
    await bench.quiet(2000);

    // 3. The figure without checks: all N roll out version 2 at once with no check; once
    // every rollout is at its pause and the operator is quiet, the stream; then they are
    // promoted (promote-full) and settle. (A stream right after the N version changes
    // would wait behind them, reconciled in the order they came: no figure of checks.)
    // All N get `version` at once (32 patches in flight), with their check or without any.
    const rollAllOut = (version: string, withCheck: boolean) =>
      BenchKube.pool(slow, 32, async (name, i) => {
        const next = slowModelDeployment(name, version, servers.url(i, name), o.checkInterval);
        await bench.kube.mergePatch(MD_RESOURCE, ns, name, {
          spec: {
            model: next.spec.model,
            template: next.spec.template,
            healthChecks: withCheck ? next.spec.healthChecks : null,
          },
        });
      });
    bench.log(`slow checks: rolling out version 2 of ${n} ModelDeployments without checks`);
    const t2 = performance.now();
    await rollAllOut("2", false);
    const settleMs = convergeTimeoutMs(bench.o.convergeTimeoutSeconds, n);
    await pollUntil(
      `${n} rollouts without checks at their pause`,
      () => count(slow, (st) => st.candidate === "2" && st.step === 1) === n,
      settleMs,
      200,
    );
    const withoutChecksPausedSeconds = round((performance.now() - t2) / 1000);
    await bench.quiet(5000);
    bench.log(
      `slow checks: ${n} rollouts without checks paused at 50% after ${withoutChecksPausedSeconds} s; ${k} spec changes at ${rate}/s`,
    );
    const withoutChecks = await runStream(1);
    await bench.quiet(2000);
    bench.log(`slow checks: ${n} rollouts without checks paused; ${k} spec changes scaling up at ${rate}/s`);
    const withoutChecksUp = await runStream(2);
    // Promoted, and the unrelated ones back to 1 replica, unmeasured: the loaded stream
    // scales them up again, as the stream without checks it is compared with did.
    await BenchKube.pool([...slow, ...unrelated], 32, async (name, i) => {
      await bench.kube.mergePatch(
        MD_RESOURCE,
        ns,
        name,
        i < n
          ? { metadata: { annotations: { [ANNOTATION_ACTION]: "promote-full" } } }
          : { spec: { replicas: 1 } },
      );
    });
    await pollUntil(
      `${n} rollouts without checks promoted`,
      () =>
        count(slow, (st) => st.ready && st.stable === "2" && st.candidate === undefined) +
          count(unrelated, (st) => st.ready) ===
        n + k,
      settleMs,
      200,
    );
    const withoutChecksDoneSeconds = round((performance.now() - t2) / 1000);
    await bench.quiet(5000);
    if (servers.received > 0) throw new Error(`${servers.received} checks measured without checks`);

    // 4. All N roll out version 3 at once, each gated by its check; the stream starts once
    // every rollout is measuring.
    bench.log(`slow checks: rolling out version 3 of ${n} ModelDeployments`);
    const t1 = performance.now();
    await rollAllOut("3", true);
    const versionChangesSentSeconds = round((performance.now() - t1) / 1000);
    const bound = measuringTimeoutSeconds(n, o.checkDelayMs);
    let nextProgress = Date.now() + 30_000;
    await pollUntil(
      `all ${n} rollouts measuring`,
      () => {
        if (Date.now() >= nextProgress) {
          nextProgress += 30_000;
          bench.log(
            `slow checks: ${servers.measuredRollouts} of ${n} rollouts measured, ${servers.inFlight} checks in flight`,
          );
        }
        return servers.measuredRollouts >= n;
      },
      bound * 1000,
      100,
    ).catch(() =>
      bench.log(
        `slow checks: ${servers.measuredRollouts} of ${n} measuring after ${bound} s; streaming anyway`,
      ),
    );
    const measuring = servers.measuredRollouts;
    const allMeasuringAfterSeconds = round((performance.now() - t1) / 1000);
    bench.log(
      `slow checks: ${measuring} rollouts measuring after ${allMeasuringAfterSeconds} s, ${servers.inFlight} checks in flight; ${k} spec changes at ${rate}/s`,
    );
    servers.markWindow();
    const loaded = await runStream(2);
    const w = servers.window();
    // 5. Steady: every rollout paused at 50%, its check measured again and again.
    await pollUntil(
      `every rollout measured ${STEADY_MEASUREMENTS} times`,
      () => servers.rolloutsMeasured(STEADY_MEASUREMENTS) >= n,
      bound * 1000,
      200,
    ).catch(() =>
      bench.log(
        `slow checks: ${servers.rolloutsMeasured(STEADY_MEASUREMENTS)} of ${n} measured ${STEADY_MEASUREMENTS} times; streaming anyway`,
      ),
    );
    bench.log(
      `slow checks: steady, every rollout measured ${STEADY_MEASUREMENTS} times; ${k} spec changes at ${rate}/s`,
    );
    const steady = await runStream(1);
    await mds.stop();
    await deps.stop();
    return {
      rollouts: n,
      unrelated: k,
      checkDelayMs: o.checkDelayMs,
      checkInterval: o.checkInterval ?? "10s",
      servers: servers.count,
      entry,
      convergeSeconds,
      versionChangesSentSeconds,
      baseline,
      withoutChecksPausedSeconds,
      withoutChecks,
      withoutChecksUp,
      withoutChecksDoneSeconds,
      loaded,
      steady,
      ratios: p99Ratios({ baseline, withoutChecks, withoutChecksUp, loaded, steady }),
      checksDuringStream: {
        received: w.received,
        peakInFlight: w.peakInFlight,
        inFlightAtStart: w.inFlightAtMark,
      },
      allMeasuringAfterSeconds,
      measuring,
      checks: {
        received: servers.received,
        peakInFlight: servers.peakInFlight,
        peakInFlightPerRollout: servers.peakInFlightPerRollout,
      },
      load: machineLoad(),
    };
  } finally {
    await op.stop();
    await servers.stop();
  }
}
