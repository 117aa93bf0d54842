// The planner's side of analysis: checks compared with the stable version get both versions'
// queries; validation knows which variables each kind of condition sees.
import { expect } from "chai";
import { validateModelDeployment } from "../../src/plan/index.ts";
import type { HealthCheck } from "../../src/api/types.ts";
import type { DueCheck } from "../../src/plan/types.ts";
import { makeMd, stableSim } from "./plan-fixtures.ts";

const relativeCheck = (successCondition = "candidate <= stable * 1.1"): HealthCheck => ({
  name: "p95",
  prometheus: {
    address: "http://prometheus.monitoring:9090",
    query: 'p95{version="{{version}}", service="{{service}}"}',
    successCondition,
    compareWithStable: true,
  },
});

describe("plan: checks compared with the stable version", () => {
  it("templates the query once for the new version and once for the stable version", () => {
    const sim = stableSim({ healthChecks: { checks: [relativeCheck()] } });
    sim.setVersion("2.0.0");
    sim.reconcile();
    sim.settle().advance(1000);
    let due: DueCheck[] = [];
    sim.reconcile((d, now) => {
      due = d;
      return d.map((x) => ({
        name: x.check.name,
        phase: "Failed",
        value: "0.13",
        stableValue: "0.1",
        time: now.toISOString(),
      }));
    });
    expect(due).to.have.length(1);
    expect(due[0]?.query).to.equal('p95{version="2.0.0", service="fraud-detector-2-0-0"}');
    expect(due[0]?.stable).to.deep.equal({
      vars: {
        name: "fraud-detector",
        namespace: "models",
        version: "1.0.0",
        service: "fraud-detector-1-0-0",
      },
      query: 'p95{version="1.0.0", service="fraud-detector-1-0-0"}',
    });
    expect(sim.md.status?.checks?.[0]).to.include({ phase: "Failed", value: "0.13", stableValue: "0.1" });
  });

  it("a check without compareWithStable gets no stable query", () => {
    const check = relativeCheck("result < 1.0");
    delete check.prometheus!.compareWithStable;
    const sim = stableSim({ healthChecks: { checks: [check] } });
    sim.setVersion("2.0.0");
    sim.reconcile();
    sim.settle().advance(1000);
    let due: DueCheck[] = [];
    sim.reconcile((d) => ((due = d), []));
    expect(due[0]?.stable).to.equal(undefined);
  });

  it("validates the condition with the variables of a comparison", () => {
    expect(validateModelDeployment(makeMd({ healthChecks: { checks: [relativeCheck()] } }))).to.deep.equal(
      [],
    );
    expect(
      validateModelDeployment(makeMd({ healthChecks: { checks: [relativeCheck("result < 0.1")] } })),
    ).to.deep.equal([
      {
        path: "spec.healthChecks.checks[0].prometheus.successCondition",
        message: "successCondition `result < 0.1` is not valid: Unknown variable: result",
      },
    ]);
  });
});
