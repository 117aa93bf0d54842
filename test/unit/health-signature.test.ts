// Signature compatibility: the comparison of two versions' Open Inference Protocol model
// metadata, and the check that reads both from local servers answering GET /v2/models/{name}.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { expect } from "chai";
import { measureCheck } from "../../src/health/index.ts";
import { compareSignatures, readSignature, type ModelSignature } from "../../src/health/signature.ts";
import type { DueCheck } from "../../src/plan/types.ts";

const STABLE: ModelSignature = {
  inputs: [{ name: "features", datatype: "FP32", shape: [-1, 4] }],
  outputs: [{ name: "score", datatype: "FP32", shape: [-1, 1] }],
};
const withInputs = (inputs: ModelSignature["inputs"]): ModelSignature => ({ ...STABLE, inputs });
const withOutputs = (outputs: ModelSignature["outputs"]): ModelSignature => ({ ...STABLE, outputs });

describe("signature compatibility", () => {
  it("the same signature is compatible, with nothing to say", () => {
    expect(compareSignatures(STABLE, STABLE)).to.deep.equal({
      compatible: true,
      incompatible: [],
      compatibleChanges: [],
    });
  });

  it("a renamed input is incompatible, naming both tensors", () => {
    const r = compareSignatures(
      STABLE,
      withInputs([{ name: "feature_vector", datatype: "FP32", shape: [-1, 4] }]),
    );
    expect(r.compatible).to.equal(false);
    expect(r.incompatible).to.deep.equal([
      "input features (FP32 [-1, 4]) is missing in the new version",
      "input feature_vector (FP32 [-1, 4]) is new: clients do not send it",
    ]);
  });

  it("a changed datatype or rank or fixed dimension is incompatible", () => {
    expect(
      compareSignatures(STABLE, withInputs([{ name: "features", datatype: "FP64", shape: [-1, 4] }]))
        .incompatible,
    ).to.deep.equal(["input features changed datatype from FP32 to FP64"]);
    expect(
      compareSignatures(STABLE, withInputs([{ name: "features", datatype: "FP32", shape: [-1, 5] }]))
        .incompatible,
    ).to.deep.equal(["input features changed shape from [-1, 4] to [-1, 5]"]);
    expect(
      compareSignatures(STABLE, withInputs([{ name: "features", datatype: "FP32", shape: [4] }]))
        .incompatible,
    ).to.deep.equal(["input features changed shape from [-1, 4] to [4]"]);
  });

  it("an input widened to a variable dimension is compatible; narrowed is not", () => {
    const widened = compareSignatures(
      STABLE,
      withInputs([{ name: "features", datatype: "FP32", shape: [-1, -1] }]),
    );
    expect(widened).to.deep.equal({
      compatible: true,
      incompatible: [],
      compatibleChanges: ["input features changed shape from [-1, 4] to [-1, -1] (widened)"],
    });
    const narrowed = compareSignatures(
      STABLE,
      withInputs([{ name: "features", datatype: "FP32", shape: [8, 4] }]),
    );
    expect(narrowed.compatible).to.equal(false);
  });

  it("outputs: a fixed dimension where clients accept any is compatible; a new output is; a missing one is not", () => {
    expect(
      compareSignatures(STABLE, withOutputs([{ name: "score", datatype: "FP32", shape: [1, 1] }])).compatible,
    ).to.equal(true);
    expect(
      compareSignatures(withOutputs([{ name: "score", datatype: "FP32", shape: [1, 1] }]), STABLE).compatible,
    ).to.equal(false);
    const added = compareSignatures(
      STABLE,
      withOutputs([...STABLE.outputs, { name: "explanation", datatype: "BYTES", shape: [-1] }]),
    );
    expect(added).to.deep.equal({
      compatible: true,
      incompatible: [],
      compatibleChanges: ["output explanation (BYTES [-1]) is new"],
    });
    expect(compareSignatures(STABLE, withOutputs([])).incompatible).to.deep.equal([
      "output score (FP32 [-1, 1]) is missing in the new version",
    ]);
  });

  it("a deliberate change is accepted by naming its tensors", () => {
    const r = compareSignatures(
      STABLE,
      withInputs([{ name: "feature_vector", datatype: "FP32", shape: [-1, 4] }]),
      ["features", "feature_vector"],
    );
    expect(r.compatible).to.equal(true);
    expect(r.compatibleChanges).to.deep.equal([
      "input features (FP32 [-1, 4]) is missing in the new version (accepted)",
      "input feature_vector (FP32 [-1, 4]) is new: clients do not send it (accepted)",
    ]);
  });

  it("reads metadata answers, and says what is wrong with others", () => {
    expect(readSignature({ name: "m", inputs: STABLE.inputs, outputs: STABLE.outputs })).to.deep.equal(
      STABLE,
    );
    expect(readSignature({ name: "m" })).to.deep.equal({ inputs: [], outputs: [] });
    expect(readSignature([])).to.equal("the model metadata is not a JSON object");
    expect(readSignature({ inputs: [{ name: "x", datatype: "FP32", shape: ["a"] }] })).to.equal(
      "the model metadata's inputs has an entry without a name, datatype and shape of integers",
    );
  });
});

describe("the signature check against model servers", () => {
  const servers: Server[] = [];
  const metadata = new Map<string, { status: number; body: unknown }>();

  async function serve(version: string): Promise<string> {
    const server = createServer((req, res) => {
      const answer = metadata.get(version);
      if (!answer || req.url !== "/v2/models/fraud") {
        res.writeHead(404).end("{}");
        return;
      }
      res.writeHead(answer.status, { "content-type": "application/json" }).end(JSON.stringify(answer.body));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    servers.push(server);
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}/v2/models/fraud`;
  }
  after(() => Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve())))));

  let due: DueCheck;
  before(async () => {
    due = {
      check: { name: "signature", signature: {} },
      vars: { name: "fraud", namespace: "models", version: "2.0.0", service: "fraud-2-0-0" },
      url: await serve("2.0.0"),
      stable: {
        vars: { name: "fraud", namespace: "models", version: "1.0.0", service: "fraud-1-0-0" },
        url: await serve("1.0.0"),
      },
      timeoutMs: 2000,
    };
  });
  const now = () => new Date("2030-01-02T03:04:05Z");

  it("is Failed, naming the tensors, when the new version renames an input", async () => {
    metadata.set("1.0.0", { status: 200, body: { name: "fraud", ...STABLE } });
    metadata.set("2.0.0", {
      status: 200,
      body: { name: "fraud", ...withInputs([{ name: "feature_vector", datatype: "FP32", shape: [-1, 4] }]) },
    });
    const m = await measureCheck(due, now);
    expect(m).to.deep.equal({
      name: "signature",
      phase: "Failed",
      value: "incompatible",
      message:
        "the new version's signature does not fit the stable version's clients: input features (FP32 [-1, 4]) is missing in the new version; input feature_vector (FP32 [-1, 4]) is new: clients do not send it",
      time: "2030-01-02T03:04:05.000Z",
    });
  });

  it("is Successful for a widening, saying what changed", async () => {
    metadata.set("2.0.0", {
      status: 200,
      body: { name: "fraud", ...withInputs([{ name: "features", datatype: "FP32", shape: [-1, -1] }]) },
    });
    const m = await measureCheck(due, now);
    expect(m).to.include({
      phase: "Successful",
      value: "compatible",
      message: "compatible changes: input features changed shape from [-1, 4] to [-1, -1] (widened)",
    });
  });

  it("is Error when the stable version's metadata cannot be read", async () => {
    metadata.set("1.0.0", { status: 503, body: { error: "not loaded" } });
    const m = await measureCheck(due, now);
    expect(m.phase).to.equal("Error");
    expect(m.message).to.match(
      /^the stable version 1\.0\.0's model metadata: GET http:\/\/127\.0\.0\.1:\d+\/v2\/models\/fraud answered 503, expected 200$/,
    );
  });

  it("is Error without a stable version", async () => {
    const m = await measureCheck({ ...due, stable: undefined }, now);
    expect(m).to.include({ phase: "Error" });
    expect(m.message).to.match(/no stable version to compare with/);
  });
});
