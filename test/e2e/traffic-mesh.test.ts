// The managed route attached to the clients' Service as well (spec.traffic.gatewayAPI.httpRoute
// .mesh: the Gateway API's mesh support, GAMMA), at the API level against the real control
// plane with the Gateway API CRDs: the API server takes the Service parentRef, both parents'
// verdicts are read from route status (written here, as a Gateway controller and a mesh
// would), and the mesh's parent gets the same split at every step. No mesh runs here: what
// a mesh does with the route is its own business, and nothing may dial a pod address.
import { expect } from "chai";
import { createNamespace, kubectl, kubectlJson, waitFor } from "../support/kube.ts";
import { installGatewayApiCrds } from "../support/gateway-api.ts";
import { applyMd, condition, modelDeployment, waitForMd } from "../support/md.ts";
import { startOperator, type OperatorProcess } from "../support/operator.ts";
import type { HTTPRoute as PlanRoute } from "../../src/plan/routers/httproute.ts";

type HTTPRoute = PlanRoute & { metadata: { generation?: number }; spec: NonNullable<PlanRoute["spec"]> };

const NAME = "meshed";
const traffic = {
  gatewayAPI: { httpRoute: { parentRefs: [{ name: "inference-gateway", sectionName: "http" }], mesh: true } },
};
const spec = (version: string) =>
  modelDeployment(NAME, {
    version,
    replicas: 4,
    strategy: { canary: { steps: [{ setWeight: 20 }, { pause: {} }] } },
    extra: { traffic },
  });

const getRoute = (ns: string) => kubectlJson<HTTPRoute>(["-n", ns, "get", "httproute", NAME]);
const splitOf = (r: HTTPRoute) =>
  Object.fromEntries(
    (r.spec.rules?.find((x) => x.name === "split")?.backendRefs ?? []).map((b) => [b.name, b.weight]),
  );

/** What the Gateway controller and the mesh write: each of `parents` (by kind) says Accepted. */
async function parentsAccept(ns: string, kinds: readonly string[]) {
  const route = await getRoute(ns);
  const now = new Date().toISOString().replace(/\.\d+Z$/, "Z");
  const cond = (type: string) => ({
    type,
    status: "True",
    reason: type,
    message: "",
    lastTransitionTime: now,
    observedGeneration: route.metadata.generation ?? 1,
  });
  const parents = (route.spec.parentRefs ?? [])
    .filter((parentRef) => kinds.includes(parentRef.kind ?? "Gateway"))
    .map((parentRef) => ({
      parentRef,
      controllerName: parentRef.kind === "Service" ? "mesh.example/controller" : "gateway.example/controller",
      conditions: [cond("Accepted"), cond("ResolvedRefs")],
    }));
  await kubectl([
    "-n",
    ns,
    "patch",
    "httproute",
    NAME,
    "--subresource=status",
    "--type=merge",
    "-p",
    JSON.stringify({ status: { parents } }),
  ]);
}

describe("the managed route attached to the clients' Service (mesh, GAMMA)", function () {
  this.timeout(180_000);
  let operator: OperatorProcess;
  let ns: string;
  let cleanup: () => Promise<void>;

  before(async () => {
    await installGatewayApiCrds();
    operator = await startOperator();
    ({ name: ns, cleanup } = await createNamespace("mesh"));
  });
  after(async () => {
    await operator?.stop();
    await cleanup?.();
  });

  it("the route's parents are the Gateway and the Service NAME; a rollout waits for both and gives the mesh the same weights", async () => {
    await applyMd(ns, spec("1.0.0"));
    const first = await waitFor("the route of 1.0.0", async () => {
      const r = await getRoute(ns).catch(() => undefined);
      return r && splitOf(r)[`${NAME}-1-0-0`] === 100 ? r : undefined;
    });
    expect(first.spec.parentRefs).to.deep.equal([
      { group: "gateway.networking.k8s.io", kind: "Gateway", name: "inference-gateway", sectionName: "http" },
      { group: "", kind: "Service", name: NAME },
    ]);
    await parentsAccept(ns, ["Gateway", "Service"]);
    await waitForMd(ns, NAME, "1.0.0 stable", (m) => m.status?.stableVersion === "1.0.0");

    // The mesh takes its acceptance back (only the Gateway reports on the route): a rollout waits.
    await parentsAccept(ns, ["Gateway"]);
    await applyMd(ns, spec("2.0.0"));
    const held = await waitForMd(
      ns,
      NAME,
      "held for the mesh's parent",
      (m) => condition(m, "TrafficRouted")?.reason === "RouteNotAccepted",
    );
    expect(condition(held, "TrafficRouted")?.message).to.include(
      `the parent Service ${ns}/${NAME} has not accepted`,
    );
    expect(held.status?.currentStep ?? 0).to.equal(0);

    await parentsAccept(ns, ["Gateway", "Service"]);
    const md = await waitForMd(ns, NAME, "at 20% through both parents", (m) => m.status?.currentStep === 1);
    expect(condition(md, "TrafficRouted")?.status).to.equal("True");
    expect(md.status?.route?.parents).to.deep.equal([
      { name: "inference-gateway", sectionName: "http", accepted: "True", resolvedRefs: "True" },
      { name: NAME, kind: "Service", accepted: "True", resolvedRefs: "True" },
    ]);
    const r = await getRoute(ns);
    expect(r.spec.rules?.length).to.equal(1);
    expect(splitOf(r)).to.deep.equal({ [`${NAME}-1-0-0`]: 80, [`${NAME}-2-0-0`]: 20 });
    // Outside the mesh the clients' Service still selects the stable version alone.
    const svc = await kubectlJson<{ spec: { selector: Record<string, string> } }>([
      "-n",
      ns,
      "get",
      "service",
      NAME,
    ]);
    expect(svc.spec.selector["mlops.dev/version"]).to.equal("1.0.0");
  });
});
