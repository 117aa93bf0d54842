// The weights the clients' Service sees, and which health checks are due with what target.
import type { V1Deployment, V1EndpointSlice } from "@kubernetes/client-node";
import { expect } from "chai";
import { computeRevision, computeTraffic, planChecks, versionOfPod } from "../../src/plan/index.ts";
import { httpCheck, makeMd, promCheck, T0 } from "./plan-fixtures.ts";

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
