// Which informer events put which key on the work queue, and at which priority
// (src/operator/caches.ts): what a relist replays waits behind real changes, and an
// EndpointSlice queues its ModelDeployment only when it belongs to the clients' Service.
import { expect } from "chai";
import type { ModelDeployment } from "../../src/api/types.ts";
import { modelKeyOfSlice, priorityOf, priorityOfUpdate } from "../../src/operator/caches.ts";

const slice = (service: string) => ({
  metadata: { namespace: "ns", name: `${service}-abcde`, labels: { "kubernetes.io/service-name": service } },
});

describe("queue keys of informer events", () => {
  it("gives the first list and unchanged objects of a relist low priority, every change normal", () => {
    expect(priorityOf("initial")).to.equal("low");
    expect(priorityOf("resync")).to.equal("low");
    expect(priorityOf("watch")).to.equal("normal");
    expect(priorityOf("list")).to.equal("normal");
    expect(priorityOf(undefined)).to.equal("normal");
  });

  it("gives an update of the status alone (the echo of the operator's own write) low priority, any other change normal", () => {
    const md = (over: Partial<ModelDeployment["metadata"]> = {}, phase = "Progressing"): ModelDeployment =>
      ({
        apiVersion: "mlops.dev/v1alpha1",
        kind: "ModelDeployment",
        metadata: {
          namespace: "ns",
          name: "fraud",
          generation: 3,
          resourceVersion: "10",
          labels: { team: "risk" },
          annotations: { note: "a" },
          ...over,
        },
        spec: { model: { name: "fraud", version: "1.0.0", image: "img" } },
        status: { phase },
      }) as unknown as ModelDeployment;
    const old = md();
    expect(priorityOfUpdate(old, md({ resourceVersion: "11" }, "Ready"))).to.equal("low");
    expect(priorityOfUpdate(old, md({ generation: 4, resourceVersion: "11" }))).to.equal("normal");
    const promote = { note: "a", "mlops.dev/action": "promote" };
    expect(priorityOfUpdate(old, md({ annotations: promote }))).to.equal("normal");
    expect(priorityOfUpdate(old, md({ labels: { team: "risk", shard: "b" } }))).to.equal("normal");
    const deleted = md({ deletionTimestamp: new Date("2026-12-01T00:00:00Z") });
    expect(priorityOfUpdate(old, deleted)).to.equal("normal");
    expect(priorityOfUpdate(old, md({ finalizers: ["x"] }))).to.equal("normal");
    // A relist that found a spec change is normal; one that found the object unchanged, low.
    expect(priorityOfUpdate(old, md({ generation: 4 }), "list")).to.equal("normal");
    expect(priorityOfUpdate(old, md(), "resync")).to.equal("low");
  });

  it("queues a ModelDeployment for its clients' Service's slices, nothing for a version's own Service", () => {
    const models = new Set(["ns/fraud"]);
    const isModel = (ns: string, name: string) => models.has(`${ns}/${name}`);
    expect(modelKeyOfSlice(slice("fraud"), isModel)).to.equal("ns/fraud");
    expect(modelKeyOfSlice(slice("fraud-1-0-0"), isModel)).to.equal(undefined);
    expect(modelKeyOfSlice({ metadata: { namespace: "ns", name: "x" } }, isModel)).to.equal(undefined);
  });
});
