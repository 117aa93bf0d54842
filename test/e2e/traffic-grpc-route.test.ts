// The managed GRPCRoute (spec.traffic.gatewayAPI.grpcRoute, for gRPC model servers) against
// the real control plane with the pinned Gateway API CRDs (experimental channel, which holds
// GRPCRoute): the schema's refusals, the GRPCRoute's weights at every step of a canary, the
// header rule and the mirror filter coming and going with their steps, the route handed to
// the new version at promotion, and the chart's RBAC on grpcroutes as the API server
// authorises it.
//   bash hack/run.sh test-e2e test/e2e/traffic-grpc-route.test.ts
import { join } from "node:path";
import { expect } from "chai";
import { parseAllDocuments } from "yaml";
import type { HTTPRoute } from "../support/dataplane.ts";
import { installGatewayApiCrds, routeParentsSay } from "../support/gateway-api.ts";
import { createNamespace, kubectl, kubectlJson, tool, waitFor } from "../support/kube.ts";
import { applyMd, condition, isReady, modelDeployment, waitForMd, type Md } from "../support/md.ts";
import { startOperator, type OperatorProcess } from "../support/operator.ts";

const ROOT = join(import.meta.dirname, "..", "..");
const NAME = "scorer";
const STABLE = "scorer-1-0-0";
const CANDIDATE = "scorer-2-0-0";
const METHOD = { service: "inference.GRPCInferenceService" };

type Rule = NonNullable<HTTPRoute["spec"]["rules"]>[number];

const grpcRoute = {
  parentRefs: [{ name: "grpc-gateway", sectionName: "grpc" }],
  hostnames: ["scorer.models.example"],
  matches: [{ method: METHOD }],
};

const steps = [
  { setWeight: 20 },
  { pause: {} },
  { setHeaderRoute: { name: "beta", match: [{ headerName: "x-cohort", headerValue: { exact: "beta" } }] } },
  { setMirrorRoute: { name: "shadow", percentage: 50 } },
  { setWeight: 60 },
  { pause: {} },
];

const spec = (version: string, traffic: unknown = { gatewayAPI: { grpcRoute } }) =>
  modelDeployment(NAME, { version, replicas: 4, strategy: { canary: { steps } }, extra: { traffic } });

const annotate = (ns: string, action: string) =>
  kubectl(["-n", ns, "annotate", "md", NAME, `mlops.dev/action=${action}`, "--overwrite"]);
const getRoute = (ns: string) => kubectlJson<HTTPRoute>(["-n", ns, "get", "grpcroute", NAME]);
const rules = (r: HTTPRoute): Rule[] => r.spec.rules ?? [];
const ruleNames = (r: HTTPRoute) => rules(r).map((x) => x.name);
const splitOf = (r: HTTPRoute) =>
  Object.fromEntries(
    (rules(r).find((x) => x.name === "split")?.backendRefs ?? []).map((b) => [b.name, b.weight]),
  );
const weights = (m: Md) => m.status?.traffic?.map((t) => [t.version, t.weight]);

/** What a Gateway controller would write on the GRPCRoute: every parent Accepted as given. */
const parentsSay = (ns: string, accepted: "True" | "False", reason: string, message: string) =>
  routeParentsSay(ns, NAME, accepted, reason, message, "grpcroute");

describe("traffic through a managed GRPCRoute (gRPC model servers)", function () {
  this.timeout(300_000);
  let operator: OperatorProcess;
  let ns: string;
  let cleanup: () => Promise<void>;

  before(async () => {
    await installGatewayApiCrds();
    operator = await startOperator();
    ({ name: ns, cleanup } = await createNamespace("grpc-route"));
  });
  after(async () => {
    await operator?.stop();
    await cleanup?.();
  });

  it("the schema refuses what does not make sense with a GRPCRoute: HTTP path matches, a second route, InferencePools", async () => {
    const refused = async (traffic: unknown) => {
      const res = await tool(
        "kubectl",
        ["-n", ns, "apply", "-f", "-"],
        JSON.stringify(spec("1.0.0", traffic)),
      );
      expect(res.code, res.stdout).to.not.equal(0);
      return res.stderr;
    };
    expect(
      await refused({
        gatewayAPI: {
          grpcRoute: { ...grpcRoute, matches: [{ path: { type: "PathPrefix", value: "/v2" } }] },
        },
      }),
    ).to.match(/unknown field "spec.traffic.gatewayAPI.grpcRoute.matches\[0\].path"/);
    expect(
      await refused({ gatewayAPI: { grpcRoute, httpRoute: { parentRefs: grpcRoute.parentRefs } } }),
    ).to.match(/exactly one of gatewayAPI.httpRoute .*gatewayAPI.grpcRoute .*gatewayAPI.httpRouteRef/);
    expect(await refused({ gatewayAPI: { grpcRoute, inferencePool: {} } })).to.match(
      /gatewayAPI.inferencePool needs an HTTPRoute/,
    );
    expect(
      await refused({
        gatewayAPI: { grpcRoute: { ...grpcRoute, matches: [{ method: { type: "Exact" } }] } },
      }),
    ).to.match(/one or both of service and method must be set/);
    const none = await tool("kubectl", ["-n", ns, "get", "md", NAME, "--ignore-not-found", "-o", "name"]);
    expect(none.stdout.trim()).to.equal("");
  });

  it("walks a canary through the GRPCRoute: weights at each step, the header rule and mirror come and go, stable gets it at promotion", async () => {
    await applyMd(ns, spec("1.0.0"));
    const first = await waitFor("the GRPCRoute of 1.0.0", async () => {
      const r = await getRoute(ns).catch(() => undefined);
      return r && splitOf(r)[STABLE] === 100 ? r : undefined;
    });
    const uid = (await kubectlJson<Md>(["-n", ns, "get", "md", NAME])).metadata.uid;
    const owners = (
      first.metadata as { ownerReferences?: { kind: string; uid: string; controller?: boolean }[] }
    ).ownerReferences;
    expect(owners?.[0]).to.include({ kind: "ModelDeployment", uid, controller: true });
    expect(first.spec.hostnames).to.deep.equal(["scorer.models.example"]);
    expect(rules(first)).to.deep.equal([
      {
        name: "split",
        matches: [{ method: { ...METHOD, type: "Exact" } }],
        backendRefs: [{ group: "", kind: "Service", name: STABLE, port: 80, weight: 100 }],
      },
    ]);
    // No HTTPRoute: the managed route is of the kind the spec names.
    const http = await tool("kubectl", ["-n", ns, "get", "httproute", NAME]);
    expect(http.code).to.not.equal(0);

    // The parent has not accepted it: the rollout waits and says so, naming the GRPCRoute.
    await parentsSay(ns, "False", "NotAllowedByListeners", "no GRPC listener allows this namespace");
    await waitForMd(ns, NAME, "1.0.0 Ready", isReady);
    await applyMd(ns, spec("2.0.0"));
    const held = await waitForMd(
      ns,
      NAME,
      "TrafficRouted=False, RouteNotAccepted",
      (m) => condition(m, "TrafficRouted")?.reason === "RouteNotAccepted",
    );
    expect(condition(held, "TrafficRouted")?.message).to.match(
      /has not accepted the GRPCRoute scorer: Accepted=False \(NotAllowedByListeners\)/,
    );
    expect(held.status?.route).to.deep.include({ name: NAME, kind: "GRPCRoute" });
    expect(held.status?.route?.parents?.[0]).to.include({ name: "grpc-gateway", accepted: "False" });

    // Accepted: 20%.
    await parentsSay(ns, "True", "Accepted", "Accepted");
    const at20 = await waitForMd(
      ns,
      NAME,
      "paused at 20%",
      (m) => m.status?.currentStep === 1 && weights(m)?.[1]?.[1] === 20,
    );
    expect(weights(at20)).to.deep.equal([
      ["1.0.0", 80],
      ["2.0.0", 20],
    ]);
    expect(at20.status?.route?.parents?.[0]).to.include({ accepted: "True", resolvedRefs: "True" });
    expect(condition(at20, "TrafficRouted")?.status).to.equal("True");
    const route20 = await getRoute(ns);
    expect(splitOf(route20)).to.deep.equal({ [STABLE]: 80, [CANDIDATE]: 20 });
    expect(ruleNames(route20)).to.deep.equal(["split"]);

    // promote: the header rule, with the spec's gRPC match and the header, before the split.
    await annotate(ns, "promote");
    await waitForMd(ns, NAME, "the header step", (m) => m.status?.route?.headerRoutes?.[0] === "beta");
    const headerRoute = await getRoute(ns);
    expect(ruleNames(headerRoute)).to.deep.equal(["header-beta", "split"]);
    expect(rules(headerRoute)[0]).to.deep.equal({
      name: "header-beta",
      matches: [
        {
          method: { ...METHOD, type: "Exact" },
          headers: [{ type: "Exact", name: "x-cohort", value: "beta" }],
        },
      ],
      backendRefs: [{ group: "", kind: "Service", name: CANDIDATE, port: 80, weight: 1 }],
    });
    expect(splitOf(headerRoute)).to.deep.equal({ [STABLE]: 80, [CANDIDATE]: 20 });

    // promote: the header rule goes, the mirror filter comes on the split.
    await annotate(ns, "promote");
    const mirroring = await waitForMd(
      ns,
      NAME,
      "the mirror step",
      (m) => m.status?.route?.mirror !== undefined,
    );
    expect(mirroring.status?.route?.mirror).to.deep.equal({ service: CANDIDATE, percentage: 50 });
    expect(mirroring.status?.route?.headerRoutes).to.equal(undefined);
    const mirrorRoute = await getRoute(ns);
    expect(ruleNames(mirrorRoute)).to.deep.equal(["split"]);
    expect(rules(mirrorRoute)[0]?.filters).to.deep.equal([
      {
        type: "RequestMirror",
        requestMirror: { backendRef: { group: "", kind: "Service", name: CANDIDATE, port: 80 }, percent: 50 },
      },
    ]);

    // promote: the mirror goes, 60%.
    await annotate(ns, "promote");
    const at60 = await waitForMd(
      ns,
      NAME,
      "paused at 60%",
      (m) => m.status?.currentStep === 5 && weights(m)?.[1]?.[1] === 60,
    );
    expect(at60.status?.route?.mirror).to.equal(undefined);
    const route60 = await getRoute(ns);
    expect(splitOf(route60)).to.deep.equal({ [STABLE]: 40, [CANDIDATE]: 60 });
    expect(rules(route60)[0]?.filters).to.equal(undefined);

    // promote: 2.0.0 is stable and has the whole route; the clients' Service selects it.
    await annotate(ns, "promote");
    const done = await waitForMd(
      ns,
      NAME,
      "2.0.0 stable and Ready, with the whole route",
      (m) => m.status?.stableVersion === "2.0.0" && isReady(m) && weights(m)?.length === 1,
    );
    expect(weights(done)).to.deep.equal([["2.0.0", 100]]);
    const final = await getRoute(ns);
    expect(splitOf(final)).to.deep.equal({ [CANDIDATE]: 100 });
    expect(ruleNames(final)).to.deep.equal(["split"]);
    const clients = await kubectlJson<{ spec: { selector: Record<string, string> } }>([
      "-n",
      ns,
      "get",
      "service",
      NAME,
    ]);
    expect(clients.spec.selector["mlops.dev/version"]).to.equal("2.0.0");

    // spec.traffic switched to an HTTPRoute: the GRPCRoute goes, the HTTPRoute comes.
    await applyMd(ns, spec("2.0.0", { gatewayAPI: { httpRoute: { parentRefs: grpcRoute.parentRefs } } }));
    await waitFor("the GRPCRoute gone, an HTTPRoute in its place", async () => {
      const g = await tool("kubectl", [
        "-n",
        ns,
        "get",
        "grpcroute",
        NAME,
        "--ignore-not-found",
        "-o",
        "name",
      ]);
      const h = await tool("kubectl", [
        "-n",
        ns,
        "get",
        "httproute",
        NAME,
        "--ignore-not-found",
        "-o",
        "name",
      ]);
      return g.stdout.trim() === "" && h.stdout.trim() !== "";
    });
  });

  it("the chart's RBAC grants on grpcroutes exactly what the operator does (list, watch, create, patch, delete)", async () => {
    const rendered = await tool("helm", [
      "template",
      "mro",
      join(ROOT, "charts", "model-rollout-operator"),
      "--namespace",
      ns,
      "--set",
      `watchNamespace=${ns}`,
    ]);
    expect(rendered.code, rendered.stderr).to.equal(0);
    const docs = parseAllDocuments(rendered.stdout).map((d) => d.toJSON() as Record<string, unknown> | null);
    const rbac = docs.filter(
      (d): d is Record<string, unknown> =>
        d !== null &&
        (d.kind === "Role" || d.kind === "RoleBinding") &&
        (d.metadata as { namespace?: string }).namespace === ns &&
        !String((d.metadata as { name: string }).name).includes("leader"),
    );
    expect(rbac.map((d) => d.kind).sort()).to.deep.equal(["Role", "RoleBinding"]);
    const binding = rbac.find((d) => d.kind === "RoleBinding") as { subjects: { name: string }[] };
    const sa = binding.subjects[0]!.name;
    await kubectl(
      ["-n", ns, "apply", "-f", "-"],
      JSON.stringify({ apiVersion: "v1", kind: "List", items: rbac }),
    );
    const can = async (verb: string) =>
      (
        await tool("kubectl", [
          "auth",
          "can-i",
          verb,
          "grpcroutes.gateway.networking.k8s.io",
          "-n",
          ns,
          `--as=system:serviceaccount:${ns}:${sa}`,
        ])
      ).stdout.trim();
    const granted: Record<string, string> = {};
    for (const verb of ["list", "watch", "create", "patch", "delete", "get", "update"])
      granted[verb] = await can(verb);
    expect(granted).to.deep.equal({
      list: "yes",
      watch: "yes",
      create: "yes",
      patch: "yes",
      delete: "yes",
      get: "no",
      update: "no",
    });
  });
});
