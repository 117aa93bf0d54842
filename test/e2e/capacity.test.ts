// maxSurge and maxUnavailable against the real control plane: a 4-replica canary in the swap
// mode (maxSurge 0, maxUnavailable 1), through a managed HTTPRoute and by replica ratio, with
// every pod and Deployment of the namespace watched from the start, so that the test sees
// each moment the API server saw: the pods of both versions never exceed 4, and the rollout
// completes. The API server refuses maxSurge and maxUnavailable both 0.
//   bash hack/run.sh test-e2e test/e2e/capacity.test.ts
import * as k8s from "@kubernetes/client-node";
import { expect } from "chai";
import { installGatewayApiCrds } from "../support/gateway-api.ts";
import { createNamespace, kubeConfig, kubectl, kubectlJson, tool, waitFor } from "../support/kube.ts";
import { applyMd, deployments, isReady, modelDeployment, waitForMd } from "../support/md.ts";
import { startOperator, type OperatorProcess } from "../support/operator.ts";

const NAME = "gpu";
const STABLE = "gpu-1-0-0";
const CANDIDATE = "gpu-2-0-0";
const traffic = {
  gatewayAPI: { httpRoute: { parentRefs: [{ name: "inference-gateway", sectionName: "http" }] } },
};
const steps = [{ setWeight: 25 }, { pause: {} }, { setWeight: 50 }, { pause: {} }];

interface Meta {
  metadata: { name: string; deletionTimestamp?: string; labels?: Record<string, string> };
  spec?: { replicas?: number };
  status?: { replicas?: number };
}

/**
 * Watches the pods and Deployments of a namespace and keeps the largest totals it saw: pods
 * of the model that are not being deleted (what a Deployment's maxSurge counts), every pod
 * of the model, and the Deployments' replicas added up.
 */
class CapacityWatch {
  private pods = new Map<string, Meta>();
  private deps = new Map<string, Meta>();
  private aborts: AbortController[] = [];
  maxPods = 0;
  maxPodsWithTerminating = 0;
  maxReplicas = 0;

  static async start(ns: string): Promise<CapacityWatch> {
    const w = new CapacityWatch();
    const watch = new k8s.Watch(kubeConfig());
    const on = (into: Map<string, Meta>) => (type: string, obj: Meta) => {
      if (obj.metadata.labels?.["mlops.dev/model"] !== NAME) return;
      if (type === "DELETED") into.delete(obj.metadata.name);
      else into.set(obj.metadata.name, obj);
      w.sample();
    };
    const done = () => {};
    w.aborts.push(await watch.watch(`/api/v1/namespaces/${ns}/pods`, {}, on(w.pods), done));
    w.aborts.push(await watch.watch(`/apis/apps/v1/namespaces/${ns}/deployments`, {}, on(w.deps), done));
    return w;
  }

  private sample(): void {
    const live = [...this.pods.values()].filter((p) => p.metadata.deletionTimestamp === undefined).length;
    this.maxPods = Math.max(this.maxPods, live);
    this.maxPodsWithTerminating = Math.max(this.maxPodsWithTerminating, this.pods.size);
    const replicas = [...this.deps.values()].reduce((sum, d) => sum + (d.spec?.replicas ?? 0), 0);
    this.maxReplicas = Math.max(this.maxReplicas, replicas);
  }

  /** Pods of each Deployment (by the name prefix the ReplicaSet gives them), not being deleted. */
  podsOf(deployment: string): number {
    return [...this.pods.values()].filter(
      (p) => p.metadata.deletionTimestamp === undefined && p.metadata.name.startsWith(`${deployment}-`),
    ).length;
  }

  /** Forget the maxima (the first version's own rollout is not the canary's). */
  reset(): void {
    this.maxPods = this.maxPodsWithTerminating = this.maxReplicas = 0;
    this.sample();
  }

  stop(): void {
    for (const a of this.aborts) a.abort();
  }
}

const annotate = (ns: string, action: string) =>
  kubectl(["-n", ns, "annotate", "md", NAME, `mlops.dev/action=${action}`, "--overwrite"]);

const replicasOf = async (ns: string) =>
  Object.fromEntries([...(await deployments(ns, NAME))].map(([n, d]) => [n, d.spec.replicas]));

async function acceptRoute(ns: string): Promise<void> {
  await waitFor("the route", () => kubectlJson(["-n", ns, "get", "httproute", NAME]).catch(() => undefined));
  const now = new Date().toISOString().replace(/\.\d+Z$/, "Z");
  const cond = (type: string) => ({
    type,
    status: "True",
    reason: type,
    message: "",
    lastTransitionTime: now,
  });
  const status = {
    parents: [
      {
        parentRef: {
          group: "gateway.networking.k8s.io",
          kind: "Gateway",
          name: "inference-gateway",
          sectionName: "http",
        },
        controllerName: "gateway.envoyproxy.io/gatewayclass-controller",
        conditions: [cond("Accepted"), cond("ResolvedRefs")],
      },
    ],
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

const splitOf = async (ns: string) => {
  const r = await kubectlJson<{
    spec: { rules?: { name?: string; backendRefs?: { name: string; weight?: number }[] }[] };
  }>(["-n", ns, "get", "httproute", NAME]);
  return Object.fromEntries(
    (r.spec.rules?.find((x) => x.name === "split")?.backendRefs ?? []).map((b) => [b.name, b.weight]),
  );
};

const spec = (version: string, routed: boolean) =>
  modelDeployment(NAME, {
    version,
    replicas: 4,
    strategy: { canary: { maxSurge: 0, maxUnavailable: 1, steps } },
    extra: routed ? { traffic } : {},
  });

/** The canary of 2.0.0 from step to step to its promotion, the pods watched all along. */
async function walkSwapCanary(ns: string, routed: boolean): Promise<CapacityWatch> {
  const watch = await CapacityWatch.start(ns);
  try {
    await applyMd(ns, spec("1.0.0", routed));
    if (routed) await acceptRoute(ns);
    await waitForMd(ns, NAME, "1.0.0 Ready", isReady);
    watch.reset();
    await applyMd(ns, spec("2.0.0", routed));
    // The swap: a stable pod goes before the candidate's comes, and status says what it costs.
    const swapping = await waitForMd(
      ns,
      NAME,
      "status.capacity during the swap",
      (m) => m.status?.capacity !== undefined,
    );
    expect(swapping.status?.capacity).to.include({ maxPods: 4, minReadyPods: 3 });
    const first = await waitForMd(
      ns,
      NAME,
      "paused at step 1 with 25%",
      (m) => m.status?.currentStep === 1 && m.status?.candidateWeight === 25,
    );
    expect(await replicasOf(ns)).to.deep.equal({ [STABLE]: 3, [CANDIDATE]: 1 });
    if (routed) {
      expect(await splitOf(ns)).to.deep.equal({ [STABLE]: 75, [CANDIDATE]: 25 });
      expect(first.status?.capacity).to.include({ pods: 4, readyPods: 4, unavailable: 0 });
    }
    console.log(
      `    [capacity] ${routed ? "route" : "replica ratio"} at 25%: ${JSON.stringify(first.status?.capacity)}`,
    );
    await annotate(ns, "promote");
    await waitForMd(
      ns,
      NAME,
      "paused at step 3 with 50%",
      (m) => m.status?.currentStep === 3 && m.status?.candidateWeight === 50,
    );
    expect(await replicasOf(ns)).to.deep.equal({ [STABLE]: 2, [CANDIDATE]: 2 });
    await annotate(ns, "promote");
    const done = await waitForMd(
      ns,
      NAME,
      "2.0.0 stable and Ready",
      (m) => isReady(m) && m.status?.stableVersion === "2.0.0",
      120_000,
    );
    expect(done.status?.capacity).to.equal(undefined);
    await waitFor(
      "the old version's pods gone",
      async () => watch.podsOf(STABLE) === 0 && watch.podsOf(CANDIDATE) === 4,
    );
    expect(await replicasOf(ns)).to.deep.equal({ [STABLE]: 0, [CANDIDATE]: 4 });
    return watch;
  } finally {
    watch.stop();
  }
}

describe("capacity: maxSurge and maxUnavailable against the real control plane", function () {
  this.timeout(300_000);
  let operator: OperatorProcess;
  let ns: string;
  let cleanup: () => Promise<void>;

  before(async () => {
    await installGatewayApiCrds();
    operator = await startOperator();
  });
  after(async () => {
    await operator?.stop();
  });
  beforeEach(async function () {
    ({ name: ns, cleanup } = await createNamespace(this.currentTest?.title.slice(0, 20) ?? "capacity"));
  });
  afterEach(async () => cleanup());

  it("the API server refuses maxSurge and maxUnavailable both 0, a percentage above 100%, and replicas without a route", async () => {
    const refused = async (canary: Record<string, unknown>, extra: Record<string, unknown> = {}) => {
      const md = modelDeployment("bad", { version: "1.0.0", strategy: { canary }, extra });
      const res = await tool("kubectl", ["-n", ns, "apply", "-f", "-"], JSON.stringify(md));
      expect(res.code, res.stdout).to.not.equal(0);
      return res.stderr;
    };
    expect(await refused({ maxSurge: 0, maxUnavailable: "0%", steps })).to.match(
      /maxSurge and maxUnavailable cannot both be 0/,
    );
    expect(await refused({ maxSurge: "150%", steps })).to.match(
      /must be a number >= 0 or a percentage from 0% to 100%/,
    );
    expect(await refused({ steps: [{ setWeight: 25, replicas: 2 }] })).to.match(
      /replicas on a setWeight step needs spec.traffic/,
    );
    expect(await refused({ steps: [{ pause: {}, replicas: 2 }] }, { traffic })).to.match(
      /replicas goes with setWeight/,
    );
    const ok = modelDeployment("ok", {
      version: "1.0.0",
      strategy: { canary: { maxSurge: "25%", maxUnavailable: 1, steps } },
    });
    await applyMd(ns, ok);
  });

  it("swap mode through a managed HTTPRoute: never more than 4 pods, one pod swapped at a time, the rollout completes", async () => {
    const watch = await walkSwapCanary(ns, true);
    console.log(
      `    [capacity] route: most pods ${watch.maxPods} (with terminating ${watch.maxPodsWithTerminating}), most replicas ${watch.maxReplicas}`,
    );
    expect(watch.maxPods).to.be.at.most(4);
    expect(watch.maxReplicas).to.be.at.most(4);
  });

  it("swap mode by replica ratio (no route): the same bounds, and the rollout completes", async () => {
    const watch = await walkSwapCanary(ns, false);
    console.log(
      `    [capacity] replica ratio: most pods ${watch.maxPods} (with terminating ${watch.maxPodsWithTerminating}), most replicas ${watch.maxReplicas}`,
    );
    expect(watch.maxPods).to.be.at.most(4);
    expect(watch.maxReplicas).to.be.at.most(4);
  });
});
