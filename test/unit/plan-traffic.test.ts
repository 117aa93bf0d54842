// The weights the clients' Service sees, and which health checks are due with what target.
import type { V1Deployment, V1EndpointSlice } from "@kubernetes/client-node";
import { expect } from "chai";
import type { ModelDeploymentSpec } from "../../src/api/types.ts";
import { computeRevision, computeTraffic, planChecks, versionOfPod } from "../../src/plan/index.ts";
import { httpCheck, makeMd, promCheck, Sim, T0 } from "./plan-fixtures.ts";

const dep = (name: string, version: string, available = 0): V1Deployment => ({
  metadata: { name, labels: { "mlops.dev/model": "m", "mlops.dev/version": version } },
  spec: { replicas: available, selector: {}, template: {} },
  status: { availableReplicas: available, readyReplicas: available },
});

const slice = (pods: [string, boolean | undefined][]): V1EndpointSlice => ({
  addressType: "IPv4",
  endpoints: pods.map(([name, ready], i) => ({
    addresses: [`10.0.0.${i}`],
    conditions: ready === undefined ? {} : { ready },
    targetRef: { kind: "Pod", name },
  })),
});

describe("plan: traffic", () => {
  const deployments = [dep("m-1", "1"), dep("m-1-0", "1.0"), dep("m-2", "2")];

  it("maps pods to versions by their Deployment's name, longest name first", () => {
    expect(versionOfPod(deployments, "m-1-0-7d9f8c6b5-abcde")).to.equal("1.0");
    expect(versionOfPod(deployments, "m-1-7d9f8c6b5-abcde")).to.equal("1");
    expect(versionOfPod(deployments, "m-2-7d9f8c6b5-abcde")).to.equal("2");
    expect(versionOfPod(deployments, "other-7d9f8c6b5-abcde")).to.equal(undefined);
  });

  it("counts ready endpoints per version, stable first, weights summing to 100", () => {
    const slices = [
      slice([
        ["m-1-aaa-1", true],
        ["m-1-aaa-2", true],
        ["m-1-aaa-3", false], // not ready
        ["m-2-bbb-1", true],
        ["m-2-bbb-1", true], // the same pod twice (dual-stack slices)
      ]),
      slice([["m-1-0-ccc-1", undefined]]), // ready unknown counts as ready
    ];
    expect(computeTraffic({ deployments, services: [], endpointSlices: slices }, "1", "2")).to.deep.equal([
      { version: "1", weight: 50, readyEndpoints: 2 },
      { version: "2", weight: 25, readyEndpoints: 1 },
      { version: "1.0", weight: 25, readyEndpoints: 1 },
    ]);
  });

  it("rounds by largest remainder and lists stable and candidate even without endpoints", () => {
    const three = slice([
      ["m-1-a-1", true],
      ["m-1-a-2", true],
      ["m-2-b-1", true],
    ]);
    expect(
      computeTraffic({ deployments, services: [], endpointSlices: [three] }, "1", "2").map((t) => t.weight),
    ).to.deep.equal([67, 33]);
    expect(computeTraffic({ deployments, services: [], endpointSlices: [] }, "1", "2")).to.deep.equal([
      { version: "1", weight: 0, readyEndpoints: 0 },
      { version: "2", weight: 0, readyEndpoints: 0 },
    ]);
  });
});

describe("plan: status.traffic right after a new version is applied", () => {
  // 42 characters: its Deployments (NAME-1-0-0, NAME-2-0-0) have 48, so the API server cuts
  // their pods' names (the Sim names them as it does).
  const LONG = "fraud-detector-for-card-payments-in-europe";
  const route = { gatewayAPI: { httpRoute: { parentRefs: [{ name: "gw" }] } } };
  const rows: { what: string; name: string; spec: Partial<ModelDeploymentSpec>; routed?: boolean }[] = [
    { what: "canary by replica ratio", name: "fraud-detector", spec: {} },
    { what: "blue/green", name: "fraud-detector", spec: { strategy: { blueGreen: {} } } },
    { what: "canary through a route", name: "fraud-detector", spec: { traffic: route }, routed: true },
    { what: "canary by replica ratio, long names", name: LONG, spec: {} },
    { what: "blue/green, long names", name: LONG, spec: { strategy: { blueGreen: {} } } },
    { what: "canary through a route, long names", name: LONG, spec: { traffic: route }, routed: true },
  ];
  for (const row of rows) {
    it(`${row.what}: the stable version keeps its share until traffic moves`, () => {
      const sim = new Sim(makeMd(row.spec, row.name), T0);
      if (row.routed) sim.routeApi = true;
      sim.reconcile();
      sim.settle();
      sim.reconcile();
      if (row.routed) sim.parentsSay("True").reconcile();
      const stable = { version: "1.0.0", revision: sim.md.status?.stableRevision };
      expect(sim.md.status?.traffic, "at rest").to.deep.equal([
        { ...stable, weight: 100, readyEndpoints: 10 },
      ]);
      expect(sim.md.status?.replicas, "at rest").to.equal(10);

      sim.setVersion("2.0.0");
      const first = sim.reconcile().status;
      const candidate = { version: "2.0.0", revision: first.candidateRevision };
      expect(first.traffic, "the first status of 2.0.0").to.deep.equal([
        { ...stable, weight: 100, readyEndpoints: 10 },
        { ...candidate, weight: 0, readyEndpoints: 0 },
      ]);
      expect(first.candidateWeight).to.equal(0);
      // The candidate's Deployment is there, none of its pods ready yet.
      const next = sim.reconcile().status;
      expect(next.traffic?.[0], "before the candidate has a ready pod").to.deep.equal({
        ...stable,
        weight: 100,
        readyEndpoints: 10,
      });
    });
  }

  it("counts a pod whose name the API server cut to 63 characters for its Deployment", () => {
    const long = [dep(`${LONG}-1-0-0`, "1.0.0"), dep(`${LONG}-2-0-0`, "2.0.0"), dep("m-1", "1")];
    // As kube-controller-manager and the API server named them (test/e2e/rollout.test.ts).
    expect(versionOfPod(long, `${LONG}-1-0-0-684997c4fkcw9k`)).to.equal("1.0.0");
    expect(versionOfPod(long, `${LONG}-2-0-0-5b7d9c8f6x2k4z`)).to.equal("2.0.0");
    // A Deployment of 57 characters or more: not even its '-' is left before the random part.
    const longest = "a".repeat(60);
    expect(versionOfPod([dep(longest, "9")], `${"a".repeat(58)}x0k2z`)).to.equal("9");
    // Without a '-' before the random part but shorter than 63: no name the API server makes.
    expect(versionOfPod(long, `${LONG}-1-0-0-684997c4fk`)).to.equal(undefined);
    expect(versionOfPod(long, "m-1-7d9f8c6b5-abcde")).to.equal("1");
  });
});

describe("plan: planChecks", () => {
  const rolling = (available: number) => {
    const md = makeMd({
      model: { version: "2.0.0" },
      service: { port: 8000 },
      healthChecks: {
        interval: "10s",
        checks: [
          httpCheck("ready", { timeout: "2s" }),
          {
            name: "smoke",
            http: {
              url: "http://{{ service }}.{{namespace}}:8000/v2/models/{{name}}/infer",
              method: "POST",
              body: '{"v":"{{version}}"}',
            },
          },
          promCheck(),
          httpCheck("slow", { interval: "1m" }),
        ],
      },
    });
    md.status = {
      stableVersion: "1.0.0",
      rollout: {
        version: "2.0.0",
        revision: computeRevision(md),
        startedAt: T0.toISOString(),
        stepStartedAt: T0.toISOString(),
      },
    };
    const observed = {
      deployments: [
        {
          ...dep("fraud-detector-2-0-0", "2.0.0", available),
          metadata: {
            name: "fraud-detector-2-0-0",
            labels: { "mlops.dev/model": "fraud-detector", "mlops.dev/version": "2.0.0" },
            annotations: { "mlops.dev/revision": computeRevision(md) },
          },
        },
      ],
      services: [],
      endpointSlices: [],
    };
    return { md, observed };
  };

  it("resolves targets and fills templates; nothing is due before the candidate has an available replica", () => {
    const { md, observed } = rolling(1);
    const due = planChecks(md, observed, T0);
    expect(due.map((d) => d.check.name)).to.deep.equal(["ready", "smoke", "error-rate", "slow"]);
    expect(due[0]).to.deep.include({
      url: "http://fraud-detector-2-0-0.models.svc:8000/v2/models/fraud-detector/ready",
      timeoutMs: 2000,
      vars: {
        name: "fraud-detector",
        namespace: "models",
        version: "2.0.0",
        service: "fraud-detector-2-0-0",
      },
    });
    expect(due[1]).to.deep.include({
      url: "http://fraud-detector-2-0-0.models:8000/v2/models/fraud-detector/infer",
      body: '{"v":"2.0.0"}',
      timeoutMs: 5000,
    });
    expect(due[2]?.query).to.equal('sum(rate(errors_total{version="2.0.0"}[1m]))');
    expect(planChecks(md, rolling(0).observed, T0)).to.deep.equal([]);
  });

  it("a check is due again after its own interval, and at once after the step's replicas became ready", () => {
    const { md, observed } = rolling(2);
    const at = (s: number) => new Date(T0.getTime() + s * 1000);
    md.status!.checks = ["ready", "smoke", "error-rate", "slow"].map((name) => ({
      name,
      phase: "Successful" as const,
      lastMeasured: at(5).toISOString(),
    }));
    expect(planChecks(md, observed, at(14)).map((d) => d.check.name)).to.deep.equal([]);
    expect(planChecks(md, observed, at(15)).map((d) => d.check.name)).to.deep.equal([
      "ready",
      "smoke",
      "error-rate",
    ]);
    expect(planChecks(md, observed, at(65)).map((d) => d.check.name)).to.include("slow");
    md.status!.rollout!.stepReadyAt = at(6).toISOString();
    expect(planChecks(md, observed, at(7))).to.have.length(4);
  });

  it("nothing is due for a rollout of another revision than the spec's (its template changed since)", () => {
    const { md, observed } = rolling(2);
    md.status!.rollout!.revision = "0123456789";
    expect(planChecks(md, observed, T0)).to.deep.equal([]);
  });

  it("nothing is due without a rollout, after the switch, or after promote-full", () => {
    const { md, observed } = rolling(2);
    expect(planChecks({ ...md, status: { stableVersion: "1.0.0" } }, observed, T0)).to.deep.equal([]);
    md.status!.rollout!.promote = "Full";
    expect(planChecks(md, observed, T0)).to.deep.equal([]);
    md.status!.rollout!.promote = undefined;
    md.status!.rollout!.switchedAt = T0.toISOString();
    expect(planChecks(md, observed, T0)).to.deep.equal([]);
  });
});
