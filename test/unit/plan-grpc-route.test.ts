// The managed GRPCRoute (spec.traffic.gatewayAPI.grpcRoute) through the whole planner: the
// same router as the HTTPRoute, writing a GRPCRoute NAME with the split rule, header rules
// and the mirror filter; status read back from it; a switch of kind removes the other route.
import { expect } from "chai";
import type { ModelDeploymentSpec } from "../../src/api/types.ts";
import { gatewayApiRouter } from "../../src/plan/routers/gateway-api.ts";
import type { HTTPRoute, HTTPRouteRule } from "../../src/plan/routers/httproute.ts";
import { routerFor } from "../../src/plan/routers/index.ts";
import { validateModelDeployment } from "../../src/plan/index.ts";
import { LABEL_VERSION, makeMd, Sim, T0 } from "./plan-fixtures.ts";

const grpcRoute = {
  parentRefs: [{ name: "inference-gateway", namespace: "gateways", sectionName: "grpc" }],
  hostnames: ["fraud.models.example"],
  matches: [{ method: { service: "inference.GRPCInferenceService" } }],
};
const traffic: ModelDeploymentSpec["traffic"] = { gatewayAPI: { grpcRoute } };

function routedSim(spec: Partial<ModelDeploymentSpec> = {}): Sim {
  const sim = new Sim(makeMd({ traffic, ...spec }), T0);
  sim.routeApi = true;
  sim.reconcile();
  sim.settle();
  sim.parentsSay("True");
  sim.reconcile();
  expect(sim.md.status?.stableVersion).to.equal("1.0.0");
  return sim;
}

const route = (sim: Sim): HTTPRoute => sim.grpcRoutes.get("fraud-detector")!;
const rule = (sim: Sim, name: string): HTTPRouteRule | undefined =>
  route(sim).spec?.rules?.find((r) => r.name === name);
const splitWeights = (sim: Sim) =>
  Object.fromEntries((rule(sim, "split")?.backendRefs ?? []).map((b) => [b.name, b.weight]));
const ruleNames = (sim: Sim) => (route(sim).spec?.rules ?? []).map((r) => r.name);
const svc = (name: string, weight?: number) => ({
  group: "",
  kind: "Service",
  name,
  port: 80,
  ...(weight !== undefined ? { weight } : {}),
});

describe("plan: the managed GRPCRoute (spec.traffic.gatewayAPI.grpcRoute)", () => {
  it("is the Gateway API router; writes a GRPCRoute NAME, no HTTPRoute, with the spec's gRPC matches on the split", () => {
    expect(routerFor(makeMd({ traffic }))).to.equal(gatewayApiRouter);
    const sim = routedSim();
    expect(sim.routes.size).to.equal(0);
    const r = route(sim);
    expect(r.apiVersion).to.equal("gateway.networking.k8s.io/v1");
    expect(r.kind).to.equal("GRPCRoute");
    expect(r.metadata?.ownerReferences?.[0]).to.include({ kind: "ModelDeployment", controller: true });
    expect(r.spec?.parentRefs).to.deep.equal(grpcRoute.parentRefs);
    expect(r.spec?.hostnames).to.deep.equal(["fraud.models.example"]);
    expect(r.spec?.rules).to.deep.equal([
      { name: "split", matches: grpcRoute.matches, backendRefs: [svc("fraud-detector-1-0-0", 100)] },
    ]);
    expect(sim.md.status?.route).to.deep.equal({
      name: "fraud-detector",
      kind: "GRPCRoute",
      parents: [
        {
          name: "inference-gateway",
          namespace: "gateways",
          sectionName: "grpc",
          accepted: "True",
          resolvedRefs: "True",
        },
      ],
    });
    expect(sim.condition("TrafficRouted")).to.include({ status: "True" });
  });

  const steps = [
    { setWeight: 20 },
    {
      setHeaderRoute: { name: "beta", match: [{ headerName: "x-cohort", headerValue: { exact: "beta" } }] },
    },
    { setMirrorRoute: { name: "shadow", percentage: 30 } },
    { setWeight: 60 },
    { pause: {} },
  ];

  it("each step: exact weights on the split, a header rule (gRPC matches with the headers), the mirror filter, then stable", () => {
    const sim = routedSim({ replicas: 4, strategy: { canary: { steps } } });
    sim.setVersion("2.0.0");
    // Row by row: the step, the split's weights, the rules, the mirror's percentage.
    const rows: [number, Record<string, number>, string[], number | undefined][] = [
      [1, { "fraud-detector-1-0-0": 80, "fraud-detector-2-0-0": 20 }, ["header-beta", "split"], undefined],
      [2, { "fraud-detector-1-0-0": 80, "fraud-detector-2-0-0": 20 }, ["split"], 30],
      [4, { "fraud-detector-1-0-0": 40, "fraud-detector-2-0-0": 60 }, ["split"], undefined],
    ];
    for (const [step, weights, rules, mirror] of rows) {
      sim.runUntil((s) => s.md.status?.currentStep === step);
      if (step === 1 || step === 2) sim.annotate("promote");
      expect(splitWeights(sim), `step ${step}`).to.deep.equal(weights);
      expect(ruleNames(sim), `step ${step}`).to.deep.equal(rules);
      const filter = rule(sim, "split")?.filters?.[0];
      expect(filter?.requestMirror?.percent, `step ${step}`).to.equal(mirror);
      if (step === 1) {
        expect(rule(sim, "header-beta")).to.deep.equal({
          name: "header-beta",
          matches: [
            {
              method: { service: "inference.GRPCInferenceService" },
              headers: [{ type: "Exact", name: "x-cohort", value: "beta" }],
            },
          ],
          backendRefs: [svc("fraud-detector-2-0-0", 1)],
        });
      }
      if (mirror !== undefined)
        expect(filter?.requestMirror?.backendRef).to.deep.equal(svc("fraud-detector-2-0-0"));
      expect(sim.clientsSelector()?.[LABEL_VERSION]).to.equal("1.0.0");
    }
    sim.reconcile();
    expect(sim.md.status?.traffic?.map((t) => [t.version, t.weight])).to.deep.equal([
      ["1.0.0", 40],
      ["2.0.0", 60],
    ]);
    sim.annotate("promote");
    sim.runUntil((s) => s.md.status?.stableVersion === "2.0.0");
    expect(splitWeights(sim)).to.deep.equal({ "fraud-detector-2-0-0": 100 });
    expect(sim.clientsSelector()?.[LABEL_VERSION]).to.equal("2.0.0");
  });

  it("a parent that does not accept the GRPCRoute holds the rollout, naming the kind", () => {
    const sim = routedSim({ strategy: { canary: { steps: [{ setWeight: 20 }, { setWeight: 60 }] } } });
    sim.parentsSay("False", "NotAllowedByListeners", "no GRPC listener");
    sim.setVersion("2.0.0");
    for (let i = 0; i < 5; i++) {
      sim.reconcile();
      sim.settle();
      sim.advance(1000);
    }
    expect(sim.md.status?.currentStep).to.equal(0);
    const c = sim.condition("TrafficRouted");
    expect(c).to.include({ status: "False", reason: "RouteNotAccepted" });
    expect(c?.message).to.match(/has not accepted the GRPCRoute fraud-detector: Accepted=False/);
  });

  it("a cluster that serves HTTPRoutes but not GRPCRoutes: no route, stable keeps serving, a condition names grpcroutes", () => {
    const sim = new Sim(makeMd({ traffic }), T0);
    sim.routeApi = true;
    sim.grpcRouteApi = false;
    sim.reconcile();
    sim.settle();
    sim.reconcile();
    sim.setVersion("2.0.0");
    for (let i = 0; i < 3; i++) {
      sim.reconcile();
      sim.settle();
      sim.advance(1000);
    }
    expect(sim.grpcRoutes.size + sim.routes.size).to.equal(0);
    expect(sim.md.status?.currentStep).to.equal(0);
    expect(sim.clientsSelector()?.[LABEL_VERSION]).to.equal("1.0.0");
    const c = sim.condition("TrafficRouted");
    expect(c).to.include({ status: "False", reason: "GatewayAPIMissing" });
    expect(c?.message).to.match(
      /grpcroutes\.gateway\.networking\.k8s\.io\/v1\) is not installed.*the GRPCRoute fraud-detector/,
    );
  });

  it("httpRoute -> grpcRoute and back: the route of the other kind goes; spec.traffic removed: the GRPCRoute goes", () => {
    const sim = routedSim({
      traffic: { gatewayAPI: { httpRoute: { parentRefs: grpcRoute.parentRefs } } },
    });
    expect(sim.routes.size).to.equal(1);
    sim.edit((s) => (s.traffic = traffic));
    sim.reconcile();
    expect(sim.routes.size).to.equal(0);
    expect(route(sim).kind).to.equal("GRPCRoute");
    sim.edit((s) => (s.traffic = { gatewayAPI: { httpRoute: { parentRefs: grpcRoute.parentRefs } } }));
    sim.reconcile();
    expect(sim.grpcRoutes.size).to.equal(0);
    expect(sim.routes.get("fraud-detector")?.kind).to.equal("HTTPRoute");
    sim.edit((s) => (s.traffic = traffic));
    sim.reconcile();
    sim.edit((s) => delete s.traffic);
    sim.reconcile();
    expect(sim.grpcRoutes.size + sim.routes.size).to.equal(0);
  });

  it("the schema rules: one route only, no inferencePool with a GRPCRoute, a method match names a service or method", () => {
    const problems = (t: unknown) =>
      validateModelDeployment(makeMd({ traffic: t as never })).map((p) => `${p.path}: ${p.message}`);
    expect(
      problems({ gatewayAPI: { grpcRoute, httpRoute: { parentRefs: grpcRoute.parentRefs } } }),
    ).to.include(
      "spec.traffic.gatewayAPI: exactly one of gatewayAPI.httpRoute (an HTTPRoute the operator writes and owns), gatewayAPI.grpcRoute (a GRPCRoute the operator writes and owns) and gatewayAPI.httpRouteRef (an existing HTTPRoute you own) must be set",
    );
    expect(problems({ gatewayAPI: { grpcRoute, inferencePool: {} } })).to.include(
      "spec.traffic.gatewayAPI: gatewayAPI.inferencePool needs an HTTPRoute (httpRoute or httpRouteRef); a grpcRoute sends to the versions' Services",
    );
    expect(
      problems({ gatewayAPI: { grpcRoute: { ...grpcRoute, matches: [{ method: { type: "Exact" } }] } } }),
    ).to.include(
      "spec.traffic.gatewayAPI.grpcRoute.matches[0].method: one or both of service and method must be set",
    );
    expect(problems(traffic)).to.deep.equal([]);
  });
});
