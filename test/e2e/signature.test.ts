// Signature compatibility against real model servers on each version's Service ClusterIP
// (serveVersion): the operator reads both versions' Open Inference Protocol metadata through
// the cluster DNS. With blue/green, the check gates the switch: a new version that renames
// an input is rolled back before the clients' Service ever selects it; a widened input is
// promoted; a deliberate rename is promoted once accepted.
import { expect } from "chai";
import { applyMd, condition, isReady, modelDeployment, waitForMd } from "../support/md.ts";
import { serveVersion } from "../support/model-server.ts";
import { sampleClientsSelector } from "../support/clients-selector.ts";
import { useModelSuite } from "../support/suite.ts";

const PORT = 8080; // a Service port a test may bind without root
const NAME = "sig";
const FEATURES = { name: "features", datatype: "FP32", shape: [-1, 4] };

const spec = (version: string, accept?: string[]) =>
  modelDeployment(NAME, {
    version,
    replicas: 2,
    strategy: { blueGreen: { autoPromotionSeconds: 1, previewReplicas: 1, scaleDownDelaySeconds: 1 } },
    healthChecks: {
      interval: "1s",
      failureThreshold: 2,
      checks: [{ name: "signature", signature: accept ? { accept } : {} }],
    },
    extra: { service: { port: PORT, targetPort: "http" } },
  });

describe("signature compatibility against the stable version's model metadata", function () {
  this.timeout(180_000);
  const suite = useModelSuite({ namespace: "signature" });

  it("rolls back a renamed input before any client request; promotes a widening and an accepted rename", async () => {
    await applyMd(suite.ns, spec("1.0.0"));
    suite.servers.push(await serveVersion(suite.ns, NAME, "1.0.0", { inputs: [FEATURES] }));
    await waitForMd(suite.ns, NAME, "1.0.0 Ready", isReady);

    const sampler = sampleClientsSelector(suite.ns, NAME);
    await applyMd(suite.ns, spec("2.0.0"));
    const renamed = await serveVersion(suite.ns, NAME, "2.0.0", {
      inputs: [{ ...FEATURES, name: "feature_vector" }],
    });
    suite.servers.push(renamed);
    const rolledBack = await waitForMd(
      suite.ns,
      NAME,
      "2.0.0 rolled back on its signature",
      (m) => condition(m, "Stalled")?.reason === "HealthCheckFailed",
      90_000,
    );
    await sampler.stop();
    const check = rolledBack.status?.checks?.find((c) => c.name === "signature");
    expect(check).to.include({ phase: "Failed", value: "incompatible" });
    expect(check?.message).to.equal(
      "the new version's signature does not fit the stable version's clients: input features (FP32 [-1, 4]) is missing in the new version; input feature_vector (FP32 [-1, 4]) is new: clients do not send it",
    );
    expect(condition(rolledBack, "Stalled")?.message).to.include("input features");
    // The clients' Service never selected the new version; its server got only the metadata reads.
    expect(sampler.versions()).to.deep.equal(["1.0.0"]);
    expect(renamed.requests.map((r) => `${r.method} ${r.path}`)).to.satisfy((paths: string[]) =>
      paths.every((p) => p === "GET /v2/models/sig"),
    );
    expect(renamed.count()).to.be.above(0);
    expect(rolledBack.status?.stableVersion).to.equal("1.0.0");

    // A widened input fits every client of the stable version: promoted.
    await applyMd(suite.ns, spec("3.0.0"));
    suite.servers.push(
      await serveVersion(suite.ns, NAME, "3.0.0", { inputs: [{ ...FEATURES, shape: [-1, -1] }] }),
    );
    const widened = await waitForMd(
      suite.ns,
      NAME,
      "3.0.0 promoted",
      (m) => isReady(m) && m.status?.stableVersion === "3.0.0",
      90_000,
    );
    expect(widened.status?.checks?.find((c) => c.name === "signature")).to.include({
      phase: "Successful",
      value: "compatible",
      message: "compatible changes: input features changed shape from [-1, 4] to [-1, -1] (widened)",
    });

    // A deliberate rename, accepted by naming its tensors: promoted, and the change reported.
    await applyMd(suite.ns, spec("4.0.0", ["features", "feature_vector"]));
    suite.servers.push(
      await serveVersion(suite.ns, NAME, "4.0.0", {
        inputs: [{ ...FEATURES, name: "feature_vector", shape: [-1, -1] }],
      }),
    );
    const accepted = await waitForMd(
      suite.ns,
      NAME,
      "4.0.0 promoted",
      (m) => isReady(m) && m.status?.stableVersion === "4.0.0",
      90_000,
    );
    expect(accepted.status?.checks?.find((c) => c.name === "signature")?.message).to.equal(
      "compatible changes: input features (FP32 [-1, -1]) is missing in the new version (accepted); input feature_vector (FP32 [-1, -1]) is new: clients do not send it (accepted)",
    );
  });
});
