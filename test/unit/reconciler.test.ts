// The reconciler's writes, against a small in-memory API server: what a user would see in
// the ModelDeployment's status and its children after each reconcile, and the requests
// the API server received (how many, and in which order when that matters).
import { PassThrough } from "node:stream";
import { expect } from "chai";
import type {
  KubernetesObject,
  V1Deployment,
  V1EndpointSlice,
  V1Pod,
  V1Service,
} from "@kubernetes/client-node";
import { LABEL_VERSION } from "../../src/api/constants.ts";
import type { ModelDeployment, ModelDeploymentStatus } from "../../src/api/types.ts";
import { controllerUid, IndexBy, modelKeyOfPod, serviceKeyOfSlice } from "../../src/controller/index-by.ts";
import { deepFreeze } from "../../src/controller/informer.ts";
import { PROGRESS_HOLD_MAX_MS, Reconciler, type Cache } from "../../src/controller/reconciler.ts";
import { OwnWrites } from "../../src/controller/own-writes.ts";
import type { Priority } from "../../src/controller/queue.ts";
import { endpointsAheadOfDeployments } from "../../src/controller/status-write.ts";
import { isNamespaceTerminating, KubeApiError, type KubeClient } from "../../src/kube/client.ts";
import { apiErrorOf } from "../../src/kube/request.ts";
import type { PodConditionPatch } from "../../src/plan/readiness-gate.ts";
import { createLogger } from "../../src/observability/log.ts";
import { computeRevision } from "../../src/plan/index.ts";
import { availableStatus, makeMd, T0 } from "./plan-fixtures.ts";

const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;
const KEY = "models/fraud-detector";

interface Request {
  verb: "status" | "apply" | "event" | "podStatus" | "scale";
  name: string;
}

/** What the API server answers a create in a namespace that is being deleted. */
function namespaceTerminating(obj: KubernetesObject): KubeApiError {
  return apiErrorOf(
    403,
    `PATCH ${obj.kind}`,
    JSON.stringify({
      kind: "Status",
      status: "Failure",
      message: `${obj.kind} "${obj.metadata?.name}" is forbidden: unable to create new content in namespace models because it is being terminated`,
      reason: "Forbidden",
      details: {
        causes: [
          {
            reason: "NamespaceTerminating",
            message: "namespace models is being terminated",
            field: "metadata.namespace",
          },
        ],
      },
      code: 403,
    }),
  );
}

/** An API server for one ModelDeployment: optimistic concurrency on status, children by name. */
class FakeApi implements KubeClient {
  md: ModelDeployment;
  readonly children = new Map<string, KubernetesObject>();
  readonly requests: Request[] = [];
  /** Answers of status writes are held until release() while set. */
  holdStatus = false;
  /** The namespace is being deleted: nothing new may be created in it. */
  terminating = false;
  #held: (() => void)[] = [];
  #rv = 100;

  constructor(md: ModelDeployment) {
    this.md = clone(md);
  }

  release(): void {
    for (const r of this.#held.splice(0)) r();
  }

  get statusWrites(): number {
    return this.requests.filter((r) => r.verb === "status").length;
  }

  get status(): ModelDeploymentStatus {
    return this.md.status ?? {};
  }

  async replaceStatus(md: ModelDeployment, status: ModelDeploymentStatus): Promise<ModelDeployment> {
    this.requests.push({ verb: "status", name: md.metadata?.name ?? "" });
    if (this.holdStatus) await new Promise<void>((r) => this.#held.push(r));
    if (md.metadata?.resourceVersion !== this.md.metadata?.resourceVersion)
      throw new KubeApiError(409, "the object has been modified");
    this.md = { ...clone(this.md), status: clone(status) };
    this.md.metadata = { ...this.md.metadata, resourceVersion: String(++this.#rv) };
    return clone(this.md);
  }

  async apply<T extends KubernetesObject>(obj: T): Promise<T> {
    this.requests.push({ verb: "apply", name: `${obj.kind}/${obj.metadata?.name}` });
    const key = `${obj.kind}/${obj.metadata?.name}`;
    if (this.terminating && !this.children.has(key)) throw namespaceTerminating(obj);
    const old = this.children.get(key) as V1Deployment | undefined;
    const next = clone(obj) as T & { status?: unknown };
    next.metadata = {
      ...next.metadata,
      namespace: "models",
      resourceVersion: String(++this.#rv),
      generation: (old?.metadata?.generation ?? 0) + 1,
    };
    if (old?.status) next.status = old.status;
    this.children.set(key, next);
    return clone(next);
  }

  async delete(): Promise<void> {}

  async get<T extends KubernetesObject>(): Promise<T | undefined> {
    return undefined;
  }

  async replace<T extends KubernetesObject>(obj: T): Promise<T> {
    return obj;
  }

  async removeAction(md: ModelDeployment): Promise<ModelDeployment> {
    return md;
  }

  async recordEvent(): Promise<void> {
    this.requests.push({ verb: "event", name: "" });
    if (this.terminating) throw namespaceTerminating({ kind: "Event" });
  }

  /** Pods by name (the kubelet's, behind the readiness gate): patchPodCondition sets their condition. */
  readonly pods = new Map<string, V1Pod>();

  async patchPodCondition(_namespace: string, patch: PodConditionPatch): Promise<V1Pod | undefined> {
    this.requests.push({ verb: "podStatus", name: patch.pod });
    const pod = this.pods.get(patch.pod);
    if (!pod) return undefined;
    const others = (pod.status?.conditions ?? []).filter((c) => c.type !== patch.conditionType);
    pod.status = {
      ...pod.status,
      conditions: [...others, { type: patch.conditionType, status: patch.status, reason: patch.reason }],
    };
    pod.metadata = { ...pod.metadata, resourceVersion: String(++this.#rv) };
    return clone(pod);
  }

  /** A running pod of `d` whose containers are ready (the kubelet wrote it). */
  podRunning(d: V1Deployment, suffix: string): V1Pod {
    const pod: V1Pod = {
      metadata: {
        namespace: "models",
        name: `${d.metadata?.name}-7d9f8c6b5-${suffix}`,
        labels: { ...d.spec?.template.metadata?.labels },
        resourceVersion: String(++this.#rv),
      },
      spec: { containers: [], readinessGates: d.spec?.template.spec?.readinessGates },
      status: { phase: "Running", conditions: [{ type: "ContainersReady", status: "True" }] },
    };
    this.pods.set(pod.metadata!.name!, pod);
    return pod;
  }

  async scaleDeployment(_namespace: string, name: string): Promise<void> {
    this.requests.push({ verb: "scale", name });
  }

  /** Sends an update of the spec, as a user would. */
  changeSpec(change: (md: ModelDeployment) => void): void {
    change(this.md);
    this.md.metadata = {
      ...this.md.metadata,
      generation: (this.md.metadata?.generation ?? 1) + 1,
      resourceVersion: String(++this.#rv),
    };
  }
}

/** Caches and indexes that see what the fake API server holds, when sync() is called. */
class World {
  readonly api: FakeApi;
  now = T0.getTime();
  /** The ModelDeployment as the cache has it (lags the API server until sync()). */
  cachedMd: ModelDeployment | undefined;
  readonly index: {
    deployments: IndexBy<V1Deployment>;
    services: IndexBy<V1Service>;
    endpointSlices: IndexBy<V1EndpointSlice>;
    pods?: IndexBy<V1Pod>;
  } = {
    deployments: new IndexBy<V1Deployment>(controllerUid),
    services: new IndexBy<V1Service>(controllerUid),
    endpointSlices: new IndexBy<V1EndpointSlice>(serviceKeyOfSlice),
  };
  readonly reconciler: Reconciler;
  readonly ownWrites = new OwnWrites();

  /** `gated`: a synced pod cache, for the readiness gate's pods. */
  constructor(md: ModelDeployment, { gated = false }: { gated?: boolean } = {}) {
    this.api = new FakeApi(md);
    if (gated) this.index.pods = new IndexBy<V1Pod>(modelKeyOfPod);
    const cache: Cache<ModelDeployment> = {
      list: () => (this.cachedMd ? [this.cachedMd] : []),
      get: (_ns, name) => (this.cachedMd?.metadata?.name === name ? this.cachedMd : undefined),
    };
    this.reconciler = new Reconciler({
      client: this.api,
      modelDeployments: cache,
      logger: createLogger({ level: "error", stream: new PassThrough() }),
      index: this.index,
      ownWrites: this.ownWrites,
      now: () => new Date(this.now),
      ...(gated ? { pods: { want: () => undefined, synced: () => true } } : {}),
    });
    this.sync();
  }

  /** The watches deliver everything the API server has. */
  sync(): void {
    this.cachedMd = deepFreeze(clone(this.api.md));
    for (const obj of this.api.children.values()) {
      const o = deepFreeze(clone(obj));
      if (o.kind === "Deployment") this.index.deployments.handlers.add?.(o as V1Deployment);
      else this.index.services.handlers.add?.(o as V1Service);
    }
    for (const pod of this.api.pods.values()) this.index.pods?.handlers.add?.(deepFreeze(clone(pod)));
  }

  deployment(version = "1.0.0"): V1Deployment {
    for (const obj of this.api.children.values())
      if (obj.kind === "Deployment" && obj.metadata?.labels?.[LABEL_VERSION] === version)
        return obj as V1Deployment;
    throw new Error(`no Deployment of ${version}`);
  }

  /** kube-controller-manager reports the Deployment's pods ready and available. */
  deploymentReady(n: number, version = "1.0.0"): void {
    const d = this.deployment(version);
    d.status = availableStatus(d, n);
    this.sync();
  }

  /** The EndpointSlice controller shows `n` ready pods of a version behind the clients' Service. */
  endpointsReady(n: number, version = "1.0.0"): void {
    const d = this.deployment(version);
    const slice: V1EndpointSlice = {
      addressType: "IPv4",
      metadata: {
        namespace: "models",
        name: "fraud-detector-abcde",
        labels: { "kubernetes.io/service-name": "fraud-detector" },
      },
      endpoints: Array.from({ length: n }, (_, i) => ({
        addresses: [`10.0.0.${i}`],
        conditions: { ready: true },
        targetRef: { kind: "Pod", name: `${d.metadata?.name}-7d9f8c6b5-x${i}k2z`, namespace: "models" },
      })),
    };
    this.index.endpointSlices.handlers.add?.(deepFreeze(slice));
  }

  reconcile(priority?: Priority) {
    return this.reconciler.reconcile(KEY, undefined, priority);
  }
}

const condition = (s: ModelDeploymentStatus, type: string) => s.conditions?.find((c) => c.type === type);

/** A first version Ready at 1 replica, everything seen by the caches. */
async function ready(): Promise<World> {
  const w = new World(makeMd({ replicas: 1, strategy: { canary: { steps: [{ setWeight: 50 }] } } }));
  await w.reconcile();
  w.sync();
  w.endpointsReady(1);
  w.deploymentReady(1);
  await w.reconcile();
  w.sync();
  expect(condition(w.api.status, "Ready")?.status).to.equal("True");
  w.api.requests.length = 0;
  return w;
}

describe("Reconciler: status writes", () => {
  const firstVersion = () => makeMd({ replicas: 1, strategy: { canary: { steps: [{ setWeight: 50 }] } } });

  it("converges a first version with two status writes when its pod shows in the Service before the Deployment says so", async () => {
    const w = new World(firstVersion());
    await w.reconcile();
    w.sync();
    expect(w.api.statusWrites).to.equal(1);
    expect(condition(w.api.status, "Ready")?.status).to.equal("False");

    // The EndpointSlice controller is faster than the Deployment's status: only progress to report.
    w.endpointsReady(1);
    const held = await w.reconcile();
    expect(w.api.statusWrites).to.equal(1);
    expect(held.requeueAfterMs).to.be.a("number").at.most(PROGRESS_HOLD_MAX_MS);

    w.now += 5_000;
    w.deploymentReady(1);
    await w.reconcile();
    w.sync();
    expect(w.api.statusWrites).to.equal(2);
    expect(condition(w.api.status, "Ready")?.status).to.equal("True");
    expect(w.api.status.traffic).to.deep.equal([
      { version: "1.0.0", revision: computeRevision(firstVersion()), weight: 100, readyEndpoints: 1 },
    ]);

    // Nothing changed: nothing written.
    await w.reconcile();
    expect(w.api.statusWrites).to.equal(2);
  });

  it("writes the progress after at most PROGRESS_HOLD_MAX_MS when the Deployment's status does not catch up", async () => {
    const w = new World(firstVersion());
    await w.reconcile();
    w.sync();
    w.endpointsReady(1);
    await w.reconcile();
    w.now += PROGRESS_HOLD_MAX_MS - 1;
    const r = await w.reconcile();
    expect(w.api.statusWrites).to.equal(1);
    expect(r.requeueAfterMs).to.equal(1);
    w.now += 1;
    await w.reconcile();
    expect(w.api.statusWrites).to.equal(2);
    expect(w.api.status.traffic).to.deep.equal([
      { version: "1.0.0", revision: computeRevision(firstVersion()), weight: 100, readyEndpoints: 1 },
    ]);
    expect(condition(w.api.status, "Ready")?.status).to.equal("False");
  });

  it("writes fewer ready endpoints than the Deployment reports at once", async () => {
    const w = await ready();
    const before = w.api.statusWrites;

    w.endpointsReady(0);
    await w.reconcile();
    expect(w.api.statusWrites).to.equal(before + 1);
    expect(w.api.status.traffic).to.deep.equal([
      { version: "1.0.0", revision: w.api.status.stableRevision, weight: 0, readyEndpoints: 0 },
    ]);
  });

  it("does not write its own status write again when the cache has not seen it yet", async () => {
    const w = new World(firstVersion());
    await w.reconcile();
    // The watch has not delivered the status write: the cache still has the object without status.
    expect(w.cachedMd?.status).to.equal(undefined);
    await w.reconcile();
    expect(w.api.statusWrites).to.equal(1);
  });
});

describe("Reconciler: the echo of its own writes", () => {
  it("records each status write with the priority of the reconcile that made it", async () => {
    const w = await ready();
    // The next reconcile after a change at low priority (a relist, a passing measurement).
    w.api.changeSpec((md) => (md.spec.replicas = 2));
    w.sync();
    await w.reconcile("low");
    expect(w.api.statusWrites).to.be.greaterThan(0);
    const written = w.api.md.metadata?.resourceVersion;
    expect(w.ownWrites.echoPriority(KEY, written)).to.equal("low");
    w.sync();
    w.api.changeSpec((md) => (md.spec.replicas = 3));
    w.sync();
    await w.reconcile();
    expect(w.ownWrites.echoPriority(KEY, w.api.md.metadata?.resourceVersion)).to.equal("normal");
  });
});

describe("Reconciler: order of the status and the children", () => {
  it("sends the Deployment's new size while the status write that records the spec change is in flight", async () => {
    const w = await ready();
    w.api.changeSpec((md) => (md.spec.replicas = 2));
    w.sync();
    w.api.holdStatus = true;
    const done = w.reconcile();
    await new Promise((r) => setImmediate(r));
    // The status write has not been answered, and the Deployment patch is already sent.
    expect(w.api.requests).to.deep.include({ verb: "status", name: "fraud-detector" });
    expect(w.api.requests).to.deep.include({ verb: "apply", name: "Deployment/fraud-detector-1-0-0" });
    w.api.release();
    await done;
    expect(w.deployment().spec?.replicas).to.equal(2);
    expect(w.api.status.observedGeneration).to.equal(2);
    expect(condition(w.api.status, "Ready")?.status).to.equal("False");
  });

  it("writes a status that records a decision before any child", async () => {
    const w = await ready();
    w.api.changeSpec((md) => {
      md.spec.model.version = "2.0.0";
      md.spec.template.spec!.containers[0]!.image = "registry.example/fraud:2";
    });
    w.sync();
    w.api.holdStatus = true;
    const done = w.reconcile();
    await new Promise((r) => setImmediate(r));
    // The rollout's start is recorded first: no child is written until the API server has it.
    expect(w.api.requests).to.deep.equal([{ verb: "status", name: "fraud-detector" }]);
    w.api.release();
    await done;
    expect(w.api.status.rollout?.version).to.equal("2.0.0");
    expect(w.api.requests.map((r) => r.verb)).to.include("apply");
    expect(w.api.requests.findIndex((r) => r.verb === "apply")).to.be.greaterThan(0);
  });

  it("reports a failed status write after the children were written", async () => {
    const w = await ready();
    w.api.changeSpec((md) => (md.spec.replicas = 2));
    w.sync();
    // Someone else changed the object in the meantime: the status write gets 409 Conflict.
    w.api.changeSpec(() => {});
    let err: unknown;
    await w.reconcile().catch((e: unknown) => (err = e));
    expect(err).to.be.instanceOf(KubeApiError);
    expect((err as KubeApiError).status).to.equal(409);
    expect(w.deployment().spec?.replicas).to.equal(2);
  });
});

describe("Reconciler: a namespace being deleted", () => {
  it("stops writing when the namespace refuses new content: no Event, no retry", async () => {
    const w = await ready();
    w.api.changeSpec((md) => {
      md.spec.model.version = "2.0.0";
      md.spec.template.spec!.containers[0]!.image = "registry.example/fraud:2";
    });
    w.sync();
    // The namespace is being deleted: the new version's Deployment cannot be created in it.
    w.api.terminating = true;
    const result = await w.reconcile();
    expect(result.requeueAfterMs).to.equal(undefined);
    expect(w.api.requests.map((r) => `${r.verb} ${r.name}`)).to.deep.equal([
      "status fraud-detector",
      "apply Deployment/fraud-detector-2-0-0",
    ]);
  });

  it("tells the namespace's refusal from any other 403", () => {
    expect(isNamespaceTerminating(namespaceTerminating({ kind: "Service" }))).to.equal(true);
    const denied = apiErrorOf(403, "PATCH Service", JSON.stringify({ reason: "Forbidden", message: "RBAC" }));
    expect(isNamespaceTerminating(denied)).to.equal(false);
  });
});

/**
 * A reconciler of `md` alone, cached as the API server holds it, with empty indexes (and
 * `index`) and the caches in `options`; reconcile() runs it once.
 */
function alone(
  md: ModelDeployment,
  options: Partial<ConstructorParameters<typeof Reconciler>[0]> = {},
  index: { pods?: IndexBy<V1Pod> } = {},
) {
  const api = new FakeApi(md);
  const cached = deepFreeze(clone(md));
  const reconciler = new Reconciler({
    client: api,
    modelDeployments: { list: () => [cached], get: () => cached },
    logger: createLogger({ level: "error", stream: new PassThrough() }),
    index: {
      deployments: new IndexBy<V1Deployment>(controllerUid),
      services: new IndexBy<V1Service>(controllerUid),
      endpointSlices: new IndexBy<V1EndpointSlice>(serviceKeyOfSlice),
      ...index,
    },
    now: () => T0,
    ...options,
  });
  return { api, reconcile: () => reconciler.reconcile(KEY) };
}

describe("Reconciler: the pods of the readiness gate", () => {
  /** A reconciler whose pod cache says whether it was asked for and whether it synced. */
  function gated(readinessGate: boolean) {
    const md = makeMd({ replicas: 1, strategy: { canary: { readinessGate, steps: [{ setWeight: 0 }] } } });
    const pods = { asked: 0, isSynced: false, want: () => void pods.asked++, synced: () => pods.isSynced };
    return { ...alone(md, { pods }, { pods: new IndexBy<V1Pod>(modelKeyOfPod) }), pods };
  }

  it("opens the pod watch for a ModelDeployment with the gate, and plans only once its pods are cached", async () => {
    const w = gated(true);
    const first = await w.reconcile();
    expect([w.pods.asked, first.writes, w.api.requests.length]).to.deep.equal([1, 0, 0]);
    expect(first.requeueAfterMs).to.be.greaterThan(0);
    w.pods.isSynced = true;
    const next = await w.reconcile();
    expect(next.writes).to.be.greaterThan(0);
  });

  it("writes a pod's condition once while the pod watch still delivers the pod from before the write", async () => {
    const w = new World(
      makeMd({ replicas: 1, strategy: { canary: { readinessGate: true, steps: [{ setWeight: 0 }] } } }),
      {
        gated: true,
      },
    );
    await w.reconcile();
    w.sync();
    const pod = w.api.podRunning(w.deployment(), "a1b2c");
    w.sync();
    await w.reconcile();
    expect(w.api.requests.filter((r) => r.verb === "podStatus").map((r) => r.name)).to.deep.equal([
      pod.metadata?.name,
    ]);
    // The pod watch lags: the cache still holds the pod without the condition. The echo of
    // the status write (or any other event) reconciles again.
    w.cachedMd = deepFreeze(clone(w.api.md));
    await w.reconcile();
    expect(w.api.requests.filter((r) => r.verb === "podStatus")).to.have.length(1);
    expect(w.api.status.readinessGate).to.include({ open: true, admittedPods: 1, waitingPods: 0 });
    // The pod goes away before the cache caught up with the write: it is not brought back.
    w.api.pods.clear();
    w.index.pods?.handlers.delete?.(deepFreeze(clone(pod)));
    w.cachedMd = deepFreeze(clone(w.api.md));
    await w.reconcile();
    expect(w.api.status.readinessGate).to.include({ candidatePods: 0, admittedPods: 0 });
  });

  it("never asks for pods for a ModelDeployment without the gate", async () => {
    const w = gated(false);
    const r = await w.reconcile();
    expect(w.pods.asked).to.equal(0);
    expect(r.writes).to.be.greaterThan(0);
  });
});

describe("Reconciler: route caches that do not know their API yet", () => {
  type State = "unknown" | "available" | "absent";
  /** A cache of routes (or pools) that says whether it was asked for, in a state a test sets. */
  const routeCache = (state: State) => {
    const c = {
      asked: 0,
      current: state,
      want: () => void c.asked++,
      state: () => c.current,
      available: () => c.current === "available",
      byOwner: { get: () => [] },
      get: () => undefined,
    };
    return c;
  };
  function routed(traffic: ModelDeployment["spec"]["traffic"], states: [State, State, State]) {
    const md = makeMd({ replicas: 1, traffic });
    const [routes, grpcRoutes, pools] = states.map(routeCache) as [
      ReturnType<typeof routeCache>,
      ReturnType<typeof routeCache>,
      ReturnType<typeof routeCache>,
    ];
    const caches = { routes: routes as never, grpcRoutes: grpcRoutes as never, pools: pools as never };
    return { ...alone(md, caches), routes, grpcRoutes, pools };
  }
  const parentRefs = [{ name: "gw" }];

  const inferencePool = { endpointPickerRef: { name: "{{pool}}-epp", port: { number: 9002 } } };
  const rows: {
    what: string;
    traffic: ModelDeployment["spec"]["traffic"];
    states: [State, State, State];
    /** Which cache is asked to start: routes, grpcRoutes, pools. */
    asked: [number, number, number];
  }[] = [
    {
      what: "spec.traffic: the HTTPRoute cache (first of the three)",
      traffic: { gatewayAPI: { httpRoute: { parentRefs } } },
      states: ["unknown", "unknown", "unknown"],
      asked: [1, 0, 0],
    },
    {
      what: "grpcRoute: the GRPCRoute cache",
      traffic: { gatewayAPI: { grpcRoute: { parentRefs } } },
      states: ["available", "unknown", "unknown"],
      asked: [0, 1, 0],
    },
    {
      what: "inferencePool: the InferencePool cache (not the GRPCRoute cache it does not need)",
      traffic: { gatewayAPI: { httpRoute: { parentRefs }, inferencePool } },
      states: ["available", "unknown", "unknown"],
      asked: [0, 0, 1],
    },
  ];
  for (const row of rows) {
    it(`${row.what}: waits for it, asking it to start, writes nothing, and plans once it knows`, async () => {
      const w = routed(row.traffic, row.states);
      const r = await w.reconcile();
      expect([r.writes, w.api.requests.length, r.requeueAfterMs]).to.deep.equal([0, 0, 500]);
      const caches = [w.routes, w.grpcRoutes, w.pools];
      expect(caches.map((c) => c.asked)).to.deep.equal(row.asked);
      for (const c of caches) if (c.asked > 0) c.current = "available";
      expect((await w.reconcile()).writes).to.be.greaterThan(0);
    });
  }

  it("a spec without spec.traffic never waits for a route cache", async () => {
    const w = routed(undefined, ["unknown", "unknown", "unknown"]);
    const r = await w.reconcile();
    expect([w.routes.asked, w.grpcRoutes.asked, w.pools.asked]).to.deep.equal([0, 0, 0]);
    expect(r.writes).to.be.greaterThan(0);
  });
});

describe("status writes: endpoints ahead of the Deployments", () => {
  const dep = (name: string, revision: string, ready: number): V1Deployment => ({
    metadata: {
      name,
      labels: { "mlops.dev/model": "m", "mlops.dev/version": "1.0.0" },
      annotations: { "mlops.dev/revision": revision },
    },
    status: { readyReplicas: ready },
  });
  it("compares each revision of a version with its own Deployment", () => {
    const observed = {
      deployments: [dep("m-1-0-0", "aaa", 4), dep("m-1-0-0-bbb", "bbb", 0)],
      services: [],
      endpointSlices: [],
    };
    const status = (readyB: number) => ({
      traffic: [
        { version: "1.0.0", revision: "aaa", weight: 100, readyEndpoints: 4 },
        { version: "1.0.0", revision: "bbb", weight: 0, readyEndpoints: readyB },
      ],
    });
    // The old revision's 4 ready replicas do not hide the new one's first ready endpoint.
    expect(endpointsAheadOfDeployments(observed, "m", status(1))).to.equal(true);
    expect(endpointsAheadOfDeployments(observed, "m", status(0))).to.equal(false);
  });
});
