// The HTTP provider against a real local model server speaking the Open Inference Protocol
// (KServe v2): readiness at /v2/models/NAME/ready, inference at POST /v2/models/NAME/infer.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { expect } from "chai";
import { measureHttp } from "../../src/health/http.ts";
import type { HealthCheck, HttpCheck } from "../../src/api/types.ts";
import type { DueCheck } from "../../src/plan/types.ts";

const MODEL = "fraud-detector";
const fixedNow = () => new Date("2030-01-02T03:04:05Z");

interface InferRequest {
  inputs?: { name: string; shape: number[]; datatype: string; data: number[] }[];
}

/** A fake model server; its state is what the tests change. */
class FakeModelServer {
  ready = true;
  /** The fraud score the model answers with. */
  score = 0.9;
  version = "2.1.0";
  /** Requests seen, for asserting what the provider sent. */
  requests: { method: string; url: string; headers: IncomingMessage["headers"]; body: string }[] = [];
  private server: Server = createServer((req, res) => void this.handle(req, res));

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString("utf8");
    this.requests.push({ method: req.method ?? "", url: req.url ?? "", headers: req.headers, body });
    res.setHeader("X-Model-Version", this.version);

    if (req.method === "GET" && req.url === `/v2/models/${MODEL}/ready`) {
      if (this.ready) {
        res.writeHead(200).end();
      } else {
        res.writeHead(503, { "content-type": "text/plain" }).end("model fraud-detector is not loaded yet\n");
      }
      return;
    }
    if (req.method === "POST" && req.url === `/v2/models/${MODEL}/infer`) {
      let request: InferRequest;
      try {
        request = JSON.parse(body) as InferRequest;
      } catch {
        res
          .writeHead(400, { "content-type": "application/json" })
          .end(JSON.stringify({ error: "invalid JSON" }));
        return;
      }
      const input = request.inputs?.[0];
      if (!input) {
        res
          .writeHead(400, { "content-type": "application/json" })
          .end(JSON.stringify({ error: "no inputs" }));
        return;
      }
      const rows = input.shape[0] ?? 1;
      res.writeHead(200, { "content-type": "application/json" }).end(
        JSON.stringify({
          model_name: MODEL,
          model_version: this.version,
          outputs: [
            { name: "score", shape: [rows, 1], datatype: "FP32", data: Array(rows).fill(this.score) },
          ],
        }),
      );
      return;
    }
    if (req.url === "/hang") return; // never answers
    if (req.url === "/big") {
      res.writeHead(200, { "content-type": "text/plain" }).end("x".repeat(2 * 1024 * 1024));
      return;
    }
    if (req.url === "/redirect-same") {
      res.writeHead(302, { location: "/text" }).end();
      return;
    }
    if (req.url === "/redirect-other") {
      // Another host (still loopback): a check must not follow it.
      const port = (this.server.address() as AddressInfo).port;
      res.writeHead(302, { location: `http://127.0.0.2:${port}/text` }).end();
      return;
    }
    if (req.url === "/text") {
      res.writeHead(200, { "content-type": "text/plain" }).end("OK ready");
      return;
    }
    res.writeHead(404).end("not found");
  }
}

function httpDue(
  url: string,
  http: Omit<HttpCheck, "url">,
  extra: Partial<HealthCheck> = {},
  body?: string,
): DueCheck {
  return {
    check: { name: "model-ready", ...extra, http: { ...http, url } },
    vars: { name: MODEL, namespace: "models", version: "2.1.0", service: `${MODEL}-2-1-0` },
    url,
    body,
    timeoutMs: 2000,
  };
}

/** The platform's opt-in: messages may quote every destination's response (--check-response-messages=all). */
const all = { responseMessages: "all" as const };

const inferBody = JSON.stringify({
  inputs: [{ name: "features", shape: [1, 4], datatype: "FP32", data: [0.1, 0.2, 0.3, 0.4] }],
});

describe("HTTP health checks", () => {
  const model = new FakeModelServer();
  before(() => model.start());
  after(() => model.stop());
  beforeEach(() => {
    model.ready = true;
    model.score = 0.9;
    model.requests = [];
  });

  describe("readiness (GET)", () => {
    it("is Successful when the model answers 200 and records the status and the time", async () => {
      const m = await measureHttp(httpDue(`${model.url}/v2/models/${MODEL}/ready`, {}), fixedNow);
      expect(m).to.deep.equal({
        name: "model-ready",
        phase: "Successful",
        value: "200",
        time: "2030-01-02T03:04:05.000Z",
      });
      expect(model.requests[0]).to.include({ method: "GET", url: `/v2/models/${MODEL}/ready` });
    });

    it("is Failed with the status it got and what the server said when the model is not ready", async () => {
      model.ready = false;
      const m = await measureHttp(httpDue(`${model.url}/v2/models/${MODEL}/ready`, {}), fixedNow, all);
      expect(m.phase).to.equal("Failed");
      expect(m.value).to.equal("503");
      expect(m.message).to.equal("expected status 200, got 503: model fraud-detector is not loaded yet");
    });

    it("compares with expectStatus when it is set", async () => {
      const due = httpDue(`${model.url}/v2/models/other/ready`, { expectStatus: 404 });
      expect((await measureHttp(due, fixedNow)).phase).to.equal("Successful");
      const m = await measureHttp(
        httpDue(`${model.url}/v2/models/${MODEL}/ready`, { expectStatus: 404 }),
        fixedNow,
      );
      expect(m).to.include({ phase: "Failed", value: "200", message: "expected status 404, got 200" });
    });

    it("sends the check's headers", async () => {
      const due = httpDue(`${model.url}/v2/models/${MODEL}/ready`, {
        headers: { Authorization: "Bearer t0ken" },
      });
      await measureHttp(due, fixedNow);
      expect(model.requests[0]?.headers.authorization).to.equal("Bearer t0ken");
    });

    it("lets a condition read response headers by lower-case name", async () => {
      model.version = "2.1.0";
      const ok = httpDue(`${model.url}/v2/models/${MODEL}/ready`, {
        successCondition: `headers["x-model-version"] == "2.1.0"`,
      });
      expect((await measureHttp(ok, fixedNow)).phase).to.equal("Successful");
      const wrong = httpDue(`${model.url}/v2/models/${MODEL}/ready`, {
        successCondition: `headers["x-model-version"] == "9.9.9"`,
      });
      expect((await measureHttp(wrong, fixedNow)).phase).to.equal("Failed");
    });

    it("gives conditions the body as a string, and json null when the body is not JSON", async () => {
      const due = httpDue(`${model.url}/text`, { successCondition: `body.startsWith("OK") && json == null` });
      expect(await measureHttp(due, fixedNow)).to.include({ phase: "Successful", value: "200" });
    });
  });

  describe("inference smoke test (POST with a body)", () => {
    const infer = (successCondition: string) =>
      httpDue(
        `${model.url}/v2/models/${MODEL}/infer`,
        { method: "POST", successCondition },
        { name: "smoke-test" },
        inferBody,
      );

    it("posts the body as JSON and is Successful when the condition over the JSON answer holds", async () => {
      const m = await measureHttp(
        infer("size(json.outputs) == 1 && json.outputs[0].data[0] > 0.5 && status == 200"),
        fixedNow,
      );
      expect(m).to.include({ name: "smoke-test", phase: "Successful", value: "200" });
      const sent = model.requests[0];
      expect(sent?.method).to.equal("POST");
      expect(sent?.headers["content-type"]).to.equal("application/json");
      expect(JSON.parse(sent?.body ?? "")).to.deep.equal(JSON.parse(inferBody));
    });

    it("is Failed and names the condition when it is false", async () => {
      model.score = 0.2;
      const m = await measureHttp(infer("json.outputs[0].data[0] > 0.5"), fixedNow, all);
      expect(m.phase).to.equal("Failed");
      expect(m.value).to.equal("200");
      expect(m.message).to.match(
        /^successCondition `json\.outputs\[0\]\.data\[0\] > 0\.5` was false \(response: .*"data":\[0\.2\]/,
      );
    });

    it("keeps a content-type the check sets itself", async () => {
      const due = infer("true");
      due.check.http!.headers = { "Content-Type": "application/vnd.custom+json" };
      await measureHttp(due, fixedNow);
      expect(model.requests[0]?.headers["content-type"]).to.equal("application/vnd.custom+json");
    });

    it("is Error, not Failed, when the condition reads a field the answer does not have", async () => {
      const m = await measureHttp(infer("json.predictions[0] > 0.5"), fixedNow);
      expect(m.phase).to.equal("Error");
      expect(m.message).to.include("successCondition `json.predictions[0] > 0.5` could not be evaluated");
      expect(m.message).to.include("predictions");
    });

    it("is Error when the condition does not evaluate to a bool", async () => {
      const m = await measureHttp(infer("json.outputs[0].data[0]"), fixedNow, all);
      expect(m.phase).to.equal("Error");
      expect(m.message).to.equal(
        "successCondition `json.outputs[0].data[0]` must evaluate to a bool, got double (0.9)",
      );
      const typed = await measureHttp(infer("status"), fixedNow);
      expect(typed.message).to.equal("successCondition `status` must evaluate to a bool, not int");
    });

    it("is Error when the condition is not valid CEL", async () => {
      const m = await measureHttp(infer("json.outputs[0].data[0] >"), fixedNow);
      expect(m.phase).to.equal("Error");
      expect(m.message).to.match(/^successCondition `json\.outputs\[0\]\.data\[0\] >` is not valid CEL: /);
    });

    it("is Failed on the status before the condition is looked at", async () => {
      const due = httpDue(
        `${model.url}/v2/models/${MODEL}/infer`,
        { method: "POST", successCondition: "json.outputs[0].data[0] > 0.5" },
        {},
        "not json",
      );
      const m = await measureHttp(due, fixedNow, all);
      expect(m).to.include({ phase: "Failed", value: "400" });
      expect(m.message).to.equal('expected status 200, got 400: {"error":"invalid JSON"}');
    });
  });

  describe("when there is no usable answer", () => {
    it("is Error when the request times out", async () => {
      const due = { ...httpDue(`${model.url}/hang`, {}), timeoutMs: 200 };
      const started = Date.now();
      const m = await measureHttp(due, fixedNow);
      expect(Date.now() - started).to.be.lessThan(2000);
      expect(m).to.deep.equal({
        name: "model-ready",
        phase: "Error",
        message: `GET ${model.url}/hang timed out after 200ms`,
        time: "2030-01-02T03:04:05.000Z",
      });
    });

    it("is Error when the connection is refused", async () => {
      const closed = createServer();
      await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
      const port = (closed.address() as AddressInfo).port;
      await new Promise<void>((resolve) => closed.close(() => resolve()));
      const m = await measureHttp(httpDue(`http://127.0.0.1:${port}/v2/models/${MODEL}/ready`, {}), fixedNow);
      expect(m.phase).to.equal("Error");
      expect(m.message).to.equal(
        `GET http://127.0.0.1:${port}/v2/models/${MODEL}/ready failed: connection refused`,
      );
    });

    it("is Error when a body too large to judge meets a condition", async () => {
      const m = await measureHttp(
        httpDue(`${model.url}/big`, { successCondition: `body.size() > 0` }),
        fixedNow,
      );
      expect(m).to.include({ phase: "Error", value: "200" });
      expect(m.message).to.equal("response body is larger than 1 MiB; successCondition cannot judge it");
      // Without a condition the body is not needed and the status decides.
      expect((await measureHttp(httpDue(`${model.url}/big`, {}), fixedNow)).phase).to.equal("Successful");
    });

    it("is Error when there is no URL to request", async () => {
      const due: DueCheck = { ...httpDue("http://unused", {}), url: undefined };
      expect(await measureHttp(due, fixedNow)).to.include({
        phase: "Error",
        message: "http check has no URL to request",
      });
    });
  });

  describe("what a message may reveal (a destination that is not the version's own Service)", () => {
    const infer = (successCondition: string) =>
      httpDue(`${model.url}/v2/models/${MODEL}/infer`, { method: "POST", successCondition }, {}, inferBody);
    afterEach(() => {
      model.version = "2.1.0";
    });
    // The fake server is on 127.0.0.1, not NAME-V.NAMESPACE.svc: by default nothing it answers is quoted.
    it("says the status and the size, without the body, when the status is not the expected one", async () => {
      model.ready = false;
      const m = await measureHttp(httpDue(`${model.url}/v2/models/${MODEL}/ready`, {}), fixedNow);
      expect(m).to.include({ phase: "Failed", value: "503" });
      expect(m.message).to.equal(
        "expected status 200, got 503 (response of 39 bytes not shown: the destination is not this version's own Service)",
      );
    });

    it("says a condition was false without the response", async () => {
      model.score = 0.2;
      const m = await measureHttp(infer("json.outputs[0].data[0] > 0.5"), fixedNow);
      expect(m.phase).to.equal("Failed");
      expect(m.message).to.match(
        /^successCondition `json\.outputs\[0\]\.data\[0\] > 0\.5` was false \(response of \d+ bytes not shown: /,
      );
      expect(m.message).to.not.include("0.2");
    });

    it("does not quote a value of the response through a condition's result or error", async () => {
      model.version = "SECRET-VERSION";
      const cases = [
        "json.model_version", // a string, not a bool
        "json[json.model_version] == 1", // No such key: <the value>
        "duration(json.model_version) > duration('1s')", // Invalid duration string: <the value>
        `headers["x-model-version"]`,
      ];
      for (const expression of cases) {
        const m = await measureHttp(infer(expression), fixedNow);
        expect(m.phase, expression).to.equal("Error");
        expect(m.message, expression).to.not.include("SECRET-VERSION");
      }
      const typed = await measureHttp(infer("json.model_version"), fixedNow);
      expect(typed.message).to.match(/must evaluate to a bool, got string$/);
      const missing = await measureHttp(infer("json[json.model_version] == 1"), fixedNow);
      expect(missing.message).to.match(
        /could not be evaluated: No such key \(details not shown: they quote the response\)$/,
      );
      // With the platform's opt-in the same message says what it saw.
      const quoted = await measureHttp(infer("json[json.model_version] == 1"), fixedNow, all);
      expect(quoted.message).to.match(/No such key: SECRET-VERSION$/);
    });
  });

  describe("redirects", () => {
    it("follows a redirect within the host and port the check names", async () => {
      const m = await measureHttp(
        httpDue(`${model.url}/redirect-same`, { successCondition: `body == "OK ready"` }),
        fixedNow,
      );
      expect(m).to.include({ phase: "Successful", value: "200" });
      expect(model.requests.map((r) => r.url)).to.deep.equal(["/redirect-same", "/text"]);
    });

    it("does not follow a redirect to another destination: an Error, and nothing sent there", async () => {
      const m = await measureHttp(httpDue(`${model.url}/redirect-other`, {}), fixedNow);
      expect(m.phase).to.equal("Error");
      expect(m.message).to.equal(
        `GET ${model.url}/redirect-other failed: redirected to another destination, not followed (checks follow redirects within the host and port they name)`,
      );
      expect(model.requests.map((r) => r.url)).to.deep.equal(["/redirect-other"]);
    });
  });
});
