// Which informer events put which key on the work queue, and at which priority
// (src/operator/caches.ts): a user's change goes first, what a relist replays waits behind
// real changes, so does the echo of a low-priority reconcile's write, and an
// EndpointSlice queues its ModelDeployment only when it belongs to the clients' Service.
import { expect } from "chai";
import type { ModelDeployment } from "../../src/api/types.ts";
import type { EventHandlers, EventOrigin } from "../../src/controller/informer.ts";
import { OwnWrites } from "../../src/controller/own-writes.ts";
import type { WorkQueue } from "../../src/controller/queue.ts";
import { OperatorMetrics } from "../../src/observability/metrics.ts";
import {
  childUpdateQueuesOwner,
  CLIENTS_SERVICES,
  modelKeyOfSlice,
  routeEvents,
  type Caches,
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

    // Through routeEvents, as the informers call it: each kind's handlers, a recording queue.
    const handlers = new Map<string, EventHandlers<unknown>[]>();
    const kind = (name: string) => ({
      addEventHandler: (h: EventHandlers<unknown>) => handlers.set(name, [...(handlers.get(name) ?? []), h]),
      get: () => ({ metadata: { namespace: "ns", name: "fraud" } }),
    });
    const caches = {
      modelDeployments: kind("md"),
      deployments: kind("deployments"),
      services: kind("services"),
      endpointSlices: kind("slices"),
    } as unknown as Caches;
    const queued: string[] = [];
    const queue = {
      add: (key: string, priority: string) => queued.push(`${key} ${priority}`),
    } as unknown as WorkQueue;
    routeEvents(caches, queue, new OperatorMetrics({ processMetrics: false }), () => true);
    const owned = {
      metadata: {
        namespace: "ns",
        name: "fraud-v1",
        ownerReferences: [{ controller: true, kind: "ModelDeployment", name: "fraud" }],
      },
    };
    const update = (name: string, origin: EventOrigin) => {
      for (const h of handlers.get(name) ?? []) h.update?.(owned, owned, origin);
    };
    for (const name of ["deployments", "services"]) {
      update(name, "resync");
      expect(queued, `${name}: unchanged in a relist`).to.deep.equal([]);
      update(name, "list");
      update(name, "watch");
      expect(queued.splice(0), `${name}: changed`).to.deep.equal(["ns/fraud normal", "ns/fraud normal"]);
    }
    const clientsSlice = {
      metadata: { namespace: "ns", name: "fraud-abcde", labels: { "kubernetes.io/service-name": "fraud" } },
    };
    for (const h of handlers.get("slices") ?? []) h.update?.(clientsSlice, clientsSlice, "resync");
    expect(queued, "a slice unchanged in a relist").to.deep.equal([]);
    for (const h of handlers.get("slices") ?? []) h.update?.(clientsSlice, clientsSlice, "list");
    expect(queued.splice(0), "a slice changed").to.deep.equal(["ns/fraud normal"]);
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
