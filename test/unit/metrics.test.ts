import { expect } from "chai";
import { observedRateLimiter, TokenBucket } from "../../src/kube/ratelimit.ts";
import type { ModelDeploymentStatus } from "../../src/api/types.ts";
import { WorkQueue } from "../../src/controller/queue.ts";
import { finishedRollouts } from "../../src/observability/finished-rollouts.ts";
import { OperatorMetrics } from "../../src/observability/metrics.ts";

/** The value of one series in Prometheus text, or undefined when absent. */
function sample(text: string, series: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

async function body(m: OperatorMetrics): Promise<string> {
  return (await m.render()).body;
}

describe("operator metrics: controller-runtime names", () => {
  it("counts reconciles by result, errors apart, and times them", async () => {
    const m = new OperatorMetrics({ processMetrics: false });
    m.setWorkers("modeldeployment", 4);
    m.observeReconcile("modeldeployment", "success", 0.02);
    m.observeReconcile("modeldeployment", "requeue_after", 0.3);
    m.observeReconcile("modeldeployment", "error", 0.01);
    const text = await body(m);
    const c = 'controller="modeldeployment"';
    expect(sample(text, `controller_runtime_reconcile_total{${c},result="success"}`)).to.equal(1);
    expect(sample(text, `controller_runtime_reconcile_total{${c},result="requeue_after"}`)).to.equal(1);
    expect(sample(text, `controller_runtime_reconcile_total{${c},result="error"}`)).to.equal(1);
    expect(sample(text, `controller_runtime_reconcile_total{${c},result="requeue"}`)).to.equal(0);
    expect(sample(text, `controller_runtime_reconcile_errors_total{${c}}`)).to.equal(1);
    expect(sample(text, `controller_runtime_reconcile_time_seconds_count{${c}}`)).to.equal(3);
    expect(sample(text, `controller_runtime_reconcile_time_seconds_bucket{le="0.025",${c}}`)).to.equal(2);
    expect(sample(text, `controller_runtime_max_concurrent_reconciles{${c}}`)).to.equal(4);
    expect(text, "no process metrics when turned off").to.not.contain("process_cpu_seconds_total");
  });

  it("counts active workers while they run", async () => {
    const m = new OperatorMetrics({ processMetrics: false });
    m.setWorkers("modeldeployment", 2);
    const done = m.workerStarted("modeldeployment");
    expect(sample(await body(m), 'controller_runtime_active_workers{controller="modeldeployment"}')).to.equal(
      1,
    );
    done();
    done();
    expect(sample(await body(m), 'controller_runtime_active_workers{controller="modeldeployment"}')).to.equal(
      0,
    );
  });

  it("follows a work queue: depth, adds, retries", async () => {
    const m = new OperatorMetrics({ processMetrics: false });
    const queue = new WorkQueue({ observer: m.queueObserver("modeldeployment") });
    queue.add("a/x");
    queue.add("a/x");
    queue.add("a/y");
    queue.addRateLimited("a/z");
    const text = await body(m);
    expect(sample(text, 'workqueue_depth{name="modeldeployment"}')).to.equal(2);
    expect(sample(text, 'workqueue_adds_total{name="modeldeployment"}')).to.equal(2);
    expect(sample(text, 'workqueue_retries_total{name="modeldeployment"}')).to.equal(1);
    await queue.shutdown();
    expect(sample(await body(m), 'workqueue_depth{name="modeldeployment"}')).to.equal(0);
  });

  it("times how long a key waited (by the priority it was taken at) and how long its work took, and the work in progress", async () => {
    let now = 1_000_000;
    const m = new OperatorMetrics({ processMetrics: false, now: () => now });
    const q = m.queueObserver("modeldeployment");
    q.added?.("a/x");
    q.added?.("a/y");
    now += 250; // a/x waited 0.25 s
    const done = q.started("a/x", "high");
    now += 3_000; // working for 3 s
    let text = await body(m);
    expect(sample(text, 'workqueue_unfinished_work_seconds{name="modeldeployment"}')).to.equal(3);
    expect(sample(text, 'workqueue_longest_running_processor_seconds{name="modeldeployment"}')).to.equal(3);
    done();
    text = await body(m);
    const high = 'name="modeldeployment",priority="high"';
    expect(sample(text, `workqueue_queue_duration_seconds_count{${high}}`)).to.equal(1);
    expect(sample(text, `workqueue_queue_duration_seconds_sum{${high}}`)).to.equal(0.25);
    expect(sample(text, `workqueue_queue_duration_seconds_bucket{le="0.1",${high}}`)).to.equal(0);
    expect(sample(text, `workqueue_queue_duration_seconds_bucket{le="1",${high}}`)).to.equal(1);
    // The key taken after it, at low priority, waited 3.25 s: a series of its own.
    q.started("a/y", "low")();
    text = await body(m);
    const low = 'name="modeldeployment",priority="low"';
    expect(sample(text, `workqueue_queue_duration_seconds_sum{${low}}`)).to.equal(3.25);
    expect(sample(text, `workqueue_queue_duration_seconds_count{${high}}`)).to.equal(1);
    expect(sample(text, 'workqueue_work_duration_seconds_sum{name="modeldeployment"}')).to.equal(3);
    expect(sample(text, 'workqueue_unfinished_work_seconds{name="modeldeployment"}')).to.equal(0);
  });

  it("counts API requests by code and method", async () => {
    const m = new OperatorMetrics({ processMetrics: false });
    m.countRequest("GET", 200);
    m.countRequest("get", 200);
    m.countRequest("PATCH", 409);
    m.countRequest("GET", 0);
    const text = await body(m);
    expect(sample(text, 'rest_client_requests_total{method="GET",code="200"}')).to.equal(2);
    expect(sample(text, 'rest_client_requests_total{method="PATCH",code="409"}')).to.equal(1);
    expect(sample(text, 'rest_client_requests_total{method="GET",code="0"}')).to.equal(1);
  });

  it("records how long requests waited for the client-side rate limit", async () => {
    const m = new OperatorMetrics({ processMetrics: false });
    const made = performance.now();
    const limiter = observedRateLimiter(new TokenBucket(20, 1), (ms) => m.observeRateLimiterWait(ms));
    await limiter.acquire(); // the burst: at once
    // The next token comes 50 ms (at 20 a second) after the bucket was made, so the second
    // acquire waits 50 ms less what a loaded machine took to get here; timers fire late, never early.
    const owed = 0.05 - (performance.now() - made) / 1000;
    await limiter.acquire();
    const text = await body(m);
    expect(sample(text, "rest_client_rate_limiter_duration_seconds_count")).to.equal(2);
    expect(sample(text, 'rest_client_rate_limiter_duration_seconds_bucket{le="0.005"}')).to.equal(1);
    expect(sample(text, "rest_client_rate_limiter_duration_seconds_sum")).to.be.within(owed - 0.005, 5);
  });

  it("reports leadership under the Lease's name", async () => {
    const m = new OperatorMetrics({ processMetrics: false, leaderElectionId: "mro" });
    expect(sample(await body(m), 'leader_election_master_status{name="mro"}')).to.equal(0);
    m.setLeader(true);
    expect(sample(await body(m), 'leader_election_master_status{name="mro"}')).to.equal(1);
    m.setLeader(false);
    expect(sample(await body(m), 'leader_election_master_status{name="mro"}')).to.equal(0);
  });

  it("has Node's process and event-loop metrics by default", async () => {
    const text = await body(new OperatorMetrics());
    expect(text).to.contain("process_cpu_seconds_total");
    expect(text).to.contain("process_resident_memory_bytes");
    expect(text).to.contain("nodejs_eventloop_lag_p99_seconds");
    expect(text).to.contain("nodejs_heap_size_used_bytes");
  });
});

const md = 'namespace="models",name="fraud"';

const canaryAt20: ModelDeploymentStatus = {
  phase: "Progressing",
  stableVersion: "1.0.0",
  candidateVersion: "2.0.0",
  candidateWeight: 20,
  traffic: [
    { version: "1.0.0", weight: 80 },
    { version: "2.0.0", weight: 20 },
  ],
  checks: [{ name: "error-rate", phase: "Successful" }],
  rollout: { version: "2.0.0", revision: "abc", startedAt: "2026-01-01T10:00:00Z" },
  history: [{ version: "1.0.0", outcome: "Promoted", time: "2026-01-01T09:00:00Z" }],
};

const promoted: ModelDeploymentStatus = {
  phase: "Healthy",
  stableVersion: "2.0.0",
  traffic: [{ version: "2.0.0", weight: 100 }],
  checks: [],
  history: [
    { version: "2.0.0", outcome: "Promoted", time: "2026-01-01T10:05:00Z" },
    { version: "1.0.0", outcome: "Promoted", time: "2026-01-01T09:00:00Z" },
  ],
};

describe("operator metrics: rollouts", () => {
  it("shows phase, versions, weight per version and check results of a canary", async () => {
    const m = new OperatorMetrics({ processMetrics: false });
    m.observeStatus("models", "fraud", canaryAt20);
    const text = await body(m);
    expect(sample(text, `model_rollout_phase{${md},phase="Progressing"}`)).to.equal(1);
    expect(
      sample(text, `model_rollout_info{${md},stable_version="1.0.0",candidate_version="2.0.0"}`),
    ).to.equal(1);
    expect(sample(text, `model_rollout_traffic_weight_percent{${md},version="1.0.0"}`)).to.equal(80);
    expect(sample(text, `model_rollout_traffic_weight_percent{${md},version="2.0.0"}`)).to.equal(20);
    expect(sample(text, `model_rollout_candidate_weight_percent{${md}}`)).to.equal(20);
    expect(
      sample(text, `model_rollout_health_check_result{${md},check="error-rate",phase="Successful"}`),
    ).to.equal(1);
  });

  it("a new pod template of the stable version: both revisions add up under the version, the candidate's share apart", async () => {
    const m = new OperatorMetrics({ processMetrics: false });
    m.observeStatus("models", "fraud", {
      phase: "Progressing",
      stableVersion: "1.0.0",
      stableRevision: "aaa",
      candidateVersion: "1.0.0",
      candidateRevision: "bbb",
      candidateWeight: 20,
      traffic: [
        { version: "1.0.0", revision: "aaa", weight: 80 },
        { version: "1.0.0", revision: "bbb", weight: 20 },
      ],
    });
    const text = await body(m);
    expect(sample(text, `model_rollout_traffic_weight_percent{${md},version="1.0.0"}`)).to.equal(100);
    expect(sample(text, `model_rollout_candidate_weight_percent{${md}}`)).to.equal(20);
  });

  it("drops the series that no longer apply when the status moves on", async () => {
    const m = new OperatorMetrics({ processMetrics: false });
    m.observeStatus("models", "fraud", canaryAt20);
    m.observeStatus("models", "fraud", promoted);
    const text = await body(m);
    expect(sample(text, `model_rollout_phase{${md},phase="Healthy"}`)).to.equal(1);
    expect(sample(text, `model_rollout_phase{${md},phase="Progressing"}`)).to.equal(undefined);
    expect(sample(text, `model_rollout_info{${md},stable_version="2.0.0",candidate_version=""}`)).to.equal(1);
    expect(text).to.not.contain('candidate_version="2.0.0"');
    expect(sample(text, `model_rollout_traffic_weight_percent{${md},version="2.0.0"}`)).to.equal(100);
    expect(sample(text, `model_rollout_traffic_weight_percent{${md},version="1.0.0"}`)).to.equal(undefined);
    expect(sample(text, `model_rollout_candidate_weight_percent{${md}}`)).to.equal(undefined);
    expect(text).to.not.contain("model_rollout_health_check_result{");
  });

  it("counts a finished rollout by outcome and observes its duration", async () => {
    const m = new OperatorMetrics({ processMetrics: false });
    const finished = m.observeTransition("models", "fraud", canaryAt20, promoted);
    expect(finished).to.deep.equal([{ version: "2.0.0", outcome: "Promoted", seconds: 300 }]);
    // The same status seen again (a relist) counts nothing.
    m.observeTransition("models", "fraud", promoted, promoted);
    const text = await body(m);
    expect(sample(text, `model_rollout_rollouts_total{${md},outcome="Promoted"}`)).to.equal(1);
    expect(sample(text, 'model_rollout_rollout_duration_seconds_count{outcome="Promoted"}')).to.equal(1);
    expect(sample(text, 'model_rollout_rollout_duration_seconds_sum{outcome="Promoted"}')).to.equal(300);
    expect(
      sample(text, 'model_rollout_rollout_duration_seconds_bucket{le="120",outcome="Promoted"}'),
    ).to.equal(0);
    expect(
      sample(text, 'model_rollout_rollout_duration_seconds_bucket{le="300",outcome="Promoted"}'),
    ).to.equal(1);
  });

  it("finishedRollouts: a rollback, and an end whose start it never saw", () => {
    const rolledBack: ModelDeploymentStatus = {
      ...canaryAt20,
      phase: "Degraded",
      candidateVersion: undefined,
      rollout: undefined,
      history: [
        {
          version: "2.0.0",
          outcome: "RolledBack",
          reason: "HealthCheckFailed",
          time: "2026-01-01T10:01:30Z",
        },
        ...(canaryAt20.history ?? []),
      ],
    };
    expect(finishedRollouts(canaryAt20, rolledBack)).to.deep.equal([
      { version: "2.0.0", outcome: "RolledBack", seconds: 90 },
    ]);
    expect(finishedRollouts(undefined, promoted).map((f) => f.seconds)).to.deep.equal([undefined, undefined]);
    expect(finishedRollouts(promoted, promoted)).to.deep.equal([]);
  });

  it("keeps one phase series per ModelDeployment, and forgets a deleted one entirely", async () => {
    const m = new OperatorMetrics({ processMetrics: false });
    m.observeStatus("models", "fraud", canaryAt20);
    m.countHealthCheckMeasurement("models", "fraud", "error-rate", "Failed");
    m.countHealthCheckMeasurement("models", "fraud", "error-rate", "Failed");
    m.countRollback("models", "fraud", "HealthCheckFailed");
    m.observeTransition("models", "fraud", canaryAt20, promoted);
    m.setRolloutPhase("models", "churn", "Healthy");
    let text = await body(m);
    expect(
      sample(text, `model_rollout_health_check_measurements_total{${md},check="error-rate",phase="Failed"}`),
    ).to.equal(2);
    expect(sample(text, `model_rollout_rollbacks_total{${md},reason="HealthCheckFailed"}`)).to.equal(1);

    m.forgetModelDeployment("models", "fraud");
    text = await body(m);
    expect(text).to.not.contain('name="fraud"');
    expect(sample(text, 'model_rollout_phase{namespace="models",name="churn",phase="Healthy"}')).to.equal(1);
  });
});
