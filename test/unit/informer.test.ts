import { expect } from "chai";
import { ManualClock } from "../support/manual-clock.ts";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { KubeConfig, type KubernetesObject } from "@kubernetes/client-node";
import { Informer } from "../../src/controller/informer.ts";
import {
  collectionPath,
  GoneError,
  kubeListWatch,
  type ListResult,
  type ListWatchSource,
  type WatchEvent,
} from "../../src/kube/listwatch.ts";

/** The error `promise` rejects with; fails when it resolves. */
async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (err) {
    return err as Error;
  }
  throw new Error("expected the promise to reject");
}

const settle = async () => {
  for (let i = 0; i < 5; i++) await new Promise<void>((resolve) => setImmediate(resolve));
};

interface Obj extends KubernetesObject {
  data?: { value?: string; nested?: { list: string[] } };
}

function obj(namespace: string, name: string, rv: string, value = "v"): Obj {
  return {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: { namespace, name, resourceVersion: rv },
    data: { value, nested: { list: [value] } },
  };
}

interface OpenWatch {
  resourceVersion: string;
  emit(event: WatchEvent<Obj>): void;
  /** The server closes the watch cleanly. */
  close(): void;
  fail(err: Error): void;
  aborted: boolean;
}

/**
 * A scripted API server: list answers come from `lists` (an Error is thrown), or the
 * current `objects`; watches stay open until the test closes or fails them.
 */
class FakeSource implements ListWatchSource<Obj> {
  readonly description = "v1 configmaps (fake)";
  objects: Obj[] = [];
  resourceVersion = "1";
  readonly lists: (ListResult<Obj> | Error)[] = [];
  listCalls = 0;
  readonly watches: OpenWatch[] = [];
  openWatches = 0;
  maxOpenWatches = 0;

  /** When set, a list takes its snapshot at once and answers only once this resolves (a slow, paged list). */
  listGate: Promise<void> | undefined;

  async list(): Promise<ListResult<Obj>> {
    this.listCalls++;
    const next = this.lists.shift();
    const snapshot = next ?? { items: this.objects, resourceVersion: this.resourceVersion };
    const answer = snapshot instanceof Error ? snapshot : structuredClone(snapshot);
    if (this.listGate) await this.listGate;
    if (answer instanceof Error) throw answer;
    return answer;
  }

  watch(
    resourceVersion: string,
    onEvent: (event: WatchEvent<Obj>) => void,
    signal: AbortSignal,
  ): Promise<void> {
    this.openWatches++;
    this.maxOpenWatches = Math.max(this.maxOpenWatches, this.openWatches);
    return new Promise<void>((resolve, reject) => {
      const end = () => {
        this.openWatches--;
        signal.removeEventListener("abort", onAbort);
      };
      const w: OpenWatch = {
        resourceVersion,
        aborted: false,
        emit: (event) => onEvent(structuredClone(event)),
        close: () => {
          end();
          resolve();
        },
        fail: (err) => {
          end();
          reject(err);
        },
      };
      const onAbort = () => {
        w.aborted = true;
        end();
        resolve();
      };
      signal.addEventListener("abort", onAbort, { once: true });
      this.watches.push(w);
    });
  }

  get current(): OpenWatch {
    const w = this.watches.at(-1);
    if (!w) throw new Error("no watch was opened");
    return w;
  }
}

function recordEvents(informer: Informer<Obj>): string[] {
  const events: string[] = [];
  const id = (o: Obj) => `${o.metadata?.namespace}/${o.metadata?.name}@${o.metadata?.resourceVersion}`;
  informer.addEventHandler({
    add: (o) => events.push(`add ${id(o)}`),
    update: (old, o) => events.push(`update ${id(old)} -> ${id(o)}`),
    delete: (o) => events.push(`delete ${id(o)}`),
  });
  return events;
}

describe("Informer", () => {
  let clock: ManualClock;
  let source: FakeSource;
  let informer: Informer<Obj>;

  beforeEach(() => {
    clock = new ManualClock(0, { settleFirst: true });
    source = new FakeSource();
    informer = new Informer({
      source,
      clock,
      resyncPeriodMs: 300_000,
      initialBackoffMs: 1000,
      maxBackoffMs: 8000,
    });
  });
  afterEach(async () => informer.stop());

  /** Starts the informer on `objects` at `resourceVersion`; resolves once it watches. */
  async function startWatching(objects: Obj[], resourceVersion: string): Promise<string[]> {
    source.objects = objects;
    source.resourceVersion = resourceVersion;
    const events = recordEvents(informer);
    informer.start();
    await informer.waitForSync();
    await settle();
    return events;
  }

  /** Lists from now on take their snapshot at once and answer when the returned function is called. */
  function holdNextList(): () => void {
    let answer!: () => void;
    source.listGate = new Promise<void>((resolve) => (answer = resolve));
    return answer;
  }

  it("lists, fills the cache, reports synced, then watches from the list's resourceVersion", async () => {
    source.objects = [obj("a", "one", "5"), obj("b", "two", "6")];
    source.resourceVersion = "7";
    const events = recordEvents(informer);
    expect(informer.hasSynced()).to.equal(false);
    informer.start();
    await informer.waitForSync();
    await settle();
    expect(informer.hasSynced()).to.equal(true);
    expect(events).to.deep.equal(["add a/one@5", "add b/two@6"]);
    expect(informer.get("a", "one")?.data?.value).to.equal("v");
    expect(informer.get("b", "one")).to.equal(undefined);
    expect(informer.list().map((o) => o.metadata?.name)).to.have.members(["one", "two"]);
    expect(informer.list("b").map((o) => o.metadata?.name)).to.deep.equal(["two"]);
    expect(informer.list("c")).to.deep.equal([]);
    expect(source.current.resourceVersion).to.equal("7");
  });

  it("applies watch events to the cache and calls handlers; an unchanged resourceVersion is no update", async () => {
    source.objects = [obj("a", "one", "5")];
    const events = recordEvents(informer);
    informer.start();
    await informer.waitForSync();
    await settle();
    source.current.emit({ type: "ADDED", object: obj("a", "two", "8") });
    source.current.emit({ type: "MODIFIED", object: obj("a", "one", "9", "changed") });
    source.current.emit({ type: "MODIFIED", object: obj("a", "one", "9", "changed") });
    source.current.emit({ type: "DELETED", object: obj("a", "two", "10") });
    source.current.emit({ type: "BOOKMARK", object: { metadata: { resourceVersion: "12" } } as Obj });
    expect(events).to.deep.equal([
      "add a/one@5",
      "add a/two@8",
      "update a/one@5 -> a/one@9",
      "delete a/two@10",
    ]);
    expect(informer.get("a", "one")?.data?.value).to.equal("changed");
    expect(informer.get("a", "two")).to.equal(undefined);
    expect(informer.resourceVersion).to.equal("12");
  });

  it("hands out deep-frozen objects: changing a cached object throws and the cache keeps its state", async () => {
    source.objects = [obj("a", "one", "5")];
    informer.start();
    await informer.waitForSync();
    const cached = informer.get("a", "one")!;
    expect(() => {
      cached.data!.value = "mutated";
    }).to.throw(TypeError);
    expect(() => cached.data!.nested!.list.push("x")).to.throw(TypeError);
    expect(() => {
      cached.metadata!.labels = { a: "b" };
    }).to.throw(TypeError);
    expect(informer.get("a", "one")?.data).to.deep.equal({ value: "v", nested: { list: ["v"] } });
    const copy = structuredClone(cached);
    copy.data!.value = "mine";
    expect(copy.data!.value, "a clone can be changed").to.equal("mine");
  });

  it("restarts a failed watch with growing backoff, one watch at a time, from the last resourceVersion", async () => {
    source.objects = [obj("a", "one", "5")];
    source.resourceVersion = "5";
    informer.start();
    await informer.waitForSync();
    await settle();
    source.current.emit({ type: "MODIFIED", object: obj("a", "one", "6") });
    source.current.fail(new Error("connection reset"));
    await settle();
    expect(source.watches).to.have.length(1);
    await clock.advance(999);
    expect(source.watches, "not before 1 s").to.have.length(1);
    await clock.advance(1);
    expect(source.watches).to.have.length(2);
    expect(source.current.resourceVersion, "resumes from the last event").to.equal("6");

    source.current.fail(new Error("connection refused"));
    await clock.advance(1999);
    expect(source.watches, "second failure waits 2 s").to.have.length(2);
    await clock.advance(1);
    expect(source.watches).to.have.length(3);

    // A watch that delivers events and then ends cleanly resets the backoff and reopens at once.
    source.current.emit({ type: "MODIFIED", object: obj("a", "one", "7") });
    source.current.close();
    await settle();
    expect(source.watches).to.have.length(4);
    source.current.fail(new Error("again"));
    await clock.advance(1000);
    expect(source.watches, "backoff was reset to 1 s").to.have.length(5);

    expect(source.maxOpenWatches).to.equal(1);
    expect(source.listCalls, "no relist for a plain watch failure").to.equal(1);
    expect(informer.stats().watchRestarts).to.equal(3);
  });

  it("backs off a watch that the server closes at once without events", async () => {
    informer.start();
    await informer.waitForSync();
    await settle();
    source.current.close();
    await settle();
    expect(source.watches).to.have.length(1);
    await clock.advance(1000);
    expect(source.watches).to.have.length(2);
  });

  it("relists at once when the watch's resourceVersion is gone (410), healing the cache", async () => {
    source.objects = [obj("a", "one", "5"), obj("a", "two", "5")];
    const events = recordEvents(informer);
    informer.start();
    await informer.waitForSync();
    await settle();
    // While the watch was out of date: two was deleted, three created, one changed.
    source.objects = [obj("a", "one", "20", "new"), obj("a", "three", "21")];
    source.resourceVersion = "21";
    source.current.emit({ type: "ERROR", object: { code: 410, message: "too old resource version" } as Obj });
    await settle();
    expect(source.listCalls).to.equal(2);
    expect(events.slice(2)).to.deep.equal(["update a/one@5 -> a/one@20", "add a/three@21", "delete a/two@5"]);
    expect(source.current.resourceVersion).to.equal("21");
    expect(source.current.aborted).to.equal(false);
    expect(source.watches[0]!.aborted, "the expired watch was closed").to.equal(true);

    // The same when the watch request itself fails with 410.
    source.current.fail(new GoneError());
    await settle();
    expect(source.listCalls).to.equal(3);
    expect(source.maxOpenWatches).to.equal(1);
  });

  it("restarts after a watch ERROR event that is not 410, with backoff", async () => {
    informer.start();
    await informer.waitForSync();
    await settle();
    source.current.emit({ type: "ERROR", object: { code: 500, message: "internal error" } as Obj });
    await settle();
    expect(source.watches).to.have.length(1);
    await clock.advance(1000);
    expect(source.watches).to.have.length(2);
    expect(source.listCalls).to.equal(1);
  });

  it("retries a failing list with backoff and is not synced until one succeeds", async () => {
    source.lists.push(new Error("apiserver down"), new Error("apiserver down"));
    source.objects = [obj("a", "one", "5")];
    informer.start();
    await settle();
    expect(source.listCalls).to.equal(1);
    expect(informer.hasSynced()).to.equal(false);
    await clock.advance(1000);
    expect(source.listCalls).to.equal(2);
    expect(informer.hasSynced()).to.equal(false);
    await clock.advance(1999);
    expect(source.listCalls).to.equal(2);
    await clock.advance(1);
    expect(source.listCalls).to.equal(3);
    expect(informer.hasSynced()).to.equal(true);
    expect(informer.list()).to.have.length(1);
  });

  it("relists every resync period and hands every object to update, healing missed events", async () => {
    source.objects = [obj("a", "one", "5"), obj("a", "two", "6")];
    const events = recordEvents(informer);
    informer.start();
    await informer.waitForSync();
    await settle();
    // Events the watch never delivered: one changed, two deleted.
    source.objects = [obj("a", "one", "30", "missed")];
    source.resourceVersion = "30";
    await clock.advance(299_999);
    expect(source.listCalls).to.equal(1);
    await clock.advance(1);
    expect(source.listCalls).to.equal(2);
    expect(events.slice(2)).to.deep.equal(["update a/one@5 -> a/one@30", "delete a/two@6"]);
    expect(informer.get("a", "one")?.data?.value).to.equal("missed");
    // The relist ran beside the watch, which stayed open.
    expect(source.watches).to.have.length(1);
    expect(source.watches[0]!.aborted).to.equal(false);

    // Nothing changed: the next relist still hands every object to update (resync).
    await clock.advance(300_000);
    expect(source.listCalls).to.equal(3);
    expect(events.slice(4)).to.deep.equal(["update a/one@30 -> a/one@30"]);
    expect(source.maxOpenWatches).to.equal(1);
  });

  it("keeps watching while a periodic relist is in flight: a change made meanwhile is handed out at once", async () => {
    const events = await startWatching([obj("a", "one", "5"), obj("a", "two", "6")], "6");
    const answer = holdNextList();
    await clock.advance(300_000);
    expect(source.listCalls).to.equal(2);
    // The list's snapshot is at 6; the watch goes on meanwhile.
    source.current.emit({ type: "MODIFIED", object: obj("a", "one", "7", "changed") });
    await settle();
    expect(events.slice(2)).to.deep.equal(["update a/one@5 -> a/one@7"]);
    // The list answers with its older snapshot: the watch's newer version stays.
    answer();
    await settle();
    expect(informer.get("a", "one")?.metadata?.resourceVersion).to.equal("7");
    expect(events.slice(3)).to.deep.equal(["update a/two@6 -> a/two@6"]);
    expect(source.watches).to.have.length(1);
    expect(source.listCalls).to.equal(2);
  });

  it("merges a relist made beside the watch by resourceVersion: deleted, created and late events", async () => {
    const events = await startWatching(
      [obj("a", "one", "5"), obj("a", "two", "6"), obj("a", "gone", "7")],
      "7",
    );
    const answer = holdNextList();
    // The snapshot at 20: "gone" deleted at 8 (an event the watch missed), "late" created at 9
    // (the watch will bring it after the list), "two" changed at 10.
    source.objects = [obj("a", "one", "5"), obj("a", "two", "10"), obj("a", "late", "9")];
    source.resourceVersion = "20";
    await clock.advance(300_000);
    // While the list is in flight: the watch deletes "one" (21) and creates "new" (22).
    source.current.emit({ type: "DELETED", object: obj("a", "one", "21") });
    source.current.emit({ type: "ADDED", object: obj("a", "new", "22") });
    answer();
    await settle();
    expect(
      informer
        .list()
        .map((o) => `${o.metadata?.name}@${o.metadata?.resourceVersion}`)
        .sort(),
    ).to.deep.equal(["late@9", "new@22", "two@10"]);
    expect(events.slice(3)).to.deep.equal([
      "delete a/one@21",
      "add a/new@22",
      "update a/two@6 -> a/two@10",
      "add a/late@9",
      "delete a/gone@7",
    ]);
    // The watch, late, brings what the list already had: nothing is handed out again, and
    // nothing the list found gone comes back.
    source.current.emit({ type: "MODIFIED", object: obj("a", "gone", "8") });
    source.current.emit({ type: "ADDED", object: obj("a", "late", "9") });
    source.current.emit({ type: "MODIFIED", object: obj("a", "two", "10") });
    source.current.emit({ type: "MODIFIED", object: obj("a", "two", "23", "newer") });
    await settle();
    expect(informer.get("a", "gone")).to.equal(undefined);
    expect(events.slice(8)).to.deep.equal(["update a/two@10 -> a/two@23"]);
    expect(informer.resourceVersion).to.equal("23");
  });

  it("relists in place of the watch when resourceVersions cannot be ordered", async () => {
    const events = await startWatching([obj("a", "one", "x5")], "x5");
    source.objects = [obj("a", "one", "x9", "missed")];
    source.resourceVersion = "x9";
    await clock.advance(300_000);
    await settle();
    // The list beside the watch cannot be merged: the watch ends, a list replaces the cache.
    expect(source.watches[0]!.aborted).to.equal(true);
    expect(source.listCalls).to.equal(3);
    expect(source.current.resourceVersion).to.equal("x9");
    expect(events.slice(1)).to.deep.equal(["update a/one@x5 -> a/one@x9"]);
  });

  it("tells handlers where each event came from: the first list, the watch, a relist's change, or a resync", async () => {
    source.objects = [obj("a", "one", "5"), obj("a", "two", "6")];
    const origins: string[] = [];
    const id = (o: Obj) => `${o.metadata?.namespace}/${o.metadata?.name}@${o.metadata?.resourceVersion}`;
    informer.addEventHandler({
      add: (o, origin) => origins.push(`add ${id(o)} ${origin}`),
      update: (_old, o, origin) => origins.push(`update ${id(o)} ${origin}`),
      delete: (o, origin) => origins.push(`delete ${id(o)} ${origin}`),
    });
    informer.start();
    await informer.waitForSync();
    await settle();
    source.current.emit({ type: "MODIFIED", object: obj("a", "one", "8") });
    // The relist: "two" changed without a watch event, a new one appeared, "one" is as it was.
    source.objects = [obj("a", "one", "8"), obj("a", "two", "9"), obj("a", "three", "10")];
    source.resourceVersion = "10";
    await clock.advance(300_000);
    expect(origins).to.deep.equal([
      "add a/one@5 initial",
      "add a/two@6 initial",
      "update a/one@8 watch",
      "update a/one@8 resync",
      "update a/two@9 list",
      "add a/three@10 list",
    ]);
  });

  it("does not relist when the resync period is 0", async () => {
    informer = new Informer({ source, clock, resyncPeriodMs: 0 });
    informer.start();
    await informer.waitForSync();
    await clock.advance(3_600_000);
    expect(source.listCalls).to.equal(1);
  });

  it("keeps going when an event handler throws", async () => {
    const logged: string[] = [];
    informer = new Informer({
      source,
      clock,
      logger: { error: (m) => logged.push(m), warn() {}, info() {}, debug() {} },
    });
    informer.addEventHandler({
      add: () => {
        throw new Error("handler bug");
      },
    });
    const events = recordEvents(informer);
    informer.start();
    await informer.waitForSync();
    await settle();
    source.current.emit({ type: "ADDED", object: obj("a", "one", "5") });
    expect(events).to.deep.equal(["add a/one@5"]);
    expect(informer.get("a", "one")).to.not.equal(undefined);
    expect(logged).to.deep.equal(["informer event handler threw"]);
  });

  it("stop closes the watch, and waitForSync rejects when stopped before the first list", async () => {
    source.lists.push(new Error("down"));
    informer.start();
    const sync = informer.waitForSync();
    await settle();
    await informer.stop();
    expect((await rejection(sync)).message).to.match(/stopped before it synced/);
  });

  it("unregisters handlers", async () => {
    const seen: string[] = [];
    const off = informer.addEventHandler({ add: (o) => seen.push(o.metadata!.name!) });
    informer.start();
    await informer.waitForSync();
    await settle();
    source.current.emit({ type: "ADDED", object: obj("a", "one", "5") });
    off();
    source.current.emit({ type: "ADDED", object: obj("a", "two", "6") });
    expect(seen).to.deep.equal(["one"]);
  });
});

describe("collectionPath", () => {
  it("builds core, group, namespaced and cluster-scoped paths", () => {
    const services = { apiVersion: "v1", kind: "Service", plural: "services" };
    const deployments = { apiVersion: "apps/v1", kind: "Deployment", plural: "deployments" };
    const crds = {
      apiVersion: "apiextensions.k8s.io/v1",
      kind: "CustomResourceDefinition",
      plural: "customresourcedefinitions",
      namespaced: false,
    };
    expect(collectionPath(services)).to.equal("/api/v1/services");
    expect(collectionPath(services, "models")).to.equal("/api/v1/namespaces/models/services");
    expect(collectionPath(deployments, "models")).to.equal("/apis/apps/v1/namespaces/models/deployments");
    expect(collectionPath(crds, "models")).to.equal(
      "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
    );
  });
});

describe("kubeListWatch (against a fake API server over HTTP)", () => {
  let server: Server;
  let requests: URL[];
  let onWatch: (url: URL, res: ServerResponse) => void;
  let kc: KubeConfig;

  beforeEach(async () => {
    requests = [];
    onWatch = (_url, res) => res.end();
    server = createServer((req: IncomingMessage, res: ServerResponse) => {
      const url = new URL(req.url ?? "/", "http://localhost");
      requests.push(url);
      if (url.searchParams.get("watch") === "true") return onWatch(url, res);
      res.setHeader("content-type", "application/json");
      if (url.pathname !== "/apis/apps/v1/namespaces/models/deployments") {
        res.statusCode = 404;
        return res.end(JSON.stringify({ kind: "Status", code: 404, message: "not found" }));
      }
      const page2 = url.searchParams.get("continue") === "p2";
      res.end(
        JSON.stringify({
          kind: "DeploymentList",
          apiVersion: "apps/v1",
          metadata: page2 ? { resourceVersion: "99" } : { resourceVersion: "42", continue: "p2" },
          items: [
            {
              metadata: {
                namespace: "models",
                name: page2 ? "b" : "a",
                resourceVersion: page2 ? "41" : "40",
              },
            },
          ],
        }),
      );
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as AddressInfo).port;
    kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: "fake", server: `http://127.0.0.1:${port}`, skipTLSVerify: true }],
      users: [{ name: "u", token: "secret-token" }],
      contexts: [{ name: "fake", cluster: "fake", user: "u" }],
      currentContext: "fake",
    });
  });
  afterEach(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  const deployments = { apiVersion: "apps/v1", kind: "Deployment", plural: "deployments" };

  it("lists every page of one namespace with the label selector, and fills in apiVersion and kind", async () => {
    const source = kubeListWatch<KubernetesObject>(kc, deployments, {
      namespace: "models",
      labelSelector: "app.kubernetes.io/managed-by=model-rollout-operator",
      pageSize: 1,
    });
    expect(source.description).to.equal(
      "apps/v1 deployments in namespace models with labels app.kubernetes.io/managed-by=model-rollout-operator",
    );
    const result = await source.list(new AbortController().signal);
    expect(result.resourceVersion, "the first page's resourceVersion").to.equal("42");
    expect(result.items.map((i) => [i.apiVersion, i.kind, i.metadata?.name])).to.deep.equal([
      ["apps/v1", "Deployment", "a"],
      ["apps/v1", "Deployment", "b"],
    ]);
    expect(requests.map((u) => u.searchParams.get("continue"))).to.deep.equal([null, "p2"]);
    for (const u of requests) {
      expect(u.searchParams.get("labelSelector")).to.equal(
        "app.kubernetes.io/managed-by=model-rollout-operator",
      );
      expect(u.searchParams.get("limit")).to.equal("1");
    }
  });

  it("rejects with the API server's message when a list fails", async () => {
    const source = kubeListWatch<KubernetesObject>(kc, deployments, { namespace: "other" });
    expect((await rejection(source.list(new AbortController().signal))).message).to.match(/404 not found/);
  });

  it("watches from a resourceVersion with bookmarks, delivers events, and ends cleanly when the server closes", async () => {
    onWatch = (_url, res) => {
      res.setHeader("content-type", "application/json");
      res.write(
        JSON.stringify({ type: "ADDED", object: { metadata: { name: "a", resourceVersion: "43" } } }) + "\n",
      );
      res.end(JSON.stringify({ type: "BOOKMARK", object: { metadata: { resourceVersion: "44" } } }) + "\n");
    };
    const source = kubeListWatch<KubernetesObject>(kc, deployments, {
      namespace: "models",
      labelSelector: "x=y",
    });
    const events: string[] = [];
    await source.watch(
      "42",
      (e) => events.push(`${e.type} ${e.object.metadata?.resourceVersion}`),
      new AbortController().signal,
    );
    expect(events).to.deep.equal(["ADDED 43", "BOOKMARK 44"]);
    const url = requests.at(-1)!;
    expect(url.pathname).to.equal("/apis/apps/v1/namespaces/models/deployments");
    expect(url.searchParams.get("resourceVersion")).to.equal("42");
    expect(url.searchParams.get("allowWatchBookmarks")).to.equal("true");
    expect(url.searchParams.get("labelSelector")).to.equal("x=y");
  });

  it("turns a 410 answer to a watch into GoneError, and stops on abort", async () => {
    onWatch = (_url, res) => {
      res.statusCode = 410;
      res.end();
    };
    const source = kubeListWatch<KubernetesObject>(kc, deployments);
    expect(await rejection(source.watch("1", () => {}, new AbortController().signal))).to.be.instanceOf(
      GoneError,
    );
    expect(requests.at(-1)!.pathname, "all namespaces").to.equal("/apis/apps/v1/deployments");

    onWatch = (_url, res) => {
      res.setHeader("content-type", "application/json");
      res.write("\n"); // keeps the stream open
    };
    const abort = new AbortController();
    const watching = source.watch("1", () => {}, abort.signal);
    await new Promise((resolve) => setTimeout(resolve, 50));
    abort.abort();
    await watching;
  });
});
