// Which informer events put which key on the work queue, and at which priority
// (src/operator/caches.ts): what a relist replays waits behind real changes, and an
// EndpointSlice queues its ModelDeployment only when it belongs to the clients' Service.
import { expect } from "chai";
import { modelKeyOfSlice, priorityOf } from "../../src/operator/caches.ts";

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

  it("queues a ModelDeployment for its clients' Service's slices, nothing for a version's own Service", () => {
    const models = new Set(["ns/fraud"]);
    const isModel = (ns: string, name: string) => models.has(`${ns}/${name}`);
    expect(modelKeyOfSlice(slice("fraud"), isModel)).to.equal("ns/fraud");
    expect(modelKeyOfSlice(slice("fraud-1-0-0"), isModel)).to.equal(undefined);
    expect(modelKeyOfSlice({ metadata: { namespace: "ns", name: "x" } }, isModel)).to.equal(undefined);
  });
});
