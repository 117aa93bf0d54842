// Builders and a tiny simulated cluster for the planner's table-driven tests: plain objects,
// no API server. The simulation applies what a plan asks for, and Deployments become
// Available only when a test says so (settle), as a Deployment controller would.
import type { V1Deployment, V1EndpointSlice, V1Service } from "@kubernetes/client-node";
import { ANNOTATION_ACTION, LABEL_MODEL, LABEL_VERSION } from "../../src/api/constants.ts";
import type { HealthCheck, ModelDeployment, ModelDeploymentSpec } from "../../src/api/types.ts";
import { plan, planChecks } from "../../src/plan/index.ts";
import type { DueCheck, Measurement, Observed, Plan } from "../../src/plan/types.ts";

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

type Outcome = "Successful" | "Failed" | "Error";
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

/** A simulated namespace with one ModelDeployment and what the operator made for it. */
export class Sim {
  md: ModelDeployment;
  now: Date;
  deployments = new Map<string, V1Deployment>();
  services = new Map<string, V1Service>();
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
    return { deployments, services: [...this.services.values()].map(clone), endpointSlices: this.slices() };
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
          targetRef: { kind: "Pod", name: `${d.metadata?.name}-7d9f8c6b5-x${i}k2z`, namespace: "models" },
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
      } else {
        const old = this.services.get(name);
        if (!old || JSON.stringify(old.spec) !== JSON.stringify((obj as V1Service).spec)) this.writes++;
        this.services.set(name, clone(obj) as V1Service);
      }
    }
    for (const ref of p.delete) {
      if (ref.kind === "Deployment") this.deployments.delete(ref.name);
      else this.services.delete(ref.name);
    }
  }

  bumpRv(): void {
    const meta = this.md.metadata ?? (this.md.metadata = {});
    meta.resourceVersion = String(Number(meta.resourceVersion ?? "0") + 1);
  }

  /** The Deployment controller catches up: every (or one) version is Available at its replicas. */
  settle(version?: string): this {
    for (const d of this.deployments.values()) {
      if (version !== undefined && d.metadata?.labels?.[LABEL_VERSION] !== version) continue;
      const n = d.spec?.replicas ?? 1;
      d.status = {
        observedGeneration: d.metadata?.generation,
        replicas: n,
        updatedReplicas: n,
        readyReplicas: n,
        availableReplicas: n,
      };
    }
    return this;
  }

  /** The controller saw the spec but only `available` pods are up. */
  partly(version: string, available: number): this {
    const d = this.deployment(version);
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

  deployment(version: string): V1Deployment | undefined {
    return [...this.deployments.values()].find((d) => d.metadata?.labels?.[LABEL_VERSION] === version);
  }

  replicas(version: string): number | undefined {
    return this.deployment(version)?.spec?.replicas;
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

export function labelsOf(d: { metadata?: { labels?: Record<string, string> } } | undefined) {
  return d?.metadata?.labels ?? {};
}

export { LABEL_MODEL, LABEL_VERSION };
