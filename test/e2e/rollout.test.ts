// Rollouts against the real control plane: canary steps by ready replicas, blue/green
// switch, automatic rollback on each kind of failed check, actions, and an operator
// killed in the middle of a rollout.
import { expect } from "chai";
import { KWOK_NEVER_READY_LABEL } from "../cluster/cluster.ts";
import { computeRevision } from "../../src/plan/naming.ts";
import { Exporter } from "../support/exporter.ts";
import { createNamespace, kubectl, kubectlJson, waitFor } from "../support/kube.ts";
import {
  applyMd,
  condition,
  deployments,
  getMd,
  isReady,
  mdEvents,
  modelDeployment,
  waitForMd,
  type Md,
} from "../support/md.ts";
import { FakeModelServer } from "../support/model-server.ts";
import { startOperator, type OperatorProcess } from "../support/operator.ts";
import { startPrometheus, type PrometheusServer } from "../support/prometheus.ts";
import { TrafficWatch } from "../support/traffic-watch.ts";

const replicasOf = async (ns: string, model: string) =>
  Object.fromEntries([...(await deployments(ns, model))].map(([n, d]) => [n, d.spec.replicas]));

const annotate = (ns: string, name: string, action: string) =>
  kubectl(["-n", ns, "annotate", "md", name, `mlops.dev/action=${action}`, "--overwrite"]);

describe("rollouts", function () {
  this.timeout(240_000);
  let operator: OperatorProcess;
  let models: FakeModelServer;
  let ns: string;
  let cleanup: () => Promise<void>;

  before(async () => {
    operator = await startOperator();
    models = await FakeModelServer.start();
  });
  after(async () => {
    await models.stop();
    await operator.stop();
  });
  beforeEach(async function () {
    ({ name: ns, cleanup } = await createNamespace(this.currentTest?.title.slice(0, 20) ?? "t"));
  });
  afterEach(async () => cleanup());

  it("canary: moves traffic by ready replicas step by step, then promotes and scales the old version to zero", async () => {
    const readyCheck = { name: "ready", http: { url: `${models.url}/{{version}}/ready` } };
    const spec = (v: string) =>
      modelDeployment("fraud", {
        version: v,
        replicas: 10,
        strategy: {
          canary: {
            steps: [{ setWeight: 20 }, { pause: {} }, { setWeight: 50 }, { pause: { duration: "1s" } }],
          },
        },
        healthChecks: { interval: "1s", checks: [readyCheck] },
      });
    await applyMd(ns, spec("1.0.0"));
    await waitForMd(ns, "fraud", "1.0.0 Ready", isReady);

    // Every status written while the clients' Service still sends everything to 1.0.0 says so.
    const watch = await TrafficWatch.start(ns, "fraud");
    await applyMd(ns, spec("2.0.0"));
    // Step 0 done (20% of 10 = 2 new + 8 old), then the pause without duration holds.
    const paused = await waitForMd(
      ns,
      "fraud",
      "paused at step 1 with 20% measured",
      (m) => m.status?.currentStep === 1 && m.status?.candidateWeight === 20,
    );
    watch.stop();
    expect(watch.statuses, "statuses watched").to.be.greaterThan(1);
    expect(watch.dishonest("1.0.0", "fraud-1-0-0-"), watch.trafficHistory()).to.deep.equal([]);
    expect(paused.status?.phase).to.equal("Progressing");
    expect(paused.status?.candidateVersion).to.equal("2.0.0");
    expect(condition(paused, "Reconciling")?.status).to.equal("True");
    expect(condition(paused, "Ready")?.status).to.equal("False");
    const [r1, r2] = [paused.status?.stableRevision, paused.status?.candidateRevision];
    expect(paused.status?.traffic).to.deep.equal([
      { version: "1.0.0", revision: r1, weight: 80, readyEndpoints: 8 },
      { version: "2.0.0", revision: r2, weight: 20, readyEndpoints: 2 },
    ]);
    expect(await replicasOf(ns, "fraud")).to.deep.equal({ "fraud-1-0-0": 8, "fraud-2-0-0": 2 });
    expect(paused.status?.checks?.find((c) => c.name === "ready")?.phase).to.equal("Successful");
    expect(models.requests.some((r) => r.path === "/2.0.0/ready")).to.equal(true);

    // promote completes the pause; 50% (5 new + 5 old), then the second pause holds.
    await annotate(ns, "fraud", "promote");
    const half = await waitForMd(
      ns,
      "fraud",
      "paused at step 3 with 50% measured",
      (m) => m.status?.currentStep === 3 && m.status?.candidateWeight === 50,
    );
    expect(half.status?.traffic).to.deep.equal([
      { version: "1.0.0", revision: r1, weight: 50, readyEndpoints: 5 },
      { version: "2.0.0", revision: r2, weight: 50, readyEndpoints: 5 },
    ]);
    expect(await replicasOf(ns, "fraud")).to.deep.equal({ "fraud-1-0-0": 5, "fraud-2-0-0": 5 });
    await annotate(ns, "fraud", "promote");
    const done = await waitForMd(
      ns,
      "fraud",
      "2.0.0 stable",
      (m) => isReady(m) && m.status?.stableVersion === "2.0.0",
      90_000,
    );
    expect(done.status?.candidateVersion).to.equal(undefined);
    expect(done.status?.phase).to.equal("Healthy");
    expect(done.metadata.annotations?.["mlops.dev/action"]).to.equal(undefined);
    await waitFor("old version at zero", async () => {
      const r = await replicasOf(ns, "fraud");
      return r["fraud-1-0-0"] === 0 && r["fraud-2-0-0"] === 10;
    });
    const traffic = await waitForMd(
      ns,
      "fraud",
      "all traffic on 2.0.0",
      (m) => m.status?.traffic?.length === 1,
    );
    expect(traffic.status?.traffic).to.deep.equal([
      { version: "2.0.0", revision: r2, weight: 100, readyEndpoints: 10 },
    ]);
    expect(done.status?.history?.[0]).to.include({ version: "2.0.0", outcome: "Promoted" });
    const reasons = (await mdEvents(ns, "fraud")).map((e) => e.reason);
    expect(reasons).to.include.members(["RolloutStarted", "ActionAccepted", "Promoted"]);
    // The spec is the user's: never changed by the operator.
    const final = await getMd(ns, "fraud");
    expect((final.spec.model as { version: string }).version).to.equal("2.0.0");
  });

  it("a model whose Deployment names are long: status.traffic counts its pods, whose names the API server cut", async () => {
    // 42 characters: the Deployments NAME-1-0-0 and NAME-2-0-0 have 48, so the names of their
    // pods (NAME-V-HASH- plus 5 random characters) are cut to 58 characters before the 5.
    const name = "fraud-detector-for-card-payments-in-europe";
    const spec = (v: string) =>
      modelDeployment(name, {
        version: v,
        replicas: 2,
        strategy: { canary: { steps: [{ setWeight: 50 }, { pause: {} }] } },
      });
    await applyMd(ns, spec("1.0.0"));
    const ready = await waitForMd(ns, name, "1.0.0 Ready", isReady);
    const pods = await kubectlJson<{ items: { metadata: { name: string } }[] }>([
      "-n",
      ns,
      "get",
      "pods",
      "-l",
      `mlops.dev/model=${name}`,
    ]);
    expect(pods.items.map((p) => p.metadata.name.length)).to.deep.equal([63, 63]);
    const r1 = ready.status?.stableRevision;
    const atRest = await waitForMd(
      ns,
      name,
      "1.0.0 with its 2 ready endpoints",
      (m) => m.status?.traffic?.some((t) => t.readyEndpoints === 2) === true,
    );
    expect(atRest.status?.traffic).to.deep.equal([
      { version: "1.0.0", revision: r1, weight: 100, readyEndpoints: 2 },
    ]);

    const watch = await TrafficWatch.start(ns, name);
    await applyMd(ns, spec("2.0.0"));
    const half = await waitForMd(
      ns,
      name,
      "paused at step 1 with 50% measured",
      (m) => m.status?.currentStep === 1 && m.status?.candidateWeight === 50,
    );
    watch.stop();
    expect(watch.dishonest("1.0.0", `${name}-1-0-0-`), watch.trafficHistory()).to.deep.equal([]);
    expect(half.status?.traffic).to.deep.equal([
      { version: "1.0.0", revision: r1, weight: 50, readyEndpoints: 1 },
      { version: "2.0.0", revision: half.status?.candidateRevision, weight: 50, readyEndpoints: 1 },
    ]);
  });

  it("a new pod template of the stable version rolls out beside it on its own Deployment, gated by checks, and rolls back when they fail", async () => {
    // The check's URL names the Service it measures: the candidate revision's own.
    const readyCheck = { name: "ready", http: { url: `${models.url}/{{service}}/ready` } };
    const spec = (image: string) => {
      const md = modelDeployment("fraud", {
        version: "1.0.0",
        replicas: 4,
        strategy: { canary: { steps: [{ setWeight: 50 }, { pause: {} }] } },
        healthChecks: { interval: "1s", failureThreshold: 2, checks: [readyCheck] },
      });
      const template = (md.spec as { template: { spec: { containers: { image: string }[] } } }).template;
      template.spec.containers[0]!.image = image;
      return md;
    };
    const revisionOf = (md: Record<string, unknown>) => computeRevision(md as never);
    const imageOf = (d: { spec: { template: unknown } } | undefined) =>
      (d?.spec.template as { spec: { containers: { image: string }[] } }).spec.containers[0]!.image;

    await applyMd(ns, spec("registry.example/fraud:1.0.0"));
    const first = await waitForMd(ns, "fraud", "1.0.0 Ready", isReady);
    const r1 = first.status?.stableRevision;

    const patched = spec("registry.example/fraud:1.0.0-patched");
    const r2 = revisionOf(patched);
    expect(r2).to.not.equal(r1);
    await applyMd(ns, patched);
    const half = await waitForMd(
      ns,
      "fraud",
      "the new template at 50%, measured",
      (m) => m.status?.currentStep === 1 && m.status?.candidateWeight === 50,
    );
    expect(half.status).to.deep.include({
      stableVersion: "1.0.0",
      stableRevision: r1,
      candidateVersion: "1.0.0",
      candidateRevision: r2,
      phase: "Progressing",
    });
    expect(half.status?.traffic).to.deep.equal([
      { version: "1.0.0", revision: r1, weight: 50, readyEndpoints: 2 },
      { version: "1.0.0", revision: r2, weight: 50, readyEndpoints: 2 },
    ]);
    const deps = await deployments(ns, "fraud");
    expect(Object.fromEntries([...deps].map(([n, d]) => [n, d.spec.replicas]))).to.deep.equal({
      "fraud-1-0-0": 2,
      [`fraud-1-0-0-${r2}`]: 2,
    });
    expect(imageOf(deps.get("fraud-1-0-0"))).to.equal("registry.example/fraud:1.0.0");
    expect(imageOf(deps.get(`fraud-1-0-0-${r2}`))).to.equal("registry.example/fraud:1.0.0-patched");
    expect(models.requests.some((r) => r.path === `/fraud-1-0-0-${r2}/ready`)).to.equal(true);
    expect(models.requests.some((r) => r.path === "/fraud-1-0-0/ready")).to.equal(false);

    await annotate(ns, "fraud", "promote");
    const promoted = await waitForMd(
      ns,
      "fraud",
      "the new template stable",
      (m) => isReady(m) && m.status?.stableRevision === r2,
      90_000,
    );
    expect(promoted.status?.candidateRevision).to.equal(undefined);
    expect(promoted.status?.history?.[0]).to.include({ version: "1.0.0", revision: r2, outcome: "Promoted" });
    await waitFor("the old template at zero", async () => {
      const r = await replicasOf(ns, "fraud");
      return r["fraud-1-0-0"] === 0 && r[`fraud-1-0-0-${r2}`] === 4;
    });

    // A third template whose Service does not answer ready: rolled back, r2 keeps serving.
    const broken = spec("registry.example/fraud:1.0.0-broken");
    const r3 = revisionOf(broken);
    models.setStatus(`fraud-1-0-0-${r3}`, 503);
    await applyMd(ns, broken);
    const rolledBack = await waitForMd(
      ns,
      "fraud",
      "the broken template rolled back",
      (m) => condition(m, "Stalled")?.status === "True",
      90_000,
    );
    expect(condition(rolledBack, "Stalled")?.reason).to.equal("HealthCheckFailed");
    expect(rolledBack.status?.stableRevision).to.equal(r2);
    expect(rolledBack.status?.history?.[0]).to.include({ revision: r3, outcome: "RolledBack" });
    await waitFor("the broken template at zero, r2 serving", async () => {
      const r = await replicasOf(ns, "fraud");
      return r[`fraud-1-0-0-${r3}`] === 0 && r[`fraud-1-0-0-${r2}`] === 4;
    });
    const events = await mdEvents(ns, "fraud");
    expect(events.find((e) => e.reason === "RolledBack")?.message).to.include(
      `1.0.0 (revision ${r3}) rolled back`,
    );
  });

  it("rolls back when the new version is not Available within progressDeadlineSeconds", async () => {
    await applyMd(ns, modelDeployment("slow", { version: "1", replicas: 2, progressDeadlineSeconds: 4 }));
    await waitForMd(ns, "slow", "1 Ready", isReady);
    const genBefore = (await getMd(ns, "slow")).metadata.generation;
    await applyMd(
      ns,
      modelDeployment("slow", {
        version: "2",
        replicas: 2,
        progressDeadlineSeconds: 4,
        podLabels: { [KWOK_NEVER_READY_LABEL]: "true" },
      }),
    );
    const md = await waitForMd(
      ns,
      "slow",
      "Stalled ProgressDeadlineExceeded",
      (m) => condition(m, "Stalled")?.reason === "ProgressDeadlineExceeded",
    );
    expect(condition(md, "Stalled")?.status).to.equal("True");
    expect(condition(md, "Ready")?.status).to.equal("False");
    expect(md.status?.phase).to.equal("Degraded");
    expect(md.status?.stableVersion).to.equal("1");
    expect(md.status?.history?.[0]).to.include({ version: "2", outcome: "RolledBack" });
    expect(md.metadata.generation).to.equal(genBefore + 1);
    await waitFor("candidate at zero, stable at full size", async () => {
      const r = await replicasOf(ns, "slow");
      return r["slow-2"] === 0 && r["slow-1"] === 2;
    });
    const t = await waitForMd(ns, "slow", "traffic on 1 only", (m) => m.status?.traffic?.length === 1);
    expect(t.status?.traffic?.[0]).to.include({ version: "1", weight: 100 });
    const warn = (await mdEvents(ns, "slow")).filter((e) => e.type === "Warning").map((e) => e.reason);
    expect(warn).to.include("RolledBack");
  });

  it("rolls back when an HTTP check fails failureThreshold times, naming the check and the value", async () => {
    models.setStatus("3.0.0", 503);
    const spec = (v: string) =>
      modelDeployment("httpck", {
        version: v,
        replicas: 2,
        strategy: { canary: { steps: [{ setWeight: 50 }, { pause: {} }] } },
        healthChecks: {
          interval: "500ms",
          failureThreshold: 2,
          checks: [{ name: "model-ready", http: { url: `${models.url}/{{version}}/ready` } }],
        },
      });
    await applyMd(ns, spec("1.0.0"));
    await waitForMd(ns, "httpck", "Ready", isReady);
    await applyMd(ns, spec("3.0.0"));
    const md = await waitForMd(
      ns,
      "httpck",
      "rolled back",
      (m) => condition(m, "Stalled")?.reason === "HealthCheckFailed",
    );
    expect(condition(md, "Stalled")?.message).to.include("model-ready");
    expect(md.status?.checks?.find((c) => c.name === "model-ready")).to.include({
      phase: "Failed",
      value: "503",
    });
    const ev = (await mdEvents(ns, "httpck")).find((e) => e.reason === "CheckFailed");
    expect(ev?.message).to.include("model-ready").and.to.include("503");
    await waitFor("candidate at zero", async () => (await replicasOf(ns, "httpck"))["httpck-3-0-0"] === 0);

    // It stays rolled back until a retry; once the server is healthy, retry succeeds.
    models.setStatus("3.0.0", 200);
    await annotate(ns, "httpck", "retry");
    await waitForMd(
      ns,
      "httpck",
      "retrying and paused at step 1",
      (m) => m.status?.currentStep === 1 && condition(m, "Stalled")?.status === "False",
    );
    await annotate(ns, "httpck", "promote-full");
    const ok = await waitForMd(
      ns,
      "httpck",
      "3.0.0 stable",
      (m) => isReady(m) && m.status?.stableVersion === "3.0.0",
    );
    expect(ok.status?.aborted).to.equal(undefined);
  });

  describe("with Prometheus", () => {
    let exporter: Exporter;
    let prometheus: PrometheusServer;
    before(async function () {
      this.timeout(60_000);
      exporter = await Exporter.start();
      prometheus = await startPrometheus({ targets: [exporter.target] });
    });
    after(async () => {
      await prometheus?.stop();
      await exporter?.stop();
    });

    it("rolls back a version whose error rate is too high and promotes one whose rate is low", async () => {
      exporter.setRates("1.0.0", { requests: 100, errors: 0 });
      exporter.setRates("2.0.0", { requests: 100, errors: 30 });
      // Series exist before the versions do, so rate() has samples from the first measurement.
      exporter.setRates("2.1.0", { requests: 100, errors: 0.1 });
      // Wait until Prometheus has scraped enough for rate() to answer for each version, so
      // the rollbacks below are about the error rate, not about missing data.
      for (const v of ["2.0.0", "2.1.0"]) {
        await waitFor(
          `Prometheus has a rate for ${v}`,
          async () => {
            const q = encodeURIComponent(`sum(rate(errors_total{version="${v}"}[5s]))`);
            const r = (await (await fetch(`${prometheus.url}/api/v1/query?query=${q}`)).json()) as {
              data?: { result?: unknown[] };
            };
            return (r.data?.result?.length ?? 0) > 0;
          },
          { timeoutMs: 30_000, intervalMs: 500 },
        );
      }
      const spec = (v: string) =>
        modelDeployment("prom", {
          version: v,
          replicas: 2,
          strategy: { canary: { steps: [{ setWeight: 50 }, { pause: {} }] } },
          healthChecks: {
            interval: "1s",
            failureThreshold: 2,
            checks: [
              {
                name: "error-rate",
                prometheus: {
                  address: prometheus.url,
                  query:
                    'sum(rate(errors_total{version="{{version}}"}[5s])) / sum(rate(requests_total{version="{{version}}"}[5s]))',
                  successCondition: "result < 0.05",
                },
              },
            ],
          },
        });
      await applyMd(ns, spec("1.0.0"));
      await waitForMd(ns, "prom", "Ready", isReady);
      await applyMd(ns, spec("2.0.0"));
      const md = await waitForMd(
        ns,
        "prom",
        "rolled back on error-rate",
        (m) => condition(m, "Stalled")?.reason === "HealthCheckFailed",
        90_000,
      );
      const check = md.status?.checks?.find((c) => c.name === "error-rate");
      // 30 errors in 100 requests a second: the check saw about 0.3, not an absence of data.
      expect(check?.phase).to.equal("Failed");
      expect(Number(check?.value)).to.be.closeTo(0.3, 0.05);
      expect(condition(md, "Stalled")?.message).to.include("error-rate");
      expect(md.status?.stableVersion).to.equal("1.0.0");

      // A version with a low error rate passes the same check and is promoted.
      await applyMd(ns, spec("2.1.0"));
      const passing = await waitForMd(
        ns,
        "prom",
        "2.1.0 at the pause with the check passing",
        (m) =>
          m.status?.currentStep === 1 &&
          m.status?.checks?.some((c) => c.name === "error-rate" && c.phase === "Successful") === true,
        90_000,
      );
      await annotate(ns, "prom", "promote");
      expect(
        Number(passing.status?.checks?.find((c) => c.name === "error-rate")?.value ?? "NaN"),
      ).to.be.below(0.05);
      await waitForMd(ns, "prom", "2.1.0 stable", (m) => isReady(m) && m.status?.stableVersion === "2.1.0");
    });
  });

  it("blue/green: preview Service, promotion switches the clients' Service, the old version scales down after the delay", async () => {
    const spec = (v: string) =>
      modelDeployment("bg", {
        version: v,
        replicas: 3,
        strategy: { blueGreen: { previewReplicas: 1, scaleDownDelaySeconds: 2 } },
      });
    await applyMd(ns, spec("1"));
    await waitForMd(ns, "bg", "1 Ready", isReady);
    const selector = async (svc: string) =>
      (await kubectlJson<{ spec: { selector: Record<string, string> } }>(["-n", ns, "get", "service", svc]))
        .spec.selector;
    expect(await selector("bg")).to.include({ "mlops.dev/model": "bg", "mlops.dev/version": "1" });

    // Until the switch, every status says version 1 gets all traffic, as the clients' Service does.
    const watch = await TrafficWatch.start(ns, "bg");
    await applyMd(ns, spec("2"));
    // No autoPromotionSeconds: it waits for promote with the preview up.
    await waitFor(
      "preview Service on 2",
      async () =>
        (await selector("bg-preview").catch((): Record<string, string> => ({})))["mlops.dev/version"] === "2",
    );
    await waitFor(
      "preview at 1 replica",
      async () => (await deployments(ns, "bg")).get("bg-2")?.status?.availableReplicas === 1,
    );
    expect((await selector("bg"))["mlops.dev/version"]).to.equal("1");
    watch.stop();
    expect(watch.statuses, "statuses watched").to.be.greaterThan(1);
    expect(watch.dishonest("1", "bg-1-"), watch.trafficHistory()).to.deep.equal([]);
    await annotate(ns, "bg", "promote");
    await waitFor("clients switched to 2", async () => (await selector("bg"))["mlops.dev/version"] === "2", {
      timeoutMs: 60_000,
    });
    const reps = await replicasOf(ns, "bg");
    expect(reps["bg-2"]).to.equal(3);
    await waitFor(
      "old version scaled down after the delay",
      async () => (await replicasOf(ns, "bg"))["bg-1"] === 0,
      { timeoutMs: 30_000 },
    );
    await waitFor("preview Service deleted", async () => {
      const l = await kubectlJson<{ items: unknown[] }>([
        "-n",
        ns,
        "get",
        "services",
        "--field-selector",
        "metadata.name=bg-preview",
      ]);
      return l.items.length === 0;
    });
    const md = await waitForMd(ns, "bg", "2 Ready", (m) => isReady(m) && m.status?.stableVersion === "2");
    expect((await mdEvents(ns, "bg")).map((e) => e.reason)).to.include("TrafficSwitched");
    expect(md.status?.history?.[0]).to.include({ version: "2", outcome: "Promoted" });
  });

  it("abort sends traffic back to the stable version; an unknown action is refused with an Event", async () => {
    const spec = (v: string) =>
      modelDeployment("ab", {
        version: v,
        replicas: 2,
        strategy: { canary: { steps: [{ setWeight: 50 }, { pause: {} }] } },
      });
    await applyMd(ns, spec("1"));
    await waitForMd(ns, "ab", "Ready", isReady);
    await annotate(ns, "ab", "launch");
    await waitFor("refused", async () =>
      (await mdEvents(ns, "ab")).some((e) => e.reason === "ActionRefused"),
    );
    await applyMd(ns, spec("2"));
    await waitForMd(ns, "ab", "at the pause", (m) => m.status?.currentStep === 1);
    await annotate(ns, "ab", "abort");
    const md = await waitForMd(ns, "ab", "aborted", (m) => condition(m, "Stalled")?.reason === "Aborted");
    expect(md.status?.stableVersion).to.equal("1");
    await waitFor("candidate at zero", async () => (await replicasOf(ns, "ab"))["ab-2"] === 0);
  });

  it("an operator killed during a timed pause ends the pause when it should, not from scratch", async () => {
    const spec = (v: string) =>
      modelDeployment("resume", {
        version: v,
        replicas: 4,
        strategy: {
          canary: { steps: [{ setWeight: 25 }, { pause: { duration: "10s" } }, { setWeight: 75 }] },
        },
      });
    await applyMd(ns, spec("1"));
    await waitForMd(ns, "resume", "Ready", isReady);
    await applyMd(ns, spec("2"));
    const during: Md = await waitForMd(ns, "resume", "in the 10s pause", (m) => m.status?.currentStep === 1);
    await operator.stop("SIGKILL");
    const killedAt = Date.now();
    // The world stays as it was while no operator runs.
    expect(await replicasOf(ns, "resume")).to.deep.equal({ "resume-1": 3, "resume-2": 1 });
    await new Promise((r) => setTimeout(r, 7000));
    const restartedAt = Date.now();
    operator = await startOperator();
    // Past the pause: at the step after it, or already promoted (the last step and the
    // promotion can both happen between two polls on a busy machine).
    const pastPause = (m: Md) => (m.status?.currentStep ?? 0) >= 2 || m.status?.stableVersion === "2";
    await waitForMd(ns, "resume", "past the pause", pastPause, 30_000);
    const pauseEndedAfterRestart = Date.now() - restartedAt;
    // From scratch it would take 10 s after the restart; carried over, about 3 s.
    expect(pauseEndedAfterRestart, `killed ${restartedAt - killedAt} ms`).to.be.below(8000);
    const md = await waitForMd(
      ns,
      "resume",
      "2 stable",
      (m) => isReady(m) && m.status?.stableVersion === "2",
      60_000,
    );
    expect(md.status?.history?.filter((h) => h.version === "2").map((h) => h.outcome)).to.deep.equal([
      "Promoted",
    ]);
    expect(during.status?.candidateVersion).to.equal("2");
    // One rollout, not two: it was started once.
    const started = (await mdEvents(ns, "resume")).filter((e) => e.reason === "RolloutStarted");
    expect(started).to.have.length(1);
  });

  it("a new version mid-rollout supersedes the candidate and starts from step 0; the stable version set back ends the rollout", async () => {
    const spec = (v: string) =>
      modelDeployment("mid", {
        version: v,
        replicas: 4,
        strategy: { canary: { steps: [{ setWeight: 25 }, { pause: {} }, { setWeight: 50 }, { pause: {} }] } },
      });
    await applyMd(ns, spec("1"));
    await waitForMd(ns, "mid", "Ready", isReady);
    await applyMd(ns, spec("2"));
    await waitForMd(
      ns,
      "mid",
      "2 at the first pause",
      (m) => m.status?.currentStep === 1 && m.status?.candidateVersion === "2",
    );
    await annotate(ns, "mid", "promote");
    await waitForMd(ns, "mid", "2 at the second pause", (m) => m.status?.currentStep === 3);

    await applyMd(ns, spec("3"));
    const sup = await waitForMd(
      ns,
      "mid",
      "3 at step 1",
      (m) => m.status?.candidateVersion === "3" && m.status?.currentStep === 1,
    );
    expect(sup.status?.history?.[0]).to.include({ version: "2", outcome: "Superseded" });
    await waitFor("2 at zero, 3 at 1 replica", async () => {
      const r = await replicasOf(ns, "mid");
      return r["mid-2"] === 0 && r["mid-3"] === 1 && r["mid-1"] === 3;
    });

    await applyMd(ns, spec("1"));
    const back = await waitForMd(
      ns,
      "mid",
      "back on 1 with no rollout",
      (m) => isReady(m) && m.status?.candidateVersion === undefined,
    );
    expect(back.status?.stableVersion).to.equal("1");
    expect(back.status?.history?.[0]).to.include({ version: "3", outcome: "Reverted" });
    await waitFor("only 1 serves", async () => {
      const r = await replicasOf(ns, "mid");
      return r["mid-1"] === 4 && r["mid-3"] === 0;
    });
    const reasons = (await mdEvents(ns, "mid")).map((e) => e.reason);
    expect(reasons).to.include.members(["RolloutSuperseded", "RolloutReverted"]);
  });

  it("blue/green with autoPromotionSeconds promotes by itself once the preview is Available", async () => {
    const spec = (v: string) =>
      modelDeployment("auto", {
        version: v,
        replicas: 2,
        strategy: { blueGreen: { autoPromotionSeconds: 1, scaleDownDelaySeconds: 0 } },
      });
    await applyMd(ns, spec("1"));
    await waitForMd(ns, "auto", "Ready", isReady);
    await applyMd(ns, spec("2"));
    const md = await waitForMd(
      ns,
      "auto",
      "2 stable",
      (m) => isReady(m) && m.status?.stableVersion === "2",
      60_000,
    );
    expect(md.status?.history?.[0]).to.include({ version: "2", outcome: "Promoted" });
    const svc = await kubectlJson<{ spec: { selector: Record<string, string> } }>([
      "-n",
      ns,
      "get",
      "service",
      "auto",
    ]);
    expect(svc.spec.selector).to.deep.equal({
      "mlops.dev/model": "auto",
      "mlops.dev/version": "2",
      "mlops.dev/revision": md.status?.stableRevision,
    });
    await waitFor("1 at zero", async () => (await replicasOf(ns, "auto"))["auto-1"] === 0);
  });
});
