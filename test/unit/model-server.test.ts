// The test model server (test/support/model-server.ts) speaks the Open Inference Protocol
// as the tests say, and counts what it receives: the e2e tests rely on both. Here it
// listens on 127.0.0.5, an address of its own as a Service's ClusterIP would be.
import { expect } from "chai";
import { LoopbackGuardError } from "../support/loopback-guard.ts";
import { ModelServer } from "../support/model-server.ts";

const POD_IP = "10.244.0.5"; // never bound or dialled: the server must refuse it

describe("test model server", () => {
  let server: ModelServer;
  beforeEach(async () => {
    server = await ModelServer.start({ host: "127.0.0.5", port: 0, model: "fraud", version: "2.0.0" });
  });
  afterEach(async () => server.stop());

  const get = async (path: string) => {
    const r = await fetch(`${server.url}${path}`);
    return { status: r.status, json: (await r.json()) as Record<string, unknown> };
  };
  const infer = async (body: unknown) => {
    const r = await fetch(`${server.url}/v2/models/fraud/infer`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    return { status: r.status, json: (await r.json()) as Record<string, unknown> };
  };

  it("answers readiness, health, metadata and inference for its model, and 404 for another", async () => {
    expect(server.address).to.match(/^127\.0\.0\.5:\d+$/);
    expect(await get("/v2/models/fraud/ready")).to.deep.equal({
      status: 200,
      json: { name: "fraud", ready: true },
    });
    expect((await get("/v2/health/live")).status).to.equal(200);
    expect((await get("/v2/health/ready")).json).to.deep.equal({ ready: true });
    const meta = await get("/v2/models/fraud");
    expect(meta.json).to.include({ name: "fraud" });
    expect(meta.json.versions).to.deep.equal(["2.0.0"]);
    expect(await get("/v2/models/fraud/versions/2.0.0")).to.have.property("status", 200);
    const out = await infer({
      id: "r1",
      inputs: [{ name: "features", shape: [1, 4], datatype: "FP32", data: [1, 2, 3, 4] }],
    });
    expect(out.json).to.deep.equal({
      model_name: "fraud",
      model_version: "2.0.0",
      id: "r1",
      outputs: [{ name: "score", datatype: "FP32", shape: [1, 1], data: [0.1] }],
    });
    expect((await get("/v2/models/other/ready")).status).to.equal(404);
    expect((await infer({ nothing: true })).status).to.equal(400);
  });

  it("answers as told: not ready, other outputs, failed inference, every request failing", async () => {
    server.behave({ ready: 503 });
    expect(await get("/v2/models/fraud/ready")).to.deep.equal({
      status: 503,
      json: { name: "fraud", ready: false },
    });
    server.behave({ outputs: [{ name: "score", datatype: "FP32", shape: [1, 1], data: [0.9] }] });
    expect((await infer({ inputs: [] })).json.outputs).to.deep.equal([
      { name: "score", datatype: "FP32", shape: [1, 1], data: [0.9] },
    ]);
    expect((await get("/v2/models/fraud")).json.outputs).to.deep.equal([
      { name: "score", datatype: "FP32", shape: [1, 1] },
    ]);
    server.behave({ inferStatus: 500 });
    expect((await infer({ inputs: [] })).status).to.equal(500);
    server.behave({ failStatus: 502 });
    expect((await get("/v2/health/live")).status).to.equal(502);
  });

  it("delays its answers and can reset connections", async () => {
    server.behave({ delayMs: 300 });
    const started = Date.now();
    await get("/v2/models/fraud/ready");
    expect(Date.now() - started).to.be.at.least(290);
    server.behave({ delayMs: 0, reset: true });
    const err = await fetch(`${server.url}/v2/models/fraud/ready`).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(err?.message).to.equal("fetch failed");
  });

  it("counts every request with its method, path, the name it was sent to, and body", async () => {
    await get("/v2/models/fraud/ready");
    await get("/v2/models/fraud/ready");
    await infer({ inputs: [] });
    expect(server.count()).to.equal(3);
    expect(server.count("GET", "/v2/models/fraud/ready")).to.equal(2);
    expect(server.count("POST")).to.equal(1);
    expect(server.requests[2]).to.include({
      method: "POST",
      path: "/v2/models/fraud/infer",
      host: server.address,
    });
    expect(JSON.parse(server.requests[2]!.body)).to.deep.equal({ inputs: [] });
  });

  it("refuses to listen outside loopback", async () => {
    let err: unknown;
    try {
      await ModelServer.start({ host: POD_IP, port: 0, model: "fraud", version: "1" });
    } catch (e) {
      err = e;
    }
    expect(err).to.be.instanceOf(LoopbackGuardError);
  });
});
