// InferencePool backends (spec.traffic.gatewayAPI.inferencePool) through the whole planner:
// one pool NAME-V per version that serves, selecting that version's pods, with the ports and
// endpoint picker of the spec; the route's backendRefs (split, header rules, mirror) name the
// pools with the weights of each step; pools of retired versions go; a cluster without the
// InferencePool API holds the rollout with the stable version keeping its traffic.
import { expect } from "chai";
import fc from "fast-check";
import type { ModelDeploymentSpec } from "../../src/api/types.ts";
import type { HTTPRoute, HTTPRouteRule } from "../../src/plan/routers/httproute.ts";
import { LABEL_MODEL, LABEL_VERSION, makeMd, measured, Sim, T0 } from "./plan-fixtures.ts";

const POOL = { group: "inference.networking.k8s.io", kind: "InferencePool" };

const traffic = (inferencePool: object = {}): ModelDeploymentSpec["traffic"] => ({
  gatewayAPI: {
    httpRoute: { parentRefs: [{ name: "inference-gateway", namespace: "gateways" }] },
    inferencePool: {
      endpointPickerRef: { name: "{{pool}}-epp", port: { number: 9002 } },
      ...inferencePool,
    },
  },
});

const readyCheck = { name: "model-ready", http: { path: "/ready", port: "http" } };

/** A stable 1.0.0 behind an accepted route to its pool, at rest. */
function pooledSim(spec: Partial<ModelDeploymentSpec> = {}): Sim {
  const sim = new Sim(makeMd({ traffic: traffic(), ...spec }), T0);
  sim.routeApi = true;
  sim.poolApi = true;
  sim.reconcile();
  sim.settle();
  sim.parentsSay("True");
  sim.reconcile();
  expect(sim.md.status?.stableVersion).to.equal("1.0.0");
  return sim;
}

const route = (sim: Sim): HTTPRoute => sim.routes.get("fraud-detector")!;
const rule = (sim: Sim, name: string): HTTPRouteRule | undefined =>
  route(sim).spec?.rules?.find((r) => r.name === name);
const splitWeights = (sim: Sim) =>
  Object.fromEntries((rule(sim, "split")?.backendRefs ?? []).map((b) => [b.name, b.weight]));
const poolNames = (sim: Sim) => [...sim.pools.keys()].sort();

describe("plan: InferencePool backends", () => {
  it("writes one pool per version: its pods, the port spec.service.targetPort names, the EPP named after the pool, an ownerReference", () => {
    const sim = pooledSim();
    expect(poolNames(sim)).to.deep.equal(["fraud-detector-1-0-0"]);
    const pool = sim.pools.get("fraud-detector-1-0-0")!;
    expect(pool.apiVersion).to.equal("inference.networking.k8s.io/v1");
    expect(pool.kind).to.equal("InferencePool");
    expect(pool.metadata?.ownerReferences?.[0]).to.include({
      kind: "ModelDeployment",
      name: "fraud-detector",
      controller: true,
    });
    expect(pool.metadata?.labels).to.include({ [LABEL_MODEL]: "fraud-detector", [LABEL_VERSION]: "1.0.0" });
    expect(pool.spec).to.deep.equal({
      // exactly the pods of the version's Deployment
      selector: { matchLabels: sim.deployment("1.0.0")?.spec?.selector?.matchLabels },
      targetPorts: [{ number: 8080 }], // the container port named http
      endpointPickerRef: { name: "fraud-detector-1-0-0-epp", port: { number: 9002 } },
    });
    // The route names the pool, without a port; the clients' Service still selects the stable version.
    expect(rule(sim, "split")?.backendRefs).to.deep.equal([
      { ...POOL, name: "fraud-detector-1-0-0", weight: 100 },
    ]);
    expect(sim.clientsSelector()?.[LABEL_VERSION]).to.equal("1.0.0");
    expect(sim.condition("TrafficRouted")?.status).to.equal("True");
  });

  it("the spec's targetPorts, appProtocol and EPP fields are the pool's", () => {
    const sim = new Sim(
      makeMd({
        traffic: traffic({
          targetPorts: [{ number: 8000 }, { number: 8001 }],
          appProtocol: "kubernetes.io/h2c",
          endpointPickerRef: {
            group: "",
            kind: "Service",
            name: "epp-{{pool}}",
            port: { number: 9002 },
            failureMode: "FailOpen",
          },
        }),
      }),
      T0,
    );
    sim.routeApi = true;
    sim.poolApi = true;
    sim.reconcile();
    expect(sim.pools.get("fraud-detector-1-0-0")?.spec).to.deep.include({
      targetPorts: [{ number: 8000 }, { number: 8001 }],
      appProtocol: "kubernetes.io/h2c",
      endpointPickerRef: {
        group: "",
        kind: "Service",
        name: "epp-fraud-detector-1-0-0",
        port: { number: 9002 },
        failureMode: "FailOpen",
      },
    });
  });

  it("a canary moves the weights between the pools step by step; the retired version's pool goes at the promotion", () => {
    const sim = pooledSim({
      replicas: 4,
      strategy: { canary: { steps: [{ setWeight: 5 }, { pause: {} }, { setWeight: 60 }, { pause: {} }] } },
    });
    // The new version listens elsewhere: its pool follows its own pods, the stable one keeps its port.
    sim.setVersion("2.0.0");
    sim.edit((s) => (s.template!.spec!.containers[0]!.ports = [{ name: "http", containerPort: 9000 }]));
    sim.runUntil((s) => s.md.status?.currentStep === 1);
    expect(poolNames(sim)).to.deep.equal(["fraud-detector-1-0-0", "fraud-detector-2-0-0"]);
    expect(sim.pools.get("fraud-detector-1-0-0")?.spec?.targetPorts).to.deep.equal([{ number: 8080 }]);
    expect(sim.pools.get("fraud-detector-2-0-0")?.spec?.targetPorts).to.deep.equal([{ number: 9000 }]);
    expect(sim.pools.get("fraud-detector-2-0-0")?.spec?.selector.matchLabels).to.deep.equal(
      sim.deployment("2.0.0")?.spec?.selector?.matchLabels,
    );
    expect(rule(sim, "split")?.backendRefs).to.deep.equal([
      { ...POOL, name: "fraud-detector-1-0-0", weight: 95 },
      { ...POOL, name: "fraud-detector-2-0-0", weight: 5 },
    ]);
    sim.reconcile();
    expect(sim.md.status?.traffic?.map((t) => [t.version, t.weight])).to.deep.equal([
      ["1.0.0", 95],
      ["2.0.0", 5],
    ]);

    sim.annotate("promote");
    sim.runUntil((s) => s.md.status?.currentStep === 3);
    expect(splitWeights(sim)).to.deep.equal({ "fraud-detector-1-0-0": 40, "fraud-detector-2-0-0": 60 });

    sim.annotate("promote");
    sim.runUntil((s) => s.md.status?.stableVersion === "2.0.0");
    sim.reconcile();
    expect(splitWeights(sim)).to.deep.equal({ "fraud-detector-2-0-0": 100 });
    expect(poolNames(sim), "the retired version's pool is deleted").to.deep.equal(["fraud-detector-2-0-0"]);
    // Its Deployment stays (scaled to 0, for a fast rollback); a rollback would make its pool again.
    expect(sim.replicas("1.0.0")).to.equal(0);
  });

  it("header and mirror rules send to the candidate's pool; an abort puts the route back on the stable pool in one write and deletes the candidate's", () => {
    const sim = pooledSim({
      strategy: {
        canary: {
          steps: [
            { setWeight: 10 },
            { setMirrorRoute: { name: "shadow", percentage: 50 } },
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
    sim.setVersion("2.0.0");
    sim.runUntil((s) => s.md.status?.currentStep === 1 && s.md.status?.route?.mirror !== undefined);
    expect(rule(sim, "split")?.filters).to.deep.equal([
      {
        type: "RequestMirror",
        requestMirror: { backendRef: { ...POOL, name: "fraud-detector-2-0-0" }, percent: 50 },
      },
    ]);
    sim.annotate("promote");
    sim.runUntil((s) => s.md.status?.route?.headerRoutes?.[0] === "beta");
    expect(rule(sim, "header-beta")?.backendRefs).to.deep.equal([
      { ...POOL, name: "fraud-detector-2-0-0", weight: 1 },
    ]);

    const before = sim.routeWrites;
    sim.annotate("abort");
    sim.reconcile();
    expect(sim.routeWrites - before, "the route goes back in one write").to.equal(1);
    expect(route(sim).spec?.rules).to.deep.equal([
      { name: "split", backendRefs: [{ ...POOL, name: "fraud-detector-1-0-0", weight: 100 }] },
    ]);
    expect(poolNames(sim)).to.deep.equal(["fraud-detector-1-0-0"]);
  });

  it("blue/green: the candidate's pool exists with the preview, before the switch names it in one write", () => {
    const sim = pooledSim({ replicas: 2, strategy: { blueGreen: { scaleDownDelaySeconds: 0 } } });
    sim.setVersion("2.0.0");
    sim.runUntil((s) => s.md.status?.rollout?.availableAt !== undefined);
    expect(poolNames(sim)).to.deep.equal(["fraud-detector-1-0-0", "fraud-detector-2-0-0"]);
    expect(splitWeights(sim)).to.deep.equal({ "fraud-detector-1-0-0": 100 });
    const before = sim.routeWrites;
    sim.annotate("promote");
    sim.reconcile();
    expect(sim.routeWrites - before).to.equal(1);
    expect(splitWeights(sim)).to.deep.equal({ "fraud-detector-2-0-0": 100 });
    sim.runUntil((s) => s.md.status?.stableVersion === "2.0.0" && s.pools.size === 1);
    expect(poolNames(sim)).to.deep.equal(["fraud-detector-2-0-0"]);
  });

  it("without the InferencePool API: no pool, the route is not pointed at pools, the stable version keeps its traffic, the rollout waits with a clear condition", () => {
    const sim = new Sim(makeMd({ traffic: traffic() }), T0);
    sim.routeApi = true;
    sim.poolApi = false;
    sim.reconcile();
    sim.settle();
    sim.reconcile();
    expect(sim.md.status?.stableVersion).to.equal("1.0.0");
    sim.setVersion("2.0.0");
    for (let i = 0; i < 5; i++) {
      sim.reconcile();
      sim.settle();
      sim.advance(1000);
    }
    expect(sim.pools.size).to.equal(0);
    expect(sim.routes.size, "no route names pools that cannot exist").to.equal(0);
    expect(sim.md.status?.currentStep).to.equal(0);
    expect(sim.clientsSelector()?.[LABEL_VERSION]).to.equal("1.0.0");
    expect(sim.md.status?.traffic?.map((t) => [t.version, t.weight])).to.deep.equal([
      ["1.0.0", 100],
      ["2.0.0", 0],
    ]);
    const c = sim.condition("TrafficRouted");
    expect(c).to.include({ status: "False", reason: "InferencePoolAPIMissing" });
    expect(c?.message).to.match(
      /InferencePool API \(inferencepools.inference.networking.k8s.io\/v1\) is not installed/,
    );
    expect(c?.message).to.match(/the stable version keeps its traffic/);
    expect(sim.events.filter((e) => e.reason === "TrafficNotRouted")).to.have.length(1);

    // The CRD is installed: the pools and the route follow, and the rollout goes on.
    sim.poolApi = true;
    sim.reconcile();
    sim.parentsSay("True");
    sim.runUntil((s) => s.md.status?.currentStep === 1);
    expect(poolNames(sim)).to.deep.equal(["fraud-detector-1-0-0", "fraud-detector-2-0-0"]);
    expect(splitWeights(sim)).to.deep.equal({ "fraud-detector-1-0-0": 80, "fraud-detector-2-0-0": 20 });
    expect(sim.condition("TrafficRouted")?.status).to.equal("True");
  });

  it("a route on Services stays on them while the InferencePool API is missing", () => {
    const sim = new Sim(
      makeMd({ traffic: { gatewayAPI: { httpRoute: { parentRefs: [{ name: "inference-gateway" }] } } } }),
      T0,
    );
    sim.routeApi = true;
    sim.poolApi = false;
    sim.reconcile();
    sim.settle();
    sim.parentsSay("True");
    sim.reconcile();
    const onServices = JSON.stringify(route(sim).spec);
    sim.edit((s) => (s.traffic = traffic()));
    sim.reconcile();
    sim.reconcile();
    expect(JSON.stringify(route(sim).spec)).to.equal(onServices);
    expect(sim.condition("TrafficRouted")?.reason).to.equal("InferencePoolAPIMissing");
  });

  it("a pool that its Gateway refuses holds the rollout", () => {
    const sim = pooledSim({ strategy: { canary: { steps: [{ setWeight: 20 }, { setWeight: 60 }] } } });
    sim.setVersion("2.0.0");
    sim.runUntil((s) => s.pools.has("fraud-detector-2-0-0"));
    sim.pools.get("fraud-detector-2-0-0")!.status = {
      parents: [
        {
          parentRef: {
            group: "gateway.networking.k8s.io",
            kind: "Gateway",
            namespace: "gateways",
            name: "inference-gateway",
          },
          conditions: [
            { type: "Accepted", status: "True", reason: "Accepted" },
            {
              type: "ResolvedRefs",
              status: "False",
              reason: "InvalidExtensionRef",
              message: "Service fraud-detector-2-0-0-epp not found",
            },
          ],
        },
      ],
    };
    for (let i = 0; i < 5; i++) {
      sim.reconcile();
      sim.settle();
      sim.advance(1000);
    }
    expect(sim.md.status?.currentStep).to.equal(0);
    const c = sim.condition("TrafficRouted");
    expect(c).to.include({ status: "False", reason: "InferencePoolNotAccepted" });
    expect(c?.message).to.match(
      /Gateway gateways\/inference-gateway reports ResolvedRefs=False on the InferencePool fraud-detector-2-0-0 \(version 2.0.0\) \(InvalidExtensionRef\): Service fraud-detector-2-0-0-epp not found/,
    );
    delete sim.pools.get("fraud-detector-2-0-0")!.status;
    sim.runUntil((s) => s.md.status?.stableVersion === "2.0.0");
  });

  it("inferencePool removed: the route goes back to the Services and the pools are deleted, in the same reconcile", () => {
    const sim = pooledSim();
    sim.edit((s) => delete s.traffic!.gatewayAPI!.inferencePool);
    sim.reconcile();
    expect(rule(sim, "split")?.backendRefs).to.deep.equal([
      { group: "", kind: "Service", name: "fraud-detector-1-0-0", port: 80, weight: 100 },
    ]);
    expect(sim.pools.size).to.equal(0);
  });

  it("spec.traffic removed: the route and the pools go", () => {
    const sim = pooledSim();
    sim.edit((s) => delete s.traffic);
    sim.reconcile();
    expect(sim.routes.size).to.equal(0);
    expect(sim.pools.size).to.equal(0);
    expect(sim.clientsSelector()).to.deep.equal({ [LABEL_MODEL]: "fraud-detector" });
  });

  it("a route the user owns (httpRouteRef): its rule's backendRefs name the pools", () => {
    const md = makeMd({
      traffic: {
        gatewayAPI: {
          httpRouteRef: { name: "storefront", rule: "fraud" },
          inferencePool: { endpointPickerRef: { name: "{{pool}}-epp", port: { number: 9002 } } },
        },
      },
      strategy: { canary: { steps: [{ setWeight: 30 }, { pause: {} }] } },
    });
    const sim = new Sim(md, T0);
    sim.routeApi = true;
    sim.poolApi = true;
    sim.userRoutes.set("storefront", {
      apiVersion: "gateway.networking.k8s.io/v1",
      kind: "HTTPRoute",
      metadata: { name: "storefront", namespace: "models" },
      spec: {
        parentRefs: [{ name: "inference-gateway" }],
        rules: [
          { name: "shop", backendRefs: [{ name: "shop", port: 80 }] },
          {
            name: "fraud",
            matches: [{ path: { type: "PathPrefix", value: "/fraud" } }],
            backendRefs: [{ name: "old", port: 80 }],
          },
        ],
      },
    });
    sim.reconcile();
    sim.settle();
    sim.parentsSay("True", "Accepted", "", "storefront");
    sim.reconcile();
    sim.setVersion("2.0.0");
    sim.runUntil((s) => s.md.status?.currentStep === 1, measured("Successful"));
    const rules = sim.userRoutes.get("storefront")!.spec!.rules!;
    expect(rules[0]).to.deep.equal({ name: "shop", backendRefs: [{ name: "shop", port: 80 }] });
    expect(rules[1]?.backendRefs).to.deep.equal([
      { ...POOL, name: "fraud-detector-1-0-0", weight: 70 },
      { ...POOL, name: "fraud-detector-2-0-0", weight: 30 },
    ]);
    expect(poolNames(sim)).to.deep.equal(["fraud-detector-1-0-0", "fraud-detector-2-0-0"]);
  });

  describe("properties", () => {
    const stepsArb = fc
      .array(fc.integer({ min: 0, max: 100 }), { minLength: 1, maxLength: 4 })
      .map((ws) => ws.sort((a, b) => a - b).map((w) => ({ setWeight: w })));
    const eventArb = fc.oneof(
      fc.constant({ t: "settle" as const }),
      fc.record({ t: fc.constant("partly" as const), n: fc.integer({ min: 0, max: 3 }) }),
      fc.record({ t: fc.constant("measure" as const), ok: fc.boolean() }),
      fc.constant({ t: "promote" as const }),
      fc.constant({ t: "abort" as const }),
    );

    it("every backend of the route is an existing pool that selects exactly its version's pods; weights sum to 100, none to a pool without a ready pod; a failing check never raises the candidate's", () => {
      fc.assert(
        fc.property(stepsArb, fc.array(eventArb, { minLength: 1, maxLength: 25 }), (steps, events) => {
          const sim = pooledSim({
            replicas: 3,
            strategy: { canary: { steps } },
            healthChecks: { interval: "1s", failureThreshold: 1, checks: [readyCheck] },
          });
          sim.setVersion("2.0.0");
          for (const e of events) {
            const weightBefore = splitWeights(sim)["fraud-detector-2-0-0"] ?? 0;
            let failing = false;
            if (e.t === "settle") sim.settle();
            else if (e.t === "partly" && sim.deployment("2.0.0")) sim.partly("2.0.0", e.n);
            else if (e.t === "promote") sim.annotate("promote");
            else if (e.t === "abort") sim.annotate("abort");
            if (e.t === "measure") {
              failing = !e.ok;
              sim.reconcile(measured(e.ok ? "Successful" : "Failed"));
            } else sim.reconcile(measured("Successful"));
            sim.advance(1100);
            const r = route(sim);
            const refs = (r.spec?.rules ?? []).flatMap((x) => [
              ...(x.backendRefs ?? []),
              ...(x.filters ?? []).flatMap((f) => (f.requestMirror ? [f.requestMirror.backendRef] : [])),
            ]);
            for (const b of refs) {
              expect(b, "a backend that is not a pool").to.include(POOL);
              const pool = sim.pools.get(b.name);
              expect(pool, `the route names ${b.name}, which has no pool`).to.not.equal(undefined);
              expect(pool?.spec?.selector.matchLabels).to.deep.equal(
                sim.deployments.get(b.name)?.spec?.selector?.matchLabels,
              );
            }
            const split = rule(sim, "split")?.backendRefs ?? [];
            expect(split.reduce((a, b) => a + (b.weight ?? 0), 0)).to.equal(100);
            const anyReady = split.some((b) => (sim.deployments.get(b.name)?.status?.readyReplicas ?? 0) > 0);
            for (const b of split) {
              const ready = sim.deployments.get(b.name)?.status?.readyReplicas ?? 0;
              if (anyReady && ready === 0) expect(b.weight, `${b.name} has no ready pod`).to.equal(0);
            }
            const weightAfter = splitWeights(sim)["fraud-detector-2-0-0"] ?? 0;
            if (failing) expect(weightAfter, "a failing check raised the weight").to.be.at.most(weightBefore);
          }
        }),
        { numRuns: 100 },
      );
    });
  });
});
