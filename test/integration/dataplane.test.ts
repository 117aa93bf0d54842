// The test harness's real Gateway API data plane (test/support/dataplane.ts): Envoy Gateway
// and Envoy in a loopback-only network namespace, routing real HTTP requests to test servers
// bound to the Services' ClusterIPs there. The routes are written by hand here, as the
// operator will write them (backendRefs naming the per-version Services), applied to the
// real API server with the pinned Gateway API CRDs (so they are valid HTTPRoutes), and
// read back from it before the data plane gets them.
//   bash hack/run.sh test-e2e test/integration/dataplane.test.ts
import { readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { expect } from "chai";
import { DataPlane, type HTTPRoute, type Services } from "../support/dataplane.ts";
import { NonLoopbackAddressError } from "../support/dataplane-objects.ts";
import { installGatewayApiCrds } from "../support/gateway-api.ts";
import { createNamespace, kubectl, kubectlJson } from "../support/kube.ts";

const STABLE = "fraud-detector-1-0-0";
const CANDIDATE = "fraud-detector-2-0-0";
const SHADOW = "fraud-detector-3-0-0";
// ClusterIPs of the test ground's loopback Service range (127.96.0.0/16).
const services: Services = {
  [STABLE]: { clusterIP: "127.96.18.10", port: 80, version: "1.0.0" },
  [CANDIDATE]: { clusterIP: "127.96.18.20", port: 80, version: "2.0.0" },
  [SHADOW]: { clusterIP: "127.96.18.30", port: 80, version: "3.0.0" },
};
const HOST = "fraud-detector.models.example";

type Rule = NonNullable<HTTPRoute["spec"]["rules"]>[number];

function route(namespace: string, rules: Rule[]): HTTPRoute {
  return {
    apiVersion: "gateway.networking.k8s.io/v1",
    kind: "HTTPRoute",
    metadata: { name: "fraud-detector", namespace },
    spec: {
      parentRefs: [{ name: "inference-gateway", sectionName: "http" }],
      hostnames: [HOST],
      rules,
    },
  };
}

const split = (stable: number, candidate: number): Rule => ({
  name: "split",
  backendRefs: [
    { name: STABLE, port: 80, weight: stable },
    { name: CANDIDATE, port: 80, weight: candidate },
  ],
});

const dataPlaneDirs = () => readdirSync(tmpdir()).filter((d) => d.startsWith("mro-dataplane-"));

describe("the Gateway API data plane of the tests (Envoy Gateway in a loopback-only namespace)", function () {
  this.timeout(180000);
  let namespace: { name: string; cleanup: () => Promise<void> };
  let dp: DataPlane | undefined;

  /** Applies the route to the API server and returns what the server holds. */
  async function applied(r: HTTPRoute): Promise<HTTPRoute> {
    await kubectl(["apply", "--server-side", "--field-manager=dataplane-test", "-f", "-"], JSON.stringify(r));
    return kubectlJson<HTTPRoute>(["get", "httproute", r.metadata.name, "-n", namespace.name]);
  }

  before(async () => {
    const crds = await installGatewayApiCrds({ inferencePool: true });
    expect(crds).to.include.members([
      "httproutes.gateway.networking.k8s.io",
      "gateways.gateway.networking.k8s.io",
      "inferencepools.inference.networking.k8s.io",
    ]);
    namespace = await createNamespace("dataplane");
    const first = await applied(route(namespace.name, [split(80, 20)]));
    const t0 = Date.now();
    dp = await DataPlane.start({ route: first, services });
    const memory = await dp.memoryMiB();
    console.log(
      `    [dataplane] started in ${Date.now() - t0} ms; Envoy held the route ${dp.startMs} ms after Envoy Gateway started; ` +
        `memory: envoy-gateway ${memory.envoyGateway.toFixed(0)} MiB, envoy ${memory.envoy.toFixed(0)} MiB`,
    );
  });

  after(async () => {
    await dp?.stop();
    await namespace?.cleanup();
  });

  it("runs in a network namespace whose only interface is loopback, with Envoy's listener there", async () => {
    const { interfaces, listening } = await dp!.network();
    expect(interfaces.map((i) => i.name)).to.deep.equal(["lo"]);
    expect(interfaces[0]!.addresses).to.include("127.0.0.1/8");
    // Envoy's listener binds all interfaces: this namespace's only. Beside it: Envoy
    // Gateway's admin port and the test servers on the Services' ClusterIPs.
    expect(listening).to.include.members([
      "0.0.0.0:8080",
      "127.0.0.1:19000",
      "127.96.18.10:80",
      "127.96.18.20:80",
    ]);
  });

  it("at 80/20 sends 20% ± 4% of 1000 requests to the candidate, as Envoy's weights say", async () => {
    await dp!.setRoute(await applied(route(namespace.name, [split(80, 20)])));
    const routes = await dp!.envoyRoutes();
    expect(routes.map((r) => r.backends)).to.deep.equal([{ [STABLE]: 80, [CANDIDATE]: 20 }]);

    const { answers, statuses, errors } = await dp!.send({ count: 1000 });
    console.log(`    [dataplane] 80/20: ${JSON.stringify(answers)}`);
    expect(statuses).to.deep.equal({ 200: 1000 });
    expect(errors).to.equal(0);
    expect(Object.keys(answers).sort()).to.deep.equal(["1.0.0", "2.0.0"]);
    expect(answers["2.0.0"]).to.be.within(160, 240);
  });

  it("at 100/0 sends none to the candidate, and the change reaches Envoy without a restart", async () => {
    await dp!.setRoute(await applied(route(namespace.name, [split(80, 20)])));
    const before = await dp!.pids();
    await dp!.setRoute(await applied(route(namespace.name, [split(100, 0)])));
    console.log(`    [dataplane] 80/20 -> 100/0 reached Envoy in ${dp!.lastUpdateMs} ms`);
    expect(dp!.lastUpdateMs).to.be.below(10000);
    expect(await dp!.pids(), "Envoy Gateway and Envoy keep running").to.deep.equal(before);

    const { answers, statuses } = await dp!.send({ count: 1000 });
    console.log(`    [dataplane] 100/0: ${JSON.stringify(answers)}`);
    expect(statuses).to.deep.equal({ 200: 1000 });
    expect(answers).to.deep.equal({ "1.0.0": 1000 });
  });

  it("sends every request that matches a header rule to the candidate, the others by weight", async () => {
    const cohort: Rule = {
      name: "cohort-beta",
      matches: [{ headers: [{ type: "Exact", name: "x-cohort", value: "beta" }] }],
      backendRefs: [{ name: CANDIDATE, port: 80 }],
    };
    await dp!.setRoute(await applied(route(namespace.name, [cohort, split(100, 0)])));

    const beta = await dp!.send({ count: 200, headers: { "x-cohort": "beta" } });
    const others = await dp!.send({ count: 200, headers: { "x-cohort": "alpha" } });
    const none = await dp!.send({ count: 200 });
    console.log(
      `    [dataplane] header rule: x-cohort=beta ${JSON.stringify(beta.answers)}, ` +
        `x-cohort=alpha ${JSON.stringify(others.answers)}, no header ${JSON.stringify(none.answers)}`,
    );
    expect(beta.answers).to.deep.equal({ "2.0.0": 200 });
    expect(others.answers).to.deep.equal({ "1.0.0": 200 });
    expect(none.answers).to.deep.equal({ "1.0.0": 200 });
  });

  it("copies requests to a mirror backend while clients get answers only from the first two", async () => {
    const mirrored: Rule = {
      ...split(80, 20),
      filters: [{ type: "RequestMirror", requestMirror: { backendRef: { name: SHADOW, port: 80 } } }],
    };
    await dp!.setRoute(await applied(route(namespace.name, [mirrored])));
    const routes = await dp!.envoyRoutes();
    expect(routes.map((r) => r.mirrors)).to.deep.equal([[SHADOW]]);

    const before = await dp!.served();
    const { answers, statuses } = await dp!.send({ count: 500 });
    expect(statuses).to.deep.equal({ 200: 500 });
    expect(Object.keys(answers).sort()).to.deep.equal(["1.0.0", "2.0.0"]);
    expect(answers["2.0.0"]).to.be.within(80, 120);
    const since = async (version: string) =>
      ((await dp!.served())[version]?.requestIds ?? []).slice(before[version]?.requestIds.length ?? 0);
    const answered = new Set([...(await since("1.0.0")), ...(await since("2.0.0"))]);
    expect(answered.size, "each client request reached one of the answering versions once").to.equal(500);
    // A copy is sent beside its request, not before the answer: wait for them, bounded.
    const deadline = Date.now() + 10000;
    while ((await since("3.0.0")).length < 500 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 100));
    const copies = await since("3.0.0");
    console.log(
      `    [dataplane] mirror: clients ${JSON.stringify(answers)}, mirror received ${copies.length} copies`,
    );
    expect(copies).to.have.length(500);
    expect(new Set(copies), "the mirror got a copy of each client request (same x-request-id)").to.deep.equal(
      answered,
    );
  });

  it("refuses a route update to a backend outside loopback, and Envoy keeps the route it had", async () => {
    await dp!.setRoute(await applied(route(namespace.name, [split(80, 20)])));
    const outside = { ...services, [CANDIDATE]: { clusterIP: "10.96.0.20", port: 80 } };
    let refused: unknown;
    await dp!
      .setRoute(await applied(route(namespace.name, [split(50, 50)])), outside)
      .catch((e) => (refused = e));
    expect(refused).to.be.instanceOf(NonLoopbackAddressError);
    expect((await dp!.envoyRoutes()).map((r) => r.backends)).to.deep.equal([
      { [STABLE]: 80, [CANDIDATE]: 20 },
    ]);
  });

  it("refuses a backend address outside loopback before anything starts", async () => {
    const dirs = dataPlaneDirs();
    const outside = { ...services, [CANDIDATE]: { clusterIP: "10.244.1.7", port: 80 } };
    let refused: unknown;
    await DataPlane.start({ route: route(namespace.name, [split(80, 20)]), services: outside }).catch(
      (e) => (refused = e),
    );
    expect(refused).to.be.instanceOf(NonLoopbackAddressError);
    expect((refused as Error).message).to.match(/10\.244\.1\.7, outside 127\.0\.0\.0\/8/);
    expect(dataPlaneDirs(), "no data plane folder was made").to.deep.equal(dirs);
  });

  it("refuses to start when its Envoy is missing, rather than download one", async () => {
    const dirs = dataPlaneDirs();
    let refused: unknown;
    await DataPlane.start({
      route: route(namespace.name, [split(80, 20)]),
      services,
      envoy: "/nonexistent/envoy",
    }).catch((e) => (refused = e));
    expect(refused).to.be.instanceOf(Error);
    expect((refused as Error).message).to.match(
      /Envoy 1\.39\.1 not found at \/nonexistent\/envoy: the data plane never downloads one/,
    );
    expect(dataPlaneDirs(), "no data plane folder was made").to.deep.equal(dirs);
  });
});
