// The Grafana dashboard in docs/ queries only series the operator exports.
import { expect } from "chai";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { OperatorMetrics } from "../../src/observability/metrics.ts";

interface Panel {
  title?: string;
  type: string;
  targets?: { expr: string }[];
}

const dashboard = JSON.parse(
  readFileSync(join(import.meta.dirname, "..", "..", "docs", "grafana-dashboard.json"), "utf8"),
) as { uid: string; panels: Panel[]; templating: { list: { name: string; definition?: string }[] } };

/** Every series name the operator exposes, histograms with their _bucket, _sum and _count. */
async function exportedNames(): Promise<Set<string>> {
  const m = new OperatorMetrics();
  const names = new Set<string>();
  for (const metric of await m.registry.getMetricsAsJSON()) {
    names.add(metric.name);
    if (String(metric.type) === "histogram" || String(metric.type) === "summary")
      for (const suffix of ["_bucket", "_sum", "_count"]) names.add(metric.name + suffix);
  }
  return names;
}

describe("Grafana dashboard (docs/grafana-dashboard.json)", () => {
  it("queries only metrics the operator exports", async () => {
    const exported = await exportedNames();
    const queries = [
      ...dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ where: p.title, expr: t.expr }))),
      ...dashboard.templating.list
        .filter((v) => v.definition)
        .map((v) => ({ where: v.name, expr: v.definition! })),
    ];
    expect(queries.length).to.be.greaterThan(20);
    for (const q of queries) {
      const used = [...q.expr.matchAll(/([a-z_:][a-z0-9_:]*)\{/g)].map((m) => m[1]!);
      expect(used.length, `${q.where}: ${q.expr}`).to.be.greaterThan(0);
      for (const name of used)
        expect(exported.has(name), `${q.where}: ${name} is not exported`).to.equal(true);
    }
  });

  it("shows the controller-runtime series and every rollout series", () => {
    const text = JSON.stringify(dashboard.panels);
    for (const name of [
      "controller_runtime_reconcile_total",
      "controller_runtime_reconcile_errors_total",
      "controller_runtime_reconcile_time_seconds_bucket",
      "workqueue_depth",
      "workqueue_adds_total",
      "workqueue_retries_total",
      "workqueue_queue_duration_seconds_bucket",
      "workqueue_work_duration_seconds_bucket",
      "rest_client_requests_total",
      "leader_election_master_status",
      "model_rollout_info",
      "model_rollout_phase",
      "model_rollout_traffic_weight_percent",
      "model_rollout_health_check_measurements_total",
      "model_rollout_rollouts_total",
      "model_rollout_rollout_duration_seconds_bucket",
      "model_rollout_rollbacks_total",
      "process_cpu_seconds_total",
      "nodejs_eventloop_lag_p99_seconds",
    ])
      expect(text, name).to.contain(`${name}{`);
  });
});
