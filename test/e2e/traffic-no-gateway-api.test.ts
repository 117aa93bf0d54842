// spec.traffic in a cluster that does not serve the Gateway API: a control plane of this
// file's own (the shared test control plane gets the Gateway API CRDs from other tests), so
// that "the CRDs are missing" is true here. The stable version keeps serving through the
// clients' Service, the rollout waits with a condition and an Event that say why, nothing
// crashes; once the CRDs are installed the operator notices without a restart, writes the
// route and carries on.
//   bash hack/run.sh test-e2e test/e2e/traffic-no-gateway-api.test.ts
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { startCluster, type Cluster } from "../cluster/cluster.ts";
import type { HTTPRoute } from "../support/dataplane.ts";
import { installGatewayApiCrds } from "../support/gateway-api.ts";
import { kubectl, kubectlJson, toolsBin, waitFor } from "../support/kube.ts";
import {
  applyMd,
  condition,
  deployments,
  isReady,
  mdEvents,
  modelDeployment,
  waitForMd,
} from "../support/md.ts";
import { startOperator, type OperatorProcess } from "../support/operator.ts";

const ROOT = join(import.meta.dirname, "..", "..");
const NS = "models";
const NAME = "fraud";

const spec = (version: string) =>
  modelDeployment(NAME, {
    version,
    replicas: 4,
    strategy: { canary: { steps: [{ setWeight: 20 }, { pause: {} }] } },
    extra: {
      traffic: { gatewayAPI: { httpRoute: { parentRefs: [{ name: "inference-gateway" }] } } },
    },
  });

describe("spec.traffic in a cluster without the Gateway API", function () {
  this.timeout(300_000);
  let cluster: Cluster | undefined;
  let work: string | undefined;
  let operator: OperatorProcess | undefined;
  // Read when the tests run, not when the file is loaded: the global fixture sets it in between.
  let savedKubeconfig: string | undefined;

  before(async () => {
    savedKubeconfig = process.env.KUBECONFIG;
    work = mkdtempSync(join(tmpdir(), "mro-no-gateway-api-"));
    cluster = await startCluster({ dir: join(work, "cluster"), binDir: toolsBin(), nodes: 2 });
    // test/support's kubectl helpers and the operator read it.
    process.env.KUBECONFIG = cluster.kubeconfig;
    await kubectl(["apply", "--server-side", "-f", join(ROOT, "crds")]);
    await kubectl(["wait", "--for=condition=Established", "crd/modeldeployments.mlops.dev"]);
    await kubectl(["create", "namespace", NS]);
    operator = await startOperator({ env: { KUBECONFIG: cluster.kubeconfig } });
  });

  after(async () => {
    await operator?.stop();
    if (savedKubeconfig === undefined) delete process.env.KUBECONFIG;
    else process.env.KUBECONFIG = savedKubeconfig;
    await cluster?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it("keeps the stable version serving and holds the rollout with a clear condition, then carries on once the CRDs are installed", async () => {
    await applyMd(NS, spec("1.0.0"));
    const first = await waitForMd(NS, NAME, "1.0.0 Ready", isReady);
    const missing = condition(first, "TrafficRouted");
    expect(missing).to.include({ status: "False", reason: "GatewayAPIMissing" });
    expect(missing?.message).to.match(
      /the Gateway API \(httproutes.gateway.networking.k8s.io\/v1\) is not installed in the cluster, so the HTTPRoute fraud of spec.traffic cannot be written: the stable version keeps all traffic through the Service fraud/,
    );
    await waitFor("a TrafficNotRouted Event", async () =>
      (await mdEvents(NS, NAME)).some(
        (e) => e.reason === "TrafficNotRouted" && /not installed/.test(e.message ?? ""),
      ),
    );

    await applyMd(NS, spec("2.0.0"));
    const held = await waitForMd(
      NS,
      NAME,
      "2.0.0 rolling out, held",
      (m) => m.status?.candidateVersion === "2.0.0",
    );
    // Several reconciles later it still waits at step 0, with the clients on 1.0.0 alone.
    await waitFor(
      "the candidate's pod up",
      async () => (await deployments(NS, NAME)).get("fraud-2-0-0")?.status?.readyReplicas === 1,
    );
    const still = await waitForMd(
      NS,
      NAME,
      "status with the candidate's pod",
      (m) => (m.status?.traffic?.length ?? 0) === 2,
    );
    expect(still.status?.currentStep ?? 0).to.equal(0);
    expect(still.status?.message).to.match(/^held: the Gateway API/);
    expect(still.status?.traffic?.map((t) => [t.version, t.weight])).to.deep.equal([
      ["1.0.0", 100],
      ["2.0.0", 0],
    ]);
    const clients = await kubectlJson<{ spec: { selector: Record<string, string> } }>([
      "-n",
      NS,
      "get",
      "svc",
      NAME,
    ]);
    expect(clients.spec.selector["mlops.dev/version"]).to.equal("1.0.0");
    expect(held.status?.stableVersion).to.equal("1.0.0");
    expect(operator!.logs()).to.not.match(/reconcile failed/);

    // The CRDs arrive: the operator notices on its own, writes the route, and the rollout goes on
    // once the parent accepts it.
    await installGatewayApiCrds();
    const route = await waitFor(
      "the route written",
      () => kubectlJson<HTTPRoute>(["-n", NS, "get", "httproute", NAME]).catch(() => undefined),
      { timeoutMs: 90_000, intervalMs: 500 },
    );
    const weights = Object.fromEntries(
      (route.spec.rules?.find((r) => r.name === "split")?.backendRefs ?? []).map((b) => [b.name, b.weight]),
    );
    expect(weights).to.deep.equal({ "fraud-1-0-0": 80, "fraud-2-0-0": 20 });
    const now = new Date().toISOString().replace(/\.\d+Z$/, "Z");
    const accepted = (type: string) => ({
      type,
      status: "True",
      reason: type,
      message: "",
      lastTransitionTime: now,
      observedGeneration: 1,
    });
    await kubectl([
      "-n",
      NS,
      "patch",
      "httproute",
      NAME,
      "--subresource=status",
      "--type=merge",
      "-p",
      JSON.stringify({
        status: {
          parents: [
            {
              parentRef: { name: "inference-gateway" },
              controllerName: "example.net/gateway",
              conditions: [accepted("Accepted"), accepted("ResolvedRefs")],
            },
          ],
        },
      }),
    ]);
    const on = await waitForMd(
      NS,
      NAME,
      "paused at 20% through the route, the route routed",
      // The condition may land one status write after the step: the route's status reaches
      // the operator's cache on its own watch event.
      (m) =>
        m.status?.currentStep === 1 &&
        m.status?.candidateWeight === 20 &&
        condition(m, "TrafficRouted")?.status === "True",
    );
    expect(condition(on, "TrafficRouted")?.reason).to.equal("TrafficRouted");
  });
});
