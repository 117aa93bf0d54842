// Health checks written by a tenant, run by the real operator against the real control
// plane: what one ModelDeployment's checks can cost the operator, and what they can reveal.
import { expect } from "chai";
import { createNamespace, waitFor } from "../support/kube.ts";
import { CheckTarget } from "../support/check-target.ts";
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
import { startOperator, type OperatorProcess } from "../support/operator.ts";
import { Exporter } from "../support/exporter.ts";
import { startPrometheus } from "../support/prometheus.ts";

const EXPENSIVE = "json.items.all(a, json.items.all(b, json.items.exists(c, c < 0) || true))";
const STEPS = [{ setWeight: 50 }, { pause: {} }];
const SECRET = "s3cr3t-internal-token-7f3a";

const checkOf = (md: Md, name: string) => md.status?.checks?.find((c) => c.name === name);

describe("untrusted health checks", function () {
  this.timeout(300_000);
  let target: CheckTarget;
  let ns: string;
  let cleanup: () => Promise<void>;
  let op: OperatorProcess | undefined;

  before(async () => {
    target = await CheckTarget.start();
    target.route("/ok", { body: '{"ready": true}' });
    target.route("/internal", { body: JSON.stringify({ token: SECRET, admin: "internal admin page" }) });
    target.route("/items", { body: JSON.stringify({ items: Array.from({ length: 1000 }, (_, i) => i) }) });
  });
  after(async () => {
    await target.stop();
  });
  beforeEach(async () => {
    ({ name: ns, cleanup } = await createNamespace("sec"));
  });
  afterEach(async () => {
    await op?.stop("SIGKILL");
    op = undefined;
    await cleanup();
  });

  it("an expensive successCondition is an Error at its budget, and the operator goes on with other ModelDeployments", async () => {
    op = await startOperator({ namespace: ns });
    const expensive = (version: string) =>
      modelDeployment("expensive", {
        version,
        strategy: { canary: { steps: STEPS } },
        healthChecks: {
          interval: "2s",
          checks: [{ name: "list", http: { url: `${target.url}/items`, successCondition: EXPENSIVE } }],
        },
      });
    await applyMd(ns, expensive("1.0.0"));
    await waitForMd(ns, "expensive", "1.0.0 Ready", isReady);

    // The rollout of 2.0.0 measures the expensive condition.
    await applyMd(ns, expensive("2.0.0"));
    const warned = await waitForMd(
      ns,
      "expensive",
      "status.warnings",
      (m) => (m.status?.warnings ?? []).length > 0,
    );
    expect(warned.status?.warnings?.[0]).to.match(
      /^spec\.healthChecks\.checks\[0\]\.http\.successCondition: successCondition `.*` iterates over response data \(`json\.items`\) inside another comprehension/,
    );
    await waitForMd(
      ns,
      "expensive",
      "the check being measured",
      () => target.requestsTo("/items").length > 0,
    );

    // Meanwhile an unrelated ModelDeployment is reconciled as usual. Evaluated on the operator's
    // thread, the condition would have kept it busy for minutes.
    await applyMd(ns, modelDeployment("other", { version: "1.0.0" }));
    await waitForMd(ns, "other", "other Ready while the expensive check runs", isReady, 60_000);

    const errored = await waitForMd(
      ns,
      "expensive",
      "an Error measurement",
      (m) => checkOf(m, "list")?.phase === "Error",
      60_000,
    );
    const check = checkOf(errored, "list")!;
    expect(check.message).to.match(/was stopped: its evaluation exceeded the budget of 1s/);
    // Measured at most the budget after its answer (and a generous margin for a loaded machine).
    const answered = target.requestsTo("/items").filter((r) => r.at <= Date.parse(check.lastMeasured!));
    expect(answered.length).to.be.greaterThan(0);
    expect(Date.parse(check.lastMeasured!) - answered[answered.length - 1]!.at).to.be.lessThan(1000 + 4000);

    const events = await mdEvents(ns, "expensive");
    expect(
      events.some((e) => e.reason === "SpecWarning" && /inside another comprehension/.test(e.message ?? "")),
    ).to.equal(true);
    // The operator is still answering (the event loop is free).
    expect((await fetch(`${op.healthUrl}/healthz`)).status).to.equal(200);
    expect((await getMd(ns, "other")).status?.observedGeneration).to.equal(1);
  });

  it("interval: 1ms is raised to the platform's minimum, with a Warning Event and status.warnings, and the target sees no more than that", async () => {
    op = await startOperator({ namespace: ns });
    const flood = (version: string) =>
      modelDeployment("flood", {
        version,
        strategy: { canary: { steps: STEPS } },
        healthChecks: {
          interval: "1ms",
          checks: [{ name: "ok", timeout: "1h", http: { url: `${target.url}/ok` } }],
        },
      });
    await applyMd(ns, flood("1.0.0"));
    await waitForMd(ns, "flood", "1.0.0 Ready", isReady);
    const before = target.requestsTo("/ok").length;
    await applyMd(ns, flood("2.0.0"));

    const warned = await waitForMd(
      ns,
      "flood",
      "status.warnings",
      (m) => (m.status?.warnings ?? []).length >= 2,
    );
    expect(warned.status?.warnings).to.deep.equal([
      "spec.healthChecks.interval: interval 1ms is below the platform's minimum of 1s (--check-min-interval): measured every 1s",
      "spec.healthChecks.checks[0].timeout: timeout 1h is above the platform's maximum of 1m (--check-max-timeout): a measurement is given 1m",
    ]);
    const events = await mdEvents(ns, "flood");
    const warning = events.find((e) => e.reason === "SpecWarning");
    expect(warning?.type).to.equal("Warning");
    expect(warning?.message).to.include("interval 1ms is below the platform's minimum of 1s");

    // Watch the target for a while: at most one measurement a second, against dozens a second
    // unclamped. Three may come early, each at once, by design: when the candidate becomes
    // available at step 0, when that step's replica counts are reached (a measurement since
    // stepReadyAt is needed), and when the pause step begins.
    const first = await waitFor("the first check request", async () => target.requestsTo("/ok")[before]);
    const windowMs = 6000;
    await waitFor("a window of measurements", async () => Date.now() - first.at >= windowMs, {
      timeoutMs: windowMs + 10_000,
    });
    const inWindow = target.requestsTo("/ok").filter((r) => r.at >= first.at && r.at < first.at + windowMs);
    expect(inWindow.length, "requests in 6 s").to.be.at.least(2);
    expect(inWindow.length, "requests in 6 s").to.be.at.most(windowMs / 1000 + 3);
    const gaps = inWindow.slice(1).map((r, i) => r.at - inWindow[i]!.at);
    expect(gaps.filter((g) => g < 900).length, `gaps ${gaps.join(", ")} ms`).to.be.at.most(3);
  });

  it("an internal endpoint's answer appears in no status field and no Event", async () => {
    op = await startOperator({ namespace: ns });
    const url = `${target.url}/internal`;
    const leak = (version: string) =>
      modelDeployment("leak", {
        version,
        strategy: { canary: { steps: STEPS } },
        healthChecks: {
          interval: "1s",
          failureThreshold: 3,
          checks: [
            { name: "status", http: { url, expectStatus: 418 } },
            { name: "condition", http: { url, successCondition: 'json.token.startsWith("x")' } },
            { name: "value", http: { url, successCondition: "json.token" } },
            { name: "key", http: { url, successCondition: "json[json.token] == 1" } },
          ],
        },
      });
    await applyMd(ns, leak("1.0.0"));
    await waitForMd(ns, "leak", "1.0.0 Ready", isReady);
    await applyMd(ns, leak("2.0.0"));
    // Each check is measured on its own (beside the work queue): wait until all four were.
    const measured = await waitForMd(
      ns,
      "leak",
      "every check measured",
      (m) => (m.status?.checks ?? []).filter((c) => c.message !== undefined).length === 4,
      60_000,
    );
    await waitForMd(
      ns,
      "leak",
      "rolled back",
      (m) =>
        m.status?.conditions?.some((c) => c.type === "Stalled" && c.reason === "HealthCheckFailed") ?? false,
      60_000,
    );
    expect(target.requestsTo("/internal").length).to.be.greaterThan(0);
    const messages = Object.fromEntries((measured.status?.checks ?? []).map((c) => [c.name, c.message]));
    expect(messages.status).to.match(
      /^expected status 418, got 200 \(response of \d+ bytes not shown: the destination is not this version's own Service\)$/,
    );
    expect(messages.condition).to.match(/was false \(response of \d+ bytes not shown/);
    expect(messages.value).to.match(/must evaluate to a bool, got string$/);
    expect(messages.key).to.match(/No such key \(details not shown: they quote the response\)$/);

    const everything = JSON.stringify((await getMd(ns, "leak")).status);
    const events = JSON.stringify(await mdEvents(ns, "leak"));
    expect(events).to.match(/HealthCheckFailed|RolledBack/);
    for (const said of [SECRET, "internal admin page"]) {
      expect(everything, "status").to.not.include(said);
      expect(events, "Events").to.not.include(said);
    }
    // The operator asked for nothing but the page: no credentials of its own were sent.
    const sent = target.requestsTo("/internal")[0]!;
    expect(sent.headers.authorization).to.equal(undefined);
    expect(sent.headers.cookie).to.equal(undefined);
  });

  it("the default destination policy: a loopback address written in a check makes the spec invalid, the stable version serving", async () => {
    // The harness allows 127.0.0.0/8 for every other test; cleared here.
    op = await startOperator({ namespace: ns, args: ["--check-allow-cidrs="] });
    target.route("/policy", { body: "{}" });
    await applyMd(
      ns,
      modelDeployment("written", { version: "1.0.0", strategy: { canary: { steps: STEPS } } }),
    );
    await waitForMd(ns, "written", "1.0.0 Ready", isReady);
    await applyMd(
      ns,
      modelDeployment("written", {
        version: "2.0.0",
        strategy: { canary: { steps: STEPS } },
        healthChecks: {
          checks: [{ name: "address", http: { url: `http://127.0.0.1:${target.port}/policy` } }],
        },
      }),
    );
    const stalled = await waitForMd(
      ns,
      "written",
      "Stalled InvalidSpec",
      (m) =>
        condition(m, "Stalled")?.reason === "InvalidSpec" &&
        m.status?.observedGeneration === m.metadata.generation,
    );
    expect(condition(stalled, "Stalled")?.message).to.equal(
      `the spec is invalid: spec.healthChecks.checks[0].http.url: destination http://127.0.0.1:${target.port}/policy is denied by the platform's policy: 127.0.0.1 is a loopback address (the operator's own ports); the platform can allow it with --check-allow-cidrs`,
    );
    expect(stalled.status?.stableVersion).to.equal("1.0.0");
    expect([...(await deployments(ns, "written")).keys()]).to.deep.equal(["written-1-0-0"]);
    expect(target.requestsTo("/policy"), "requests sent to a denied destination").to.deep.equal([]);
  });

  it("the default destination policy: a name that resolves to loopback is an Error measurement, rolled back, and nothing is sent", async () => {
    op = await startOperator({ namespace: ns, args: ["--check-allow-cidrs="] });
    target.route("/policy", { body: "{}" });
    const denied = (version: string) =>
      modelDeployment("denied", {
        version,
        strategy: { canary: { steps: STEPS } },
        healthChecks: {
          interval: "1s",
          failureThreshold: 2,
          // The version's own Service by name: the cluster DNS resolves it to its ClusterIP,
          // which is on loopback here (127.96.0.0/16), an address the default policy denies.
          checks: [
            { name: "name", http: { url: `http://{{service}}.{{namespace}}.svc:${target.port}/policy` } },
          ],
        },
      });
    await applyMd(ns, denied("1.0.0"));
    await waitForMd(ns, "denied", "1.0.0 Ready", isReady);
    await applyMd(ns, denied("2.0.0"));
    const measured = await waitForMd(
      ns,
      "denied",
      "the check measured",
      (m) => checkOf(m, "name")?.phase === "Error",
      60_000,
    );
    const host = `denied-2-0-0.${ns}.svc`;
    expect(checkOf(measured, "name")?.message).to.match(
      new RegExp(
        `^GET http://${host.replace(/\./g, "\\.")}:${target.port}/policy failed: destination ${host.replace(/\./g, "\\.")} resolved to 127\\.96\\.\\d+\\.\\d+, which the platform's policy denies: .* loopback address`,
      ),
    );
    // An Error counts toward the failure threshold: rolled back, the stable version serves.
    const rolledBack = await waitForMd(
      ns,
      "denied",
      "rolled back",
      (m) => condition(m, "Stalled")?.reason === "HealthCheckFailed",
      60_000,
    );
    expect(rolledBack.status?.stableVersion).to.equal("1.0.0");
    expect(target.requestsTo("/policy"), "requests sent to a denied destination").to.deep.equal([]);
  });

  it("restricted: another namespace's Service makes the spec invalid, naming the setting that allows it", async () => {
    op = await startOperator({ namespace: ns, args: ["--check-destinations=restricted"] });
    await applyMd(
      ns,
      modelDeployment("other-ns", {
        version: "1.0.0",
        healthChecks: { checks: [{ name: "billing", http: { url: "http://billing.team-b.svc:80/admin" } }] },
      }),
    );
    const stalled = await waitForMd(
      ns,
      "other-ns",
      "Stalled InvalidSpec",
      (m) => condition(m, "Stalled")?.reason === "InvalidSpec",
    );
    expect(condition(stalled, "Stalled")?.message).to.equal(
      `the spec is invalid: spec.healthChecks.checks[0].http.url: destination http://billing.team-b.svc:80/admin is denied by the platform's policy: billing.team-b.svc is not a Service of namespace ${ns} (*.${ns}.svc) and not a host the platform allows (--check-allow-hosts) in restricted mode`,
    );
  });
  it("restricted: a Prometheus query without the namespace makes the spec invalid and is never sent; one with it runs", async () => {
    // A real Prometheus whose series carry the namespace of the target, as a cluster's would.
    const exporter = await Exporter.start();
    const prometheus = await startPrometheus({ targets: [exporter.target], labels: { namespace: ns } });
    try {
      exporter.setRates("1.0.0", { requests: 10, errors: 0 });
      op = await startOperator({ namespace: ns, args: ["--check-destinations=restricted"] });
      const scoped = `sum(requests_total{namespace="{{namespace}}"})`;
      const unscoped = `sum(rate(requests_total{version="{{version}}"}[1m]))`;
      const withQuery = (name: string, version: string, query: string) =>
        modelDeployment(name, {
          version,
          strategy: { canary: { steps: STEPS } },
          healthChecks: {
            interval: "1s",
            checks: [
              {
                name: "requests",
                prometheus: { address: prometheus.url, query, successCondition: "result >= 0" },
              },
            ],
          },
        });

      await applyMd(ns, withQuery("unscoped", "1.0.0", unscoped));
      const stalled = await waitForMd(
        ns,
        "unscoped",
        "Stalled InvalidSpec",
        (m) => condition(m, "Stalled")?.reason === "InvalidSpec",
      );
      expect(condition(stalled, "Stalled")?.message).to.equal(
        `the spec is invalid: spec.healthChecks.checks[0].prometheus.query: selector \`requests_total{version="1.0.0"}\` may read other namespaces' series: it has no matcher namespace="${ns}"; the platform requires namespace="${ns}" on every selector (--check-promql-namespace=auto with --check-destinations=restricted)`,
      );
      expect(condition(stalled, "Ready")?.status).to.equal("False");

      // The same check with the namespace runs against Prometheus during a rollout, once
      // Prometheus has scraped the series (this test's own query is not the check's).
      await waitFor("Prometheus to have the series", async () => {
        const url = `${prometheus.url}/api/v1/query?query=${encodeURIComponent(`requests_total{namespace="${ns}"}`)}`;
        const answer = (await (await fetch(url)).json()) as { data?: { result?: unknown[] } };
        return (answer.data?.result?.length ?? 0) > 0;
      });
      await applyMd(ns, withQuery("scoped", "1.0.0", scoped));
      await waitForMd(ns, "scoped", "1.0.0 Ready", isReady);
      await applyMd(ns, withQuery("scoped", "2.0.0", scoped));
      const measured = await waitForMd(
        ns,
        "scoped",
        "the query measured",
        (m) => checkOf(m, "requests")?.phase === "Successful",
        60_000,
      );
      expect(Number(checkOf(measured, "requests")?.value)).to.be.at.least(0);
      const sent = prometheus.queries();
      expect(sent, "queries Prometheus evaluated").to.include(`sum(requests_total{namespace="${ns}"})`);
      expect(
        sent.filter((q) => !q.includes(`namespace="${ns}"`)),
        "queries without the namespace",
      ).to.deep.equal([]);
    } finally {
      await prometheus.stop();
      await exporter.stop();
    }
  });
});
