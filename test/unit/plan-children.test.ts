// The children the operator applies: names, labels, selectors, env, owner, ports.
import type { V1Deployment } from "@kubernetes/client-node";
import { expect } from "chai";
import {
  computeClientsService,
  computePreviewService,
  computeRetainedDeployment,
  computeRevision,
  computeVersionDeployment,
  computeVersionService,
  observedTrack,
  specTrack,
  trackSelector,
} from "../../src/plan/index.ts";
import { makeMd } from "./plan-fixtures.ts";

const owner = {
  apiVersion: "mlops.dev/v1alpha1",
  kind: "ModelDeployment",
  name: "fraud-detector",
  uid: "uid-1",
  controller: true,
  blockOwnerDeletion: true,
};

describe("plan: children", () => {
  it("the spec's version Deployment: name, labels, selector, owner, revision, env, replicas", () => {
    const md = makeMd({ model: { version: "2.1.0", uri: "s3://m/2.1.0", format: "sklearn", name: "fraud" } });
    md.spec.template.spec!.containers.push({
      name: "sidecar",
      image: "proxy:1",
      env: [{ name: "MODEL_VERSION", value: "stale" }],
    });
    const d = computeVersionDeployment(md, 3);
    expect(d.apiVersion).to.equal("apps/v1");
    expect(d.kind).to.equal("Deployment");
    expect(d.metadata).to.deep.equal({
      name: "fraud-detector-2-1-0",
      namespace: "models",
      labels: {
        "mlops.dev/model": "fraud-detector",
        "app.kubernetes.io/managed-by": "model-rollout-operator",
        "mlops.dev/role": "version",
        "mlops.dev/version": "2.1.0",
      },
      ownerReferences: [owner],
      annotations: { "mlops.dev/revision": computeRevision(md) },
    });
    expect(d.spec?.replicas).to.equal(3);
    // The revision is in the selector: another pod template of 2.1.0 gets a Deployment of its own.
    expect(d.spec?.selector).to.deep.equal({
      matchLabels: {
        "mlops.dev/model": "fraud-detector",
        "mlops.dev/version": "2.1.0",
        "mlops.dev/revision": computeRevision(md),
      },
    });
    expect(d.spec?.template.metadata?.labels).to.deep.equal({
      app: "fraud",
      "mlops.dev/model": "fraud-detector",
      "mlops.dev/version": "2.1.0",
      "mlops.dev/revision": computeRevision(md),
    });
    const env = (i: number) => d.spec?.template.spec?.containers[i]?.env;
    expect(env(0)).to.deep.equal([
      { name: "LOG_LEVEL", value: "info" },
      { name: "MODEL_NAME", value: "fraud" },
      { name: "MODEL_VERSION", value: "2.1.0" },
      { name: "MODEL_URI", value: "s3://m/2.1.0" },
      { name: "MODEL_FORMAT", value: "sklearn" },
    ]);
    expect(env(1)?.filter((e) => e.name === "MODEL_VERSION")).to.deep.equal([
      { name: "MODEL_VERSION", value: "2.1.0" },
    ]);
    // The ModelDeployment's own labels and annotations are not copied (GitOps tools track by them).
    expect(JSON.stringify(d)).to.not.include("argo").and.not.include("team");
    // The spec is not changed.
    expect(md.spec.template.spec?.containers[0]?.env).to.deep.equal([{ name: "LOG_LEVEL", value: "info" }]);
  });

  it("MODEL_NAME defaults to metadata.name; MODEL_URI and MODEL_FORMAT only when set", () => {
    const md = makeMd({ model: { version: "1" } });
    expect(computeVersionDeployment(md, 1).spec?.template.spec?.containers[0]?.env).to.deep.equal([
      { name: "LOG_LEVEL", value: "info" },
      { name: "MODEL_NAME", value: "fraud-detector" },
      { name: "MODEL_VERSION", value: "1" },
    ]);
  });

  it("another version's Deployment is re-sent as observed, with only replicas decided", () => {
    const md = makeMd({ model: { version: "2.0.0" } });
    const observed: V1Deployment = {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: {
        name: "fraud-detector-1-0-0",
        namespace: "models",
        labels: { "mlops.dev/model": "fraud-detector", "mlops.dev/version": "1.0.0" },
        annotations: { "mlops.dev/revision": "abcdef0123", "deployment.kubernetes.io/revision": "1" },
        generation: 4,
        resourceVersion: "77",
        uid: "d-1",
      },
      spec: {
        replicas: 10,
        selector: { matchLabels: { "mlops.dev/model": "fraud-detector", "mlops.dev/version": "1.0.0" } },
        template: {
          metadata: { labels: { "mlops.dev/model": "fraud-detector", "mlops.dev/version": "1.0.0" } },
          spec: { containers: [{ name: "server", image: "old:1", ports: [{ containerPort: 9000 }] }] },
        },
      },
      status: { availableReplicas: 10 },
    };
    const d = computeRetainedDeployment(md, observed, 0);
    expect(d.spec?.replicas).to.equal(0);
    expect(d.spec?.template).to.deep.equal(observed.spec?.template);
    expect(d.spec?.selector).to.deep.equal(observed.spec?.selector);
    expect(d.metadata?.annotations).to.deep.equal({ "mlops.dev/revision": "abcdef0123" });
    expect(d.metadata?.ownerReferences).to.deep.equal([owner]);
    expect(d.metadata?.labels?.["mlops.dev/version"]).to.equal("1.0.0");
    expect(d).to.not.have.property("status");
    expect(d.metadata).to.not.have.property("resourceVersion");
    const svc = computeVersionService(md, observedTrack(md, observed), observed.spec?.template);
    expect(svc.spec?.ports?.[0]?.targetPort).to.equal(9000);
    expect(svc.spec?.selector).to.deep.equal(observed.spec?.selector?.matchLabels);
  });

  const ports: { name: string; service?: object; ports?: object[]; targetPort: number | string }[] = [
    { name: "the first container port's name", targetPort: "http" },
    { name: "spec.service.targetPort", service: { port: 80, targetPort: 9090 }, targetPort: 9090 },
    {
      name: "the first port's number when it has no name",
      ports: [{ containerPort: 7000 }],
      targetPort: 7000,
    },
    { name: "8080 when there is no port", ports: [], targetPort: 8080 },
  ];
  for (const row of ports) {
    it(`the version Service forwards port http to ${row.name}`, () => {
      const md = makeMd(row.service ? { service: row.service } : {});
      if (row.ports) md.spec.template.spec!.containers[0]!.ports = row.ports as never;
      const svc = computeVersionService(md);
      expect(svc.metadata?.name).to.equal("fraud-detector-1-0-0");
      expect(svc.metadata?.labels?.["mlops.dev/role"]).to.equal("version");
      expect(svc.metadata?.ownerReferences).to.deep.equal([owner]);
      expect(svc.spec?.type).to.equal("ClusterIP");
      expect(svc.spec?.selector).to.deep.equal({
        "mlops.dev/model": "fraud-detector",
        "mlops.dev/version": "1.0.0",
        "mlops.dev/revision": computeRevision(md),
      });
      expect(svc.spec?.ports).to.deep.equal([
        { name: "http", protocol: "TCP", port: 80, targetPort: row.targetPort },
      ]);
    });
  }

  it("the clients' Service selects every version for a canary and the active version for blue/green", () => {
    const canary = computeClientsService(makeMd());
    expect(canary.metadata?.name).to.equal("fraud-detector");
    expect(canary.metadata?.labels).to.deep.equal({
      "mlops.dev/model": "fraud-detector",
      "app.kubernetes.io/managed-by": "model-rollout-operator",
      "mlops.dev/role": "clients",
    });
    expect(canary.spec?.selector).to.deep.equal({ "mlops.dev/model": "fraud-detector" });
    const bgMd = makeMd({ strategy: { blueGreen: {} } });
    const bg = computeClientsService(bgMd, trackSelector(bgMd, "1.0.0", "abc"));
    expect(bg.spec?.selector).to.deep.equal({
      "mlops.dev/model": "fraud-detector",
      "mlops.dev/version": "1.0.0",
      "mlops.dev/revision": "abc",
    });
    expect(computeClientsService(bgMd).spec?.selector).to.deep.equal(specTrack(bgMd).selector);
    const preview = computePreviewService(bgMd, trackSelector(bgMd, "2.0.0", "def"));
    expect(preview.metadata?.name).to.equal("fraud-detector-preview");
    expect(preview.metadata?.labels?.["mlops.dev/role"]).to.equal("preview");
    expect(preview.spec?.selector).to.deep.equal({
      "mlops.dev/model": "fraud-detector",
      "mlops.dev/version": "2.0.0",
      "mlops.dev/revision": "def",
    });
  });
});
