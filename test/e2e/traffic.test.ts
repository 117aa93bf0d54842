// Traffic through the Gateway API against the real control plane with the pinned Gateway API
// CRDs: the HTTPRoute the operator writes at every step of a canary (exact weights, header
// and mirror rules that come and go with their steps, a parent that rejects the route,
// rollback to 100/0 in one write), and that same route, read back from the API server, fed
// to the real data plane (Envoy Gateway and Envoy in a loopback-only namespace) to count
// where 1000 real requests go.
//   bash hack/run.sh test-e2e test/e2e/traffic.test.ts
import { join } from "node:path";
import { expect } from "chai";
import { DataPlane, type HTTPRoute, type Services } from "../support/dataplane.ts";
import { installGatewayApiCrds, routeParentsSay } from "../support/gateway-api.ts";
import { createNamespace, kubectl, kubectlJson, tool, waitFor } from "../support/kube.ts";
import {
  applyMd,
  condition,
  deployments,
  isReady,
  mdEvents,
  modelDeployment,
  namespaceDeletedAt,
  operatorWrites,
  waitForMd,
  type Md,
} from "../support/md.ts";
import { FakeModelServer } from "../support/model-server.ts";
import { startOperator, type OperatorProcess } from "../support/operator.ts";

const ROOT = join(import.meta.dirname, "..", "..");
const NAME = "fraud";
const STABLE = "fraud-1-0-0";
const CANDIDATE = "fraud-2-0-0";
const HOST = "fraud.models.example";

type Rule = NonNullable<HTTPRoute["spec"]["rules"]>[number];

const traffic = {
  gatewayAPI: {
    httpRoute: { parentRefs: [{ name: "inference-gateway", sectionName: "http" }], hostnames: [HOST] },
  },
};

const steps = [
  { setWeight: 0 },
  { setMirrorRoute: { name: "shadow", percentage: 100 } },
  { setWeight: 20 },
  { pause: {} },
  { setHeaderRoute: { name: "beta", match: [{ headerName: "x-cohort", headerValue: { exact: "beta" } }] } },
  { setWeight: 50 },
  { pause: {} },
];

const spec = (version: string) =>
  modelDeployment(NAME, {
    version,
    replicas: 4,
    strategy: { canary: { steps } },
    extra: { traffic },
  });

const annotate = (ns: string, action: string) =>
  kubectl(["-n", ns, "annotate", "md", NAME, `mlops.dev/action=${action}`, "--overwrite"]);

const getRoute = (ns: string) => kubectlJson<HTTPRoute>(["-n", ns, "get", "httproute", NAME]);
const rules = (r: HTTPRoute): Rule[] => r.spec.rules ?? [];
const splitOf = (r: HTTPRoute) =>
  Object.fromEntries(
    (rules(r).find((x) => x.name === "split")?.backendRefs ?? []).map((b) => [b.name, b.weight]),
  );

/** What a Gateway controller would write: every parent says Accepted (and ResolvedRefs) as given. */
const parentsSay = (ns: string, accepted: "True" | "False", reason: string, message: string, name = NAME) =>
  routeParentsSay(ns, name, accepted, reason, message);

/** The per-version Services as the data plane needs them: their loopback ClusterIPs and versions. */
async function versionServices(ns: string, model = NAME): Promise<Services> {
  const list = await kubectlJson<{
    items: {
      metadata: { name: string; labels?: Record<string, string> };
      spec: { clusterIP: string; ports: { port: number }[] };
    }[];
  }>(["-n", ns, "get", "services", "-l", `mlops.dev/model=${model},mlops.dev/role=version`]);
  const out: Services = {};
  for (const s of list.items)
    out[s.metadata.name] = {
      clusterIP: s.spec.clusterIP,
      port: s.spec.ports[0]!.port,
      version: s.metadata.labels?.["mlops.dev/version"] ?? s.metadata.name,
    };
  return out;
}

describe("traffic through the Gateway API (HTTPRoute with exact weights)", function () {
  this.timeout(300_000);
  let operator: OperatorProcess;
  let ns: string;
  let cleanup: () => Promise<void>;
  let dp: DataPlane | undefined;
  let models: FakeModelServer | undefined;
  /** The example's namespace and when its deletion was asked for (the first test). */
  let example: { ns: string; deletedAt: Date } | undefined;

  before(async () => {
    await installGatewayApiCrds();
    operator = await startOperator();
    ({ name: ns, cleanup } = await createNamespace("traffic"));
  });
  after(async () => {
    await models?.stop();
    await dp?.stop();
    await operator?.stop();
    await cleanup?.();
  });

  it("applies examples/canary-gateway-api.yaml: the route on the stable version; the schema refuses a header step without spec.traffic", async () => {
    const { name: exNs, cleanup: exCleanup } = await createNamespace("traffic-example");
    try {
      await kubectl(["-n", exNs, "apply", "-f", join(ROOT, "examples", "canary-gateway-api.yaml")]);
      const r = await waitFor("the example's route", async () => {
        const got = await kubectlJson<HTTPRoute>(["-n", exNs, "get", "httproute", "fraud-detector"]).catch(
          () => undefined,
        );
        return got && splitOf(got)["fraud-detector-1-0-0"] === 100 ? got : undefined;
      });
      expect(r.spec.parentRefs).to.deep.equal([
        {
          group: "gateway.networking.k8s.io",
          kind: "Gateway",
          name: "inference-gateway",
          sectionName: "http",
        },
      ]);
      const bad = modelDeployment("bad", {
        version: "1.0.0",
        strategy: {
          canary: {
            steps: [
              {
                setHeaderRoute: {
                  name: "beta",
                  match: [{ headerName: "x-cohort", headerValue: { exact: "beta" } }],
                },
              },
            ],
          },
        },
      });
      const refused = await tool("kubectl", ["-n", exNs, "apply", "-f", "-"], JSON.stringify(bad));
      expect(refused.code).to.not.equal(0);
      expect(refused.stderr).to.match(/setHeaderRoute and setMirrorRoute steps need spec.traffic/);
    } finally {
      example = { ns: exNs, deletedAt: new Date() };
      await exCleanup();
    }
  });

  it("walks a canary through the route step by step, and real requests go where the route says", async () => {
    await applyMd(ns, spec("1.0.0"));
    await waitFor("the route of 1.0.0", async () => {
      const r = await getRoute(ns).catch(() => undefined);
      return r && splitOf(r)[STABLE] === 100 ? r : undefined;
    });
    const first = await getRoute(ns);
    expect(first.metadata.ownerReferences).to.deep.include.members([
      {
        apiVersion: "mlops.dev/v1alpha1",
        kind: "ModelDeployment",
        name: NAME,
        uid: (await kubectlJson<Md>(["-n", ns, "get", "md", NAME])).metadata.uid,
        controller: true,
        blockOwnerDeletion: true,
      },
    ]);
    expect(first.spec.hostnames).to.deep.equal([HOST]);
    await waitForMd(ns, NAME, "1.0.0 Ready", isReady);

    // A parent that does not accept the route holds the rollout, and says why.
    await parentsSay(ns, "False", "NotAllowedByListeners", "no listener allows routes from this namespace");
    const rolloutStart = new Date();
    await applyMd(ns, spec("2.0.0"));
    const held = await waitForMd(
      ns,
      NAME,
      "TrafficRouted=False, RouteNotAccepted",
      (m) => condition(m, "TrafficRouted")?.reason === "RouteNotAccepted",
    );
    expect(condition(held, "TrafficRouted")?.message).to.match(
      /the parent .*\/inference-gateway\/http has not accepted the HTTPRoute fraud: Accepted=False \(NotAllowedByListeners\): no listener allows routes from this namespace; the rollout waits/,
    );
    expect(held.status?.message).to.match(/^held: /);
    expect(held.status?.currentStep ?? 0).to.equal(0);
    await waitFor("a TrafficNotRouted Event", async () =>
      (await mdEvents(ns, NAME)).some(
        (e) => e.reason === "TrafficNotRouted" && /NotAllowedByListeners/.test(e.message ?? ""),
      ),
    );

    // Accepted: setWeight 0 holds the route at 100/0 with one candidate pod, then the mirror step.
    await parentsSay(ns, "True", "Accepted", "Accepted");
    const mirroring = await waitForMd(
      ns,
      NAME,
      "the mirror step, seen in status.route",
      (m) => m.status?.currentStep === 1 && m.status?.route?.mirror !== undefined,
    );
    expect(mirroring.status?.route?.mirror).to.deep.equal({ service: CANDIDATE, percentage: 100 });
    expect(condition(mirroring, "TrafficRouted")?.status).to.equal("True");
    const mirrorRoute = await getRoute(ns);
    expect(splitOf(mirrorRoute)).to.deep.equal({ [STABLE]: 100, [CANDIDATE]: 0 });
    expect(rules(mirrorRoute).find((r) => r.name === "split")?.filters).to.deep.equal([
      {
        type: "RequestMirror",
        requestMirror: {
          backendRef: { group: "", kind: "Service", name: CANDIDATE, port: 80 },
          percent: 100,
        },
      },
    ]);
    const sizes = await deployments(ns, NAME);
    expect(sizes.get(CANDIDATE)?.spec.replicas, "the candidate at its share: one pod").to.equal(1);
    expect(sizes.get(STABLE)?.spec.replicas, "stable at full size").to.equal(4);
    const clients = await kubectlJson<{ spec: { selector: Record<string, string> } }>([
      "-n",
      ns,
      "get",
      "svc",
      NAME,
    ]);
    expect(
      clients.spec.selector["mlops.dev/version"],
      "the clients' Service selects the stable version only",
    ).to.equal("1.0.0");

    // The real data plane, given the route as the API server holds it: copies reach the
    // candidate, every client answer comes from the stable version.
    dp = await DataPlane.start({ route: mirrorRoute, services: await versionServices(ns) });
    const before = await dp.served();
    const mirrored = await dp.send({ count: 200 });
    console.log(`    [traffic] mirror 100% at weight 0: clients ${JSON.stringify(mirrored.answers)}`);
    expect(mirrored.answers).to.deep.equal({ "1.0.0": 200 });
    const copies = async () =>
      ((await dp!.served())["2.0.0"]?.requests ?? 0) - (before["2.0.0"]?.requests ?? 0);
    await waitFor("the candidate got the mirrored copies", async () => (await copies()) >= 200, {
      timeoutMs: 10_000,
      intervalMs: 100,
    });
    console.log(`    [traffic] mirror: the candidate received ${await copies()} copies`);

    // promote: the mirror goes, 20% through the route, then the pause holds.
    await annotate(ns, "promote");
    const at20 = await waitForMd(
      ns,
      NAME,
      "paused at 20%",
      (m) => m.status?.currentStep === 3 && m.status?.candidateWeight === 20,
    );
    expect(at20.status?.route?.mirror).to.equal(undefined);
    expect(at20.status?.traffic?.map((t) => [t.version, t.weight])).to.deep.equal([
      ["1.0.0", 80],
      ["2.0.0", 20],
    ]);
    const route20 = await getRoute(ns);
    expect(splitOf(route20)).to.deep.equal({ [STABLE]: 80, [CANDIDATE]: 20 });
    expect(rules(route20).map((r) => r.name)).to.deep.equal(["split"]);
    expect((await deployments(ns, NAME)).get(CANDIDATE)?.spec.replicas, "ceil(20% of 4)").to.equal(1);
    await dp.setRoute(route20, await versionServices(ns));
    const split = await dp.send({ count: 1000 });
    console.log(`    [traffic] setWeight 20: ${JSON.stringify(split.answers)}`);
    expect(split.statuses).to.deep.equal({ 200: 1000 });
    expect(split.answers["2.0.0"]).to.be.within(160, 240);

    // promote: the header rule, the others still by weight.
    await annotate(ns, "promote");
    await waitForMd(ns, NAME, "the header step", (m) => m.status?.route?.headerRoutes?.[0] === "beta");
    const headerRoute = await getRoute(ns);
    expect(rules(headerRoute).map((r) => r.name)).to.deep.equal(["header-beta", "split"]);
    await dp.setRoute(headerRoute, await versionServices(ns));
    const beta = await dp.send({ count: 200, headers: { "x-cohort": "beta" } });
    const others = await dp.send({ count: 1000 });
    console.log(
      `    [traffic] header rule: x-cohort=beta ${JSON.stringify(beta.answers)}, others ${JSON.stringify(others.answers)}`,
    );
    expect(beta.answers).to.deep.equal({ "2.0.0": 200 });
    expect(others.answers["2.0.0"]).to.be.within(160, 240);

    // promote: the header rule goes, 50%.
    await annotate(ns, "promote");
    await waitForMd(
      ns,
      NAME,
      "paused at 50%",
      (m) => m.status?.currentStep === 6 && m.status?.candidateWeight === 50,
    );
    const route50 = await getRoute(ns);
    expect(rules(route50).map((r) => r.name)).to.deep.equal(["split"]);
    expect(splitOf(route50)).to.deep.equal({ [STABLE]: 50, [CANDIDATE]: 50 });

    // abort: 100/0 in one write of the route; real requests all reach the stable version.
    const since = new Date();
    await annotate(ns, "abort");
    const aborted = await waitForMd(
      ns,
      NAME,
      "aborted, all traffic on 1.0.0",
      (m) => m.status?.aborted !== undefined && m.status?.traffic?.[0]?.weight === 100,
    );
    expect(condition(aborted, "Stalled")?.status).to.equal("True");
    const back = await getRoute(ns);
    expect(splitOf(back)).to.deep.equal({ [STABLE]: 100 });
    await waitFor(
      "the candidate at zero",
      async () => (await deployments(ns, NAME)).get(CANDIDATE)?.spec.replicas === 0,
    );
    // Writes of this route only: the same operator also reconciles the example's
    // ModelDeployment, whose namespace is being deleted meanwhile.
    const routeWrites = operatorWrites(since).filter(
      (w) =>
        w.objectRef?.resource === "httproutes" && w.objectRef.namespace === ns && w.objectRef.name === NAME,
    );
    expect(
      routeWrites.map((w) => w.verb),
      "the route went back in one write",
    ).to.deep.equal(["patch"]);
    // The API cost of this rollout (start to abort, with a hold and four promotes), for the docs.
    const cost = new Map<string, number>();
    for (const w of operatorWrites(rolloutStart).filter((w) => w.objectRef?.namespace === ns)) {
      const k = `${w.verb} ${w.objectRef?.resource ?? "?"}`;
      cost.set(k, (cost.get(k) ?? 0) + 1);
    }
    console.log(
      `    [traffic] operator writes during the rollout: ${JSON.stringify(Object.fromEntries(cost))}`,
    );
    await dp.setRoute(back, await versionServices(ns));
    const after = await dp.send({ count: 500 });
    console.log(`    [traffic] after the abort: ${JSON.stringify(after.answers)}`);
    expect(after.answers).to.deep.equal({ "1.0.0": 500 });
  });
  it("a failing check rolls back: the candidate got requests through the route before, none after", async () => {
    const server = await FakeModelServer.start();
    models = server;
    const { name: ckNs, cleanup: ckCleanup } = await createNamespace("traffic-rollback");
    const model = "ck";
    const ckSpec = (version: string) =>
      modelDeployment(model, {
        version,
        replicas: 2,
        strategy: { canary: { steps: [{ setWeight: 30 }, { pause: {} }] } },
        healthChecks: {
          interval: "500ms",
          failureThreshold: 2,
          checks: [{ name: "model-ready", http: { url: `${server.url}/{{version}}/ready` } }],
        },
        extra: { traffic },
      });
    try {
      await applyMd(ckNs, ckSpec("1.0.0"));
      await waitForMd(ckNs, model, "1.0.0 Ready", isReady);
      await parentsSay(ckNs, "True", "Accepted", "Accepted", model);
      await applyMd(ckNs, ckSpec("2.0.0"));
      await waitForMd(
        ckNs,
        model,
        "paused at 30%",
        (m) => m.status?.currentStep === 1 && m.status?.candidateWeight === 30,
      );
      const route30 = await kubectlJson<HTTPRoute>(["-n", ckNs, "get", "httproute", model]);
      expect(splitOf(route30)).to.deep.equal({ "ck-1-0-0": 70, "ck-2-0-0": 30 });
      await dp?.stop();
      dp = await DataPlane.start({ route: route30, services: await versionServices(ckNs, model) });
      const before = await dp.send({ count: 500 });
      console.log(`    [traffic] before the failing check, at 30%: ${JSON.stringify(before.answers)}`);
      expect(before.answers["2.0.0"]).to.be.within(110, 190);

      server.setStatus("2.0.0", 503);
      const rolledBack = await waitForMd(
        ckNs,
        model,
        "rolled back, all traffic on 1.0.0",
        (m) => m.status?.aborted?.reason === "HealthCheckFailed" && m.status?.traffic?.[0]?.weight === 100,
      );
      expect(condition(rolledBack, "Stalled")?.reason).to.equal("HealthCheckFailed");
      const back = await kubectlJson<HTTPRoute>(["-n", ckNs, "get", "httproute", model]);
      expect(splitOf(back)).to.deep.equal({ "ck-1-0-0": 100 });
      await dp.setRoute(back, await versionServices(ckNs, model));
      const servedBefore = (await dp.served())["2.0.0"]?.requests ?? 0;
      const after = await dp.send({ count: 500 });
      console.log(`    [traffic] after the rollback: ${JSON.stringify(after.answers)}`);
      expect(after.answers).to.deep.equal({ "1.0.0": 500 });
      expect(
        (await dp.served())["2.0.0"]?.requests ?? 0,
        "the candidate got no request after the rollback",
      ).to.equal(servedBefore);
    } finally {
      await ckCleanup();
    }
  });
  it("blue/green through the route: the preview Service before, the switch in one write of the route", async () => {
    const { name: bgNs, cleanup: bgCleanup } = await createNamespace("traffic-bluegreen");
    const model = "bg";
    const bgSpec = (version: string) =>
      modelDeployment(model, {
        version,
        replicas: 2,
        strategy: { blueGreen: { scaleDownDelaySeconds: 0 } },
        extra: { traffic },
      });
    try {
      await applyMd(bgNs, bgSpec("1.0.0"));
      await waitForMd(bgNs, model, "1.0.0 Ready", isReady);
      await parentsSay(bgNs, "True", "Accepted", "Accepted", model);
      await applyMd(bgNs, bgSpec("2.0.0"));
      await waitForMd(
        bgNs,
        model,
        "the preview Available",
        (m) =>
          m.status?.candidateVersion === "2.0.0" && /waiting for promotion/.test(m.status?.message ?? ""),
      );
      await waitFor("the preview Service on 2.0.0", async () => {
        const svc = await kubectlJson<{ spec: { selector: Record<string, string> } }>([
          "-n",
          bgNs,
          "get",
          "svc",
          `${model}-preview`,
        ]).catch(() => undefined);
        return svc?.spec.selector["mlops.dev/version"] === "2.0.0";
      });
      expect(splitOf(await kubectlJson<HTTPRoute>(["-n", bgNs, "get", "httproute", model]))).to.deep.equal({
        "bg-1-0-0": 100,
      });

      const since = new Date();
      await kubectl(["-n", bgNs, "annotate", "md", model, "mlops.dev/action=promote", "--overwrite"]);
      await waitForMd(
        bgNs,
        model,
        "2.0.0 stable",
        (m) => isReady(m) && m.status?.stableVersion === "2.0.0",
        90_000,
      );
      expect(splitOf(await kubectlJson<HTTPRoute>(["-n", bgNs, "get", "httproute", model]))).to.deep.equal({
        "bg-2-0-0": 100,
      });
      const clients = await kubectlJson<{ spec: { selector: Record<string, string> } }>([
        "-n",
        bgNs,
        "get",
        "svc",
        model,
      ]);
      expect(clients.spec.selector["mlops.dev/version"]).to.equal("2.0.0");
      const routeWrites = operatorWrites(since).filter(
        (w) => w.objectRef?.resource === "httproutes" && w.objectRef.name === model,
      );
      expect(
        routeWrites.map((w) => w.verb),
        "the switch is one write of the route",
      ).to.deep.equal(["patch"]);
    } finally {
      await bgCleanup();
    }
  });
  it("never takes over a route of the same name that someone else made: refused with an Event, the route untouched", async () => {
    const { name: tNs, cleanup: tCleanup } = await createNamespace("traffic-taken");
    const model = "taken";
    const theirs = {
      apiVersion: "gateway.networking.k8s.io/v1",
      kind: "HTTPRoute",
      metadata: { name: model, namespace: tNs },
      spec: {
        parentRefs: [{ name: "other-gateway" }],
        rules: [{ name: "theirs", backendRefs: [{ name: "their-service", port: 8080 }] }],
      },
    };
    try {
      await kubectl(["apply", "--server-side", "--field-manager=gitops", "-f", "-"], JSON.stringify(theirs));
      const before = await kubectlJson<HTTPRoute>(["-n", tNs, "get", "httproute", model]);
      await applyMd(tNs, modelDeployment(model, { version: "1.0.0", extra: { traffic } }));
      await waitFor("an ApplyFailed Event about the route", async () =>
        (await mdEvents(tNs, model)).some(
          (e) =>
            e.reason === "ApplyFailed" &&
            /HTTPRoute taken/.test(e.message ?? "") &&
            /conflict/i.test(e.message ?? ""),
        ),
      );
      const after = await kubectlJson<HTTPRoute>(["-n", tNs, "get", "httproute", model]);
      expect(after.spec, "their route is as they wrote it").to.deep.equal(before.spec);
      expect(after.metadata.ownerReferences).to.equal(undefined);
    } finally {
      await tCleanup();
    }
  });

  it("does not fight the deletion of a namespace: writes it refuses are not retried, and no Event is sent into it", async () => {
    const ex = example;
    if (!ex) throw new Error("the example test did not run");
    await waitFor(
      "the example's namespace gone",
      async () => (await tool("kubectl", ["get", "namespace", ex.ns])).code !== 0,
      { timeoutMs: 120_000 },
    );
    // From the API server's answer to the deletion, not from when the test asked for it: an
    // Event of the example's own rollout (its pods became ready) may land in between.
    const deletedAt = await waitFor("the deletion of the example's namespace in the audit log", async () =>
      namespaceDeletedAt(ex.ns),
    );
    expect(deletedAt.getTime()).to.be.at.least(ex.deletedAt.getTime() - 1000);
    const into = operatorWrites(deletedAt).filter((w) => w.objectRef?.namespace === ex.ns);
    console.log(
      `    [traffic] writes into the example's namespace while it was deleted: ${JSON.stringify(into.map((w) => `${w.verb} ${w.objectRef?.resource} ${w.code}`))}`,
    );
    // Each refusal ends its reconcile quietly: no ApplyFailed Event (the namespace refuses it
    // too), no error in the log, no retry with backoff.
    expect(into.filter((w) => w.objectRef?.resource === "events")).to.deep.equal([]);
    const failed = operator
      .logLines()
      .filter(
        (l) =>
          l.level === "error" &&
          (l.modelDeployment as { namespace?: string } | undefined)?.namespace === ex.ns,
      );
    expect(failed.map((l) => l.msg)).to.deep.equal([]);
  });
});
