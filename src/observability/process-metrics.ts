// The Node.js process metrics (process_*, nodejs_*): prom-client's default metrics, with
// the event-loop delay measured without waking the process 100 times a second.
//
// prom-client's collectDefaultMetrics() keeps perf_hooks.monitorEventLoopDelay() running
// at a 10 ms resolution: a timer that fires every 10 ms for the life of the process. At
// rest that timer was most of the operator's CPU (100 wakeups a second on the main
// thread; 0.7 s of CPU a minute on the shared benchmark machine). And its figures are the
// timer's period plus the delay (an idle loop reports min 10 ms), so the period cannot
// simply be made longer. Every other default metric is prom-client's own, registered one
// by one (prom-client has no option to leave one out); the event-loop series keep their
// names and are sampled once a second, reporting the delay alone.
import { createRequire } from "node:module";
import { createHistogram, type RecordableHistogram } from "node:perf_hooks";
import { Gauge, type Registry } from "prom-client";

const require = createRequire(import.meta.url);

/**
 * prom-client's default metrics that the operator serves as they are, by their module in
 * prom-client/lib/metrics/ (prom-client has no "exports" map; test/unit/process-metrics.test.ts
 * fails when an upgrade moves, renames or adds one). eventLoopLag is replaced below.
 */
export const PROM_CLIENT_DEFAULT_METRICS = [
  "processCpuTotal",
  "processStartTime",
  "osMemoryHeap",
  "processOpenFileDescriptors",
  "processMaxFileDescriptors",
  "processResources",
  "processHandles",
  "processRequests",
  "heapSizeAndUsed",
  "heapSpacesSizeAndUsed",
  "version",
  "gc",
] as const;

/** The one default metric of prom-client that is measured here instead. */
export const REPLACED_DEFAULT_METRIC = "eventLoopLag";

/** How often the event-loop delay is sampled. */
export const EVENT_LOOP_SAMPLE_MS = 1000;

type DefaultMetric = (registry: Registry, config?: Record<string, unknown>) => void;

export function loadDefaultMetric(name: string): DefaultMetric {
  return require(`prom-client/lib/metrics/${name}.js`) as DefaultMetric;
}

/** Registers the process and event-loop metrics in `registry`. */
export function collectProcessMetrics(registry: Registry): void {
  for (const name of PROM_CLIENT_DEFAULT_METRICS) loadDefaultMetric(name)(registry, {});
  eventLoopDelayMetrics(registry);
}

/**
 * nodejs_eventloop_lag_seconds (how long a setImmediate took at scrape time, as prom-client
 * measures it) and nodejs_eventloop_lag_{min,max,mean,stddev,p50,p90,p99}_seconds: how late a
 * timer due every EVENT_LOOP_SAMPLE_MS fired, since the last scrape. The timer is unref'd:
 * it never keeps the process alive.
 */
function eventLoopDelayMetrics(registry: Registry): void {
  const histogram: RecordableHistogram = createHistogram();
  let expected = performance.now() + EVENT_LOOP_SAMPLE_MS;
  setInterval(() => {
    const now = performance.now();
    // The histogram takes integers >= 1: nanoseconds, at least 1.
    histogram.record(Math.max(1, Math.round((now - expected) * 1e6)));
    expected = now + EVENT_LOOP_SAMPLE_MS;
  }, EVENT_LOOP_SAMPLE_MS).unref();

  const registers = [registry];
  const gauge = (suffix: string, help: string) =>
    new Gauge({ name: `nodejs_eventloop_lag_${suffix}seconds`, help, registers });
  const min = gauge("min_", "The minimum recorded event loop delay.");
  const max = gauge("max_", "The maximum recorded event loop delay.");
  const mean = gauge("mean_", "The mean of the recorded event loop delays.");
  const stddev = gauge("stddev_", "The standard deviation of the recorded event loop delays.");
  const p50 = gauge("p50_", "The 50th percentile of the recorded event loop delays.");
  const p90 = gauge("p90_", "The 90th percentile of the recorded event loop delays.");
  const p99 = gauge("p99_", "The 99th percentile of the recorded event loop delays.");
  new Gauge({
    name: "nodejs_eventloop_lag_seconds",
    help: "Lag of event loop in seconds.",
    registers,
    // Like prom-client: this collect() also sets the histogram's gauges, then starts afresh.
    async collect() {
      const start = process.hrtime.bigint();
      await new Promise((resolve) => setImmediate(resolve));
      this.set(Number(process.hrtime.bigint() - start) / 1e9);
      if (histogram.count > 0) {
        min.set(histogram.min / 1e9);
        max.set(histogram.max / 1e9);
        mean.set(histogram.mean / 1e9);
        stddev.set(histogram.stddev / 1e9);
        p50.set(histogram.percentile(50) / 1e9);
        p90.set(histogram.percentile(90) / 1e9);
        p99.set(histogram.percentile(99) / 1e9);
      }
      histogram.reset();
    },
  });
}
