// A user-owned HTTPRoute named by reference (spec.traffic.gatewayAPI.httpRouteRef): the pure
// edit of the route (the managed rule's backendRefs and the operator's own rules, nothing
// else), the planner through a canary on it, the missing pieces, and the read-modify-write
// with its retries on 409 Conflict.
import { expect } from "chai";
import fc from "fast-check";
import type { ModelDeploymentSpec } from "../../src/api/types.ts";
import { writeEdit, MAX_EDIT_ATTEMPTS } from "../../src/controller/edit-write.ts";
import { KubeApiError } from "../../src/kube/client.ts";
import type { HTTPBackendRef, HTTPRoute, HTTPRouteRule } from "../../src/plan/routers/httproute.ts";
import { routerFor } from "../../src/plan/routers/index.ts";
import { editManagedRule, isOwnRule, type ManagedRuleDecision } from "../../src/plan/routers/route-edit.ts";
import { userRouteRouter } from "../../src/plan/routers/user-route.ts";
import type { ObjectEdit } from "../../src/plan/types.ts";
import { validateModelDeployment } from "../../src/plan/validate.ts";
import { LABEL_VERSION, makeMd, measured, Sim, T0 } from "./plan-fixtures.ts";

const traffic: ModelDeploymentSpec["traffic"] = {
  gatewayAPI: { httpRouteRef: { name: "storefront", rule: "fraud-model" } },
};

const STABLE = "fraud-detector-1-0-0";
const CANDIDATE = "fraud-detector-2-0-0";

/** The user's route, as GitOps wrote it and the API server holds it: the managed rule among others. */
function userRoute(): HTTPRoute {
  return {
    apiVersion: "gateway.networking.k8s.io/v1",
    kind: "HTTPRoute",
    metadata: {
      name: "storefront",
      namespace: "models",
      resourceVersion: "7",
      labels: { "app.kubernetes.io/instance": "storefront" },
      annotations: { "argocd.argoproj.io/tracking-id": "storefront:gateway.networking.k8s.io/HTTPRoute" },
    },
    spec: {
      parentRefs: [{ name: "edge", namespace: "gateways", sectionName: "https" }],
      hostnames: ["shop.example"],
      rules: [
        {
          name: "static",
          matches: [{ path: { type: "PathPrefix", value: "/static" } }],
          filters: [
            {
              type: "ResponseHeaderModifier",
              responseHeaderModifier: { set: [{ name: "cache-control", value: "max-age=600" }] },
            },
          ],
          backendRefs: [{ group: "", kind: "Service", name: "static", port: 8080, weight: 1 }],
        },
        {
          name: "fraud-model",
          matches: [{ path: { type: "PathPrefix", value: "/v2/models/fraud" } }],
          filters: [
            {
              type: "RequestHeaderModifier",
              requestHeaderModifier: { add: [{ name: "x-tenant", value: "shop" }] },
            },
          ],
          timeouts: { request: "30s" },
          backendRefs: [{ group: "", kind: "Service", name: "fraud-legacy", port: 80, weight: 1 }],
        },
        {
          name: "checkout",
          matches: [{ path: { type: "PathPrefix", value: "/checkout" } }],
          backendRefs: [
            { group: "", kind: "Service", name: "checkout-a", port: 80, weight: 90 },
            { group: "", kind: "Service", name: "checkout-b", port: 80, weight: 10 },
          ],
        },
      ],
    },
  };
}

/** A stable 1.0.0 on the user's route, accepted by its parent, at rest. */
function userRouteSim(spec: Partial<ModelDeploymentSpec> = {}): Sim {
  const sim = new Sim(makeMd({ traffic, ...spec }), T0);
  sim.routeApi = true;
  sim.userRoutes.set("storefront", userRoute());
  sim.parentsSay("True", "Accepted", "", "storefront");
  sim.reconcile();
  sim.settle();
  sim.reconcile();
  sim.reconcile();
  expect(sim.md.status?.stableVersion).to.equal("1.0.0");
  return sim;
}

const route = (sim: Sim): HTTPRoute => sim.userRoutes.get("storefront")!;
const ruleOf = (r: HTTPRoute, name: string): HTTPRouteRule | undefined =>
  r.spec?.rules?.find((x) => x.name === name);
const weights = (sim: Sim) =>
  Object.fromEntries((ruleOf(route(sim), "fraud-model")?.backendRefs ?? []).map((b) => [b.name, b.weight]));
const ruleNames = (sim: Sim) => (route(sim).spec?.rules ?? []).map((r) => r.name);
/** Everything of the route that is not the operator's: must stay as the user wrote it. */
const usersPart = (r: HTTPRoute) => ({
  metadata: { labels: r.metadata?.labels, annotations: r.metadata?.annotations },
  parentRefs: r.spec?.parentRefs,
  hostnames: r.spec?.hostnames,
  rules: (r.spec?.rules ?? [])
    .filter((x) => !isOwnRule(x.name, "fraud-detector"))
    .map((x) => (x.name === "fraud-model" ? { ...x, backendRefs: "(the operator's)" } : x)),
});

const ok = measured("Successful");

const svc = (name: string, weight?: number): HTTPBackendRef => ({
  group: "",
  kind: "Service",
  name,
  port: 80,
  ...(weight !== undefined ? { weight } : {}),
});

describe("plan: a user-owned HTTPRoute (httpRouteRef)", () => {
  it("is chosen by spec.traffic.gatewayAPI.httpRouteRef; the schema rules take exactly one of httpRoute and httpRouteRef", () => {
    expect(routerFor(makeMd({ traffic }))).to.equal(userRouteRouter);
    expect(validateModelDeployment(makeMd({ traffic }))).to.deep.equal([]);
    const both = makeMd({
      traffic: {
        gatewayAPI: {
          httpRoute: { parentRefs: [{ name: "edge" }] },
          httpRouteRef: { name: "storefront", rule: "fraud-model" },
        },
      },
    });
    expect(validateModelDeployment(both).map((p) => p.path)).to.include("spec.traffic.gatewayAPI");
    const none = makeMd({ traffic: { gatewayAPI: {} } });
    expect(validateModelDeployment(none).map((p) => p.message)).to.include(
      "exactly one of gatewayAPI.httpRoute (an HTTPRoute the operator writes and owns), gatewayAPI.grpcRoute (a GRPCRoute the operator writes and owns) and gatewayAPI.httpRouteRef (an existing HTTPRoute you own) must be set",
    );
    const badRule = makeMd({
      traffic: { gatewayAPI: { httpRouteRef: { name: "storefront", rule: "Fraud_Model" } } },
    });
    expect(validateModelDeployment(badRule).map((p) => p.path)).to.include(
      "spec.traffic.gatewayAPI.httpRouteRef.rule",
    );
  });

  describe("the edit (pure)", () => {
    const decision = (d: Partial<ManagedRuleDecision> = {}): ManagedRuleDecision => ({
      mdName: "fraud-detector",
      rule: "fraud-model",
      backendRefs: [svc(STABLE, 80), svc(CANDIDATE, 20)],
      headerRoutes: [],
      ...d,
    });

    it("sets the managed rule's backendRefs and leaves every other field and rule as observed", () => {
      const before = userRoute();
      const after = editManagedRule(before, decision());
      expect(JSON.stringify(usersPart(after))).to.equal(JSON.stringify(usersPart(before)));
      expect(JSON.stringify(after.metadata)).to.equal(JSON.stringify(before.metadata));
      expect(ruleOf(after, "fraud-model")?.backendRefs).to.deep.equal([svc(STABLE, 80), svc(CANDIDATE, 20)]);
      expect(before, "the observed route is not changed").to.deep.equal(userRoute());
    });

    it("adds its header and mirror rules just before the managed rule, copies of it, and removes them again", () => {
      const withRules = editManagedRule(
        userRoute(),
        decision({
          headerRoutes: [
            {
              step: "beta",
              headers: [{ type: "Exact", name: "x-cohort", value: "beta" }],
              backendRefs: [svc(CANDIDATE, 1)],
            },
          ],
          mirror: { backendRef: svc(CANDIDATE), percent: 50 },
        }),
      );
      expect(withRules.spec?.rules?.map((r) => r.name)).to.deep.equal([
        "static",
        "modeldeployment.fraud-detector.header-beta",
        "modeldeployment.fraud-detector.mirror",
        "fraud-model",
        "checkout",
      ]);
      const managed = ruleOf(userRoute(), "fraud-model")!;
      expect(ruleOf(withRules, "modeldeployment.fraud-detector.header-beta")).to.deep.equal({
        name: "modeldeployment.fraud-detector.header-beta",
        matches: [
          {
            path: { type: "PathPrefix", value: "/v2/models/fraud" },
            headers: [{ type: "Exact", name: "x-cohort", value: "beta" }],
          },
        ],
        filters: managed.filters,
        timeouts: { request: "30s" },
        backendRefs: [svc(CANDIDATE, 1)],
      });
      expect(ruleOf(withRules, "modeldeployment.fraud-detector.mirror")).to.deep.equal({
        name: "modeldeployment.fraud-detector.mirror",
        matches: managed.matches,
        filters: [
          ...managed.filters!,
          { type: "RequestMirror", requestMirror: { backendRef: svc(CANDIDATE), percent: 50 } },
        ],
        timeouts: { request: "30s" },
        backendRefs: [svc(STABLE, 80), svc(CANDIDATE, 20)],
      });
      const back = editManagedRule(withRules, decision({ backendRefs: [svc(STABLE, 100)] }));
      expect(back.spec?.rules?.map((r) => r.name)).to.deep.equal(["static", "fraud-model", "checkout"]);
      expect(JSON.stringify(usersPart(back))).to.equal(JSON.stringify(usersPart(userRoute())));
    });

    it("leaves another ModelDeployment's rules alone, and a route without the rule as it is but for its own rules", () => {
      const r = userRoute();
      r.spec!.rules!.splice(1, 0, {
        name: "modeldeployment.fraud-detector.x.header-beta",
        backendRefs: [svc("other-2-0-0", 1)],
      });
      const after = editManagedRule(r, decision());
      expect(ruleOf(after, "modeldeployment.fraud-detector.x.header-beta")).to.deep.equal(r.spec!.rules![1]);
      const noRule = userRoute();
      noRule.spec!.rules = noRule.spec!.rules!.filter((x) => x.name !== "fraud-model");
      expect(editManagedRule(noRule, decision())).to.deep.equal(noRule);
    });

    it("property: other rules byte for byte, weights sum to 100, and applying it twice changes nothing more", () => {
      const name = fc.stringMatching(/^[a-z][a-z0-9-]{0,8}$/).filter((n) => n !== "fraud-model");
      const backend = fc.record({
        name,
        port: fc.integer({ min: 1, max: 65535 }),
        weight: fc.integer({ min: 0, max: 1000 }),
      });
      const otherRule = fc.record(
        {
          name,
          matches: fc.array(
            fc.record({ path: fc.record({ type: fc.constant("PathPrefix"), value: fc.webPath() }) }),
            { maxLength: 2 },
          ),
          filters: fc.array(
            fc.record({
              type: fc.constant("RequestHeaderModifier"),
              requestHeaderModifier: fc.record({
                set: fc.array(fc.record({ name, value: fc.string() }), { maxLength: 2 }),
              }),
            }),
            { maxLength: 2 },
          ),
          backendRefs: fc.array(backend, { maxLength: 3 }),
        },
        { requiredKeys: ["backendRefs"] },
      );
      const weightArb = fc.integer({ min: 0, max: 100 });
      fc.assert(
        fc.property(
          fc.array(otherRule, { maxLength: 5 }),
          fc.integer({ min: 0, max: 5 }),
          weightArb,
          fc.boolean(),
          fc.boolean(),
          (others, at, w, header, mirror) => {
            const r = userRoute();
            const managed = ruleOf(r, "fraud-model")!;
            const rules = [...others] as HTTPRouteRule[];
            rules.splice(Math.min(at, rules.length), 0, managed);
            r.spec!.rules = rules;
            const d = decision({
              backendRefs: [svc(STABLE, 100 - w), svc(CANDIDATE, w)],
              headerRoutes: header
                ? [
                    {
                      step: "beta",
                      headers: [{ type: "Exact", name: "x-cohort", value: "beta" }],
                      backendRefs: [svc(CANDIDATE, 1)],
                    },
                  ]
                : [],
              mirror: mirror ? { backendRef: svc(CANDIDATE), percent: 10 } : undefined,
            });
            const once = editManagedRule(r, d);
            const theirs = (x: HTTPRoute) =>
              (x.spec?.rules ?? []).filter(
                (y) => !isOwnRule(y.name, "fraud-detector") && y.name !== "fraud-model",
              );
            expect(JSON.stringify(theirs(once))).to.equal(JSON.stringify(theirs(r)));
            const { backendRefs: _a, ...restBefore } = managed;
            const { backendRefs: _b, ...restAfter } = ruleOf(once, "fraud-model")!;
            expect(JSON.stringify(restAfter)).to.equal(JSON.stringify(restBefore));
            const sum = (ruleOf(once, "fraud-model")?.backendRefs ?? []).reduce(
              (a, b) => a + (b.weight ?? 0),
              0,
            );
            expect(sum).to.equal(100);
            expect(editManagedRule(once, d)).to.deep.equal(once);
            // And taking the operator's part away again gives the user's rules back, in order.
            const restored = editManagedRule(once, {
              ...d,
              headerRoutes: [],
              mirror: undefined,
              backendRefs: managed.backendRefs!,
            });
            expect(restored).to.deep.equal(r);
          },
        ),
        { numRuns: 200 },
      );
    });
  });

  describe("through the planner", () => {
    it("at rest: the managed rule on the stable version's Service at 100, the rest untouched, no ownerReference, no write again", () => {
      const sim = userRouteSim();
      expect(weights(sim)).to.deep.equal({ [STABLE]: 100 });
      expect(JSON.stringify(usersPart(route(sim)))).to.equal(JSON.stringify(usersPart(userRoute())));
      expect(route(sim).metadata?.ownerReferences).to.equal(undefined);
      expect(sim.routes.size, "no route of its own").to.equal(0);
      expect(sim.clientsSelector()?.[LABEL_VERSION]).to.equal("1.0.0");
      expect(sim.md.status?.route).to.deep.equal({
        name: "storefront",
        rule: "fraud-model",
        parents: [
          {
            name: "edge",
            namespace: "gateways",
            sectionName: "https",
            accepted: "True",
            resolvedRefs: "True",
          },
        ],
      });
      expect(sim.condition("TrafficRouted")?.status).to.equal("True");
      const writes = sim.routeWrites;
      for (let i = 0; i < 3; i++) sim.reconcile();
      expect(sim.routeWrites, "no write at rest").to.equal(writes);
    });

    it("walks a canary on the managed rule: exact weights, header and mirror rules of its own that come and go, rollback to 100/0 in one write", () => {
      const sim = userRouteSim({
        replicas: 4,
        strategy: {
          canary: {
            steps: [
              { setWeight: 0 },
              { setMirrorRoute: { name: "shadow", percentage: 100 } },
              { setWeight: 20 },
              {
                setHeaderRoute: {
                  name: "beta",
                  match: [{ headerName: "x-cohort", headerValue: { exact: "beta" } }],
                },
              },
              { setWeight: 50 },
              { pause: {} },
            ],
          },
        },
        healthChecks: {
          interval: "1s",
          failureThreshold: 1,
          checks: [{ name: "ready", http: { path: "/ready", port: "http" } }],
        },
      });
      sim.setVersion("2.0.0");
      sim.runUntil((s) => s.md.status?.currentStep === 1, ok);
      expect(ruleNames(sim)).to.deep.equal([
        "static",
        "modeldeployment.fraud-detector.mirror",
        "fraud-model",
        "checkout",
      ]);
      expect(weights(sim)).to.deep.equal({ [STABLE]: 100, [CANDIDATE]: 0 });
      sim.reconcile();
      expect(sim.md.status?.route?.mirror).to.deep.equal({ service: CANDIDATE, percentage: 100 });
      sim.annotate("promote");
      sim.runUntil((s) => s.md.status?.currentStep === 3, ok);
      expect(ruleNames(sim)).to.deep.equal([
        "static",
        "modeldeployment.fraud-detector.header-beta",
        "fraud-model",
        "checkout",
      ]);
      expect(weights(sim)).to.deep.equal({ [STABLE]: 80, [CANDIDATE]: 20 });
      sim.reconcile();
      expect(sim.md.status?.route?.headerRoutes).to.deep.equal(["beta"]);
      expect(sim.md.status?.traffic?.map((t) => [t.version, t.weight])).to.deep.equal([
        ["1.0.0", 80],
        ["2.0.0", 20],
      ]);
      sim.annotate("promote");
      sim.runUntil((s) => s.md.status?.currentStep === 5, ok);
      expect(weights(sim)).to.deep.equal({ [STABLE]: 50, [CANDIDATE]: 50 });
      expect(ruleNames(sim)).to.deep.equal(["static", "fraud-model", "checkout"]);
      const before = sim.routeWrites;
      sim.advance(1100);
      sim.reconcile(measured("Failed"));
      expect(sim.md.status?.aborted?.reason).to.equal("HealthCheckFailed");
      expect(sim.routeWrites - before, "rollback in one write").to.equal(1);
      expect(weights(sim)).to.deep.equal({ [STABLE]: 100 });
      expect(JSON.stringify(usersPart(route(sim)))).to.equal(JSON.stringify(usersPart(userRoute())));
    });

    it("the reference removed mid-rollout: the rule back on the stable version alone, its own rules gone, in one write; then never touched again", () => {
      const sim = userRouteSim({
        replicas: 4,
        strategy: {
          canary: {
            steps: [
              { setWeight: 30 },
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
      sim.runUntil((s) => s.md.status?.currentStep === 1);
      expect(ruleNames(sim)).to.include("modeldeployment.fraud-detector.header-beta");
      const before = sim.routeWrites;
      // Back to replica ratio (header steps need a route, so they go too).
      sim.edit((s) => {
        delete s.traffic;
        s.strategy = { canary: { steps: [{ setWeight: 30 }, { pause: {} }] } };
      });
      sim.reconcile();
      expect(sim.routeWrites - before, "one write").to.equal(1);
      expect(weights(sim)).to.deep.equal({ [STABLE]: 100 });
      expect(ruleNames(sim)).to.deep.equal(["static", "fraud-model", "checkout"]);
      expect(JSON.stringify(usersPart(route(sim)))).to.equal(JSON.stringify(usersPart(userRoute())));
      // status.route names it until the route is seen handed back (the next reconcile).
      sim.reconcile();
      expect(sim.routeWrites - before, "still one write").to.equal(1);
      expect(sim.md.status?.route).to.equal(undefined);
      // The route is the user's alone now: a change of theirs stays.
      route(sim).spec!.rules![1]!.backendRefs = [svc("fraud-legacy", 1)];
      for (let i = 0; i < 3; i++) sim.reconcile();
      expect(weights(sim)).to.deep.equal({ "fraud-legacy": 1 });
    });

    it("a route that does not exist: TrafficRouted False (RouteNotFound) and an Event, the stable keeps the clients' Service; picked up once it exists", () => {
      const sim = new Sim(makeMd({ traffic, strategy: { canary: { steps: [{ setWeight: 50 }] } } }), T0);
      sim.routeApi = true;
      sim.reconcile();
      sim.settle();
      sim.reconcile();
      expect(sim.md.status?.stableVersion).to.equal("1.0.0");
      sim.setVersion("2.0.0");
      for (let i = 0; i < 4; i++) {
        sim.reconcile();
        sim.settle();
        sim.advance(1000);
      }
      const c = sim.condition("TrafficRouted");
      expect(c).to.include({ status: "False", reason: "RouteNotFound" });
      expect(c?.message).to.equal(
        "the HTTPRoute storefront named by spec.traffic.gatewayAPI.httpRouteRef does not exist in the namespace models: the stable version keeps its traffic (the Service fraud-detector selects it alone) and the rollout waits until it does",
      );
      expect(sim.events.filter((e) => e.reason === "TrafficNotRouted")).to.have.length(1);
      expect(sim.md.status?.currentStep ?? 0).to.equal(0);
      expect(sim.md.status?.message).to.match(/^held: /);
      expect(sim.clientsSelector()?.[LABEL_VERSION]).to.equal("1.0.0");

      sim.userRoutes.set("storefront", userRoute());
      sim.parentsSay("True", "Accepted", "", "storefront");
      sim.reconcile();
      expect(ruleOf(route(sim), "fraud-model")?.backendRefs?.map((b) => b.name)).to.deep.equal([
        STABLE,
        CANDIDATE,
      ]);
      sim.runUntil((s) => s.md.status?.stableVersion === "2.0.0");
      expect(weights(sim)).to.deep.equal({ [CANDIDATE]: 100 });
      expect(sim.condition("TrafficRouted")?.status).to.equal("True");
    });

    it("a route without the named rule: TrafficRouted False (RouteRuleNotFound) naming its rules, the route left as it is", () => {
      const r = userRoute();
      r.spec!.rules = r.spec!.rules!.filter((x) => x.name !== "fraud-model");
      const sim = new Sim(makeMd({ traffic }), T0);
      sim.routeApi = true;
      sim.userRoutes.set("storefront", r);
      sim.parentsSay("True", "Accepted", "", "storefront");
      sim.reconcile();
      sim.settle();
      sim.reconcile();
      const c = sim.condition("TrafficRouted");
      expect(c).to.include({ status: "False", reason: "RouteRuleNotFound" });
      expect(c?.message).to.match(
        /the HTTPRoute storefront has no rule named fraud-model \(spec.traffic.gatewayAPI.httpRouteRef.rule; its rules: static, checkout\)/,
      );
      expect(sim.routeWrites).to.equal(0);
      expect(route(sim)).to.deep.equal(r);
    });

    it("without the Gateway API: GatewayAPIMissing, nothing written", () => {
      const sim = new Sim(makeMd({ traffic }), T0);
      sim.routeApi = false;
      sim.reconcile();
      sim.settle();
      sim.reconcile();
      expect(sim.condition("TrafficRouted")).to.include({ status: "False", reason: "GatewayAPIMissing" });
      expect(sim.last?.edits).to.equal(undefined);
    });

    it("blue/green through the user's rule: the switch is one write of the route", () => {
      const sim = userRouteSim({ replicas: 2, strategy: { blueGreen: { scaleDownDelaySeconds: 0 } } });
      sim.setVersion("2.0.0");
      sim.runUntil((s) => s.md.status?.rollout?.availableAt !== undefined);
      expect(weights(sim)).to.deep.equal({ [STABLE]: 100 });
      const before = sim.routeWrites;
      sim.annotate("promote");
      sim.reconcile();
      expect(sim.routeWrites - before).to.equal(1);
      expect(weights(sim)).to.deep.equal({ [CANDIDATE]: 100 });
    });
  });

  describe("read-modify-write (edit-write.ts)", () => {
    /** An API server holding one route, with optimistic concurrency, that can be written under the operator's feet. */
    class RouteServer {
      route: HTTPRoute = userRoute();
      puts = 0;
      gets = 0;
      /** Before each of the next n PUTs, someone else writes the route (a GitOps sync). */
      racers = 0;
      async get<T>(): Promise<T | undefined> {
        this.gets++;
        return structuredClone(this.route) as T;
      }
      async replace<T>(obj: T): Promise<T> {
        this.puts++;
        if (this.racers > 0) {
          this.racers--;
          // The Git version comes back: the user's checkout weights changed, ours reverted.
          const git = userRoute();
          git.spec!.rules![2]!.backendRefs![0]!.weight = 50;
          git.metadata!.resourceVersion = String(Number(this.route.metadata!.resourceVersion) + 1);
          this.route = git;
        }
        const body = obj as HTTPRoute;
        if (body.metadata?.resourceVersion !== this.route.metadata?.resourceVersion)
          throw new KubeApiError(
            409,
            "the object has been modified; please apply your changes to the latest version",
          );
        this.route = structuredClone(body);
        this.route.metadata!.resourceVersion = String(Number(body.metadata!.resourceVersion) + 1);
        return structuredClone(this.route) as T;
      }
    }
    const edit: ObjectEdit = {
      kind: "HTTPRoute",
      name: "storefront",
      edit: (r) =>
        editManagedRule(r, {
          mdName: "fraud-detector",
          rule: "fraud-model",
          backendRefs: [svc(STABLE, 70), svc(CANDIDATE, 30)],
          headerRoutes: [],
        }),
    };

    it("writes once with the observed resourceVersion, without managedFields; nothing when nothing of ours differs", async () => {
      const server = new RouteServer();
      const seen = structuredClone(server.route);
      seen.metadata!.managedFields = [{ manager: "argocd-controller", operation: "Apply" }];
      const r = await writeEdit(server, edit, seen, "models");
      expect(r).to.include({ writes: 1, conflicts: 0 });
      expect(server.route.metadata?.managedFields).to.equal(undefined);
      expect(
        weights({ userRoutes: new Map([["storefront", server.route]]) } as unknown as Sim),
      ).to.deep.equal({
        [STABLE]: 70,
        [CANDIDATE]: 30,
      });
      const again = await writeEdit(server, edit, server.route, "models");
      expect(again).to.include({ writes: 0 });
      expect(server.puts).to.equal(1);
    });

    it("on 409 Conflict reads the route again and edits that, keeping what the other writer changed", async () => {
      const server = new RouteServer();
      server.racers = 2;
      const r = await writeEdit(server, edit, structuredClone(server.route), "models");
      expect(r).to.include({ writes: 3, conflicts: 2 });
      expect(server.gets).to.equal(2);
      expect(
        ruleOf(server.route, "checkout")?.backendRefs?.[0]?.weight,
        "the other writer's change stays",
      ).to.equal(50);
      expect(ruleOf(server.route, "fraud-model")?.backendRefs?.map((b) => b.weight)).to.deep.equal([70, 30]);
    });

    it(`gives up after ${MAX_EDIT_ATTEMPTS} conflicts in a row (the queue retries with backoff)`, async () => {
      const server = new RouteServer();
      server.racers = MAX_EDIT_ATTEMPTS;
      let err: unknown;
      await writeEdit(server, edit, structuredClone(server.route), "models").catch((e: unknown) => (err = e));
      expect((err as KubeApiError).status).to.equal(409);
      expect(server.puts).to.equal(MAX_EDIT_ATTEMPTS);
    });
  });
});
