import { expect } from "chai";
import { collectDefaultMetrics, Registry } from "prom-client";
import {
  collectProcessMetrics,
  loadDefaultMetric,
  PROM_CLIENT_DEFAULT_METRICS,
  REPLACED_DEFAULT_METRIC,
} from "../../src/observability/process-metrics.ts";

describe("process metrics (observability/process-metrics.ts)", () => {
  // The operator registers prom-client's default metrics one by one from their modules, to
  // leave out the 10 ms event-loop monitor. An upgrade of prom-client that adds, renames or
  // moves one must fail here, not silently drop a series.
  it("covers exactly prom-client's default metrics, each loadable from its module", () => {
    expect([...PROM_CLIENT_DEFAULT_METRICS, REPLACED_DEFAULT_METRIC].sort()).to.deep.equal(
      [...collectDefaultMetrics.metricsList].sort(),
    );
    for (const name of PROM_CLIENT_DEFAULT_METRICS) expect(loadDefaultMetric(name)).to.be.a("function");
  });

  it("serves every series prom-client's default metrics serve, under the same names", async () => {
    const theirs = new Registry();
    collectDefaultMetrics({ register: theirs });
    const ours = new Registry();
    collectProcessMetrics(ours);
    const names = (r: Registry) =>
      r
        .getMetricsAsArray()
        .map((m) => m.name)
        .sort();
    expect(names(ours)).to.deep.equal(names(theirs));
    const text = await ours.metrics();
    expect(text).to.match(/^nodejs_eventloop_lag_seconds \d/m);
    expect(text).to.match(/^process_cpu_seconds_total \d/m);
    expect(text).to.match(/^nodejs_heap_size_used_bytes \d/m);
  });
});
