// An automatic rollback under the capacity bounds, against the real control plane: a 4-replica
// canary in the swap mode (maxSurge 0, maxUnavailable 1) whose health check starts failing at
// 25%, through a managed HTTPRoute and by replica ratio, with every pod, Deployment and status
// of the namespace watched from the start. The clients go back to the stable version first (one
// write of the route; by replica ratio the candidate's pods leave the clients' Service), then
// the stable version comes back to 4 pods as the candidate's go: never more than 4 pods, those
// being deleted counted too, never fewer than 3 ready stable pods, and status.capacity says
// what the move waits for until it is done.
//   bash hack/run.sh test-e2e test/e2e/capacity-abort.test.ts
import * as k8s from "@kubernetes/client-node";
import { expect } from "chai";
import { acceptRoute, CapacityWatch, replicasOf, splitOf } from "../support/capacity.ts";
import { installGatewayApiCrds } from "../support/gateway-api.ts";
import { createNamespace, kubeConfig, waitFor } from "../support/kube.ts";
import {
  applyMd,
  condition,
  isReady,
  modelDeployment,
  operatorWrites,
  waitForMd,
  type Md,
} from "../support/md.ts";
import { FakeModelServer } from "../support/model-server.ts";
import { startOperator, type OperatorProcess } from "../support/operator.ts";

const NAME = "gpu";
const STABLE = "gpu-1-0-0";
const CANDIDATE = "gpu-2-0-0";
const REPLICAS = 4;
const traffic = {
  gatewayAPI: { httpRoute: { parentRefs: [{ name: "inference-gateway", sectionName: "http" }] } },
};

/** Every status.capacity message the API server held after `since`, in order. */
class StatusWatch {
  readonly messages: { at: number; capacity?: string; message?: string }[] = [];
  private abort: AbortController | undefined;

  static async start(ns: string): Promise<StatusWatch> {
    const w = new StatusWatch();
    w.abort = await new k8s.Watch(kubeConfig()).watch(
      `/apis/mlops.dev/v1alpha1/namespaces/${ns}/modeldeployments`,
      {},
      (_type: string, md: Md) => {
        if (md.metadata.name !== NAME) return;
        w.messages.push({
          at: Date.now(),
          capacity: md.status?.capacity?.message,
          message: md.status?.message,
        });
      },
      () => {},
    );
    return w;
  }

  stop(): void {
    this.abort?.abort();
  }
}

describe("capacity: an automatic rollback in the swap mode", function () {
  this.timeout(300_000);
  let operator: OperatorProcess;
  let server: FakeModelServer;
  let ns: string;
  let cleanup: () => Promise<void>;

  before(async () => {
    await installGatewayApiCrds();
    server = await FakeModelServer.start();
    operator = await startOperator();
  });
  after(async () => {
    await operator?.stop();
    await server?.stop();
  });
  beforeEach(async () => {
    ({ name: ns, cleanup } = await createNamespace("capacity-abort"));
    server.setStatus("2.0.0", 200);
  });
  afterEach(async () => cleanup());

  const spec = (version: string, routed: boolean) =>
    modelDeployment(NAME, {
      version,
      replicas: REPLICAS,
      strategy: {
        canary: {
          maxSurge: 0,
          maxUnavailable: 1,
          steps: [{ setWeight: 25 }, { pause: {} }, { setWeight: 50 }],
        },
      },
      healthChecks: {
        interval: "500ms",
        failureThreshold: 2,
        checks: [{ name: "model-ready", http: { url: `${server.url}/{{version}}/ready` } }],
      },
      extra: routed ? { traffic } : {},
    });

  async function rollBackAt25(routed: boolean): Promise<void> {
    const pods = await CapacityWatch.start(ns, NAME);
    const statuses = await StatusWatch.start(ns);
    try {
      await applyMd(ns, spec("1.0.0", routed));
      if (routed) await acceptRoute(ns, NAME);
      await waitForMd(ns, NAME, "1.0.0 Ready", isReady);
      pods.reset();
      await applyMd(ns, spec("2.0.0", routed));
      await waitForMd(
        ns,
        NAME,
        "paused at 25%",
        (m) => m.status?.currentStep === 1 && m.status?.candidateWeight === 25,
      );
      expect(await replicasOf(ns, NAME)).to.deep.equal({ [STABLE]: 3, [CANDIDATE]: 1 });
      if (routed) expect(await splitOf(ns, NAME)).to.deep.equal({ [STABLE]: 75, [CANDIDATE]: 25 });
      await waitFor("the candidate's pod ready", async () => pods.readyOf(CANDIDATE) === 1);

      // The candidate's check starts failing: the rollback.
      const failAt = new Date();
      const sampled = pods.samples.length;
      server.setStatus("2.0.0", 503);
      const rolledBack = await waitForMd(ns, NAME, "rolled back", (m) => m.status?.aborted !== undefined);
      expect(rolledBack.status?.aborted?.reason).to.equal("HealthCheckFailed");
      expect(condition(rolledBack, "Stalled")?.reason).to.equal("HealthCheckFailed");
      const settled = await waitForMd(
        ns,
        NAME,
        "the stable version back at 4 pods, status.capacity gone",
        (m) => m.status?.capacity === undefined && m.status?.traffic?.[0]?.readyEndpoints === REPLICAS,
        120_000,
      );
      expect(settled.status?.traffic?.map((t) => [t.version, t.weight])).to.deep.include(["1.0.0", 100]);
      await waitFor(
        "4 ready pods of 1.0.0, none of 2.0.0",
        async () => pods.readyOf(STABLE) === REPLICAS && pods.podsOf(CANDIDATE) === 0,
      );
      expect(await replicasOf(ns, NAME)).to.deep.equal({ [STABLE]: REPLICAS, [CANDIDATE]: 0 });

      // The clients first, in one write: the route (or, by replica ratio, the candidate's size,
      // which takes its pods out of the clients' Service) before any other child.
      const writes = operatorWrites(failAt).filter(
        (w) =>
          w.objectRef?.namespace === ns &&
          (w.objectRef.resource === "httproutes" || w.objectRef.resource === "deployments"),
      );
      const order = writes.map((w) => `${w.verb} ${w.objectRef?.resource} ${w.objectRef?.name}`);
      console.log(
        `    [abort] ${routed ? "route" : "replica ratio"}: writes after the failure ${JSON.stringify(order)}`,
      );
      if (routed) {
        expect(
          order.filter((w) => w.includes("httproutes")),
          "the route back in one write",
        ).to.deep.equal([`patch httproutes ${NAME}`]);
        expect(order[0], "the route goes back before any pod moves").to.equal(`patch httproutes ${NAME}`);
        expect(await splitOf(ns, NAME)).to.deep.equal({ [STABLE]: 100 });
      } else {
        expect(order[0], "the candidate's pods leave first").to.equal(`patch deployments ${CANDIDATE}`);
      }

      // Within the bounds all along: the pods (those being deleted too) never above 4, the
      // stable version's ready pods never below 3 from the failure on.
      const after = pods.samples.slice(sampled);
      const fewestStable = Math.min(...after.map((s) => s.ready[STABLE] ?? 0));
      console.log(
        `    [abort] ${routed ? "route" : "replica ratio"}: most pods ${pods.maxPods} (with terminating ${pods.maxPodsWithTerminating}), most replicas ${pods.maxReplicas}, fewest ready 1.0.0 pods after the failure ${fewestStable}`,
      );
      expect(pods.maxPodsWithTerminating, "pods, those being deleted too").to.be.at.most(REPLICAS);
      expect(pods.maxReplicas).to.be.at.most(REPLICAS);
      expect(fewestStable, "ready stable pods after the failure").to.be.at.least(REPLICAS - 1);

      // What status said while the stable version came back.
      const said = statuses.messages
        .filter((m) => m.at >= failAt.getTime())
        .map((m) => `${m.message ?? ""} | ${m.capacity ?? ""}`);
      console.log(
        `    [abort] status while the stable version came back: ${JSON.stringify([...new Set(said)])}`,
      );
      expect(
        said.some((c) => /waiting for 1\.0\.0 to grow to 4 pods as pods of the other versions go/.test(c)),
        JSON.stringify(said),
      ).to.equal(true);
    } finally {
      pods.stop();
      statuses.stop();
    }
  }

  it("through a managed route: the route back in one write, then the stable pods within the bounds", async () => {
    await rollBackAt25(true);
  });

  it("by replica ratio: the candidate's pods go first, then the stable pods within the bounds", async () => {
    await rollBackAt25(false);
  });
});
