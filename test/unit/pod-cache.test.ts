// The pods behind the readiness gate (controller/pod-cache.ts): no pod is listed or watched
// until a ModelDeployment uses the gate, and the cached pods carry no managedFields.
import { PassThrough } from "node:stream";
import { expect } from "chai";
import type { V1Pod } from "@kubernetes/client-node";
import { PodCache, stripManagedFields } from "../../src/controller/pod-cache.ts";
import type { ListResult, ListWatchSource, WatchEvent } from "../../src/kube/listwatch.ts";
import { createLogger } from "../../src/observability/log.ts";

const settle = async () => {
  for (let i = 0; i < 5; i++) await new Promise<void>((resolve) => setImmediate(resolve));
};

const pod = (name: string): V1Pod => ({
  apiVersion: "v1",
  kind: "Pod",
  metadata: {
    name,
    namespace: "models",
    resourceVersion: "7",
    labels: { "mlops.dev/model": "fraud", "mlops.dev/readiness-gate": "true" },
    managedFields: [
      {
        manager: "kube-controller-manager",
        operation: "Update",
        apiVersion: "v1",
        fieldsType: "FieldsV1",
        fieldsV1: { "f:metadata": { "f:labels": {} } },
      },
      {
        manager: "kubelet",
        operation: "Update",
        apiVersion: "v1",
        fieldsType: "FieldsV1",
        fieldsV1: { "f:status": { "f:conditions": {} } },
        subresource: "status",
      },
    ],
  },
  spec: { containers: [{ name: "server", image: "registry.example/fraud:1" }] },
});

/** An API server with one gated pod; counts the lists and watches asked of it. */
class PodSource implements ListWatchSource<V1Pod> {
  readonly description = "v1 pods (fake)";
  lists = 0;
  watches = 0;
  #emit: ((e: WatchEvent<V1Pod>) => void) | undefined;

  async list(): Promise<ListResult<V1Pod>> {
    this.lists++;
    return { items: [pod("fraud-1-0-0-abc")], resourceVersion: "7" };
  }

  watch(_rv: string, onEvent: (e: WatchEvent<V1Pod>) => void, signal: AbortSignal): Promise<void> {
    this.watches++;
    this.#emit = onEvent;
    return new Promise((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }));
  }

  emit(e: WatchEvent<V1Pod>): void {
    this.#emit?.(e);
  }
}

/** The caches a test opened, stopped after it (also when it fails). */
const opened: PodCache[] = [];

function podCache(source: PodSource) {
  const seen: string[] = [];
  let available = 0;
  const cache = new PodCache({
    source: () => source,
    namespaces: undefined,
    onEvent: (p) => seen.push(p.metadata?.name ?? ""),
    onAvailable: () => available++,
    logger: createLogger({ level: "error", stream: new PassThrough() }),
  });
  opened.push(cache);
  return { cache, seen, available: () => available };
}

describe("the pod cache of the readiness gate", () => {
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((c) => c.stop()));
  });

  it("lists and watches no pod until a ModelDeployment uses the gate", async () => {
    const source = new PodSource();
    const { cache, available } = podCache(source);
    await settle();
    expect([source.lists, source.watches, cache.synced()]).to.deep.equal([0, 0, false]);
    cache.want();
    cache.want();
    await settle();
    expect([source.lists, source.watches, cache.synced(), available()]).to.deep.equal([1, 1, true, 1]);
    expect(cache.byModel.get("models/fraud").map((p) => p.metadata?.name)).to.deep.equal(["fraud-1-0-0-abc"]);
  });

  it("caches pods without managedFields, from the list and from the watch", async () => {
    const source = new PodSource();
    const { cache, seen } = podCache(source);
    cache.want();
    await settle();
    const changed = pod("fraud-2-0-0-def");
    source.emit({
      type: "ADDED",
      object: { ...changed, metadata: { ...changed.metadata, resourceVersion: "8" } },
    });
    await settle();
    const cached = cache.byModel.get("models/fraud");
    expect(cached.map((p) => p.metadata?.name)).to.deep.equal(["fraud-1-0-0-abc", "fraud-2-0-0-def"]);
    for (const p of cached) {
      expect(p.metadata?.managedFields).to.equal(undefined);
      expect(p.metadata?.labels?.["mlops.dev/model"]).to.equal("fraud");
      expect(p.spec?.containers[0]?.name).to.equal("server");
    }
    expect(seen).to.deep.equal(["fraud-1-0-0-abc", "fraud-2-0-0-def"]);
  });

  it("strips a copy: the object given is left as it was", () => {
    const p = pod("p");
    const stripped = stripManagedFields(p);
    expect(stripped.metadata?.managedFields).to.equal(undefined);
    expect(p.metadata?.managedFields).to.have.length(2);
  });
});
