// The HTTPRoute cache (src/controller/route-cache.ts): nothing is listed or watched until a
// ModelDeployment with spec.traffic wants it; a cluster without the Gateway API is asked
// again later; once it serves HTTPRoutes the cache lists them, indexes them by owner and
// says so (onAvailable), and a route event puts its owner on the queue.
import { expect } from "chai";
import type { KubernetesObject } from "@kubernetes/client-node";
import { InformerSet } from "../../src/controller/informer-set.ts";
import { Informer } from "../../src/controller/informer.ts";
import { RouteCache } from "../../src/controller/route-cache.ts";
import type { ListWatchSource } from "../../src/kube/listwatch.ts";
import { createLogger } from "../../src/observability/log.ts";
import { PassThrough } from "node:stream";
import type { HTTPRoute } from "../../src/plan/routers/httproute.ts";

const route: HTTPRoute = {
  apiVersion: "gateway.networking.k8s.io/v1",
  kind: "HTTPRoute",
  metadata: {
    name: "fraud",
    namespace: "models",
    resourceVersion: "5",
    ownerReferences: [
      {
        apiVersion: "mlops.dev/v1alpha1",
        kind: "ModelDeployment",
        name: "fraud",
        uid: "uid-1",
        controller: true,
      },
    ],
  },
  spec: { rules: [] },
};

/** A route someone else owns: no ownerReference, none of the operator's labels. */
const theirs: HTTPRoute = {
  apiVersion: "gateway.networking.k8s.io/v1",
  kind: "HTTPRoute",
  metadata: { name: "storefront", namespace: "models", resourceVersion: "4" },
  spec: { rules: [{ name: "fraud", backendRefs: [] }] },
};

/** A source that lists `items` once and then holds a watch open until aborted. */
function source(items: HTTPRoute[], listed: { n: number }): ListWatchSource<HTTPRoute> {
  return {
    description: "httproutes (fake)",
    list: async () => {
      listed.n++;
      return { items: structuredClone(items), resourceVersion: "5" };
    },
    watch: (_rv, _onEvent, signal) =>
      new Promise<void>((resolve) => signal.addEventListener("abort", () => resolve())),
  };
}

async function until(what: string, cond: () => boolean, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe("RouteCache: HTTPRoutes watched only when wanted and served", () => {
  it("lists nothing until wanted; asks again while the API is missing; then lists, indexes by owner and reports", async () => {
    let served = false;
    let probes = 0;
    const listed = { n: 0 };
    const enqueued: string[] = [];
    let available = 0;
    const cache = new RouteCache({
      logger: createLogger({ level: "error", stream: new PassThrough() }),
      recheckMs: 20,
      probe: async () => {
        probes++;
        return served;
      },
      makeInformers: () =>
        new InformerSet<HTTPRoute>(
          () => new Informer<HTTPRoute>({ source: source([route, theirs], listed) }),
          undefined,
        ),
      onEvent: (r: KubernetesObject) => enqueued.push(`${r.metadata?.namespace}/${r.metadata?.name}`),
      onAvailable: () => available++,
    });
    try {
      await new Promise((r) => setTimeout(r, 30));
      expect(probes, "no ModelDeployment wanted it: not even asked").to.equal(0);
      expect(cache.state()).to.equal("unknown");
      cache.want();
      await until("the first probe", () => probes === 1);
      await until("missing", () => cache.state() === "missing");
      expect(cache.available()).to.equal(false);
      await until("a second probe, later", () => probes >= 2);
      expect(listed.n).to.equal(0);

      served = true;
      await until("available", () => cache.available());
      expect(cache.state()).to.equal("available");
      expect(available).to.equal(1);
      expect(listed.n).to.equal(1);
      expect(cache.byOwner.get("uid-1").map((r) => r.metadata?.name)).to.deep.equal(["fraud"]);
      // A route the user owns (httpRouteRef) is there by name, though no ModelDeployment owns it.
      expect(cache.get("models", "storefront")?.spec?.rules?.[0]?.name).to.equal("fraud");
      expect(cache.get("models", "nope")).to.equal(undefined);
      expect(enqueued).to.deep.equal(["models/fraud", "models/storefront"]);
      const probesThen = probes;
      cache.want();
      await new Promise((r) => setTimeout(r, 40));
      expect(probes, "started: no more probes").to.equal(probesThen);
    } finally {
      await cache.stop();
    }
  });
});
