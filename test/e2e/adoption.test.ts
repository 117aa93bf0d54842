// Adopting an existing Deployment (spec.workloadRef) against the real control plane: a plain
// Deployment with its own Service serves the model (kwok runs its pods), a ModelDeployment
// adopts it, and a watch on the EndpointSlices of both Services (the user's and the clients'
// Service NAME) sees every state the API server stored: each one, from the first, has a
// ready endpoint. The adopted Deployment ends as scaleDown says, and the operator never
// wrote anything of it but spec.replicas (its managedFields say so). A failing check leaves
// it at its replicas. The new version's checks reach a real model server bound to its
// Service's loopback ClusterIP; nothing dials a pod address.
//   bash hack/run.sh test-e2e test/e2e/adoption.test.ts
import * as k8s from "@kubernetes/client-node";
import { expect } from "chai";
import { createNamespace, kubeConfig, kubectl, kubectlJson, tool, waitFor } from "../support/kube.ts";
import {
  applyMd,
  condition,
  mdEvents,
  modelDeployment,
  operatorWrites,
  waitForMd,
  type Md,
} from "../support/md.ts";
import { serveVersion, type ModelServer } from "../support/model-server.ts";
import { startOperator, type OperatorProcess } from "../support/operator.ts";

const NAME = "fraud";
/** The Deployment and the Service that serve the model before the ModelDeployment. */
const LEGACY = "fraud-server";
const REPLICAS = 2;

interface Slice {
  metadata: { name: string; labels?: Record<string, string> };
  endpoints?: { targetRef?: { name?: string }; conditions?: { ready?: boolean } }[];
}

/**
 * Watches the EndpointSlices of a namespace and checks, at every event, that each watched
 * Service has a ready endpoint: the user's Service from the start, the clients' Service from
 * its first ready endpoint on. Records each Service's ready pods, per event.
 */
class EndpointWatch {
  private slices = new Map<string, Slice>();
  private abort: AbortController | undefined;
  private live = new Set<string>();
  events = 0;
  /** Moments (event numbers) at which a live Service had no ready endpoint. */
  gaps: { service: string; event: number; slices: string[] }[] = [];
  /** Every pod that was ever a ready endpoint, per Service. */
  seen = new Map<string, Set<string>>();

  private readonly services: readonly string[];

  constructor(services: readonly string[]) {
    this.services = services;
  }

  static async start(ns: string, services: string[], liveFromStart: string[]): Promise<EndpointWatch> {
    const w = new EndpointWatch(services);
    for (const s of liveFromStart) w.live.add(s);
    const watch = new k8s.Watch(kubeConfig());
    w.abort = await watch.watch(
      `/apis/discovery.k8s.io/v1/namespaces/${ns}/endpointslices`,
      {},
      (type: string, obj: Slice) => {
        if (type === "DELETED") w.slices.delete(obj.metadata.name);
        else w.slices.set(obj.metadata.name, obj);
        w.sample();
      },
      () => {},
    );
    return w;
  }

  ready(service: string): string[] {
    return [...this.slices.values()]
      .filter((s) => s.metadata.labels?.["kubernetes.io/service-name"] === service)
      .flatMap((s) => s.endpoints ?? [])
      .filter((e) => e.conditions?.ready !== false && e.targetRef?.name)
      .map((e) => e.targetRef!.name!);
  }

  private sample(): void {
    this.events++;
    for (const service of this.services) {
      const ready = this.ready(service);
      const seen = this.seen.get(service) ?? new Set<string>();
      for (const p of ready) seen.add(p);
      this.seen.set(service, seen);
      if (ready.length > 0) this.live.add(service);
      else if (this.live.has(service))
        this.gaps.push({ service, event: this.events, slices: [...this.slices.keys()] });
    }
  }

  stop(): void {
    this.abort?.abort();
  }
}

async function createLegacy(ns: string): Promise<void> {
  const labels = { app: NAME };
  const deployment = {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: LEGACY, labels },
    spec: {
      replicas: REPLICAS,
      selector: { matchLabels: labels },
      template: {
        metadata: { labels },
        spec: {
          containers: [
            {
              name: "server",
              image: "registry.example/fraud:0.9",
              ports: [{ name: "http", containerPort: 8080 }],
            },
          ],
        },
      },
    },
  };
  const service = {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name: LEGACY },
    spec: { selector: labels, ports: [{ name: "http", port: 80, targetPort: "http" }] },
  };
  await kubectl(
    ["-n", ns, "apply", "-f", "-"],
    JSON.stringify({ apiVersion: "v1", kind: "List", items: [deployment, service] }),
  );
  await waitFor(
    `Deployment ${LEGACY} Available with its Service's endpoints ready`,
    async () => {
      const d = await kubectlJson<{ status?: { availableReplicas?: number } }>([
        "-n",
        ns,
        "get",
        "deployment",
        LEGACY,
      ]);
      const s = await kubectlJson<{ items: Slice[] }>([
        "-n",
        ns,
        "get",
        "endpointslices",
        "-l",
        `kubernetes.io/service-name=${LEGACY}`,
      ]);
      const ready = s.items.flatMap((x) => x.endpoints ?? []).filter((e) => e.conditions?.ready);
      return (d.status?.availableReplicas ?? 0) === REPLICAS && ready.length === REPLICAS;
    },
    { timeoutMs: 60_000, intervalMs: 200 },
  );
}

interface LegacyView {
  metadata: {
    ownerReferences?: unknown[];
    labels?: Record<string, string>;
    managedFields?: { manager?: string; operation?: string; subresource?: string; fieldsV1?: unknown }[];
  };
  spec: { replicas?: number; template: { metadata?: { labels?: Record<string, string> } } };
}

const legacyDeployment = (ns: string) => kubectlJson<LegacyView>(["-n", ns, "get", "deployment", LEGACY]);

const spec = (scaleDown: string) =>
  modelDeployment(NAME, {
    version: "1.0.0",
    replicas: REPLICAS,
    healthChecks: {
      interval: "1s",
      failureThreshold: 2,
      checks: [{ name: "model-ready", http: { path: `/v2/models/${NAME}/ready`, port: "http" } }],
    },
    progressDeadlineSeconds: 60,
    extra: { workloadRef: { name: LEGACY, scaleDown } },
  });

const adoptionPhase = (md: Md) =>
  (md.status as { adoption?: { phase?: string } } | undefined)?.adoption?.phase;

describe("adopting an existing Deployment (workloadRef)", function () {
  this.timeout(180_000);
  let operator: OperatorProcess;
  let ns: string;
  let cleanup: () => Promise<void>;
  const servers: ModelServer[] = [];
  let watch: EndpointWatch | undefined;

  before(async () => {
    operator = await startOperator();
  });
  after(async () => {
    await operator.stop();
  });
  beforeEach(async function () {
    ({ name: ns, cleanup } = await createNamespace(this.currentTest?.title.slice(0, 20) ?? "t"));
  });
  afterEach(async () => {
    watch?.stop();
    watch = undefined;
    await Promise.all(servers.splice(0).map((s) => s.stop()));
    await cleanup();
  });

  /** The whole adoption with `scaleDown`, watched; returns the Events' messages of the scale writes. */
  async function adopt(scaleDown: string): Promise<string[]> {
    await createLegacy(ns);
    watch = await EndpointWatch.start(ns, [LEGACY, NAME], [LEGACY]);
    await applyMd(ns, spec(scaleDown));
    servers.push(await serveVersion(ns, NAME, "1.0.0"));
    const done = await waitForMd(
      ns,
      NAME,
      `adoption (${scaleDown}) complete`,
      (m) => adoptionPhase(m) === "Completed",
      90_000,
    );
    expect(done.status?.stableVersion).to.equal("1.0.0");
    expect(condition(done, "Ready")).to.include({ status: "True" });
    // Once the scale-down (if any) has reached the pods, the Services' endpoints settle.
    const want = scaleDown === "never" ? REPLICAS * 2 : REPLICAS;
    await waitFor(
      `the user's Service with ${want} ready endpoints`,
      async () => watch!.ready(LEGACY).length === want,
    );
    // The clients' Service selects the new version alone after the promotion; its slices
    // follow when the EndpointSlice controller gets to them.
    await waitFor("the clients' Service on the new version's pods", async () => {
      const ready = watch!.ready(NAME);
      return ready.length > 0 && ready.every((p) => p.startsWith(`${NAME}-1-0-0-`));
    });
    watch.stop();
    expect(watch.events, "EndpointSlice states seen").to.be.above(3);
    expect(watch.gaps, "moments without a ready endpoint").to.deep.equal([]);
    // Both Services reached both versions' pods during the adoption.
    for (const svc of [LEGACY, NAME]) {
      const seen = [...(watch.seen.get(svc) ?? [])];
      expect(
        seen.some((p) => p.startsWith(`${LEGACY}-`)),
        `${svc} reached the old pods`,
      ).to.equal(true);
      expect(
        seen.some((p) => p.startsWith(`${NAME}-1-0-0-`)),
        `${svc} reached the new pods`,
      ).to.equal(true);
    }
    expect(
      watch.ready(NAME).every((p) => p.startsWith(`${NAME}-1-0-0-`)),
      "the clients' Service on the new version alone",
    ).to.equal(true);
    return (await mdEvents(ns, NAME))
      .filter((e) => e.reason === "AdoptedDeploymentScaled")
      .map((e) => e.note ?? "");
  }

  /**
   * The operator wrote nothing of the adopted Deployment but its replica count, through its
   * scale subresource (the API server's audit log of every request the operator sent), and
   * the Deployment is as the user made it: no owner, its own pod labels.
   */
  async function expectOnlyReplicasWritten(since: Date, wrote: boolean): Promise<void> {
    const base = `/apis/apps/v1/namespaces/${ns}/deployments/${LEGACY}`;
    const touched = operatorWrites(since)
      .filter((w) => !["get", "list", "watch"].includes(w.verb))
      .filter((w) => w.uri.split("?")[0]!.startsWith(base))
      .map((w) => `${w.verb} ${w.uri.split("?")[0]}`);
    if (!wrote) expect(touched, "writes of the adopted Deployment").to.deep.equal([]);
    else {
      expect(touched.length, "writes of the adopted Deployment").to.be.above(0);
      expect(new Set(touched), "writes of the adopted Deployment").to.deep.equal(
        new Set([`patch ${base}/scale`]),
      );
    }
    const d = await legacyDeployment(ns);
    expect(d.metadata.ownerReferences ?? []).to.deep.equal([]);
    expect(d.spec.template.metadata?.labels).to.deep.equal({ app: NAME });
  }

  it("scaleDown: onsuccess: scaled to 0 once promoted, clients never without a ready endpoint", async () => {
    const since = new Date();
    const scaled = await adopt("onsuccess");
    expect(scaled).to.deep.equal([`Deployment ${LEGACY} (adopted) scaled from ${REPLICAS} to 0 replica(s)`]);
    const d = await legacyDeployment(ns);
    expect(d.spec.replicas).to.equal(0);
    await expectOnlyReplicasWritten(since, true);
  });

  it("scaleDown: progressively: step by step as the new pods become available, the last at promotion", async () => {
    const since = new Date();
    const scaled = await adopt("progressively");
    expect(scaled).to.deep.equal([
      `Deployment ${LEGACY} (adopted) scaled from 2 to 1 replica(s)`,
      `Deployment ${LEGACY} (adopted) scaled from 1 to 0 replica(s)`,
    ]);
    const d = await legacyDeployment(ns);
    expect(d.spec.replicas).to.equal(0);
    await expectOnlyReplicasWritten(since, true);
  });

  it("scaleDown: never: promoted, the Deployment keeps its replicas and is never written", async () => {
    const since = new Date();
    const scaled = await adopt("never");
    expect(scaled).to.deep.equal([]);
    const d = await legacyDeployment(ns);
    expect(d.spec.replicas).to.equal(REPLICAS);
    await expectOnlyReplicasWritten(since, false);
  });

  it("a failing check rolls the adoption back and leaves the Deployment at its replicas", async () => {
    await createLegacy(ns);
    watch = await EndpointWatch.start(ns, [LEGACY, NAME], [LEGACY]);
    await applyMd(ns, spec("progressively"));
    servers.push(await serveVersion(ns, NAME, "1.0.0", { ready: 503 }));
    const stalled = await waitForMd(
      ns,
      NAME,
      "rolled back",
      (m) => condition(m, "Stalled")?.status === "True",
      60_000,
    );
    expect(condition(stalled, "Stalled")?.reason).to.equal("HealthCheckFailed");
    expect(stalled.status?.stableVersion).to.equal(undefined);
    const restored = await waitForMd(
      ns,
      NAME,
      "the new version at 0 once the Deployment is back",
      (m) => adoptionPhase(m) === "RolledBack" && (m.status?.traffic?.[1]?.readyEndpoints ?? -1) === 0,
      60_000,
    );
    expect(restored.status?.traffic?.[0]).to.include({
      version: `deployment/${LEGACY}`,
      weight: 100,
      readyEndpoints: REPLICAS,
    });
    const d = await legacyDeployment(ns);
    expect(d.spec.replicas).to.equal(REPLICAS);
    const clients = await kubectlJson<{ spec: { selector: Record<string, string> } }>([
      "-n",
      ns,
      "get",
      "service",
      NAME,
    ]);
    expect(clients.spec.selector).to.deep.equal({ app: NAME });
    const newDeployment = await kubectlJson<{ spec: { replicas: number } }>([
      "-n",
      ns,
      "get",
      "deployment",
      `${NAME}-1-0-0`,
    ]);
    expect(newDeployment.spec.replicas).to.equal(0);
    watch.stop();
    expect(watch.gaps, "moments without a ready endpoint").to.deep.equal([]);
  });

  for (const scaleDown of ["onsuccess", "progressively"]) {
    it(`scaleDown: ${scaleDown}, new pods that never become ready: the Deployment is not scaled, the deadline rolls back`, async () => {
      await createLegacy(ns);
      watch = await EndpointWatch.start(ns, [LEGACY, NAME], [LEGACY]);
      const manifest = modelDeployment(NAME, {
        version: "1.0.0",
        replicas: REPLICAS,
        podLabels: { "kwok.mlops.dev/never-ready": "true" },
        progressDeadlineSeconds: 5,
        extra: { workloadRef: { name: LEGACY, scaleDown } },
      });
      await applyMd(ns, manifest);
      const stalled = await waitForMd(
        ns,
        NAME,
        "rolled back",
        (m) => condition(m, "Stalled")?.status === "True",
        60_000,
      );
      expect(condition(stalled, "Stalled")?.reason).to.equal("ProgressDeadlineExceeded");
      await waitForMd(
        ns,
        NAME,
        "the new version at 0",
        (m) => (m.status?.traffic?.[1]?.readyEndpoints ?? -1) === 0 && adoptionPhase(m) === "RolledBack",
      );
      watch.stop();
      expect(watch.gaps, "moments without a ready endpoint").to.deep.equal([]);
      expect([...(watch.seen.get(NAME) ?? [])].every((p) => p.startsWith(`${LEGACY}-`))).to.equal(true);
      expect((await legacyDeployment(ns)).spec.replicas).to.equal(REPLICAS);
      const scaled = (await mdEvents(ns, NAME)).filter((e) => e.reason === "AdoptedDeploymentScaled");
      expect(scaled, "scale writes of the adopted Deployment").to.deep.equal([]);
    });
  }

  it("an operator killed mid-adoption: a new one carries on from the status, with the replicas recorded before", async () => {
    await createLegacy(ns);
    watch = await EndpointWatch.start(ns, [LEGACY, NAME], [LEGACY]);
    const paused = spec("progressively");
    (paused.spec as Record<string, unknown>).paused = true;
    await applyMd(ns, paused);
    servers.push(await serveVersion(ns, NAME, "1.0.0"));
    await waitFor("the old Deployment scaled to 1 while the adoption is held", async () => {
      const md = await waitForMd(ns, NAME, "held", (m) => m.status?.phase === "Paused");
      return adoptionPhase(md) === "Progressing" && (await legacyDeployment(ns)).spec.replicas === 1;
    });
    await operator.stop("SIGKILL");
    // While no operator runs, the hold ends.
    await applyMd(ns, spec("progressively"));
    operator = await startOperator();
    const done = await waitForMd(
      ns,
      NAME,
      "completed by the new process",
      (m) => adoptionPhase(m) === "Completed",
      90_000,
    );
    const adoption = (done.status as { adoption?: { originalReplicas?: number } }).adoption;
    expect(adoption?.originalReplicas, "the count recorded before the kill, not the one it found").to.equal(
      REPLICAS,
    );
    expect((await legacyDeployment(ns)).spec.replicas).to.equal(0);
    await waitFor("the user's Service on the new pods", async () => watch!.ready(LEGACY).length === REPLICAS);
    watch.stop();
    expect(watch.gaps, "moments without a ready endpoint").to.deep.equal([]);
  });

  it("the API server refuses workloadRef with a readiness gate or spec.traffic, and a scaleDown it does not know", async () => {
    const refused = async (change: (spec: Record<string, unknown>) => void) => {
      const manifest = spec("onsuccess");
      change(manifest.spec as Record<string, unknown>);
      const r = await tool("kubectl", ["-n", ns, "apply", "-f", "-"], JSON.stringify(manifest));
      expect(r.code, r.stdout).to.not.equal(0);
      return r.stderr;
    };
    expect(
      await refused((s) => (s.strategy = { canary: { readinessGate: true, steps: [{ setWeight: 50 }] } })),
    ).to.match(/an adoption cannot hold the new version's pods behind strategy.canary.readinessGate/);
    expect(
      await refused((s) => (s.traffic = { gatewayAPI: { httpRoute: { parentRefs: [{ name: "gw" }] } } })),
    ).to.match(/it cannot be combined with spec.traffic/);
    expect(
      await refused((s) => ((s.workloadRef as Record<string, unknown>).scaleDown = "sometimes")),
    ).to.match(/spec.workloadRef.scaleDown: Unsupported value: "sometimes"/);
  });

  it("a Deployment that does not exist: a condition and an Event, nothing created", async () => {
    await applyMd(ns, spec("onsuccess"));
    const refused = await waitForMd(
      ns,
      NAME,
      "refused",
      (m) => condition(m, "Stalled")?.reason === "AdoptionRefused",
    );
    expect(condition(refused, "Stalled")?.message).to.match(
      new RegExp(`Deployment ${LEGACY} \\(workloadRef\\) was not found`),
    );
    const events = await waitFor("the AdoptionRefused Event", async () => {
      const e = (await mdEvents(ns, NAME)).filter((x) => x.reason === "AdoptionRefused");
      return e.length > 0 ? e : undefined;
    });
    expect(events[0]?.type).to.equal("Warning");
    const children = await kubectlJson<{ items: unknown[] }>([
      "-n",
      ns,
      "get",
      "deployments,services",
      "-l",
      `mlops.dev/model=${NAME}`,
    ]);
    expect(children.items).to.deep.equal([]);
    // It appears: the adoption goes on by itself.
    await createLegacy(ns);
    await waitForMd(ns, NAME, "adopting", (m) => condition(m, "Reconciling")?.reason === "Adopting", 30_000);
  });
});
