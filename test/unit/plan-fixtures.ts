// Builders and a tiny simulated cluster for the planner's table-driven tests: plain objects,
// no API server. The simulation applies what a plan asks for, and Deployments become
// Available only when a test says so (settle), as a Deployment controller would.
import type { V1Deployment, V1EndpointSlice, V1Service } from "@kubernetes/client-node";
import fc from "fast-check";
import {
  ACTIONS,
  ANNOTATION_ACTION,
  ANNOTATION_REVISION,
  LABEL_MODEL,
  LABEL_VERSION,
} from "../../src/api/constants.ts";
import type { HealthCheck, ModelDeployment, ModelDeploymentSpec } from "../../src/api/types.ts";
import { findTrackDeployment, isTrackOf, plan, planChecks } from "../../src/plan/index.ts";
import type { DueCheck, Measurement, Observed, Plan } from "../../src/plan/types.ts";
import type { HTTPRoute } from "../../src/plan/routers/httproute.ts";
import type { InferencePool } from "../../src/plan/routers/inference-pool.ts";

export const T0 = new Date("2026-03-01T10:00:00.000Z");

export function makeMd(spec: Partial<ModelDeploymentSpec> = {}, name = "fraud-detector"): ModelDeployment {
  return {
    apiVersion: "mlops.dev/v1alpha1",
    kind: "ModelDeployment",
    metadata: {
      name,
      namespace: "models",
      uid: "uid-1",
      generation: 1,
      resourceVersion: "100",
      labels: { team: "fraud", "app.kubernetes.io/instance": "argo-app" },
      annotations: { "argocd.argoproj.io/tracking-id": "x" },
    },
    spec: {
      model: { version: "1.0.0", uri: "s3://models/fraud/1.0.0" },
      replicas: 10,
      template: {
        metadata: { labels: { app: "fraud" } },
        spec: {
          containers: [
            {
              name: "server",
              image: "registry.example/fraud:1",
              ports: [{ name: "http", containerPort: 8080 }],
              env: [{ name: "LOG_LEVEL", value: "info" }],
            },
          ],
        },
      },
      service: { port: 80 },
      strategy: { canary: { steps: [{ setWeight: 20 }, { pause: { duration: "1m" } }, { setWeight: 50 }] } },
      ...spec,
    },
  };
}

export const httpCheck = (name = "model-ready", extra: Partial<HealthCheck> = {}): HealthCheck => ({
  name,
  http: { path: "/v2/models/fraud-detector/ready", port: "http" },
  ...extra,
});

export const promCheck = (name = "error-rate"): HealthCheck => ({
  name,
  prometheus: {
    address: "http://prometheus.monitoring:9090",
    query: 'sum(rate(errors_total{version="{{version}}"}[1m]))',
    successCondition: "result < 0.01",
  },
});

export type Outcome = "Successful" | "Failed" | "Error";
export type Measure = (due: DueCheck[], now: Date) => Measurement[];

/** Every due check measured with `phase` (per check name when a record is given). */
export function measured(
  phase: Outcome | Record<string, Outcome>,
  value = phase === "Successful" ? "200" : "503",
): Measure {
  return (due, now) =>
    due.map((d) => ({
      name: d.check.name,
      phase: typeof phase === "string" ? phase : (phase[d.check.name] ?? "Successful"),
      value,
      time: now.toISOString(),
    }));
}

const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

/** The status kube-controller-manager gives Deployment `d` once `n` pods are ready and available. */
export function availableStatus(d: V1Deployment, n: number): V1Deployment["status"] {
  return {
    observedGeneration: d.metadata?.generation,
    replicas: n,
    updatedReplicas: n,
    readyReplicas: n,
    availableReplicas: n,
  };
}

/**
 * The name of pod `i` of Deployment `deployment`, as its ReplicaSet's generateName gets it:
 * DEPLOYMENT-HASH- cut to 58 characters by the API server, then 5 random characters.
 */
export function podName(deployment: string, i: number): string {
  return `${deployment}-7d9f8c6b5-`.slice(0, 58) + `x${i.toString(36)}k2z`;
}

/** A simulated namespace with one ModelDeployment and what the operator made for it. */
export class Sim {
  md: ModelDeployment;
  now: Date;
  deployments = new Map<string, V1Deployment>();
  services = new Map<string, V1Service>();
  /** HTTPRoutes the plans wrote (spec.traffic), by name. */
  routes = new Map<string, HTTPRoute>();
  /** HTTPRoutes the user owns (httpRouteRef), by name: changed only through the plans' edits. */
  userRoutes = new Map<string, HTTPRoute>();
  /** Does the cluster serve the HTTPRoute API? undefined: routes are not observed (no spec.traffic). */
  routeApi: boolean | undefined;
  /** GRPCRoutes the plans wrote (spec.traffic.gatewayAPI.grpcRoute), by name. */
  grpcRoutes = new Map<string, HTTPRoute>();
  /** Does the cluster serve the GRPCRoute API? undefined: as routeApi says. */
  grpcRouteApi: boolean | undefined;
  /** InferencePools the plans wrote (spec.traffic.gatewayAPI.inferencePool), by name. */
  pools = new Map<string, InferencePool>();
  /** Does the cluster serve the InferencePool API? undefined: pools are not observed. */
  poolApi: boolean | undefined;
  /** InferencePool writes (a pool whose spec changed) and deletes. */
  poolWrites = 0;
  /** HTTPRoute and GRPCRoute writes (a route whose spec changed). */
  routeWrites = 0;
  last?: Plan;
  /** Every Event of every reconcile, in order. */
  events: Plan["events"] = [];
  writes = 0;

  constructor(md: ModelDeployment, now = T0) {
    this.md = clone(md);
    this.now = new Date(now);
  }

  observed(): Observed {
    const deployments = [...this.deployments.values()].map(clone);
    const observed: Observed = {
      deployments,
      services: [...this.services.values()].map(clone),
      endpointSlices: this.slices(),
    };
    if (this.routeApi !== undefined)
      observed.routes = {
        available: this.routeApi,
        httpRoutes: this.routeApi ? [...this.routes.values()].map(clone) : [],
      };
    const grpcApi = this.grpcRouteApi ?? this.routeApi;
    if (grpcApi !== undefined)
      observed.grpcRoutes = {
        available: grpcApi,
        routes: grpcApi ? [...this.grpcRoutes.values()].map(clone) : [],
      };
    if (this.poolApi !== undefined)
      observed.pools = {
        available: this.poolApi,
        inferencePools: this.poolApi ? [...this.pools.values()].map(clone) : [],
      };
    const ref = this.md.spec.traffic?.gatewayAPI?.httpRouteRef;
    if (observed.routes && this.routeApi && ref) {
      const r = this.userRoutes.get(ref.name);
      observed.routes.referenced = r ? clone(r) : undefined;
    }
    const previous = this.md.status?.route;
    if (observed.routes && this.routeApi && previous?.rule !== undefined && previous.name !== ref?.name) {
      const r = this.userRoutes.get(previous.name ?? "");
      if (r) observed.routes.released = clone(r);
    }
    return observed;
  }

  /** Every parent of the route NAME reports Accepted (and ResolvedRefs) as given, as a Gateway controller would. */
  parentsSay(accepted: "True" | "False", reason = "Accepted", message = "", name?: string): this {
    const own = this.md.metadata?.name ?? "";
    const route =
      name !== undefined ? this.userRoutes.get(name) : (this.routes.get(own) ?? this.grpcRoutes.get(own));
    if (!route) throw new Error("no route to accept");
    route.status = {
      parents: (route.spec?.parentRefs ?? []).map((parentRef) => ({
        parentRef,
        controllerName: "example.net/gateway",
        conditions: [
          { type: "Accepted", status: accepted, reason, message },
          { type: "ResolvedRefs", status: "True", reason: "ResolvedRefs", message: "" },
        ],
      })),
    };
    return this;
  }

  /** One EndpointSlice of the clients' Service: the ready pods its selector matches. */
  slices(): V1EndpointSlice[] {
    const svc = this.services.get(this.md.metadata?.name ?? "");
    if (!svc) return [];
    const sel = svc.spec?.selector ?? {};
    const endpoints = [];
    for (const d of this.deployments.values()) {
      const labels = d.spec?.template?.metadata?.labels ?? {};
      if (!Object.entries(sel).every(([k, v]) => labels[k] === v)) continue;
      for (let i = 0; i < (d.status?.readyReplicas ?? 0); i++) {
        endpoints.push({
          addresses: [`10.0.0.${i}`],
          conditions: { ready: true },
          targetRef: { kind: "Pod", name: podName(d.metadata?.name ?? "", i), namespace: "models" },
        });
      }
    }
    return [
      {
        apiVersion: "discovery.k8s.io/v1",
        kind: "EndpointSlice",
        addressType: "IPv4",
        metadata: {
          name: `${svc.metadata?.name}-abcde`,
          labels: { "kubernetes.io/service-name": svc.metadata?.name ?? "" },
        },
        endpoints,
      },
    ];
  }

  /** One reconcile as the reconciler runs it: due checks, measure, plan, write. */
  reconcile(measure?: Measure): Plan {
    const observed = this.observed();
    const due = planChecks(clone(this.md), observed, this.now);
    const measurements = measure ? measure(due, this.now) : [];
    const p = plan({ md: clone(this.md), observed, measurements, now: this.now });
    this.last = p;
    this.events.push(...p.events);
    this.write(p);
    return p;
  }

  write(p: Plan): void {
    if (p.clearAction && this.md.metadata?.annotations?.[ANNOTATION_ACTION] !== undefined) {
      delete this.md.metadata.annotations[ANNOTATION_ACTION];
      this.bumpRv();
    }
    if (JSON.stringify(p.status) !== JSON.stringify(this.md.status ?? {})) {
      this.md.status = clone(p.status);
      this.bumpRv();
    }
    for (const obj of p.apply) {
      const name = obj.metadata?.name ?? "";
      const edit = p.edits?.find((e) => e.kind === obj.kind && e.name === name);
      if (edit) {
        // Read-modify-write of the route the user owns, as the reconciler does it.
        const current = this.userRoutes.get(name);
        if (!current) continue;
        const next = edit.edit(clone(current));
        if (JSON.stringify(next.spec) === JSON.stringify(current.spec)) continue;
        this.routeWrites++;
        next.status = current.status;
        this.userRoutes.set(name, clone(next));
        continue;
      }
      if (obj.kind === "Deployment") {
        const d = clone(obj) as V1Deployment;
        const old = this.deployments.get(name);
        const changed = !old || JSON.stringify(old.spec) !== JSON.stringify(d.spec);
        d.metadata = {
          ...d.metadata,
          generation: (old?.metadata?.generation ?? 0) + (changed ? 1 : 0),
          creationTimestamp: old?.metadata?.creationTimestamp ?? (this.now.toISOString() as never),
        };
        d.status = old?.status ?? {};
        if (changed) this.writes++;
        this.deployments.set(name, d);
      } else if (obj.kind === "HTTPRoute" || obj.kind === "GRPCRoute") {
        const routes = obj.kind === "HTTPRoute" ? this.routes : this.grpcRoutes;
        const old = routes.get(name);
        const r = clone(obj) as HTTPRoute;
        if (!old || JSON.stringify(old.spec) !== JSON.stringify(r.spec)) this.routeWrites++;
        if (old?.status) r.status = old.status; // a spec write keeps what the parents said
        routes.set(name, r);
      } else if (obj.kind === "InferencePool") {
        const old = this.pools.get(name);
        const pool = clone(obj) as InferencePool;
        if (!old || JSON.stringify(old.spec) !== JSON.stringify(pool.spec)) this.poolWrites++;
        if (old?.status) pool.status = old.status;
        this.pools.set(name, pool);
      } else {
        const old = this.services.get(name);
        if (!old || JSON.stringify(old.spec) !== JSON.stringify((obj as V1Service).spec)) this.writes++;
        this.services.set(name, clone(obj) as V1Service);
      }
    }
    for (const ref of p.delete) {
      if (ref.kind === "Deployment") this.deployments.delete(ref.name);
      else if (ref.kind === "HTTPRoute") this.routes.delete(ref.name);
      else if (ref.kind === "GRPCRoute") this.grpcRoutes.delete(ref.name);
      else if (ref.kind === "InferencePool") {
        if (this.pools.delete(ref.name)) this.poolWrites++;
      } else this.services.delete(ref.name);
    }
  }

  bumpRv(): void {
    const meta = this.md.metadata ?? (this.md.metadata = {});
    meta.resourceVersion = String(Number(meta.resourceVersion ?? "0") + 1);
  }

  /** The Deployment controller catches up: every (or one) version (at one revision) is Available at its replicas. */
  settle(version?: string, revision?: string): this {
    for (const d of this.deployments.values()) {
      if (version !== undefined && !isTrackOf(d, version, revision)) continue;
      d.status = availableStatus(d, d.spec?.replicas ?? 1);
    }
    return this;
  }

  /** The controller saw the spec but only `available` pods are up. */
  partly(version: string, available: number, revision?: string): this {
    const d = this.deployment(version, revision);
    if (d) {
      d.status = {
        observedGeneration: d.metadata?.generation,
        replicas: d.spec?.replicas,
        updatedReplicas: d.spec?.replicas,
        readyReplicas: available,
        availableReplicas: available,
      };
    }
    return this;
  }

  /** The Deployment of `version` (at `revision`, when given). */
  deployment(version: string, revision?: string): V1Deployment | undefined {
    return findTrackDeployment(this.deployments.values(), version, revision);
  }

  replicas(version: string, revision?: string): number | undefined {
    return this.deployment(version, revision)?.spec?.replicas;
  }

  clientsSelector(): Record<string, string> | undefined {
    return this.services.get(this.md.metadata?.name ?? "")?.spec?.selector;
  }

  advance(ms: number): this {
    this.now = new Date(this.now.getTime() + ms);
    return this;
  }

  /** A change of the spec (a new generation), as `kubectl apply` or GitOps makes it. */
  edit(fn: (spec: ModelDeploymentSpec) => void): this {
    fn(this.md.spec);
    const meta = this.md.metadata ?? (this.md.metadata = {});
    meta.generation = (meta.generation ?? 1) + 1;
    this.bumpRv();
    return this;
  }

  setVersion(version: string): this {
    return this.edit((s) => {
      s.model.version = version;
      s.model.uri = `s3://models/fraud/${version}`;
    });
  }

  annotate(action: string): this {
    const meta = this.md.metadata ?? (this.md.metadata = {});
    meta.annotations = { ...meta.annotations, [ANNOTATION_ACTION]: action };
    this.bumpRv();
    return this;
  }

  condition(type: string) {
    return this.md.status?.conditions?.find((c) => c.type === type);
  }

  /** Reconcile and settle until `done` holds or `limit` reconciles passed; returns the reconciles made. */
  runUntil(done: (sim: Sim) => boolean, measure?: Measure, limit = 30, stepMs = 1000): number {
    for (let i = 0; i < limit; i++) {
      if (done(this)) return i;
      this.reconcile(measure);
      this.settle();
      this.advance(stepMs);
    }
    throw new Error(`not done after ${limit} reconciles: ${JSON.stringify(this.md.status, null, 1)}`);
  }
}

/** A ModelDeployment whose first version is stable and Available, at rest. */
export function stableSim(spec: Partial<ModelDeploymentSpec> = {}, now = T0): Sim {
  const sim = new Sim(makeMd(spec), now);
  sim.reconcile();
  sim.settle();
  sim.reconcile();
  return sim;
}

// ---- property tests: random histories of one ModelDeployment --------------------------------

/** One thing that happens to a simulated ModelDeployment: a change in the world, or a reconcile. */
export type SimCmd =
  /** The Deployment controller catches up: every version, or only the stable one or the candidate. */
  | { t: "settle"; of?: "stable" | "candidate" }
  /** Only `n` pods of the candidate (or of the stable version) are ready and available. */
  | { t: "partly"; n: number; of?: "stable" }
  | { t: "advance"; ms: number }
  | { t: "version"; v: string }
  | { t: "template" }
  | { t: "action"; a: string }
  | { t: "paused"; on: boolean }
  | { t: "replicas"; n: number }
  /** One reconcile, every due check measured with `m` ("none": nothing measured). */
  | { t: "reconcile"; m: Outcome | "none" }
  /** A reconcile, then the Deployment controller catches up and `ms` pass. */
  | { t: "tick"; m: Outcome | "none"; ms: number };

/** The commands that change the world without a reconcile. */
export type WorldCmd = Exclude<SimCmd, { t: "reconcile" | "tick" }>;

export const simCmd: fc.Arbitrary<SimCmd> = fc.oneof(
  { arbitrary: fc.constant<SimCmd>({ t: "settle" }), weight: 4 },
  {
    arbitrary: fc.constantFrom("stable", "candidate").map<SimCmd>((of) => ({ t: "settle", of }) as SimCmd),
    weight: 1,
  },
  { arbitrary: fc.integer({ min: 0, max: 4 }).map<SimCmd>((n) => ({ t: "partly", n })), weight: 1 },
  {
    arbitrary: fc.integer({ min: 0, max: 4 }).map<SimCmd>((n) => ({ t: "partly", n, of: "stable" })),
    weight: 1,
  },
  { arbitrary: fc.integer({ min: 0, max: 120_000 }).map<SimCmd>((ms) => ({ t: "advance", ms })), weight: 3 },
  {
    arbitrary: fc.constantFrom("1.0.0", "2.0.0", "3.0.0").map<SimCmd>((v) => ({ t: "version", v })),
    weight: 1,
  },
  { arbitrary: fc.constant<SimCmd>({ t: "template" }), weight: 1 },
  { arbitrary: fc.constantFrom(...ACTIONS, "bogus").map<SimCmd>((a) => ({ t: "action", a })), weight: 1 },
  { arbitrary: fc.boolean().map<SimCmd>((on) => ({ t: "paused", on })), weight: 1 },
  { arbitrary: fc.constantFrom(0, 1, 3, 4).map<SimCmd>((n) => ({ t: "replicas", n })), weight: 1 },
  {
    arbitrary: fc
      .constantFrom("Successful", "Failed", "Error", "none")
      .map<SimCmd>((m) => ({ t: "reconcile", m }) as SimCmd),
    weight: 4,
  },
  {
    arbitrary: fc
      .record({
        m: fc.constantFrom("Successful", "Successful", "Successful", "Failed", "Error", "none"),
        ms: fc.integer({ min: 1000, max: 15_000 }),
      })
      .map<SimCmd>(({ m, ms }) => ({ t: "tick", m, ms }) as SimCmd),
    weight: 12,
  },
);

/** A rollout of 2.0.0 left to run for a while, then any of `cmds`. */
export function rolloutScenarioOf(cmds: fc.Arbitrary<SimCmd>): fc.Arbitrary<SimCmd[]> {
  return fc
    .tuple(fc.integer({ min: 0, max: 14 }), fc.array(cmds, { maxLength: 50 }))
    .map(([ticks, rest]) => [
      { t: "version", v: "2.0.0" } as SimCmd,
      ...Array.from({ length: ticks }, () => ({ t: "tick", m: "Successful", ms: 6000 }) as SimCmd),
      ...rest,
    ]);
}

/** A rollout of 2.0.0 left to run for a while, then anything. */
export const rolloutScenario: fc.Arbitrary<SimCmd[]> = rolloutScenarioOf(simCmd);

/** The ModelDeployment of the property tests: 4 replicas, one Prometheus check, short deadlines. */
export function propertyMd(blueGreen: boolean, spec: Partial<ModelDeploymentSpec> = {}): ModelDeployment {
  return makeMd({
    replicas: 4,
    healthChecks: { failureThreshold: 2, checks: [promCheck()] },
    progressDeadlineSeconds: 60,
    revisionHistoryLimit: 1,
    strategy: blueGreen
      ? { blueGreen: { previewReplicas: 1, autoPromotionSeconds: 20, scaleDownDelaySeconds: 30 } }
      : {
          canary: {
            steps: [{ setWeight: 25 }, { pause: { duration: "30s" } }, { setWeight: 50 }, { pause: {} }],
          },
        },
    ...spec,
  });
}

/** Carries out a command that changes the world (reconciles are the caller's). */
export function applyWorldCmd(sim: Sim, c: WorldCmd): void {
  const s = sim.md.status;
  const candidate = (): [string, string | undefined] =>
    s?.candidateVersion !== undefined
      ? [s.candidateVersion, s.candidateRevision]
      : [sim.md.spec.model.version, undefined];
  switch (c.t) {
    case "settle":
      if (c.of === undefined) sim.settle();
      else {
        const [v, r] =
          c.of === "stable"
            ? [s?.stableVersion, s?.stableRevision]
            : [s?.candidateVersion, s?.candidateRevision];
        if (v !== undefined) sim.settle(v, r);
      }
      break;
    case "partly": {
      const [v, r] = c.of === "stable" ? [s?.stableVersion, s?.stableRevision] : candidate();
      if (v !== undefined) sim.partly(v, Math.min(c.n, sim.replicas(v, r) ?? 0), r);
      break;
    }
    case "advance":
      sim.advance(c.ms);
      break;
    case "version":
      sim.setVersion(c.v);
      break;
    case "template": {
      const patch = (sim.md.metadata?.generation ?? 1) + 1;
      sim.edit((s) => (s.template.spec!.containers[0]!.image = `registry.example/fraud:patch-${patch}`));
      break;
    }
    case "action":
      sim.annotate(c.a);
      break;
    case "paused":
      sim.edit((s) => (s.paused = c.on));
      break;
    case "replicas":
      sim.edit((s) => (s.replicas = c.n));
      break;
  }
}

export function labelsOf(d: { metadata?: { labels?: Record<string, string> } } | undefined) {
  return d?.metadata?.labels ?? {};
}

/** A track's key in tests: version@revision. */
export function trackKey(version: string | undefined, revision: string | undefined): string | undefined {
  return version === undefined ? undefined : `${version}@${revision ?? ""}`;
}

/** The track key of a Deployment: its version label @ its revision annotation. */
export function deploymentKey(
  d: { metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> } } | undefined,
): string | undefined {
  return trackKey(d?.metadata?.labels?.[LABEL_VERSION], d?.metadata?.annotations?.[ANNOTATION_REVISION]);
}

export { ANNOTATION_REVISION, LABEL_MODEL, LABEL_VERSION };
