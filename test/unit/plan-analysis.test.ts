// The planner's side of analysis: checks compared with the stable version get both versions'
// queries; validation knows which variables each kind of condition sees.
import { expect } from "chai";
import { validateModelDeployment } from "../../src/plan/index.ts";
import type { HealthCheck } from "../../src/api/types.ts";
import type { DueCheck } from "../../src/plan/types.ts";
import { DEFAULT_INCONCLUSIVE_TIMEOUT } from "../../src/plan/spec.ts";
import { makeMd, stableSim } from "./plan-fixtures.ts";

const relativeCheck = (successCondition = "candidate <= stable * 1.1"): HealthCheck => ({
  name: "p95",
  prometheus: {
    address: "http://prometheus.monitoring:9090",
    query: 'p95{version="{{version}}", service="{{service}}"}',
    successCondition,
    compareWithStable: true,
  },
});

describe("plan: checks compared with the stable version", () => {
  it("templates the query once for the new version and once for the stable version", () => {
    const sim = stableSim({ healthChecks: { checks: [relativeCheck()] } });
    sim.setVersion("2.0.0");
    sim.reconcile();
    sim.settle().advance(1000);
    let due: DueCheck[] = [];
    sim.reconcile((d, now) => {
      due = d;
      return d.map((x) => ({
        name: x.check.name,
        phase: "Failed",
        value: "0.13",
        stableValue: "0.1",
        time: now.toISOString(),
      }));
    });
    expect(due).to.have.length(1);
    expect(due[0]?.query).to.equal('p95{version="2.0.0", service="fraud-detector-2-0-0"}');
    expect(due[0]?.stable).to.deep.equal({
      vars: {
        name: "fraud-detector",
        namespace: "models",
        version: "1.0.0",
        service: "fraud-detector-1-0-0",
      },
      query: 'p95{version="1.0.0", service="fraud-detector-1-0-0"}',
    });
    expect(sim.md.status?.checks?.[0]).to.include({ phase: "Failed", value: "0.13", stableValue: "0.1" });
  });

  it("a check without compareWithStable gets no stable query", () => {
    const check = relativeCheck("result < 1.0");
    delete check.prometheus!.compareWithStable;
    const sim = stableSim({ healthChecks: { checks: [check] } });
    sim.setVersion("2.0.0");
    sim.reconcile();
    sim.settle().advance(1000);
    let due: DueCheck[] = [];
    sim.reconcile((d) => ((due = d), []));
    expect(due[0]?.stable).to.equal(undefined);
  });

  it("validates the condition with the variables of a comparison", () => {
    expect(validateModelDeployment(makeMd({ healthChecks: { checks: [relativeCheck()] } }))).to.deep.equal(
      [],
    );
    expect(
      validateModelDeployment(makeMd({ healthChecks: { checks: [relativeCheck("result < 0.1")] } })),
    ).to.deep.equal([
      {
        path: "spec.healthChecks.checks[0].prometheus.successCondition",
        message: "successCondition `result < 0.1` is not valid: Unknown variable: result",
      },
    ]);
  });
});

const judgeCheck = (judge: Record<string, unknown> = {}): HealthCheck => ({
  name: "latency-judge",
  prometheus: {
    address: "http://prometheus.monitoring:9090",
    query: 'p95{version="{{version}}"}',
    judge: { window: "5m", step: "15s", direction: "LowerIsBetter", ...judge },
  },
});

describe("plan: the statistical judge", () => {
  it("a judge gets the stable version's query", () => {
    const sim = stableSim({ healthChecks: { checks: [judgeCheck()] } });
    sim.setVersion("2.0.0");
    sim.reconcile();
    sim.settle().advance(1000);
    let due: DueCheck[] = [];
    sim.reconcile((d) => ((due = d), []));
    expect(due[0]?.stable?.query).to.equal('p95{version="1.0.0"}');
  });

  it("an Inconclusive measurement neither counts as a failure nor lets the step complete", () => {
    const sim = stableSim({
      strategy: { canary: { steps: [{ setWeight: 50 }, { pause: {} }] } },
      healthChecks: { failureThreshold: 1, checks: [judgeCheck()] },
    });
    sim.setVersion("2.0.0");
    sim.reconcile();
    sim.settle().advance(1000);
    const inconclusive = (d: DueCheck[], now: Date) =>
      d.map((x) => ({
        name: x.check.name,
        phase: "Inconclusive" as const,
        message: "too few samples",
        judge: { verdict: "Inconclusive" as const, candidateSamples: 2, stableSamples: 20 },
        time: now.toISOString(),
      }));
    for (let i = 0; i < 3; i++) {
      const p = sim.reconcile(inconclusive);
      sim.settle().advance(10_000);
      expect(p.status.checks?.[0]).to.include({ phase: "Inconclusive", consecutiveFailures: 0 });
      expect(p.status.checks?.[0]?.judge).to.deep.equal({
        verdict: "Inconclusive",
        candidateSamples: 2,
        stableSamples: 20,
      });
      expect(p.status.currentStep).to.equal(0);
      expect(p.status.aborted).to.equal(undefined);
    }
  });

  it("validates the judge: one of successCondition or judge, no compareWithStable, a bounded window", () => {
    const problems = (check: HealthCheck) =>
      validateModelDeployment(makeMd({ healthChecks: { checks: [check] } })).map((p) => p.message);
    expect(problems(judgeCheck())).to.deep.equal([]);
    const both = judgeCheck();
    both.prometheus!.successCondition = "result < 1.0";
    expect(problems(both)).to.include("a prometheus check needs exactly one of successCondition or judge");
    const compared = judgeCheck();
    compared.prometheus!.compareWithStable = true;
    expect(problems(compared)).to.include(
      "a judge always compares with the stable version; compareWithStable goes with successCondition",
    );
    expect(problems(judgeCheck({ window: "1h", step: "1s" }))).to.include(
      "a window of 1h in steps of 1s is 3601 samples per version; at most 500: take a longer step or a shorter window",
    );
    expect(problems(judgeCheck({ window: "1m", step: "15s", minSamples: 10 }))).to.include(
      "minSamples 10 is more than the window holds (5 samples): every measurement would be Inconclusive",
    );
    expect(problems(judgeCheck({ direction: "Sideways" }))).to.have.length.greaterThan(0);
  });
});

describe("plan: dryRun checks, Inconclusive that fails, the record of measurements", () => {
  const failing = (d: DueCheck[], now: Date) =>
    d.map((x) => ({
      name: x.check.name,
      phase: "Failed" as const,
      value: "0.13",
      message: "x".repeat(300),
      time: now.toISOString(),
    }));

  it("a dryRun check that fails past its threshold never rolls back, and nothing waits for it", () => {
    const sim = stableSim({
      strategy: { canary: { steps: [{ setWeight: 50 }, { pause: { duration: "30s" } }] } },
      healthChecks: { failureThreshold: 2, checks: [judgeCheck({}), { ...relativeCheck(), dryRun: true }] },
    });
    const check = sim.md.spec.healthChecks!.checks![0]!;
    check.dryRun = true;
    sim.setVersion("2.0.0");
    sim.reconcile();
    sim.settle().advance(1000);
    for (let i = 0; i < 12; i++) {
      sim.reconcile(failing);
      sim.settle().advance(10_000);
    }
    const status = sim.md.status!;
    expect(status.aborted).to.equal(undefined);
    expect(status.stableVersion).to.equal("2.0.0");
    expect(status.history?.[0]).to.include({ version: "2.0.0", outcome: "Promoted" });
    const judge = status.checks?.find((c) => c.name === "latency-judge");
    expect(judge).to.include({ phase: "Failed", dryRun: true });
    expect(judge?.consecutiveFailures).to.be.at.least(2);
    expect(judge?.measurements?.[0]).to.include({ phase: "Failed", value: "0.13" });
    // Once per check, when it reaches its threshold: what it would have done.
    const warnings = sim.events.filter((e) => e.reason === "DryRunCheckFailed");
    expect(warnings.map((e) => e.type)).to.deep.equal(["Warning", "Warning"]);
    expect(warnings[0]?.message).to.match(
      /^check latency-judge saw value 0\.13: x+ \(dry run: 2 failures in a row would have rolled back; nothing is done\)$/,
    );
  });

  it("inconclusive: Fail counts an Inconclusive measurement as a failure", () => {
    const sim = stableSim({
      healthChecks: { failureThreshold: 2, checks: [judgeCheck({ inconclusive: "Fail" })] },
    });
    sim.setVersion("2.0.0");
    sim.reconcile();
    sim.settle().advance(1000);
    const inconclusive = (d: DueCheck[], now: Date) =>
      d.map((x) => ({ name: x.check.name, phase: "Inconclusive" as const, time: now.toISOString() }));
    expect(sim.reconcile(inconclusive).status.checks?.[0]?.consecutiveFailures).to.equal(1);
    sim.settle().advance(10_000);
    const p = sim.reconcile(inconclusive);
    expect(p.status.aborted).to.include({ version: "2.0.0", reason: "HealthCheckFailed" });
  });

  it("inconclusive: Wait waits at most inconclusiveTimeout: then each Inconclusive measurement counts as a failure", () => {
    const sim = stableSim({
      strategy: { canary: { steps: [{ setWeight: 50 }, { pause: {} }] } },
      healthChecks: {
        interval: "10s",
        failureThreshold: 2,
        checks: [judgeCheck({ inconclusive: "Wait", inconclusiveTimeout: "1m" })],
      },
    });
    sim.setVersion("2.0.0");
    sim.reconcile();
    sim.settle().advance(1000);
    const inconclusive = (d: DueCheck[], now: Date) =>
      d.map((x) => ({
        name: x.check.name,
        phase: "Inconclusive" as const,
        message: "too few samples",
        time: now.toISOString(),
      }));
    const first = sim.reconcile(inconclusive).status.checks?.[0];
    const since = first?.inconclusiveSince;
    expect(since).to.equal(sim.now.toISOString());
    // Inconclusive for less than a minute: waiting, no failure counted.
    for (let t = 10_000; t < 60_000; t += 10_000) {
      sim.settle().advance(10_000);
      const c = sim.reconcile(inconclusive).status.checks?.[0];
      expect(c).to.include({ phase: "Inconclusive", consecutiveFailures: 0, inconclusiveSince: since });
    }
    // A minute after the first Inconclusive measurement: it counts, and failureThreshold of them roll back.
    sim.settle().advance(10_000);
    let p = sim.reconcile(inconclusive);
    expect(p.status.checks?.[0]).to.include({ consecutiveFailures: 1 });
    expect(p.status.checks?.[0]?.message).to.equal(
      `too few samples; Inconclusive since ${since}, longer than inconclusiveTimeout 1m: counts as a failure`,
    );
    expect(p.status.aborted).to.equal(undefined);
    sim.settle().advance(10_000);
    p = sim.reconcile(inconclusive);
    expect(p.status.aborted).to.include({ version: "2.0.0", reason: "HealthCheckFailed" });
    expect(p.status.aborted?.message).to.include("longer than inconclusiveTimeout 1m");
  });

  it("a verdict between Inconclusive measurements starts the wait again", () => {
    const sim = stableSim({
      strategy: { canary: { steps: [{ setWeight: 50 }, { pause: {} }] } },
      healthChecks: { interval: "10s", checks: [judgeCheck({ inconclusiveTimeout: "15s" })] },
    });
    sim.setVersion("2.0.0");
    sim.reconcile();
    sim.settle().advance(1000);
    const as = (phase: "Inconclusive" | "Successful") => (d: DueCheck[], now: Date) =>
      d.map((x) => ({ name: x.check.name, phase, time: now.toISOString() }));
    sim.reconcile(as("Inconclusive"));
    sim.settle().advance(10_000);
    const passed = sim.reconcile(as("Successful")).status.checks?.[0];
    expect(passed?.inconclusiveSince).to.equal(undefined);
    sim.settle().advance(10_000);
    const again = sim.reconcile(as("Inconclusive")).status.checks?.[0];
    expect(again).to.include({ consecutiveFailures: 0, inconclusiveSince: sim.now.toISOString() });
    sim.settle().advance(10_000);
    expect(sim.reconcile(as("Inconclusive")).status.checks?.[0]).to.include({ consecutiveFailures: 0 });
  });

  it("the default inconclusiveTimeout is 10m; a bad one is refused", () => {
    const problems = (judge: Record<string, unknown>) =>
      validateModelDeployment(makeMd({ healthChecks: { checks: [judgeCheck(judge)] } })).map(
        (p) => `${p.path}: ${p.message}`,
      );
    expect(DEFAULT_INCONCLUSIVE_TIMEOUT).to.equal("10m");
    expect(problems({ inconclusiveTimeout: "30m" })).to.deep.equal([]);
    expect(problems({ inconclusiveTimeout: "soon" })[0]).to.match(/judge\.inconclusiveTimeout: /);
  });

  it("keeps the last 10 measurements of each check, oldest first, messages cut to 256 characters", () => {
    const sim = stableSim({
      strategy: { canary: { steps: [{ setWeight: 50 }, { pause: {} }] } },
      healthChecks: { failureThreshold: 100, checks: [judgeCheck()] },
    });
    sim.setVersion("2.0.0");
    sim.reconcile();
    sim.settle().advance(1000);
    const times: string[] = [];
    for (let i = 0; i < 14; i++) {
      sim.reconcile((d, now) => (times.push(now.toISOString()), failing(d, now)));
      sim.settle().advance(10_000);
    }
    const record = sim.md.status?.checks?.[0]?.measurements ?? [];
    expect(record.map((r) => r.time)).to.deep.equal(times.slice(-10));
    expect(record[9]?.message).to.have.length(256);
    expect(record[9]?.message?.endsWith("…")).to.equal(true);
    // The last result keeps the whole message.
    expect(sim.md.status?.checks?.[0]?.message).to.have.length(300);
  });

  it("a new rollout starts a new record", () => {
    const sim = stableSim({
      strategy: { canary: { steps: [{ setWeight: 50 }, { pause: {} }] } },
      healthChecks: { failureThreshold: 100, checks: [judgeCheck()] },
    });
    sim.setVersion("2.0.0");
    sim.reconcile();
    sim.settle().advance(1000);
    sim.reconcile(failing);
    sim.settle().advance(10_000);
    expect(sim.md.status?.checks?.[0]?.measurements).to.have.length(1);
    sim.setVersion("2.0.1");
    sim.reconcile();
    expect(sim.md.status?.checks?.[0]?.measurements).to.equal(undefined);
  });
});

describe("plan: signature checks", () => {
  it("targets both versions' own Services at the model's metadata path", () => {
    const sim = stableSim({
      model: { name: "fraud", version: "1.0.0" },
      healthChecks: { checks: [{ name: "signature", signature: { accept: ["features"] } }] },
    });
    sim.setVersion("2.0.0");
    sim.reconcile();
    sim.settle().advance(1000);
    let due: DueCheck[] = [];
    sim.reconcile((d) => ((due = d), []));
    expect(due[0]?.url).to.equal("http://fraud-detector-2-0-0.models.svc:80/v2/models/fraud");
    expect(due[0]?.stable?.url).to.equal("http://fraud-detector-1-0-0.models.svc:80/v2/models/fraud");
  });

  it("validates one provider per check and the port like an http check's", () => {
    const problems = (check: HealthCheck) =>
      validateModelDeployment(makeMd({ healthChecks: { checks: [check] } })).map(
        (p) => `${p.path}: ${p.message}`,
      );
    expect(problems({ name: "signature", signature: { port: "http" } })).to.deep.equal([]);
    expect(problems({ name: "signature", signature: { port: "grpc" } })).to.deep.equal([
      'spec.healthChecks.checks[0].signature.port: the first container declares no port named "grpc" (named ports: http)',
    ]);
    expect(problems({ name: "both", signature: {}, http: { path: "/ready" } } as HealthCheck)).to.include(
      "spec.healthChecks.checks[0]: each health check must have exactly one provider (http, prometheus, signature, warmup or agreement)",
    );
  });
});

describe("plan: agreement checks", () => {
  const agreement = (extra: Partial<NonNullable<HealthCheck["agreement"]>> = {}): HealthCheck => ({
    name: "agreement",
    agreement: {
      requests: { configMapKeyRef: { name: "fraud-requests", key: "requests.json" } },
      successCondition: "agreement >= 0.98",
      ...extra,
    },
  });

  it("targets both versions' own Services at the model's inference path, or the path given", () => {
    const sim = stableSim({
      model: { name: "fraud", version: "1.0.0" },
      healthChecks: { checks: [agreement()] },
    });
    sim.setVersion("2.0.0");
    sim.reconcile();
    sim.settle().advance(1000);
    let due: DueCheck[] = [];
    sim.reconcile((d) => ((due = d), []));
    expect(due[0]?.url).to.equal("http://fraud-detector-2-0-0.models.svc:80/v2/models/fraud/infer");
    expect(due[0]?.stable?.url).to.equal("http://fraud-detector-1-0-0.models.svc:80/v2/models/fraud/infer");
  });

  it("validates its condition's variables, the fields of each protocol and the ConfigMap reference", () => {
    const problems = (check: HealthCheck) =>
      validateModelDeployment(makeMd({ healthChecks: { checks: [check] } })).map(
        (p) => `${p.path}: ${p.message}`,
      );
    expect(problems(agreement())).to.deep.equal([]);
    expect(
      problems(agreement({ protocol: "JSON", path: "/predict", answerPath: "/predictions" })),
    ).to.deep.equal([]);
    expect(problems(agreement({ successCondition: "result > 0.9" }))[0]).to.match(
      /^spec\.healthChecks\.checks\[0\]\.agreement\.successCondition: successCondition `result > 0\.9` is not valid/,
    );
    expect(problems(agreement({ protocol: "JSON" }))).to.include(
      "spec.healthChecks.checks[0].agreement: protocol JSON needs path (where the requests are sent)",
    );
    expect(problems(agreement({ answerPath: "/x" }))).to.include(
      "spec.healthChecks.checks[0].agreement.answerPath: answerPath goes with protocol JSON",
    );
    expect(
      problems(agreement({ requests: { configMapKeyRef: { name: "Bad_Name", key: "requests.json" } } })),
    ).to.include(
      "spec.healthChecks.checks[0].agreement.requests.configMapKeyRef.name: must be the name of a ConfigMap (lower-case letters, digits, '-' and '.')",
    );
    expect(problems(agreement({ port: "grpc" }))).to.deep.equal([
      'spec.healthChecks.checks[0].agreement.port: the first container declares no port named "grpc" (named ports: http)',
    ]);
  });
});

describe("plan: warm-up checks", () => {
  const warmup: HealthCheck = {
    name: "warmup",
    warmup: { path: "/v2/models/fraud-detector/infer", body: '{"v": "{{version}}"}' },
  };

  it("is measured once per step: due when the step's replicas are ready, not again once it succeeded", () => {
    const sim = stableSim({
      strategy: { canary: { steps: [{ setWeight: 50 }, { pause: {} }] } },
      healthChecks: { checks: [warmup] },
    });
    sim.setVersion("2.0.0");
    sim.reconcile();
    sim.settle().advance(1000);
    const sent: DueCheck[] = [];
    const ok = (d: DueCheck[], now: Date) => {
      sent.push(...d);
      return d.map((x) => ({ name: x.check.name, phase: "Successful" as const, time: now.toISOString() }));
    };
    for (let i = 0; i < 3 && sim.md.status?.currentStep !== 1; i++) {
      sim.reconcile(ok);
      sim.settle().advance(1000);
    }
    expect(sim.md.status?.currentStep).to.equal(1);
    // Once when the first replica was available, once more when all of the step's were.
    const before = sent.length;
    expect(before).to.be.within(1, 2);
    expect(sent[0]?.url).to.equal("http://fraud-detector-2-0-0.models.svc:80/v2/models/fraud-detector/infer");
    expect(sent[0]?.body).to.equal('{"v": "2.0.0"}');
    for (let i = 0; i < 3; i++) {
      sim.settle().advance(10_000);
      const q = sim.reconcile(ok);
      expect(q.requeueAfterMs).to.equal(undefined);
    }
    expect(sent).to.have.length(before);
  });

  it("a failed warm-up is sent again after the interval and counts toward the threshold", () => {
    const sim = stableSim({ healthChecks: { failureThreshold: 2, checks: [warmup] } });
    sim.setVersion("2.0.0");
    sim.reconcile();
    sim.settle().advance(1000);
    const failed = (d: DueCheck[], now: Date) =>
      d.map((x) => ({ name: x.check.name, phase: "Failed" as const, time: now.toISOString() }));
    sim.reconcile(failed);
    sim.settle().advance(10_000);
    const p = sim.reconcile(failed);
    expect(p.status.aborted).to.include({ reason: "HealthCheckFailed" });
  });
});
