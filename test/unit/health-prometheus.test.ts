// The Prometheus provider's reading of the HTTP API, against a local server that answers
// /api/v1/query the way Prometheus does (the real Prometheus is in test/integration).
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { expect } from "chai";
import { measurePrometheus } from "../../src/health/prometheus.ts";
import type { DueCheck } from "../../src/plan/types.ts";

const fixedNow = () => new Date("2030-01-02T03:04:05Z");

interface Answer {
  status: number;
  body: string;
}

const ok = (data: unknown): Answer => ({ status: 200, body: JSON.stringify({ status: "success", data }) });
const vector = (...values: [Record<string, string>, string][]) =>
  ok({
    resultType: "vector",
    result: values.map(([metric, value]) => ({ metric, value: [1893553445, value] })),
  });

describe("Prometheus health checks (HTTP API answers)", () => {
  let server: Server;
  let address: string;
  let answers: Map<string, Answer>;
  let seen: URL[];

  before(async () => {
    server = createServer((req, res) => {
      const url = new URL(req.url ?? "/", "http://prometheus");
      seen.push(url);
      const answer =
        url.pathname === "/api/v1/query" ? answers.get(url.searchParams.get("query") ?? "") : undefined;
      if (!answer) {
        res.writeHead(404).end("404 page not found\n");
        return;
      }
      res.writeHead(answer.status, { "content-type": "application/json" }).end(answer.body);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    address = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  beforeEach(() => {
    answers = new Map();
    seen = [];
  });

  function due(query: string, successCondition: string, at = address): DueCheck {
    return {
      check: { name: "error-rate", prometheus: { address: at, query, successCondition } },
      vars: { name: "fraud", namespace: "models", version: "2.1.0", service: "fraud-2-1-0" },
      query,
      timeoutMs: 2000,
    };
  }

  it("sends the templated query to /api/v1/query (trailing slash of the address dropped)", async () => {
    const query =
      'sum(rate(errors_total{version="2.1.0"}[1m])) / sum(rate(requests_total{version="2.1.0"}[1m]))';
    answers.set(query, vector([{}, "0.002"]));
    const m = await measurePrometheus(due(query, "result < 0.01", `${address}/`), fixedNow);
    expect(m).to.deep.equal({
      name: "error-rate",
      phase: "Successful",
      value: "0.002",
      time: "2030-01-02T03:04:05.000Z",
    });
    expect(seen[0]?.pathname).to.equal("/api/v1/query");
    expect(seen[0]?.searchParams.get("query")).to.equal(query);
  });

  it("is Failed with the value when the condition is false", async () => {
    answers.set("q", vector([{}, "0.25"]));
    const m = await measurePrometheus(due("q", "result < 0.01"), fixedNow);
    expect(m).to.include({
      phase: "Failed",
      value: "0.25",
      message: "successCondition `result < 0.01` was false for 0.25",
    });
  });

  it("reads a scalar result", async () => {
    answers.set("scalar(q)", ok({ resultType: "scalar", result: [1893553445, "3"] }));
    expect(await measurePrometheus(due("scalar(q)", "result == 3.0"), fixedNow)).to.include({
      phase: "Successful",
      value: "3",
    });
  });

  it("gives a list as result when the vector has several samples", async () => {
    answers.set("by", vector([{ version: "2.0.0" }, "0.001"], [{ version: "2.1.0" }, "0.3"]));
    const all = await measurePrometheus(due("by", "result.all(x, x < 0.01)"), fixedNow);
    expect(all).to.include({ phase: "Failed", value: "[0.001, 0.3]" });
    const max = await measurePrometheus(due("by", "results.exists(x, x > 0.1)"), fixedNow);
    expect(max.phase).to.equal("Successful");
  });

  it("explains that result is a list when a scalar comparison meets several samples", async () => {
    answers.set("by", vector([{ version: "2.0.0" }, "0.001"], [{ version: "2.1.0" }, "0.3"]));
    const m = await measurePrometheus(due("by", "result < 0.01"), fixedNow);
    expect(m.phase).to.equal("Error");
    expect(m.message).to.include("the query returned 2 series, so `result` is a list");
  });

  it("is Error, not Successful, when the query returned NaN (0/0: no traffic)", async () => {
    answers.set("ratio", vector([{}, "NaN"]));
    const m = await measurePrometheus(due("ratio", "result < 0.01"), fixedNow);
    expect(m).to.include({ phase: "Error", value: "NaN" });
    expect(m.message).to.match(/^query returned NaN;/);
  });

  it("names the series that is NaN when several were returned", async () => {
    answers.set("by", vector([{ version: "2.0.0" }, "0.001"], [{ version: "2.1.0" }, "NaN"]));
    const m = await measurePrometheus(due("by", "results.all(x, x < 0.01)"), fixedNow);
    expect(m.phase).to.equal("Error");
    expect(m.message).to.include('query returned NaN for 1 of 2 series ({version="2.1.0"})');
  });

  it("treats +Inf as a number (errors without any request: Failed)", async () => {
    answers.set("ratio", vector([{}, "+Inf"]));
    expect(await measurePrometheus(due("ratio", "result < 0.01"), fixedNow)).to.include({
      phase: "Failed",
      value: "+Inf",
    });
  });

  it("is Error when the query returned no data", async () => {
    answers.set("absent", vector());
    expect(await measurePrometheus(due("absent", "result < 0.01"), fixedNow)).to.include({
      phase: "Error",
      message: "query returned no data",
    });
  });

  it("is Error for a range vector and for a string", async () => {
    answers.set("range", ok({ resultType: "matrix", result: [{ metric: {}, values: [[1, "1"]] }] }));
    answers.set("str", ok({ resultType: "string", result: [1, "x"] }));
    const range = await measurePrometheus(due("range", "result < 1"), fixedNow);
    expect(range.phase).to.equal("Error");
    expect(range.message).to.match(/^query returned a range vector \(matrix\)/);
    expect(await measurePrometheus(due("str", "result < 1"), fixedNow)).to.include({
      phase: "Error",
      message: "query returned a string; a check needs a number",
    });
  });

  it("is Error with Prometheus' own explanation when it rejects the query", async () => {
    answers.set("sum(", {
      status: 400,
      body: JSON.stringify({
        status: "error",
        errorType: "bad_data",
        error: 'invalid parameter "query": 1:5: parse error: unclosed left parenthesis',
      }),
    });
    expect(await measurePrometheus(due("sum(", "result < 1"), fixedNow)).to.include({
      phase: "Error",
      message:
        'Prometheus rejected the query (bad_data: invalid parameter "query": 1:5: parse error: unclosed left parenthesis)',
    });
  });

  it("is Error when the address does not serve the Prometheus API, quoting its answer only with the platform's opt-in", async () => {
    const m = await measurePrometheus(due("q", "result < 1", `${address}/not-prometheus`), fixedNow);
    expect(m).to.include({
      phase: "Error",
      message: `query to Prometheus at ${address}/not-prometheus answered HTTP 404, not the Prometheus API (response of 19 bytes not shown: the destination is not this version's own Service)`,
    });
    const quoted = await measurePrometheus(due("q", "result < 1", `${address}/not-prometheus`), fixedNow, {
      responseMessages: "all",
    });
    expect(quoted).to.include({
      phase: "Error",
      message: `query to Prometheus at ${address}/not-prometheus answered HTTP 404, not the Prometheus API: 404 page not found`,
    });
  });
});
