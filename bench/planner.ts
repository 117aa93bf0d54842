// Planner speed, in-process: plan() of a typical ModelDeployment (4 replicas, a canary of
// three steps, an HTTP and a Prometheus check) with its children observed, at rest and in
// the middle of a canary. The worlds are built by running the planner itself against a
// simulated cluster in which every Deployment becomes Available at once.
import { performance } from "node:perf_hooks";
import type { V1Deployment, V1EndpointSlice, V1Service } from "@kubernetes/client-node";
import type { ModelDeployment } from "../src/api/types.ts";
import { plan, type Observed, type PlanInput } from "../src/plan/index.ts";

export interface PlannerResult {
  scenario: string;
  plansPerSecond: number;
  /** Mean time of one plan(), microseconds. */
  meanMicros: number;
  iterations: number;
}

export function typicalModelDeployment(version = "2.0.0"): ModelDeployment {
  return {
    apiVersion: "mlops.dev/v1alpha1",
    kind: "ModelDeployment",
    metadata: {
      name: "fraud-detector",
      namespace: "models",
      uid: "5f1d3c9e-0000-4000-8000-000000000001",
      generation: 1,
      creationTimestamp: "2026-01-01T00:00:00Z" as unknown as Date,
    },
    spec: {
      model: { version, uri: `s3://models/fraud/${version}`, format: "sklearn" },
      replicas: 4,
      template: {
        metadata: { labels: { app: "fraud-detector" } },
        spec: {
          containers: [
            {
              name: "server",
              image: `registry.example/fraud-server:${version}`,
              ports: [{ name: "http", containerPort: 8080 }],
              resources: { requests: { cpu: "500m", memory: "1Gi" } },
            },
          ],
        },
      },
      service: { port: 80, targetPort: "http" },
      strategy: {
        canary: { steps: [{ setWeight: 25 }, { pause: { duration: "1m" } }, { setWeight: 50 }] },
      },
      healthChecks: {
        interval: "10s",
        failureThreshold: 3,
        checks: [
          { name: "model-ready", http: { path: "/v2/models/fraud-detector/ready", port: "http" } },
          {
            name: "error-rate",
            prometheus: {
              address: "http://prometheus.monitoring:9090",
              query: 'sum(rate(errors_total{version="{{version}}"}[1m]))',
              successCondition: "result < 0.01",
            },
          },
        ],
      },
    },
  } as ModelDeployment;
}

/** Applies a plan to a simulated cluster: every Deployment is Available at its size, its pods ready. */
function simulate(md: ModelDeployment, observed: Observed, p: ReturnType<typeof plan>): Observed {
  const deployments = new Map(observed.deployments.map((d) => [d.metadata?.name ?? "", d]));
  const services = new Map(observed.services.map((s) => [s.metadata?.name ?? "", s]));
  for (const obj of p.apply) {
    const name = obj.metadata?.name ?? "";
    if (obj.kind === "Deployment") {
      const d = structuredClone(obj) as V1Deployment;
      const replicas = d.spec?.replicas ?? 1;
      const generation = (deployments.get(name)?.metadata?.generation ?? 0) + 1;
      d.metadata = { ...d.metadata, generation, uid: `uid-${name}` };
      d.status = {
        observedGeneration: generation,
        replicas,
        updatedReplicas: replicas,
        readyReplicas: replicas,
        availableReplicas: replicas,
      };
      deployments.set(name, d);
    } else if (obj.kind === "Service") {
      services.set(name, {
        ...(structuredClone(obj) as V1Service),
        metadata: { ...obj.metadata, uid: `uid-${name}` },
      });
    }
  }
  for (const ref of p.delete) (ref.kind === "Deployment" ? deployments : services).delete(ref.name);
  // The clients' Service's EndpointSlice: the ready pods of every Deployment it selects.
  const clientsName = md.metadata?.name ?? "";
  const selector = services.get(clientsName)?.spec?.selector ?? {};
  const endpoints: NonNullable<V1EndpointSlice["endpoints"]> = [];
  for (const d of deployments.values()) {
    const labels = d.spec?.template?.metadata?.labels ?? {};
    if (!Object.entries(selector).every(([k, v]) => labels[k] === v)) continue;
    for (let i = 0; i < (d.status?.readyReplicas ?? 0); i++) {
      endpoints.push({
        addresses: [`10.244.0.${endpoints.length + 1}`],
        conditions: { ready: true },
        targetRef: { kind: "Pod", name: `${d.metadata?.name}-6d5f7c9b8-x${i}a1z` },
      });
    }
  }
  const slice: V1EndpointSlice = {
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    addressType: "IPv4",
    metadata: { name: `${clientsName}-abcde`, labels: { "kubernetes.io/service-name": clientsName } },
    endpoints,
    ports: [{ name: "http", port: 8080 }],
  };
  return {
    deployments: [...deployments.values()],
    services: [...services.values()],
    endpointSlices: [slice],
  };
}

/** Runs the planner against the simulated cluster `rounds` times; returns the last input. */
function converge(md: ModelDeployment, observed: Observed, now: Date, rounds: number): PlanInput {
  let current = md;
  let world = observed;
  for (let i = 0; i < rounds; i++) {
    const p = plan({ md: current, observed: world, measurements: [], now });
    world = simulate(current, world, p);
    current = { ...current, status: p.status };
  }
  return { md: current, observed: world, measurements: [], now };
}

/** The two worlds: at rest (one version serves) and mid-canary (first step reached, checks pending). */
export function plannerScenarios(): { scenario: string; input: PlanInput }[] {
  const now = new Date("2026-01-01T00:10:00Z");
  const empty: Observed = { deployments: [], services: [], endpointSlices: [] };
  const rest = converge(typicalModelDeployment("2.0.0"), empty, now, 6);
  const next = typicalModelDeployment("2.1.0");
  next.metadata = { ...next.metadata, generation: 2 };
  const canary = converge({ ...next, status: rest.md.status }, rest.observed, now, 2);
  return [
    { scenario: "at rest", input: rest },
    { scenario: "canary step", input: canary },
  ];
}

/** plan() per second for each scenario, measured for about `seconds` each after a warm-up. */
export function measurePlanner(seconds: number): PlannerResult[] {
  return plannerScenarios().map(({ scenario, input }) => {
    for (let i = 0; i < 2000; i++) plan(input);
    let iterations = 0;
    const start = performance.now();
    const end = start + seconds * 1000;
    let t = start;
    while (t < end) {
      for (let i = 0; i < 200; i++) plan(input);
      iterations += 200;
      t = performance.now();
    }
    const elapsedMs = t - start;
    return {
      scenario,
      iterations,
      plansPerSecond: Math.round((iterations / elapsedMs) * 1000),
      meanMicros: Number(((elapsedMs * 1000) / iterations).toFixed(2)),
    };
  });
}
