// Sharding (--watch-label-selector, docs/sharding.md): the selector as the flag takes it, and a
// shard's reconciler against a small in-memory API server: it writes only what its own, only
// after a fresh read finds the ModelDeployment still selected and unchanged, and leaves one
// that arrived from another instance alone for the handoff delay.
import { PassThrough } from "node:stream";
import { expect } from "chai";
import type { KubernetesObject, V1Deployment, V1EndpointSlice, V1Service } from "@kubernetes/client-node";
import { LABEL_SHARD } from "../../src/api/constants.ts";
import {
  LabelSelectorError,
  matchesLabelSelector,
  parseLabelSelector,
} from "../../src/api/label-selector.ts";
import type { ModelDeployment, ModelDeploymentStatus } from "../../src/api/types.ts";
import { ConfigError, parseConfig } from "../../src/config.ts";
import { controllerUid, IndexBy, serviceKeyOfSlice } from "../../src/controller/index-by.ts";
import { deepFreeze } from "../../src/controller/informer.ts";
import { Reconciler } from "../../src/controller/reconciler.ts";
import { DEFAULT_HANDOFF_MS, NotOwnedError, Shard } from "../../src/controller/shard.ts";
import { KubeApiError, type KubeClient } from "../../src/kube/client.ts";
import { userAgent } from "../../src/kube/request.ts";
import { createLogger } from "../../src/observability/log.ts";
import { makeMd } from "./plan-fixtures.ts";

const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;
const KEY = "models/fraud-detector";

describe("label selectors (--watch-label-selector)", () => {
  it("reads the equality, existence and set forms the API server reads", () => {
    expect(parseLabelSelector("mlops.dev/shard=a")).to.deep.equal([
      { key: "mlops.dev/shard", op: "=", value: "a" },
    ]);
    expect(parseLabelSelector(" mlops.dev/shard == a ")).to.deep.equal([
      { key: "mlops.dev/shard", op: "=", value: "a" },
    ]);
    expect(parseLabelSelector("!mlops.dev/shard")).to.deep.equal([{ key: "mlops.dev/shard", op: "!exists" }]);
    expect(parseLabelSelector("tier in (gold, silver),team!=x,canary,env notin (dev)")).to.deep.equal([
      { key: "tier", op: "in", values: ["gold", "silver"] },
      { key: "team", op: "!=", value: "x" },
      { key: "canary", op: "exists" },
      { key: "env", op: "notin", values: ["dev"] },
    ]);
    expect(parseLabelSelector("")).to.deep.equal([]);
  });

  it("refuses what the API server would refuse, saying what is wrong", () => {
    const refused = (text: string) => {
      try {
        parseLabelSelector(text);
      } catch (err) {
        expect(err).to.be.instanceOf(LabelSelectorError);
        return (err as Error).message;
      }
      throw new Error(`expected "${text}" to be refused`);
    };
    expect(refused("mlops.dev/shard=a b")).to.match(/"a b" \(of mlops.dev\/shard\) is not a label value/);
    expect(refused("-shard=a")).to.match(/"-shard" is not a label name/);
    expect(refused("Mlops_Dev/shard=a")).to.match(/prefix before "\/" is not a DNS subdomain/);
    expect(refused("a=1,,b=2")).to.match(/an empty requirement/);
    expect(refused("tier in (gold")).to.match(/unbalanced parentheses/);
    expect(refused("tier in ()")).to.match(/needs at least one value/);
  });

  it("selects as the API server selects", () => {
    const sel = (text: string, labels?: Record<string, string>) =>
      matchesLabelSelector(parseLabelSelector(text), labels);
    const a = { [LABEL_SHARD]: "a", team: "fraud" };
    expect(sel("mlops.dev/shard=a", a)).to.equal(true);
    expect(sel("mlops.dev/shard=b", a)).to.equal(false);
    expect(sel("mlops.dev/shard=a", undefined)).to.equal(false);
    // The default instance: everything without a shard key, including no labels at all.
    expect(sel("!mlops.dev/shard", a)).to.equal(false);
    expect(sel("!mlops.dev/shard", { team: "fraud" })).to.equal(true);
    expect(sel("!mlops.dev/shard", undefined)).to.equal(true);
    expect(sel("mlops.dev/shard!=a", { team: "fraud" })).to.equal(true);
    expect(sel("mlops.dev/shard in (a,b)", a)).to.equal(true);
    expect(sel("mlops.dev/shard notin (a,b)", a)).to.equal(false);
    expect(sel("mlops.dev/shard,team=fraud", a)).to.equal(true);
    expect(sel("", undefined)).to.equal(true);
  });

  it("is a flag (or MRO_WATCH_LABEL_SELECTOR) of the operator, checked at start", () => {
    expect(parseConfig(["--watch-label-selector=mlops.dev/shard=a"], {}).watchLabelSelector).to.deep.equal({
      text: "mlops.dev/shard=a",
      requirements: [{ key: LABEL_SHARD, op: "=", value: "a" }],
    });
    expect(
      parseConfig([], { MRO_WATCH_LABEL_SELECTOR: "!mlops.dev/shard" }).watchLabelSelector?.requirements,
    ).to.deep.equal([{ key: LABEL_SHARD, op: "!exists" }]);
    expect(parseConfig([], {}).watchLabelSelector).to.equal(undefined);
    expect(() => parseConfig(["--watch-label-selector=mlops.dev/shard=a b"], {}))
      .to.throw(ConfigError)
      .with.property("message")
      .match(/^--watch-label-selector: "a b"/);
  });
});

describe("the user agent", () => {
  it("names the pod when it has one, so the audit log tells instances apart", () => {
    expect(userAgent(undefined)).to.match(/^model-rollout-operator\/\S+$/);
    expect(userAgent("shard-a-0")).to.match(/^model-rollout-operator\/\S+ \(shard-a-0\)$/);
    expect(userAgent("bad\r\nname")).to.match(/ \(badname\)$/);
  });
});

type Verb = "get" | "status" | "apply" | "event" | "delete";

/** One ModelDeployment on an API server: optimistic concurrency on status, every request recorded. */
class FakeApi implements KubeClient {
  md: ModelDeployment;
  readonly requests: Verb[] = [];
  #rv = 100;

  constructor(md: ModelDeployment) {
    this.md = clone(md);
  }

  /** A user's change (a label, the spec): a new resourceVersion. */
  edit(change: (md: ModelDeployment) => void): void {
    change(this.md);
    this.md.metadata = { ...this.md.metadata, resourceVersion: String(++this.#rv) };
  }

  get writes(): Verb[] {
    return this.requests.filter((r) => r !== "get");
  }

  async get<T extends KubernetesObject>(_a: string, kind: string): Promise<T | undefined> {
    this.requests.push("get");
    return kind === "ModelDeployment" ? (clone(this.md) as unknown as T) : undefined;
  }

  async replaceStatus(md: ModelDeployment, status: ModelDeploymentStatus): Promise<ModelDeployment> {
    this.requests.push("status");
    if (md.metadata?.resourceVersion !== this.md.metadata?.resourceVersion)
      throw new KubeApiError(409, "the object has been modified");
    this.md = { ...clone(this.md), status: clone(status) };
    this.md.metadata = { ...this.md.metadata, resourceVersion: String(++this.#rv) };
    return clone(this.md);
  }

  async apply<T extends KubernetesObject>(obj: T): Promise<T> {
    this.requests.push("apply");
    return clone(obj);
  }

  async delete(): Promise<void> {
    this.requests.push("delete");
  }

  async replace<T extends KubernetesObject>(obj: T): Promise<T> {
    return obj;
  }

  async removeAction(md: ModelDeployment): Promise<ModelDeployment> {
    return md;
  }

  async recordEvent(): Promise<void> {
    this.requests.push("event");
  }

  async patchPodCondition(): Promise<undefined> {
    return undefined;
  }

  async scaleDeployment(): Promise<void> {}
}

/** A shard's reconciler whose cache holds `cachedMd` (set it to what the watch delivered). */
class ShardWorld {
  readonly api: FakeApi;
  readonly shard: Shard;
  cachedMd: ModelDeployment | undefined;
  nowMs = 1_000_000;
  readonly reconciler: Reconciler;

  constructor(md: ModelDeployment, selector: string) {
    this.api = new FakeApi(md);
    this.shard = new Shard({ requirements: parseLabelSelector(selector), nowMs: () => this.nowMs });
    this.reconciler = new Reconciler({
      client: this.api,
      modelDeployments: {
        list: () => (this.cachedMd ? [this.cachedMd] : []),
        get: (_ns, name) => (this.cachedMd?.metadata?.name === name ? this.cachedMd : undefined),
      },
      logger: createLogger({ level: "error", stream: new PassThrough() }),
      index: {
        deployments: new IndexBy<V1Deployment>(controllerUid),
        services: new IndexBy<V1Service>(controllerUid),
        endpointSlices: new IndexBy<V1EndpointSlice>(serviceKeyOfSlice),
      },
      now: () => new Date(this.nowMs),
      shard: this.shard,
    });
    this.sync();
  }

  /** The watch delivers what the API server has. */
  sync(): void {
    this.cachedMd = deepFreeze(clone(this.api.md));
  }

  reconcile() {
    return this.reconciler.reconcile(KEY);
  }
}

const inShard = (shard: string | undefined) => {
  const md = makeMd({ replicas: 1 });
  md.metadata = {
    ...md.metadata,
    labels: { ...md.metadata?.labels, ...(shard ? { [LABEL_SHARD]: shard } : {}) },
  };
  return md;
};

describe("Reconciler in a shard", () => {
  it("writes its own ModelDeployment after one fresh read finds it still selected and unchanged", async () => {
    const w = new ShardWorld(inShard("a"), "mlops.dev/shard=a");
    await w.reconcile();
    expect(w.api.requests[0]).to.equal("get");
    expect(w.api.requests.filter((r) => r === "get")).to.have.length(1);
    expect(w.api.writes).to.include.members(["status", "apply"]);
    expect(w.api.md.status?.observedGeneration).to.equal(1);
  });

  it("reads nothing more when there is nothing to write: the fence costs one read per writing reconcile", async () => {
    const w = new ShardWorld(inShard("a"), "mlops.dev/shard=a");
    await w.reconcile();
    w.sync();
    await w.reconcile();
    w.sync();
    w.api.requests.length = 0;
    const r = await w.reconcile();
    expect(r.writes).to.equal(0);
    expect(w.api.requests).to.deep.equal([]);
  });

  it("writes nothing, not even an Event, once the label moved to another shard and its cache has not seen it yet", async () => {
    const w = new ShardWorld(inShard("a"), "mlops.dev/shard=a");
    // Relabelled on the API server; this shard's watch has not delivered the DELETED event yet.
    w.api.edit((md) => (md.metadata!.labels![LABEL_SHARD] = "b"));
    const r = await w.reconcile();
    expect(w.api.writes).to.deep.equal([]);
    expect(r.writes).to.equal(0);
    expect(r.requeueAfterMs).to.equal(undefined);
    expect(w.api.md.status).to.equal(undefined);
  });

  it("writes nothing when the ModelDeployment changed since its cache read it, and plans again soon", async () => {
    const w = new ShardWorld(inShard("a"), "mlops.dev/shard=a");
    w.api.edit((md) => (md.spec.replicas = 3));
    const r = await w.reconcile();
    expect(w.api.writes).to.deep.equal([]);
    expect(r.requeueAfterMs).to.be.a("number").greaterThan(0);
    // Its watch delivers the change: the next reconcile plans from it and writes.
    w.sync();
    await w.reconcile();
    expect(w.api.writes).to.include("status");
  });

  it("leaves alone a ModelDeployment its selector does not select (the default instance and a labelled one)", async () => {
    const w = new ShardWorld(inShard("a"), "!mlops.dev/shard");
    const r = await w.reconcile();
    expect(w.api.requests).to.deep.equal([]);
    expect(r).to.deep.equal({ writes: 0 });
  });

  it("the default instance reconciles one without a shard key", async () => {
    const w = new ShardWorld(inShard(undefined), "!mlops.dev/shard");
    await w.reconcile();
    expect(w.api.writes).to.include("status");
  });

  it("waits the handoff delay for one that arrives already reconciled by another instance, then acts", async () => {
    const md = inShard("b");
    md.status = { observedGeneration: 1, phase: "Progressing" };
    const w = new ShardWorld(md, "mlops.dev/shard=b");
    w.shard.arrived(KEY, w.cachedMd!);
    const first = await w.reconcile();
    expect(w.api.requests).to.deep.equal([]);
    expect(first.requeueAfterMs).to.equal(DEFAULT_HANDOFF_MS);
    w.nowMs += DEFAULT_HANDOFF_MS - 1;
    expect((await w.reconcile()).requeueAfterMs).to.equal(1);
    expect(w.api.requests).to.deep.equal([]);
    w.nowMs += 1;
    await w.reconcile();
    expect(w.api.writes).to.include("status");
  });

  it("acts at once on a new ModelDeployment (no status: nobody had it)", async () => {
    const w = new ShardWorld(inShard("b"), "mlops.dev/shard=b");
    w.shard.arrived(KEY, w.cachedMd!);
    await w.reconcile();
    expect(w.api.writes).to.include("status");
  });

  it("fences every kind of write (apply, replace, delete, status, action, Event, pod condition, scale), and no read", async () => {
    const w = new ShardWorld(inShard("a"), "mlops.dev/shard=a");
    w.api.edit((md) => (md.metadata!.labels![LABEL_SHARD] = "b"));
    const read = w.cachedMd!;
    const fenced = () => w.shard.fence(w.api, read);
    const writes: [string, (c: KubeClient) => Promise<unknown>][] = [
      ["apply", (c) => c.apply({ kind: "Service", metadata: { name: "x" } })],
      ["replace", (c) => c.replace({ kind: "HTTPRoute", metadata: { name: "x" } })],
      ["delete", (c) => c.delete("v1", "Service", "models", "x")],
      ["replaceStatus", (c) => c.replaceStatus(read, {})],
      ["removeAction", (c) => c.removeAction(read, "promote")],
      [
        "recordEvent",
        (c) => c.recordEvent(read, { type: "Normal", reason: "Promoted", message: "" }, new Date()),
      ],
      [
        "patchPodCondition",
        (c) =>
          c.patchPodCondition(
            "models",
            { pod: "p", conditionType: "mlops.dev/admitted", status: "True", reason: "", message: "" },
            new Date(),
          ),
      ],
      ["scaleDeployment", (c) => c.scaleDeployment("models", "x", 1)],
    ];
    for (const [name, write] of writes) {
      const err = await write(fenced()).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err, name).to.be.instanceOf(NotOwnedError).with.property("why", "moved");
    }
    expect(w.api.writes).to.deep.equal([]);
    // A read goes through as it is, without the fence's read before it.
    w.api.requests.length = 0;
    await fenced().get("apps/v1", "Deployment", "models", "x");
    expect(w.api.requests).to.deep.equal(["get"]);
  });

  it("starts a new handoff when it leaves and comes back", async () => {
    const md = inShard("b");
    md.status = { observedGeneration: 1 };
    const w = new ShardWorld(md, "mlops.dev/shard=b");
    w.shard.arrived(KEY, w.cachedMd!);
    w.nowMs += DEFAULT_HANDOFF_MS;
    // It left (its DELETED event: the cache no longer holds it) and came back later.
    w.cachedMd = undefined;
    await w.reconcile();
    w.sync();
    w.shard.arrived(KEY, w.cachedMd!);
    expect((await w.reconcile()).requeueAfterMs).to.equal(DEFAULT_HANDOFF_MS);
  });
});
