// The traffic-router seam: what a router makes of a strategy's intent, and what it reads
// back. The Service router is today's behaviour; these are the calls a new router answers.
import { expect } from "chai";
import type { V1Service } from "@kubernetes/client-node";
import { LABEL_MODEL, LABEL_REVISION, LABEL_VERSION } from "../../src/api/constants.ts";
import { createContext } from "../../src/plan/context.ts";
import { routerFor } from "../../src/plan/routers/index.ts";
import { serviceRouter } from "../../src/plan/routers/service.ts";
import { userRouteRouter } from "../../src/plan/routers/user-route.ts";
import type { HTTPRoute } from "../../src/plan/routers/httproute.ts";
import type { TrafficIntent } from "../../src/plan/routers/router.ts";
import { makeMd, T0 } from "./plan-fixtures.ts";

const blueGreen = { blueGreen: { previewReplicas: 1 } };
const target = (version: string, revision: string) => ({
  version,
  revision,
  name: `fraud-detector-${version}`,
  selector: { [LABEL_MODEL]: "fraud-detector", [LABEL_VERSION]: version, [LABEL_REVISION]: revision },
});
const view = (md = makeMd(), services: V1Service[] = []) =>
  createContext({
    md,
    observed: { deployments: [], services, endpointSlices: [] },
    measurements: [],
    now: T0,
  });
const selectorOf = (objs: { kind?: string; metadata?: { name?: string }; spec?: unknown }[], name: string) =>
  (objs.find((o) => o.kind === "Service" && o.metadata?.name === name)?.spec as V1Service["spec"])?.selector;

describe("plan: traffic routers", () => {
  it("a ModelDeployment without a router of its own gets the Service router", () => {
    expect(routerFor(makeMd())).to.equal(serviceRouter);
    expect(routerFor(makeMd({ strategy: blueGreen }))).to.equal(serviceRouter);
  });

  it("Service router, canary: the clients' Service selects every version; the weight is in the replica counts", () => {
    const intent: TrafficIntent = {
      weights: [
        { target: target("1.0.0", "a"), weight: 80 },
        { target: target("2.0.0", "b"), weight: 20 },
      ],
    };
    const objs = serviceRouter.desiredObjects(view(), intent);
    expect(selectorOf(objs.apply, "fraud-detector")).to.deep.equal({ [LABEL_MODEL]: "fraud-detector" });
    expect(objs.delete).to.deep.equal([]);
    // 20% of 10 replicas: 2 new; the stable version keeps 8 only once they are available.
    expect(serviceRouter.canaryReplicas(10, 20, 0)).to.deep.equal({ candidate: 2, stable: 10 });
    expect(serviceRouter.canaryReplicas(10, 20, 1)).to.deep.equal({ candidate: 2, stable: 9 });
    expect(serviceRouter.canaryReplicas(10, 20, 2)).to.deep.equal({ candidate: 2, stable: 8 });
  });

  it("Service router, blue/green: the clients' Service selects the one target; a preview gets its own Service, removed after", () => {
    const md = makeMd({ strategy: blueGreen });
    const objs = serviceRouter.desiredObjects(view(md), {
      weights: [{ target: target("1.0.0", "a"), weight: 100 }],
      preview: target("2.0.0", "b"),
    });
    expect(selectorOf(objs.apply, "fraud-detector")).to.deep.equal(target("1.0.0", "a").selector);
    expect(selectorOf(objs.apply, "fraud-detector-preview")).to.deep.equal(target("2.0.0", "b").selector);

    const preview = objs.apply.find((o) => o.metadata?.name === "fraud-detector-preview") as V1Service;
    const after = serviceRouter.desiredObjects(view(md, [preview]), {
      weights: [{ target: target("2.0.0", "b"), weight: 100 }],
    });
    expect(after.apply.map((o) => o.metadata?.name)).to.deep.equal(["fraud-detector"]);
    expect(after.delete).to.deep.equal([{ kind: "Service", name: "fraud-detector-preview" }]);
  });

  it("user-route router: the clients' Service on the stable target alone; the user's route, when observed, as an edit of the same name", () => {
    const md = makeMd({ traffic: { gatewayAPI: { httpRouteRef: { name: "storefront", rule: "fraud" } } } });
    const intent: TrafficIntent = {
      weights: [
        { target: target("1.0.0", "a"), weight: 80 },
        { target: target("2.0.0", "b"), weight: 20 },
      ],
    };
    expect(routerFor(md)).to.equal(userRouteRouter);
    const routeless = createContext({
      md,
      observed: {
        deployments: [],
        services: [],
        endpointSlices: [],
        routes: { available: true, httpRoutes: [] },
      },
      measurements: [],
      now: T0,
    });
    const none = userRouteRouter.desiredObjects(routeless, intent);
    expect(selectorOf(none.apply, "fraud-detector")).to.deep.equal(target("1.0.0", "a").selector);
    expect(none.edits, "no route observed: nothing to edit").to.deep.equal([]);
    const theirs: HTTPRoute = {
      apiVersion: "gateway.networking.k8s.io/v1",
      kind: "HTTPRoute",
      metadata: { name: "storefront", namespace: "models" },
      spec: { rules: [{ name: "fraud", backendRefs: [{ name: "legacy", port: 80 }] }] },
    };
    const withRoute = createContext({
      md,
      observed: {
        deployments: [],
        services: [],
        endpointSlices: [],
        routes: { available: true, httpRoutes: [], referenced: theirs },
      },
      measurements: [],
      now: T0,
    });
    const objs = userRouteRouter.desiredObjects(withRoute, intent);
    expect(objs.edits?.map((e) => `${e.kind}/${e.name}`)).to.deep.equal(["HTTPRoute/storefront"]);
    const edited = objs.apply.find((o) => o.kind === "HTTPRoute") as HTTPRoute;
    expect(edited.metadata?.ownerReferences).to.equal(undefined);
    // No ready pods anywhere: the intent's weights stand.
    expect(edited.spec?.rules?.[0]?.backendRefs?.map((b) => [b.name, b.weight])).to.deep.equal([
      ["fraud-detector-1.0.0", 80],
      ["fraud-detector-2.0.0", 20],
    ]);
  });

  it("Service router: the track clients get alone is the one the clients' Service selects; none for a canary", () => {
    const md = makeMd({ strategy: blueGreen });
    const clients = serviceRouter.desiredObjects(view(md), {
      weights: [{ target: { ...view(md).spec }, weight: 100 }],
    }).apply[0] as V1Service;
    expect(serviceRouter.observeSoleTrack(view(md, [clients]))).to.equal(view(md).spec.name);
    const canaryClients = serviceRouter.desiredObjects(view(), { weights: [] }).apply[0] as V1Service;
    expect(serviceRouter.observeSoleTrack(view(makeMd(), [canaryClients]))).to.equal(undefined);
  });
});
