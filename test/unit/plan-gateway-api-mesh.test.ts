// The managed route attached to the clients' Service too (spec.traffic.gatewayAPI.httpRoute.mesh,
// the Gateway API's mesh support, GAMMA): the Service NAME is one more parent of the route, so a
// mesh splits in-cluster requests to NAME by the route's weights; it must accept the route like
// a Gateway does.
import { expect } from "chai";
import type { ModelDeploymentSpec } from "../../src/api/types.ts";
import { computeParentRefs } from "../../src/plan/routers/gateway-api.ts";
import { makeMd, measured, Sim, T0 } from "./plan-fixtures.ts";

const gateway = { name: "inference-gateway", namespace: "gateways", sectionName: "http" };
const meshTraffic = (mesh: boolean, parentRefs: object[] = [gateway]): ModelDeploymentSpec["traffic"] => ({
  gatewayAPI: { httpRoute: { parentRefs: parentRefs as never, mesh } },
});

function routedSim(traffic: ModelDeploymentSpec["traffic"]): Sim {
  const sim = new Sim(makeMd({ traffic }), T0);
  sim.routeApi = true;
  sim.reconcile();
  sim.settle();
  sim.parentsSay("True");
  sim.reconcile();
  expect(sim.md.status?.stableVersion).to.equal("1.0.0");
  return sim;
}

const route = (sim: Sim) => sim.routes.get("fraud-detector")!;
const split = (sim: Sim) =>
  Object.fromEntries(
    (route(sim).spec?.rules?.find((r) => r.name === "split")?.backendRefs ?? []).map((b) => [
      b.name,
      b.weight,
    ]),
  );

describe("plan: the managed route attached to the clients' Service (mesh, GAMMA)", () => {
  it("adds the clients' Service as a parent (group \"\", kind Service) after the spec's; without mesh, the spec's alone", () => {
    expect(route(routedSim(meshTraffic(true))).spec?.parentRefs).to.deep.equal([
      gateway,
      { group: "", kind: "Service", name: "fraud-detector" },
    ]);
    expect(route(routedSim(meshTraffic(false))).spec?.parentRefs).to.deep.equal([gateway]);
  });

  it("lists the Service once when the spec names it already", () => {
    const md = makeMd({
      traffic: meshTraffic(true, [gateway, { group: "", kind: "Service", name: "fraud-detector" }]),
    });
    expect(computeParentRefs(md)).to.deep.equal([
      gateway,
      { group: "", kind: "Service", name: "fraud-detector" },
    ]);
  });

  it("the mesh gets the same weights: one route, one split, both parents in status", () => {
    const sim = routedSim(meshTraffic(true));
    expect(sim.md.status?.route?.parents).to.deep.equal([
      {
        name: "inference-gateway",
        namespace: "gateways",
        sectionName: "http",
        accepted: "True",
        resolvedRefs: "True",
      },
      { name: "fraud-detector", kind: "Service", accepted: "True", resolvedRefs: "True" },
    ]);
    sim.setVersion("2.0.0");
    sim.runUntil((s) => s.md.status?.currentStep === 1, measured("Successful"));
    expect(split(sim)).to.deep.equal({ "fraud-detector-1-0-0": 80, "fraud-detector-2-0-0": 20 });
    // The clients' Service still selects the stable version alone: outside the mesh, 0% is 0%.
    expect(sim.clientsSelector()).to.deep.include({ "mlops.dev/version": "1.0.0" });
  });

  it("a mesh that has not accepted the route holds the rollout like a Gateway that has not", () => {
    const sim = routedSim(meshTraffic(true));
    const r = route(sim);
    r.status = {
      parents: (r.status?.parents ?? []).filter((p) => p.parentRef.kind !== "Service"),
    };
    sim.setVersion("2.0.0");
    for (let i = 0; i < 5; i++) {
      sim.reconcile(measured("Successful"));
      sim.settle();
      sim.advance(1000);
    }
    expect(sim.condition("TrafficRouted")).to.include({ status: "False", reason: "RouteNotAccepted" });
    expect(sim.condition("TrafficRouted")?.message).to.include(
      "the parent Service models/fraud-detector has not accepted",
    );
    // Held at its first step (setWeight 20): no step completes, no weight is raised past it.
    expect(sim.md.status?.currentStep ?? 0).to.equal(0);
    expect(split(sim)).to.deep.equal({ "fraud-detector-1-0-0": 80, "fraud-detector-2-0-0": 20 });
    sim.parentsSay("True");
    sim.runUntil((s) => s.md.status?.currentStep === 1, measured("Successful"));
    expect(sim.condition("TrafficRouted")?.status).to.equal("True");
  });
});
