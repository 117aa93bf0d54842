// Prometheus checks relative to the stable version (compareWithStable), against a local
// server that answers /api/v1/query the way Prometheus does: both versions' queries in one
// measurement, the condition over `candidate` and `stable`, and an Error, never a pass, when
// either version has no value.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { expect } from "chai";
import { measureCheck } from "../../src/health/index.ts";
import type { DueCheck } from "../../src/plan/types.ts";

const fixedNow = () => new Date("2030-01-02T03:04:05Z");
const query = (version: string) => `p95_latency_seconds{version="${version}"}`;

describe("Prometheus checks relative to the stable version", () => {
  let server: Server;
  let address: string;
  let answers: Map<string, string>;
  let seen: string[];

  before(async () => {
    server = createServer((req, res) => {
      const url = new URL(req.url ?? "/", "http://prometheus");
      const q = url.searchParams.get("query") ?? "";
      seen.push(q);
      const body = answers.get(q);
      if (body === undefined) {
        res.writeHead(404).end("404 page not found\n");
        return;
      }
      res.writeHead(200, { "content-type": "application/json" }).end(body);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    address = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  beforeEach(() => {
    answers = new Map();
    seen = [];
  });

  const vector = (...values: string[]) =>
    JSON.stringify({
      status: "success",
      data: {
        resultType: "vector",
        result: values.map((v, i) => ({ metric: { pod: `p${i}` }, value: [1893553445, v] })),
      },
    });

  function due(successCondition = "candidate <= stable * 1.1", stable = true): DueCheck {
    const d: DueCheck = {
      check: {
        name: "p95",
        prometheus: {
          address,
          query: 'p95_latency_seconds{version="{{version}}"}',
          successCondition,
          compareWithStable: true,
        },
      },
      vars: { name: "fraud", namespace: "models", version: "2.0.0", service: "fraud-2-0-0" },
      query: query("2.0.0"),
      timeoutMs: 2000,
    };
    if (stable)
      d.stable = {
        vars: { name: "fraud", namespace: "models", version: "1.0.0", service: "fraud-1-0-0" },
        query: query("1.0.0"),
      };
    return d;
  }

  it("is Successful when the condition holds for both values, and records both", async () => {
    answers.set(query("2.0.0"), vector("0.104"));
    answers.set(query("1.0.0"), vector("0.1"));
    const m = await measureCheck(due(), fixedNow);
    expect(m).to.deep.equal({
      name: "p95",
      phase: "Successful",
      value: "0.104",
      stableValue: "0.1",
      time: "2030-01-02T03:04:05.000Z",
    });
    expect(seen.sort()).to.deep.equal([query("1.0.0"), query("2.0.0")]);
  });

  it("is Failed with both values when the candidate is 30% slower than stable", async () => {
    answers.set(query("2.0.0"), vector("0.13"));
    answers.set(query("1.0.0"), vector("0.1"));
    const m = await measureCheck(due(), fixedNow);
    expect(m).to.include({
      phase: "Failed",
      value: "0.13",
      stableValue: "0.1",
      message: "successCondition `candidate <= stable * 1.1` was false for candidate 0.13, stable 0.1",
    });
  });

  it("supports a difference (an error rate a little above stable's)", async () => {
    answers.set(query("2.0.0"), vector("0.012"));
    answers.set(query("1.0.0"), vector("0.01"));
    expect((await measureCheck(due("candidate - stable < 0.005"), fixedNow)).phase).to.equal("Successful");
    answers.set(query("2.0.0"), vector("0.02"));
    expect((await measureCheck(due("candidate - stable < 0.005"), fixedNow)).phase).to.equal("Failed");
  });

  it("is Error, naming the stable version, when the stable version has no data", async () => {
    answers.set(query("2.0.0"), vector("0.1"));
    answers.set(query("1.0.0"), vector());
    const m = await measureCheck(due(), fixedNow);
    expect(m).to.include({
      phase: "Error",
      value: "0.1",
      message:
        "the stable version 1.0.0 has no data (the query returned no data): there is nothing to compare with",
    });
    expect(m.stableValue).to.equal(undefined);
  });

  it("is Error when the stable version's value is NaN", async () => {
    answers.set(query("2.0.0"), vector("0.1"));
    answers.set(query("1.0.0"), vector("NaN"));
    const m = await measureCheck(due(), fixedNow);
    expect(m.phase).to.equal("Error");
    expect(m.message).to.match(/^the query for the stable version 1\.0\.0 returned NaN/);
  });

  it("is Error when the new version has no data, or a query returns several series", async () => {
    answers.set(query("2.0.0"), vector());
    answers.set(query("1.0.0"), vector("0.1"));
    let m = await measureCheck(due(), fixedNow);
    expect(m).to.include({ phase: "Error", stableValue: "0.1" });
    expect(m.message).to.match(/^the new version 2\.0\.0 has no data/);
    answers.set(query("2.0.0"), vector("0.1", "0.2"));
    m = await measureCheck(due(), fixedNow);
    expect(m.message).to.match(/^the query for the new version 2\.0\.0 returned 2 series/);
  });

  it("is Error when Prometheus rejects the stable version's query", async () => {
    answers.set(query("2.0.0"), vector("0.1"));
    answers.set(
      query("1.0.0"),
      JSON.stringify({ status: "error", errorType: "bad_data", error: "parse error" }),
    );
    const m = await measureCheck(due(), fixedNow);
    expect(m).to.include({
      phase: "Error",
      message: "query for the stable version 1.0.0: Prometheus rejected the query (bad_data: parse error)",
    });
  });

  it("is Error when there is no stable version to compare with", async () => {
    const m = await measureCheck(due("candidate < 1.0", false), fixedNow);
    expect(m).to.include({ phase: "Error" });
    expect(m.message).to.match(/no stable version to compare with/);
    expect(seen).to.deep.equal([]);
  });

  it("is Error with the condition's own message when it cannot be evaluated", async () => {
    answers.set(query("2.0.0"), vector("0.1"));
    answers.set(query("1.0.0"), vector("0.1"));
    const m = await measureCheck(due('candidate < stable + "x"'), fixedNow);
    expect(m.phase).to.equal("Error");
    expect(m.message).to.match(/could not be evaluated|no such overload|not valid/i);
  });
});
