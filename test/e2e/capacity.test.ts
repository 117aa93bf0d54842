// maxSurge and maxUnavailable against the real control plane: a 4-replica canary in the swap
// mode (maxSurge 0, maxUnavailable 1), through a managed HTTPRoute and by replica ratio, with
// every pod and Deployment of the namespace watched from the start, so that the test sees
// each moment the API server saw: the pods of both versions never exceed 4, and the rollout
// completes. The API server refuses maxSurge and maxUnavailable both 0.
//   bash hack/run.sh test-e2e test/e2e/capacity.test.ts
import { expect } from "chai";
import {
  acceptRoute as accept,
  CapacityWatch,
  replicasOf as replicas,
  splitOf as split,
} from "../support/capacity.ts";
import { installGatewayApiCrds } from "../support/gateway-api.ts";
import { createNamespace, kubectl, tool, waitFor } from "../support/kube.ts";
import { applyMd, isReady, modelDeployment, waitForMd } from "../support/md.ts";
import { startOperator, type OperatorProcess } from "../support/operator.ts";

const NAME = "gpu";
const STABLE = "gpu-1-0-0";
const CANDIDATE = "gpu-2-0-0";
const traffic = {
  gatewayAPI: { httpRoute: { parentRefs: [{ name: "inference-gateway", sectionName: "http" }] } },
};
const steps = [{ setWeight: 25 }, { pause: {} }, { setWeight: 50 }, { pause: {} }];

const annotate = (ns: string, action: string) =>
  kubectl(["-n", ns, "annotate", "md", NAME, `mlops.dev/action=${action}`, "--overwrite"]);

const acceptRoute = (ns: string) => accept(ns, NAME);
const replicasOf = (ns: string) => replicas(ns, NAME);
const splitOf = (ns: string) => split(ns, NAME);

const spec = (version: string, routed: boolean) =>
  modelDeployment(NAME, {
    version,
    replicas: 4,
    strategy: { canary: { maxSurge: 0, maxUnavailable: 1, steps } },
    extra: routed ? { traffic } : {},
  });

/** The canary of 2.0.0 from step to step to its promotion, the pods watched all along. */
async function walkSwapCanary(ns: string, routed: boolean): Promise<CapacityWatch> {
  const watch = await CapacityWatch.start(ns, NAME);
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
