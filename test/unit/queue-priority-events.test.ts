// Which informer events put which key on the work queue, and at which priority
// (src/operator/caches.ts): a user's change goes first, what a relist replays waits behind
// real changes, so does the echo of a low-priority reconcile's write, and an
// EndpointSlice queues its ModelDeployment only when it belongs to the clients' Service.
import { expect } from "chai";
import type { ModelDeployment } from "../../src/api/types.ts";
import { OwnWrites } from "../../src/controller/own-writes.ts";
import {
  childUpdateQueuesOwner,
  CLIENTS_SERVICES,
  modelKeyOfSlice,
  priorityOf,
  priorityOfCreate,
  priorityOfUpdate,
} from "../../src/operator/caches.ts";
import { childLabels } from "../../src/plan/children.ts";

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

  it("queues a ModelDeployment for a child's change, not for a child unchanged in a relist", () => {
    expect(childUpdateQueuesOwner("resync")).to.equal(false);
    for (const origin of ["watch", "list", "initial", undefined] as const)
      expect(childUpdateQueuesOwner(origin), String(origin)).to.equal(true);
  });

  const md = (resourceVersion: string, generation = 1, action?: string) =>
    ({
      metadata: {
        namespace: "ns",
        name: "fraud",
        resourceVersion,
        generation,
        ...(action ? { annotations: { "mlops.dev/action": action } } : {}),
      },
    }) as unknown as ModelDeployment;

  it("gives the echo of the operator's own write the priority of the reconcile that made it, once", () => {
    const before = md("10");
    const own = new OwnWrites();
    // A passing measurement's reconcile (low) wrote status: resourceVersion 11.
    own.record("ns/fraud", "11", "low");
    expect(priorityOfUpdate(before, md("11"), "watch", own)).to.equal("low");
    // The same object seen again (a relist that found it changed since) is no echo any more.
    expect(priorityOfUpdate(before, md("11"), "list", own)).to.equal("normal");
    // Someone else's write of the status after the write, or before its answer came: normal.
    own.record("ns/fraud", "12", "low");
    expect(priorityOfUpdate(before, md("13"), "watch", own)).to.equal("normal");
    // A write of a normal reconcile (a decision) brings its next step at once.
    own.record("ns/fraud", "14", "normal");
    expect(priorityOfUpdate(before, md("14"), "watch", own)).to.equal("normal");
    // The echo of a user's change's reconcile is the rollout's progress: normal, not high.
    own.record("ns/fraud", "15", "high");
    expect(priorityOfUpdate(before, md("15"), "watch", own)).to.equal("normal");
    expect(own.size).to.equal(0);
    // Without the record: by origin.
    expect(priorityOfUpdate(before, md("15"), "resync", undefined)).to.equal("low");
    own.record("ns/fraud", "16", "low");
    own.forget("ns/fraud");
    expect(priorityOfUpdate(before, md("16"), "watch", own)).to.equal("normal");
  });

  it("gives a user's change high priority: a new spec or a new action, not the action's removal", () => {
    const before = md("10");
    expect(priorityOfUpdate(before, md("11", 2), "watch", undefined)).to.equal("high");
    expect(priorityOfUpdate(before, md("11", 2), "list", undefined)).to.equal("high");
    expect(priorityOfUpdate(before, md("11", 1, "promote"), "watch", undefined)).to.equal("high");
    // The operator removes a done action: status-like, normal.
    expect(priorityOfUpdate(md("11", 1, "promote"), md("12"), "watch", undefined)).to.equal("normal");
    // A relist's replay of an object stays low whatever it holds.
    expect(priorityOfUpdate(before, md("11", 2), "resync", undefined)).to.equal("low");
    // A ModelDeployment created while the operator runs is a user's change; one of the
    // first list is not.
    expect(priorityOfCreate("watch")).to.equal("high");
    expect(priorityOfCreate(undefined)).to.equal("high");
    expect(priorityOfCreate("initial")).to.equal("low");
  });

  it("caches the slices of the clients' Services only: the selector matches their labels, not a version's or the preview's", () => {
    const md = { metadata: { name: "fraud", namespace: "ns" } } as unknown as ModelDeployment;
    const matches = (labels: Record<string, string>) =>
      CLIENTS_SERVICES.split(",").every((term) => {
        const [k, v] = term.split("=");
        return labels[k!] === v;
      });
    expect(matches(childLabels(md, "clients"))).to.equal(true);
    expect(matches(childLabels(md, "version", "1.0.0"))).to.equal(false);
    expect(matches(childLabels(md, "preview"))).to.equal(false);
  });

  it("queues a ModelDeployment for its clients' Service's slices, nothing for a version's own Service", () => {
    const models = new Set(["ns/fraud"]);
    const isModel = (ns: string, name: string) => models.has(`${ns}/${name}`);
    expect(modelKeyOfSlice(slice("fraud"), isModel)).to.equal("ns/fraud");
    expect(modelKeyOfSlice(slice("fraud-1-0-0"), isModel)).to.equal(undefined);
    expect(modelKeyOfSlice({ metadata: { namespace: "ns", name: "x" } }, isModel)).to.equal(undefined);
  });
});
