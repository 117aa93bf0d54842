// Prediction agreement against real model servers on each version's Service ClusterIP
// (serveVersion), with examples/blue-green-agreement.yaml as applied by a user: the
// operator reads the request set from the ConfigMap (a get in the ModelDeployment's
// namespace), sends each request to the preview and to the
// stable version through the cluster DNS, and gates the switch on `agreement >= 0.98`. A
// new version that flips 10% of its labels is rolled back before the clients' Service
// selects it; the same model is promoted; a request set that is missing rolls back with a
// condition and an Event that name it, the stable version serving throughout.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { expect } from "chai";
import { parseAllDocuments } from "yaml";
import type { CheckStatus } from "../../src/api/types.ts";
import { kubectl } from "../support/kube.ts";
import { applyMd, condition, isReady, mdEvents, waitForMd, type Md } from "../support/md.ts";
import { serveVersion, type OipInferRequest, type OipTensor } from "../support/model-server.ts";
import { clientsSelectedVersion, sampleClientsSelector } from "../support/clients-selector.ts";
import { useModelSuite } from "../support/suite.ts";

const ROOT = join(import.meta.dirname, "..", "..");
const FILE = join(ROOT, "examples", "blue-green-agreement.yaml");
const NAME = "fraud-detector";

interface ExampleMd {
  metadata: { name: string };
  spec: {
    model: { version: string };
    strategy: { blueGreen: Record<string, number> };
    healthChecks: {
      interval: string;
      checks: { agreement: { requests: { configMapKeyRef: { name: string } } } }[];
    };
  };
}

/** The example's two objects: its ConfigMap and its ModelDeployment. */
function example(): { configMap: Record<string, unknown>; md: ExampleMd } {
  const docs = parseAllDocuments(readFileSync(FILE, "utf8")).map((d) => d.toJS() as { kind: string });
  return {
    configMap: docs.find((d) => d.kind === "ConfigMap")!,
    md: docs.find((d) => d.kind === "ModelDeployment") as unknown as ExampleMd,
  };
}

/** The example at `version`, rolling out fast: a 1 s interval, promotion 1 s after a passing check. */
function atVersion(version: string, configMapName?: string): ExampleMd {
  const { md } = example();
  md.spec.model.version = version;
  md.spec.strategy.blueGreen = { previewReplicas: 1, autoPromotionSeconds: 1, scaleDownDelaySeconds: 1 };
  md.spec.healthChecks.interval = "1s";
  if (configMapName) md.spec.healthChecks.checks[0]!.agreement.requests.configMapKeyRef.name = configMapName;
  return md;
}

/** A fraud model: label and score from the first feature; `flip` says which inputs it labels the other way. */
function model(flip: (x: number) => boolean = () => false) {
  return (request: OipInferRequest): OipTensor[] => {
    const x = Number(request.inputs[0]?.data[0] ?? 0);
    const fraud = x % 2 === 1;
    return [
      { name: "label", datatype: "BYTES", shape: [1], data: [fraud !== flip(x) ? "fraud" : "legit"] },
      { name: "score", datatype: "FP32", shape: [1], data: [x / 10] },
    ];
  };
}

const agreementOf = (md: Md) =>
  (md.status?.checks as CheckStatus[] | undefined)?.find((c) => c.name === "agreement");
const rolledBack = (md: Md) => condition(md, "Stalled")?.reason === "HealthCheckFailed";

describe("prediction agreement between the new and the stable version", function () {
  this.timeout(240_000);
  const suite = useModelSuite({ namespace: "agreement" });

  it("rolls back a version that flips 10% of its labels before any client request; promotes the same model", async () => {
    await kubectl(["-n", suite.ns, "apply", "-f", FILE]);
    suite.servers.push(await serveVersion(suite.ns, NAME, "1.0.0", { infer: model() }));
    await waitForMd(suite.ns, NAME, "1.0.0 Ready", isReady);

    // 2.0.0 labels the inputs 3, 13, 23, ... the other way: 1 of the example's 10 requests.
    const sampler = sampleClientsSelector(suite.ns, NAME);
    await applyMd(suite.ns, atVersion("2.0.0") as never);
    const flipping = await serveVersion(suite.ns, NAME, "2.0.0", { infer: model((x) => x % 10 === 3) });
    suite.servers.push(flipping);
    const failed = await waitForMd(
      suite.ns,
      NAME,
      "2.0.0 rolled back on its predictions",
      rolledBack,
      90_000,
    );
    await sampler.stop();
    const check = agreementOf(failed);
    expect(check).to.include({ phase: "Failed", value: "0.9" });
    expect(check?.message).to.equal(
      'successCondition `agreement >= 0.98` was false for agreement 0.9 (9 of 10 requests agree); first disagreement: request 3 (id "r3"): output label [0]: "fraud" in the stable version, "legit" in the new one',
    );
    expect(check?.agreement).to.deep.include({ requests: 10, compared: 10, agreed: 9, agreement: 0.9 });
    expect(check?.agreement?.firstDisagreement).to.deep.include({ index: 3, id: "r3" });
    expect(JSON.parse(check!.agreement!.firstDisagreement!.request!)).to.deep.include({ id: "r3" });
    expect(condition(failed, "Stalled")?.message).to.include("agreement");
    expect(failed.status?.stableVersion).to.equal("1.0.0");
    // The clients' Service never selected 2.0.0; its server got only the example's requests.
    expect(sampler.versions()).to.deep.equal(["1.0.0"]);
    expect(flipping.count("POST", `/v2/models/${NAME}/infer`)).to.be.at.least(10);
    expect(flipping.count()).to.equal(flipping.count("POST", `/v2/models/${NAME}/infer`));

    // 3.0.0 is the same model: every answer agrees, and it is promoted.
    await applyMd(suite.ns, atVersion("3.0.0") as never);
    suite.servers.push(await serveVersion(suite.ns, NAME, "3.0.0", { infer: model() }));
    const promoted = await waitForMd(
      suite.ns,
      NAME,
      "3.0.0 promoted",
      (m) => isReady(m) && m.status?.stableVersion === "3.0.0",
      90_000,
    );
    expect(agreementOf(promoted)).to.deep.include({ phase: "Successful", value: "1" });
    expect(agreementOf(promoted)?.agreement).to.deep.include({ requests: 10, compared: 10, agreed: 10 });
  });

  it("rolls back with a condition and an Event naming a request set that does not exist; the stable version keeps serving", async () => {
    await waitForMd(suite.ns, NAME, "3.0.0 Ready", (m) => isReady(m) && m.status?.stableVersion === "3.0.0");
    await applyMd(suite.ns, atVersion("4.0.0", "no-such-requests") as never);
    const v4 = await serveVersion(suite.ns, NAME, "4.0.0", { infer: model() });
    suite.servers.push(v4);
    const failed = await waitForMd(suite.ns, NAME, "4.0.0 rolled back", rolledBack, 90_000);
    const expected = `the request set (ConfigMap no-such-requests, key requests.json): there is no ConfigMap no-such-requests in namespace ${suite.ns}`;
    expect(agreementOf(failed)).to.include({ phase: "Error", message: expected });
    expect(condition(failed, "Stalled")?.message).to.include(expected);
    expect(condition(failed, "Ready")?.status).to.equal("False");
    expect(failed.status?.stableVersion).to.equal("3.0.0");
    expect(await clientsSelectedVersion(suite.ns, NAME)).to.equal("3.0.0");
    const events = await mdEvents(suite.ns, NAME);
    expect(events.some((e) => e.type === "Warning" && (e.message ?? "").includes(expected))).to.equal(true);
    expect(v4.count()).to.equal(0);
  });

  it("is refused by the API server when its fields do not go together", async () => {
    const md = atVersion("5.0.0") as unknown as {
      spec: { healthChecks: { checks: { agreement: Record<string, unknown> }[] } };
    };
    md.spec.healthChecks.checks[0]!.agreement.protocol = "JSON";
    const refused = await kubectl(["-n", suite.ns, "apply", "-f", "-"], JSON.stringify(md)).then(
      () => "",
      (err: unknown) => (err as Error).message,
    );
    expect(refused).to.include("protocol JSON needs path (where the requests are sent)");
  });
});
