// The informer's periodic relist beside the open watch, on the real API server: changes
// that the watch brings while a relist is in flight survive the relist's older snapshot,
// with the API server's own resourceVersions deciding which version is the newer.
import { expect } from "chai";
import type { KubernetesObject } from "@kubernetes/client-node";
import { Informer } from "../../src/controller/informer.ts";
import { loadKubeConnection } from "../../src/kube/kubeconfig.ts";
import { kubeListWatch, type ListResult, type ListWatchSource } from "../../src/kube/listwatch.ts";
import { createNamespace, kubectl, kubectlJson, waitFor } from "../support/kube.ts";

interface ConfigMap extends KubernetesObject {
  data?: Record<string, string>;
}

const configMaps = { apiVersion: "v1", kind: "ConfigMap", plural: "configmaps" };
// Only the test's own ConfigMaps: kube-controller-manager adds kube-root-ca.crt to every namespace.
const LABEL = "informer-relist-test=yes";
let ns: string;

function apply(...names: string[]): Promise<string> {
  const manifest = names.map((name) =>
    JSON.stringify({
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name, labels: { "informer-relist-test": "yes" } },
      data: { v: "1" },
    }),
  );
  return kubectl(["-n", ns, "apply", "-f", "-"], manifest.join("\n"));
}

/** The real source, whose second list is held after it answered, and later lists until the informer stops. */
function heldSecondList(inner: ListWatchSource<ConfigMap>) {
  let calls = 0;
  let answered!: (result: ListResult<ConfigMap>) => void;
  let release!: () => void;
  const snapshot = new Promise<ListResult<ConfigMap>>((resolve) => (answered = resolve));
  const gate = new Promise<void>((resolve) => (release = resolve));
  const untilAborted = (signal: AbortSignal) =>
    new Promise<never>((_resolve, reject) =>
      signal.addEventListener("abort", () => reject(new Error("stopped")), { once: true }),
    );
  const source: ListWatchSource<ConfigMap> = {
    description: inner.description,
    watch: (rv, onEvent, signal) => inner.watch(rv, onEvent, signal),
    async list(signal) {
      calls++;
      if (calls === 1) return inner.list(signal);
      if (calls > 2) return untilAborted(signal);
      const result = await inner.list(signal);
      answered(result);
      await gate;
      return result;
    },
  };
  return { source, snapshot, release };
}

describe("informer: a relist beside the watch on the real API server", () => {
  let cleanup: () => Promise<void>;
  let informer: Informer<ConfigMap> | undefined;
  beforeEach(async function () {
    ({ name: ns, cleanup } = await createNamespace(this.currentTest?.title ?? "t"));
  });
  afterEach(async () => {
    await informer?.stop();
    informer = undefined;
    await cleanup();
  });

  it("keeps what the watch brought while the relist was in flight: a newer version, a deletion, a creation", async () => {
    await apply("kept", "changed", "deleted");

    const conn = await loadKubeConnection(undefined);
    const held = heldSecondList(
      kubeListWatch<ConfigMap>(conn, configMaps, { namespace: ns, labelSelector: LABEL }),
    );
    informer = new Informer<ConfigMap>({ source: held.source, resyncPeriodMs: 200 });
    const events: string[] = [];
    const show = (o: ConfigMap) => `${o.metadata?.name}=${o.data?.v ?? "-"}`;
    informer.addEventHandler({
      add: (o, origin) => events.push(`${origin} add ${show(o)}`),
      update: (a, b, origin) => events.push(`${origin} update ${show(a)} -> ${show(b)}`),
      delete: (o, origin) => events.push(`${origin} delete ${show(o)}`),
    });
    informer.start();
    await informer.waitForSync();
    expect(events.sort()).to.deep.equal([
      "initial add changed=1",
      "initial add deleted=1",
      "initial add kept=1",
    ]);

    // The relist has its snapshot; before it answers, three changes come through the watch.
    const snapshot = await held.snapshot;
    expect(snapshot.items.map(show).sort()).to.deep.equal(["changed=1", "deleted=1", "kept=1"]);
    events.length = 0;
    await kubectl(["-n", ns, "patch", "configmap", "changed", "--type=merge", "-p", '{"data":{"v":"2"}}']);
    await kubectl(["-n", ns, "delete", "configmap", "deleted"]);
    await apply("created");
    await waitFor("the watch to bring the three changes", async () => events.length >= 3 && events);
    expect(events).to.deep.equal([
      "watch update changed=1 -> changed=2",
      "watch delete deleted=1",
      "watch add created=1",
    ]);

    // The older snapshot is merged: nothing the watch brought goes back.
    events.length = 0;
    held.release();
    await waitFor("the relist to be merged", async () => informer!.stats().lists === 2);
    expect(events.sort()).to.deep.equal(["resync update kept=1 -> kept=1"]);
    const cached = informer
      .list(ns)
      .map((o) => `${show(o)}@${o.metadata?.resourceVersion}`)
      .sort();
    const server = await kubectlJson<{ items: ConfigMap[] }>(["-n", ns, "get", "configmaps", "-l", LABEL]);
    expect(cached).to.deep.equal(server.items.map((o) => `${show(o)}@${o.metadata?.resourceVersion}`).sort());
    expect(cached.map((c) => c.split("@")[0])).to.deep.equal(["changed=2", "created=1", "kept=1"]);

    // The watch went on beside the relist, and goes on after it.
    await kubectl(["-n", ns, "patch", "configmap", "created", "--type=merge", "-p", '{"data":{"v":"2"}}']);
    await waitFor(
      "the watch to bring the next change",
      async () => informer!.get(ns, "created")?.data?.v === "2",
    );
    expect(informer.stats()).to.include({ lists: 2, watchRestarts: 0 });
  });
});
