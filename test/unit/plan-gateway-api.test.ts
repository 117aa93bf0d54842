// The Gateway API router (spec.traffic.gatewayAPI.httpRoute) through the whole planner: the
// HTTPRoute it writes at each step, the clients' Service under a router, the candidate's
// replicas at its share, status.traffic and status.route read back from the route, the
// TrafficRouted condition, header and mirror steps, rollback and blue/green.
import { expect } from "chai";
import fc from "fast-check";
import type { ModelDeploymentSpec } from "../../src/api/types.ts";
import { gatewayApiRouter } from "../../src/plan/routers/gateway-api.ts";
import type { HTTPRoute, HTTPRouteRule } from "../../src/plan/routers/httproute.ts";
import { routerFor } from "../../src/plan/routers/index.ts";
import { LABEL_MODEL, LABEL_VERSION, makeMd, measured, Sim, T0 } from "./plan-fixtures.ts";

const traffic: ModelDeploymentSpec["traffic"] = {
  gatewayAPI: {
    httpRoute: {
      parentRefs: [{ name: "inference-gateway", namespace: "gateways", sectionName: "http" }],
      hostnames: ["fraud.models.example"],
    },
  },
};

/** The same route as a GRPCRoute (spec.traffic.gatewayAPI.grpcRoute). */
const grpcTraffic: ModelDeploymentSpec["traffic"] = {
  gatewayAPI: { grpcRoute: { ...traffic!.gatewayAPI!.httpRoute! } },
};

const readyCheck = { name: "model-ready", http: { path: "/ready", port: "http" } };

/** A stable 1.0.0 behind an accepted route, at rest. */
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

const route = (sim: Sim): HTTPRoute =>
  (sim.routes.get("fraud-detector") ?? sim.grpcRoutes.get("fraud-detector"))!;
const rule = (sim: Sim, name: string): HTTPRouteRule | undefined =>
  route(sim).spec?.rules?.find((r) => r.name === name);
const splitWeights = (sim: Sim) =>
  Object.fromEntries((rule(sim, "split")?.backendRefs ?? []).map((b) => [b.name, b.weight]));
const ruleNames = (sim: Sim) => (route(sim).spec?.rules ?? []).map((r) => r.name);

describe("plan: the Gateway API router", () => {
  it("is chosen by spec.traffic.gatewayAPI; without spec.traffic nothing changes", () => {
    expect(routerFor(makeMd({ traffic }))).to.equal(gatewayApiRouter);
    expect(routerFor(makeMd())).to.not.equal(gatewayApiRouter);
  });

  it("writes the HTTPRoute NAME owned whole: parents, hostnames, the stable Service at 100, an ownerReference", () => {
    const sim = routedSim();
    const r = route(sim);
    expect(r.apiVersion).to.equal("gateway.networking.k8s.io/v1");
    expect(r.metadata?.ownerReferences?.[0]).to.include({
      kind: "ModelDeployment",
      name: "fraud-detector",
      controller: true,
    });
    expect(r.spec?.parentRefs).to.deep.equal(traffic!.gatewayAPI!.httpRoute!.parentRefs);
    expect(r.spec?.hostnames).to.deep.equal(["fraud.models.example"]);
    expect(r.spec?.rules).to.deep.equal([
      {
        name: "split",
        backendRefs: [{ group: "", kind: "Service", name: "fraud-detector-1-0-0", port: 80, weight: 100 }],
      },
    ]);
    expect(sim.md.status?.traffic).to.deep.equal([
      { version: "1.0.0", revision: sim.md.status?.stableRevision, weight: 100, readyEndpoints: 10 },
    ]);
    expect(sim.md.status?.route).to.deep.equal({
      name: "fraud-detector",
      parents: [
        {
          name: "inference-gateway",
          namespace: "gateways",
          sectionName: "http",
          accepted: "True",
          resolvedRefs: "True",
        },
      ],
    });
    expect(sim.condition("TrafficRouted")).to.include({ status: "True", reason: "TrafficRouted" });
  });

  it("gives the route exact weights at each step, runs the candidate at its share, keeps stable at full size, and the clients' Service on stable", () => {
    const sim = routedSim({
      replicas: 4,
      strategy: { canary: { steps: [{ setWeight: 5 }, { pause: {} }, { setWeight: 60 }, { pause: {} }] } },
    });
    sim.setVersion("2.0.0");
    sim.runUntil((s) => s.md.status?.currentStep === 1);
    // 5% is 5/95 whatever the replicas: one candidate pod (ceil(0.05 x 4)), four stable.
    expect(splitWeights(sim)).to.deep.equal({ "fraud-detector-1-0-0": 95, "fraud-detector-2-0-0": 5 });
    expect(sim.replicas("2.0.0")).to.equal(1);
    expect(sim.replicas("1.0.0")).to.equal(4);
    expect(sim.clientsSelector()).to.deep.include({
      [LABEL_MODEL]: "fraud-detector",
      [LABEL_VERSION]: "1.0.0",
    });
    sim.reconcile(); // the status reads the route as observed: the write above, in the next reconcile
    expect(sim.md.status?.candidateWeight).to.equal(5);
    expect(sim.md.status?.traffic?.map((t) => [t.version, t.weight])).to.deep.equal([
      ["1.0.0", 95],
      ["2.0.0", 5],
    ]);

    sim.annotate("promote");
    sim.runUntil((s) => s.md.status?.currentStep === 3);
    expect(splitWeights(sim)).to.deep.equal({ "fraud-detector-1-0-0": 40, "fraud-detector-2-0-0": 60 });
    expect(sim.replicas("2.0.0")).to.equal(3); // ceil(0.6 x 4)
    expect(sim.replicas("1.0.0")).to.equal(4);
    expect(sim.clientsSelector()?.[LABEL_VERSION]).to.equal("1.0.0");

    sim.annotate("promote");
    sim.runUntil((s) => s.md.status?.stableVersion === "2.0.0");
    expect(splitWeights(sim)).to.deep.equal({ "fraud-detector-2-0-0": 100 });
    expect(sim.clientsSelector()?.[LABEL_VERSION]).to.equal("2.0.0");
  });

  it("setWeight 0: the candidate runs one pod that its checks measure, and the route holds 0", () => {
    const sim = routedSim({
      replicas: 2,
      strategy: { canary: { steps: [{ setWeight: 0 }, { pause: {} }] } },
      healthChecks: { interval: "1s", checks: [readyCheck] },
    });
    sim.setVersion("2.0.0");
    sim.runUntil((s) => s.md.status?.currentStep === 1, measured("Successful"));
    expect(sim.replicas("2.0.0")).to.equal(1);
    expect(splitWeights(sim)).to.deep.equal({ "fraud-detector-1-0-0": 100, "fraud-detector-2-0-0": 0 });
    expect(sim.md.status?.checks?.[0]?.phase).to.equal("Successful");
  });

  it("a candidate without a ready pod gets no weight, whatever the step says", () => {
    const sim = routedSim({ strategy: { canary: { steps: [{ setWeight: 50 }, { pause: {} }] } } });
    sim.setVersion("2.0.0");
    sim.reconcile(); // the step begins; the candidate's pods are not up
    expect(splitWeights(sim)).to.deep.equal({ "fraud-detector-1-0-0": 100, "fraud-detector-2-0-0": 0 });
    sim.partly("2.0.0", 1);
    sim.reconcile();
    expect(splitWeights(sim)).to.deep.equal({ "fraud-detector-1-0-0": 50, "fraud-detector-2-0-0": 50 });
  });

  it("a parent that does not accept the route holds the rollout, with a condition and an Event that say why", () => {
    const sim = routedSim({ strategy: { canary: { steps: [{ setWeight: 20 }, { setWeight: 60 }] } } });
    sim.parentsSay("False", "NotAllowedByListeners", "no listener allows routes from namespace models");
    sim.setVersion("2.0.0");
    for (let i = 0; i < 5; i++) {
      sim.reconcile();
      sim.settle();
      sim.advance(1000);
    }
    expect(sim.md.status?.currentStep).to.equal(0);
    expect(splitWeights(sim)).to.deep.equal({ "fraud-detector-1-0-0": 80, "fraud-detector-2-0-0": 20 });
    const c = sim.condition("TrafficRouted");
    expect(c).to.include({ status: "False", reason: "RouteNotAccepted" });
    expect(c?.message).to.match(
      /parent gateways\/inference-gateway\/http has not accepted the HTTPRoute fraud-detector: Accepted=False \(NotAllowedByListeners\): no listener allows routes from namespace models/,
    );
    expect(sim.md.status?.message).to.match(/^held: the parent gateways\/inference-gateway\/http/);
    expect(sim.md.status?.route?.parents?.[0]).to.include({
      accepted: "False",
      reason: "NotAllowedByListeners",
    });
    expect(sim.events.filter((e) => e.reason === "TrafficNotRouted")).to.have.length(1);

    sim.parentsSay("True");
    sim.runUntil((s) => s.md.status?.stableVersion === "2.0.0");
    expect(sim.condition("TrafficRouted")?.status).to.equal("True");
  });

  it("without the Gateway API in the cluster: no route, the stable version keeps serving, the rollout waits with a clear condition", () => {
    const sim = new Sim(makeMd({ traffic }), T0);
    sim.routeApi = false;
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
    expect(sim.routes.size).to.equal(0);
    expect(sim.md.status?.currentStep).to.equal(0);
    expect(sim.clientsSelector()?.[LABEL_VERSION]).to.equal("1.0.0");
    expect(sim.md.status?.traffic?.map((t) => [t.version, t.weight])).to.deep.equal([
      ["1.0.0", 100],
      ["2.0.0", 0],
    ]);
    const c = sim.condition("TrafficRouted");
    expect(c).to.include({ status: "False", reason: "GatewayAPIMissing" });
    expect(c?.message).to.match(/Gateway API \(httproutes.gateway.networking.k8s.io\/v1\) is not installed/);
    expect(sim.events.filter((e) => e.reason === "TrafficNotRouted")).to.have.length(1);
  });

  it("setHeaderRoute: a rule header-NAME before the split while the step holds, gone when it ends", () => {
    const sim = routedSim({
      strategy: {
        canary: {
          steps: [
            { setWeight: 10 },
            {
              setHeaderRoute: {
                name: "beta",
                match: [{ headerName: "x-cohort", headerValue: { exact: "beta" } }],
              },
            },
            { setWeight: 30 },
            { pause: {} },
          ],
        },
      },
    });
    sim.setVersion("2.0.0");
    sim.runUntil((s) => s.md.status?.currentStep === 1);
    expect(ruleNames(sim)).to.deep.equal(["header-beta", "split"]);
    expect(rule(sim, "header-beta")).to.deep.equal({
      name: "header-beta",
      matches: [{ headers: [{ type: "Exact", name: "x-cohort", value: "beta" }] }],
      backendRefs: [{ group: "", kind: "Service", name: "fraud-detector-2-0-0", port: 80, weight: 1 }],
    });
    expect(splitWeights(sim)).to.deep.equal({ "fraud-detector-1-0-0": 90, "fraud-detector-2-0-0": 10 });
    sim.reconcile();
    expect(sim.md.status?.route?.headerRoutes).to.deep.equal(["beta"]);
    expect(sim.events.some((e) => e.reason === "HeaderRouteSet" && /x-cohort=beta/.test(e.message))).to.equal(
      true,
    );
    // It holds until a promote (no duration); then the rule goes and the next weight comes.
    sim.runUntil((s) => s.md.status?.currentStep === 1);
    sim.annotate("promote");
    sim.runUntil((s) => s.md.status?.currentStep === 3);
    expect(ruleNames(sim)).to.deep.equal(["split"]);
    sim.reconcile();
    expect(sim.md.status?.route?.headerRoutes).to.equal(undefined);
  });

  it("setHeaderRoute with the spec's matches: each match gets the headers; it ends after its duration", () => {
    const sim = routedSim({
      traffic: {
        gatewayAPI: {
          httpRoute: {
            ...traffic!.gatewayAPI!.httpRoute!,
            matches: [{ path: { type: "PathPrefix", value: "/v2" } }],
          },
        },
      },
      strategy: {
        canary: {
          steps: [
            {
              setHeaderRoute: {
                name: "beta",
                match: [{ headerName: "x-cohort", headerValue: { regex: "beta|gamma" } }],
                duration: "10s",
              },
            },
            { pause: {} },
          ],
        },
      },
    });
    sim.setVersion("2.0.0");
    sim.reconcile();
    sim.settle();
    sim.reconcile();
    expect(rule(sim, "header-beta")?.matches).to.deep.equal([
      {
        path: { type: "PathPrefix", value: "/v2" },
        headers: [{ type: "RegularExpression", name: "x-cohort", value: "beta|gamma" }],
      },
    ]);
    expect(rule(sim, "split")?.matches).to.deep.equal([{ path: { type: "PathPrefix", value: "/v2" } }]);
    sim.runUntil((s) => s.md.status?.currentStep === 1, undefined, 30, 1000);
    expect(ruleNames(sim)).to.deep.equal(["split"]);
  });

  it("setMirrorRoute: a RequestMirror filter with the percentage on the split while the step holds, gone on abort", () => {
    const sim = routedSim({
      strategy: {
        canary: {
          steps: [
            { setWeight: 0 },
            { setMirrorRoute: { name: "shadow", percentage: 50 } },
            { setWeight: 20 },
          ],
        },
      },
    });
    sim.setVersion("2.0.0");
    sim.runUntil((s) => s.md.status?.currentStep === 1 && s.md.status?.route?.mirror !== undefined);
    expect(rule(sim, "split")?.filters).to.deep.equal([
      {
        type: "RequestMirror",
        requestMirror: {
          backendRef: { group: "", kind: "Service", name: "fraud-detector-2-0-0", port: 80 },
          percent: 50,
        },
      },
    ]);
    expect(splitWeights(sim)).to.deep.equal({ "fraud-detector-1-0-0": 100, "fraud-detector-2-0-0": 0 });
    expect(sim.md.status?.route?.mirror).to.deep.equal({ service: "fraud-detector-2-0-0", percentage: 50 });

    const before = sim.routeWrites;
    sim.annotate("abort");
    sim.reconcile();
    expect(sim.routeWrites - before, "the route goes back in one write").to.equal(1);
    expect(rule(sim, "split")?.filters).to.equal(undefined);
    expect(splitWeights(sim)).to.deep.equal({ "fraud-detector-1-0-0": 100 });
  });

  it("a failed check rolls back: the route is back at 100/0, without its header rule, in one write", () => {
    const sim = routedSim({
      strategy: {
        canary: {
          steps: [
            { setWeight: 40 },
            {
              setHeaderRoute: {
                name: "beta",
                match: [{ headerName: "x-cohort", headerValue: { exact: "beta" } }],
              },
            },
          ],
        },
      },
      healthChecks: { interval: "1s", failureThreshold: 1, checks: [readyCheck] },
    });
    sim.setVersion("2.0.0");
    sim.runUntil((s) => s.md.status?.currentStep === 1 && ruleNames(s).length === 2, measured("Successful"));
    expect(splitWeights(sim)).to.deep.equal({ "fraud-detector-1-0-0": 60, "fraud-detector-2-0-0": 40 });
    const before = sim.routeWrites;
    sim.advance(2000);
    sim.reconcile(measured("Failed"));
    expect(sim.md.status?.aborted?.reason).to.equal("HealthCheckFailed");
    expect(sim.routeWrites - before).to.equal(1);
    expect(ruleNames(sim)).to.deep.equal(["split"]);
    expect(splitWeights(sim)).to.deep.equal({ "fraud-detector-1-0-0": 100 });
  });

  it("blue/green: the preview through the preview Service, then the switch in one write of the route", () => {
    const sim = routedSim({ replicas: 2, strategy: { blueGreen: { scaleDownDelaySeconds: 0 } } });
    sim.setVersion("2.0.0");
    sim.runUntil((s) => s.md.status?.rollout?.availableAt !== undefined);
    expect(splitWeights(sim)).to.deep.equal({ "fraud-detector-1-0-0": 100 });
    expect(sim.services.get("fraud-detector-preview")?.spec?.selector?.[LABEL_VERSION]).to.equal("2.0.0");
    const before = sim.routeWrites;
    sim.annotate("promote");
    sim.reconcile();
    expect(sim.routeWrites - before).to.equal(1);
    expect(splitWeights(sim)).to.deep.equal({ "fraud-detector-2-0-0": 100 });
    sim.runUntil((s) => s.md.status?.stableVersion === "2.0.0");
    expect(sim.clientsSelector()?.[LABEL_VERSION]).to.equal("2.0.0");
  });

  it("spec.traffic removed: the route goes, the clients' Service selects every version again", () => {
    const sim = routedSim();
    sim.edit((s) => delete s.traffic);
    sim.reconcile();
    expect(sim.routes.size).to.equal(0);
    expect(sim.clientsSelector()).to.deep.equal({ [LABEL_MODEL]: "fraud-detector" });
    expect(sim.condition("TrafficRouted")).to.equal(undefined);
    expect(sim.md.status?.route).to.equal(undefined);
  });

  describe("properties", () => {
    const stepsArb = fc
      .array(fc.integer({ min: 0, max: 100 }), { minLength: 1, maxLength: 4 })
      .map((ws) => ws.sort((a, b) => a - b).map((w) => ({ setWeight: w })));
    // What happens between reconciles: pods come up (or some), a check result, a promote.
    const eventArb = fc.oneof(
      fc.constant({ t: "settle" as const }),
      fc.record({ t: fc.constant("partly" as const), n: fc.integer({ min: 0, max: 3 }) }),
      fc.record({ t: fc.constant("measure" as const), ok: fc.boolean() }),
      fc.constant({ t: "promote" as const }),
    );

    for (const [kind, routeTraffic] of [
      ["HTTPRoute", traffic],
      ["GRPCRoute", grpcTraffic],
    ] as const)
      it(`${kind}: route weights always sum to 100, a backend without a ready pod never gets weight, a failing check never raises the candidate's`, () => {
        fc.assert(
          fc.property(stepsArb, fc.array(eventArb, { minLength: 1, maxLength: 25 }), (steps, events) => {
            const sim = routedSim({
              traffic: routeTraffic,
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
              if (e.t === "measure") {
                failing = !e.ok;
                sim.reconcile(measured(e.ok ? "Successful" : "Failed"));
              } else sim.reconcile(measured("Successful"));
              sim.advance(1100);
              const backends = rule(sim, "split")?.backendRefs ?? [];
              expect(route(sim).kind).to.equal(kind);
              const sum = backends.reduce((a, b) => a + (b.weight ?? 0), 0);
              expect(sum, JSON.stringify(backends)).to.equal(100);
              const anyReady = backends.some(
                (b) => (sim.deployments.get(b.name)?.status?.readyReplicas ?? 0) > 0,
              );
              for (const b of backends) {
                const ready = sim.deployments.get(b.name)?.status?.readyReplicas ?? 0;
                if (anyReady && ready === 0) expect(b.weight, `${b.name} has no ready pod`).to.equal(0);
              }
              const weightAfter = splitWeights(sim)["fraud-detector-2-0-0"] ?? 0;
              if (failing)
                expect(weightAfter, "a failing check raised the weight").to.be.at.most(weightBefore);
            }
          }),
          { numRuns: 150 },
        );
      });
  });
});
