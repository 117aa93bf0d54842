// InferencePool backends (spec.traffic.gatewayAPI.inferencePool) against the real control
// plane with the pinned Gateway API CRDs and, once the test installs it, the pinned
// InferencePool CRD (Inference Extension v1.6.0): first without the InferencePool CRD (a
// clear condition and an Event, no route, the stable version keeping its traffic), then the
// CRD installed and noticed without a restart: one pool per version with the right selector,
// target ports and endpoint picker, the route's backendRefs naming the pools with the weights
// of each step, the pool of the retired version deleted, and the last pool garbage collected
// with the ModelDeployment. The API server refuses an endpoint picker shared by all pools.
//
// Tested at the API level only: an InferencePool's endpoint picker routes to pod IPs, which
// nothing here may dial, so no data plane carries requests to the pools.
//   bash hack/run.sh test-e2e test/e2e/traffic-inference-pool.test.ts
import { expect } from "chai";
import type { HTTPRoute } from "../support/dataplane.ts";
import { installGatewayApiCrds } from "../support/gateway-api.ts";
import { createNamespace, kubectl, kubectlJson, waitFor } from "../support/kube.ts";
import {
  applyMd,
  condition,
  deployments,
  getMd,
  isReady,
  mdEvents,
  modelDeployment,
  waitForMd,
} from "../support/md.ts";
import { startOperator, type OperatorProcess } from "../support/operator.ts";

const NAME = "llm";
const STABLE = "llm-1-0-0";
const CANDIDATE = "llm-2-0-0";
const POOL_CRD = "inferencepools.inference.networking.k8s.io";
const POOL_REF = { group: "inference.networking.k8s.io", kind: "InferencePool" };

interface InferencePool {
  apiVersion: string;
  metadata: {
    name: string;
    labels?: Record<string, string>;
    ownerReferences?: { kind: string; name: string; uid: string; controller?: boolean }[];
  };
  spec: {
    selector: { matchLabels: Record<string, string> };
    targetPorts: { number: number }[];
    endpointPickerRef?: { name: string; port?: { number: number }; failureMode?: string };
  };
}

const traffic = (eppName = "{{pool}}-epp") => ({
  gatewayAPI: {
    httpRoute: { parentRefs: [{ name: "inference-gateway" }] },
    inferencePool: { endpointPickerRef: { name: eppName, port: { number: 9002 } } },
  },
});

const steps = [
  { setWeight: 20 },
  { pause: {} },
  { setHeaderRoute: { name: "beta", match: [{ headerName: "x-cohort", headerValue: { exact: "beta" } }] } },
  { setWeight: 50 },
  { pause: {} },
];

const spec = (version: string, eppName?: string) =>
  modelDeployment(NAME, {
    version,
    replicas: 2,
    strategy: { canary: { steps } },
    extra: { traffic: traffic(eppName) },
  });

const annotate = (ns: string, action: string) =>
  kubectl(["-n", ns, "annotate", "md", NAME, `mlops.dev/action=${action}`, "--overwrite"]);

const getRoute = (ns: string) => kubectlJson<HTTPRoute>(["-n", ns, "get", "httproute", NAME]);
const ruleOf = (r: HTTPRoute, name: string) => (r.spec.rules ?? []).find((x) => x.name === name);
const getPool = (ns: string, name: string) =>
  kubectlJson<InferencePool>(["-n", ns, "get", "inferencepool", name]).catch(() => undefined);

async function poolNames(ns: string): Promise<string[]> {
  const list = await kubectlJson<{ items: InferencePool[] }>(["-n", ns, "get", "inferencepools"]);
  return list.items.map((p) => p.metadata.name).sort();
}

/** What a Gateway controller would write on the route: its parent accepted it. */
async function parentAccepts(ns: string): Promise<void> {
  const route = await getRoute(ns);
  const now = new Date().toISOString().replace(/\.\d+Z$/, "Z");
  const gen = (route.metadata as { generation?: number }).generation ?? 1;
  const cond = (type: string) => ({
    type,
    status: "True",
    reason: type,
    message: "",
    lastTransitionTime: now,
    observedGeneration: gen,
  });
  const status = {
    parents: (route.spec.parentRefs ?? []).map((parentRef) => ({
      parentRef,
      controllerName: "example.net/inference-gateway",
      conditions: [cond("Accepted"), cond("ResolvedRefs")],
    })),
  };
  await kubectl([
    "-n",
    ns,
    "patch",
    "httproute",
    NAME,
    "--subresource=status",
    "--type=merge",
    "-p",
    JSON.stringify({ status }),
  ]);
}

/** The route's split as {backend: weight}, checking that every backend is a pool. */
function poolSplit(route: HTTPRoute): Record<string, number | undefined> {
  const refs = ruleOf(route, "split")?.backendRefs ?? [];
  for (const b of refs) expect(b, `backend ${b.name}`).to.include(POOL_REF).and.not.have.property("port");
  return Object.fromEntries(refs.map((b) => [b.name, b.weight]));
}

describe("traffic to per-version InferencePools (spec.traffic.gatewayAPI.inferencePool)", function () {
  this.timeout(300_000);
  let operator: OperatorProcess;
  let ns: string;
  let cleanup: () => Promise<void>;

  before(async () => {
    await installGatewayApiCrds();
    // "The InferencePool CRD is missing" must be true when the operator starts: other files
    // of the suite install it on the shared control plane (each installs it again itself).
    await kubectl(["delete", "crd", POOL_CRD, "--ignore-not-found", "--wait=true"]);
    operator = await startOperator();
    ({ name: ns, cleanup } = await createNamespace("inference-pool"));
  });
  after(async () => {
    await operator?.stop();
    await cleanup?.();
  });

  it("without the InferencePool CRD: a clear condition and Event, no route, the stable version keeps its traffic; the CRD installed later is picked up", async () => {
    await applyMd(ns, spec("1.0.0"));
    const first = await waitForMd(ns, NAME, "1.0.0 Ready, pools missing", (m) => isReady(m));
    const missing = condition(first, "TrafficRouted");
    expect(missing).to.include({ status: "False", reason: "InferencePoolAPIMissing" });
    expect(missing?.message).to.match(
      /the InferencePool API \(inferencepools.inference.networking.k8s.io\/v1\) is not installed in the cluster .* the HTTPRoute llm is not pointed at them: the stable version keeps its traffic \(the Service llm selects it alone\) and the rollout waits/,
    );
    await waitFor("a TrafficNotRouted Event", async () =>
      (await mdEvents(ns, NAME)).some(
        (e) => e.reason === "TrafficNotRouted" && /InferencePool API/.test(e.message ?? ""),
      ),
    );
    const noRoute = await kubectl(["-n", ns, "get", "httproute", NAME]).then(
      () => false,
      (err: Error) => /NotFound/.test(err.message),
    );
    expect(noRoute, "no route names pools that cannot exist").to.equal(true);

    await applyMd(ns, spec("2.0.0"));
    await waitFor(
      "the candidate's pod up",
      async () => (await deployments(ns, NAME)).get(CANDIDATE)?.status?.readyReplicas === 1,
    );
    const held = await waitForMd(
      ns,
      NAME,
      "2.0.0 held at step 0, with the stable version's ready endpoints counted",
      (m) => (m.status?.traffic?.length ?? 0) === 2 && (m.status?.traffic?.[0]?.readyEndpoints ?? 0) > 0,
    );
    expect(held.status?.currentStep ?? 0).to.equal(0);
    expect(held.status?.message).to.match(/^held: the InferencePool API/);
    expect(held.status?.traffic?.map((t) => [t.version, t.weight])).to.deep.equal([
      ["1.0.0", 100],
      ["2.0.0", 0],
    ]);
    const clients = await kubectlJson<{ spec: { selector: Record<string, string> } }>([
      "-n",
      ns,
      "get",
      "svc",
      NAME,
    ]);
    expect(clients.spec.selector["mlops.dev/version"]).to.equal("1.0.0");

    // The CRD arrives: the operator notices on its own (it looks again every 30 s).
    await installGatewayApiCrds({ inferencePool: true });
    const route = await waitFor(
      "the route written, to the pools",
      () => getRoute(ns).catch(() => undefined),
      {
        timeoutMs: 90_000,
        intervalMs: 500,
      },
    );
    expect(poolSplit(route)).to.deep.equal({ [STABLE]: 80, [CANDIDATE]: 20 });
    expect(await poolNames(ns)).to.deep.equal([STABLE, CANDIDATE]);
    await parentAccepts(ns);
    const routed = await waitForMd(
      ns,
      NAME,
      "paused at 20% through the pools, routed",
      (m) => m.status?.currentStep === 1 && condition(m, "TrafficRouted")?.status === "True",
    );
    expect(routed.status?.route?.backendKind).to.equal("InferencePool");
    expect(routed.status?.traffic?.map((t) => [t.version, t.weight])).to.deep.equal([
      ["1.0.0", 80],
      ["2.0.0", 20],
    ]);
    expect(operator.logs()).to.not.match(/reconcile failed/);
  });

  it("one pool per version: that version's pods, its port, its own endpoint picker, owned by the ModelDeployment", async () => {
    const md = await getMd(ns, NAME);
    const deps = await deployments(ns, NAME);
    for (const [name, version] of [
      [STABLE, "1.0.0"],
      [CANDIDATE, "2.0.0"],
    ] as const) {
      const pool = (await getPool(ns, name))!;
      expect(pool.apiVersion).to.equal("inference.networking.k8s.io/v1");
      expect(pool.metadata.labels).to.include({ "mlops.dev/model": NAME, "mlops.dev/version": version });
      expect(pool.spec.selector.matchLabels, `${name} selects exactly its Deployment's pods`).to.deep.equal(
        deps.get(name)!.spec.selector.matchLabels,
      );
      expect(pool.spec.targetPorts).to.deep.equal([{ number: 8080 }]);
      // The API server's defaults (failureMode, group, kind) are filled in beside the operator's fields.
      expect(pool.spec.endpointPickerRef).to.deep.include({ name: `${name}-epp`, port: { number: 9002 } });
      expect(pool.metadata.ownerReferences).to.deep.equal([
        {
          apiVersion: "mlops.dev/v1alpha1",
          kind: "ModelDeployment",
          name: NAME,
          uid: md.metadata.uid,
          controller: true,
          blockOwnerDeletion: true,
        },
      ]);
    }
  });

  it("the route's rules name the pools with the weights of each step; the retired version's pool goes at the promotion", async () => {
    await annotate(ns, "promote");
    await waitForMd(ns, NAME, "the header step", (m) => m.status?.route?.headerRoutes?.[0] === "beta");
    let route = await getRoute(ns);
    expect(ruleOf(route, "header-beta")?.backendRefs).to.deep.equal([
      { ...POOL_REF, name: CANDIDATE, weight: 1 },
    ]);
    expect(poolSplit(route)).to.deep.equal({ [STABLE]: 80, [CANDIDATE]: 20 });

    await annotate(ns, "promote");
    await waitForMd(
      ns,
      NAME,
      "paused at 50%",
      (m) => m.status?.currentStep === 4 && m.status?.candidateWeight === 50,
    );
    route = await getRoute(ns);
    expect(ruleOf(route, "header-beta"), "the header rule ends with its step").to.equal(undefined);
    expect(poolSplit(route)).to.deep.equal({ [STABLE]: 50, [CANDIDATE]: 50 });

    await annotate(ns, "promote");
    await waitForMd(ns, NAME, "2.0.0 promoted", (m) => m.status?.stableVersion === "2.0.0" && isReady(m));
    route = await getRoute(ns);
    expect(poolSplit(route)).to.deep.equal({ [CANDIDATE]: 100 });
    await waitFor(
      "the retired version's pool deleted",
      async () => (await getPool(ns, STABLE)) === undefined,
    );
    expect(await poolNames(ns)).to.deep.equal([CANDIDATE]);
    // Its Deployment stays at 0 for a fast rollback.
    expect((await deployments(ns, NAME)).get(STABLE)?.spec?.replicas).to.equal(0);
  });

  it("the API server refuses an endpoint picker shared by every pool (no {{pool}} in its name)", async () => {
    const err = await applyMd(ns, { ...spec("2.0.0", "shared-epp"), metadata: { name: "llm-shared" } }).then(
      () => undefined,
      (e: Error) => e.message,
    );
    expect(err).to.match(/must contain \{\{pool\}\}: an endpoint picker serves one pool/);
    const bad = await applyMd(ns, {
      ...spec("2.0.0", "{{pool}}_EPP"),
      metadata: { name: "llm-shared" },
    }).then(
      () => undefined,
      (e: Error) => e.message,
    );
    expect(bad).to.match(/with \{\{pool\}\} in it, must otherwise be a DNS label/);
  });

  it("deleting the ModelDeployment garbage-collects its pool and its route", async () => {
    await kubectl(["-n", ns, "delete", "md", NAME, "--wait=true"]);
    await waitFor("the pool and the route collected", async () => {
      const route = await getRoute(ns).catch(() => undefined);
      return (await poolNames(ns)).length === 0 && route === undefined;
    });
  });
});
