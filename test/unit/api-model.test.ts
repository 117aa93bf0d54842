// The ModelDeployment model class: what someone who builds a manifest in TypeScript gets.
import { expect } from "chai";
import { readFileSync } from "node:fs";
import { parseAllDocuments } from "yaml";
import { ModelDeployment } from "../../src/api/model.ts";
import { validateModelDeployment } from "../../src/plan/index.ts";

const spec = {
  model: { version: "1.0.0", uri: "s3://models/fraud/1.0.0" },
  template: { spec: { containers: [{ name: "server", image: "registry.example/fraud:1" }] } },
  strategy: { canary: { steps: [{ setWeight: 20 }] } },
};

describe("api: the ModelDeployment model class", () => {
  it("fills in apiVersion and kind from the CRD, and serialises without undefined fields", () => {
    const md = new ModelDeployment({ metadata: { name: "fraud", namespace: undefined }, spec });
    expect(md.toJSON()).to.deep.equal({
      apiVersion: "mlops.dev/v1alpha1",
      kind: "ModelDeployment",
      metadata: { name: "fraud" },
      spec,
    });
    expect(ModelDeployment.is(md.toJSON())).to.equal(true);
    expect(ModelDeployment.is({ apiVersion: "apps/v1", kind: "Deployment" })).to.equal(false);
  });

  it("validates against the CRD's schema and names each wrong field", () => {
    expect(() => new ModelDeployment({ metadata: { name: "fraud" }, spec }).validate()).to.not.throw();
    const bad = new ModelDeployment({ metadata: { name: "fraud" }, spec: { ...spec, replicas: -1 } });
    expect(() => bad.validate()).to.throw(/data\/spec\/replicas must be >= 0/);
    const missing = new ModelDeployment({ metadata: { name: "fraud" } } as never);
    expect(() => missing.validate()).to.throw(/must have required property spec/);
  });

  it("the examples, built as models, are valid for the schema and for the planner", () => {
    for (const file of [
      "examples/canary.yaml",
      "examples/blue-green.yaml",
      "examples/canary-gateway-api.yaml",
      "examples/canary-analysis.yaml",
      "examples/canary-readiness-gate.yaml",
      "examples/canary-inference-pool.yaml",
      "examples/blue-green-agreement.yaml",
    ]) {
      // A file may hold other objects beside its ModelDeployment (an agreement check's ConfigMap).
      const doc = parseAllDocuments(readFileSync(file, "utf8"))
        .map((d) => d.toJS() as { kind?: string })
        .find((d) => d.kind === "ModelDeployment") as ConstructorParameters<typeof ModelDeployment>[0];
      const md = new ModelDeployment(doc);
      expect(() => md.validate(), file).to.not.throw();
      expect(validateModelDeployment(md.toJSON()), file).to.deep.equal([]);
    }
  });
});
