// The statistical judge as a check, against a local server that answers
// /api/v1/query_range the way Prometheus does: both versions' series over one window, the
// verdict and its numbers in the measurement, and an Error that names a version without data.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { expect } from "chai";
import { measureCheck } from "../../src/health/index.ts";
import type { PrometheusJudge } from "../../src/api/types.ts";
import type { DueCheck } from "../../src/plan/types.ts";

const fixedNow = () => new Date("2030-01-02T03:04:05Z");
const query = (version: string) => `latency{version="${version}"}`;
const STABLE = Array.from({ length: 30 }, (_, i) => 0.1 + ((i * 7) % 11) / 1000);

describe("the statistical judge against the Prometheus range API", () => {
  let server: Server;
  let address: string;
  let series: Map<string, number[][]>;
  let seen: URL[];

  before(async () => {
    server = createServer((req, res) => {
      const url = new URL(req.url ?? "/", "http://prometheus");
      seen.push(url);
      const found =
        url.pathname === "/api/v1/query_range" ? series.get(url.searchParams.get("query") ?? "") : undefined;
      if (!found) {
        res.writeHead(404).end("404 page not found\n");
        return;
      }
      const result = found.map((values, i) => ({
        metric: { pod: `p${i}` },
        values: values.map((v, k) => [1893553445 + k, Number.isNaN(v) ? "NaN" : String(v)]),
      }));
      res
        .writeHead(200, { "content-type": "application/json" })
        .end(JSON.stringify({ status: "success", data: { resultType: "matrix", result } }));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    address = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  beforeEach(() => {
    series = new Map();
    seen = [];
  });

  function due(judge: PrometheusJudge = { window: "1m", step: "2s", direction: "LowerIsBetter" }): DueCheck {
    return {
      check: {
        name: "latency-judge",
        prometheus: { address, query: 'latency{version="{{version}}"}', judge },
      },
      vars: { name: "fraud", namespace: "models", version: "2.0.0", service: "fraud-2-0-0" },
      query: query("2.0.0"),
      stable: {
        vars: { name: "fraud", namespace: "models", version: "1.0.0", service: "fraud-1-0-0" },
        query: query("1.0.0"),
      },
      timeoutMs: 2000,
    };
  }

  it("asks both versions for the same window and step", async () => {
    series.set(query("2.0.0"), [STABLE]);
    series.set(query("1.0.0"), [STABLE]);
    await measureCheck(due(), fixedNow);
    expect(seen).to.have.length(2);
    const end = Date.parse("2030-01-02T03:04:05Z") / 1000;
    for (const url of seen) {
      expect(url.searchParams.get("start")).to.equal((end - 60).toFixed(3));
      expect(url.searchParams.get("end")).to.equal(end.toFixed(3));
      expect(url.searchParams.get("step")).to.equal("2");
    }
  });

  it("a version 30% slower is Failed, with the medians, U, p-value and shift", async () => {
    series.set(query("2.0.0"), [STABLE.map((v) => v * 1.3)]);
    series.set(query("1.0.0"), [STABLE]);
    const m = await measureCheck(due(), fixedNow);
    expect(m).to.include({ name: "latency-judge", phase: "Failed", value: "0.1365", stableValue: "0.105" });
    expect(m.judge).to.include({ verdict: "Fail", candidateSamples: 30, stableSamples: 30 });
    expect(m.judge?.pValue).to.be.below(1e-6);
    expect(m.judge?.effectSize).to.be.closeTo(0.3, 0.02);
    expect(m.judge?.u).to.equal(900);
    expect(m.message).to.match(/^the new version is significantly worse/);
  });

  it("a version within the tolerance is Successful", async () => {
    series.set(query("2.0.0"), [STABLE.map((v) => v * 1.02)]);
    series.set(query("1.0.0"), [STABLE]);
    const m = await measureCheck(due(), fixedNow);
    expect(m.phase).to.equal("Successful");
    expect(m.judge?.verdict).to.equal("Pass");
  });

  it("too few samples is Inconclusive", async () => {
    series.set(query("2.0.0"), [STABLE.slice(0, 3)]);
    series.set(query("1.0.0"), [STABLE]);
    const m = await measureCheck(due(), fixedNow);
    expect(m).to.include({ phase: "Inconclusive", value: "0.103", stableValue: "0.105" });
    expect(m.judge).to.deep.equal({ verdict: "Inconclusive", candidateSamples: 3, stableSamples: 30 });
  });

  it("NaN samples are dropped; an infinite shift is kept out of status", async () => {
    series.set(query("2.0.0"), [[...STABLE.map(() => 0.5), NaN, NaN]]);
    series.set(query("1.0.0"), [STABLE.map(() => 0)]);
    const m = await measureCheck(due(), fixedNow);
    expect(m.phase).to.equal("Failed");
    expect(m.judge?.candidateSamples).to.equal(30);
    expect(m.judge?.effectSize).to.equal(undefined);
    expect(m.message).to.match(/\+∞ \(the stable median is 0\)/);
  });

  it("no series for the stable version is an Error that names it", async () => {
    series.set(query("2.0.0"), [STABLE]);
    series.set(query("1.0.0"), []);
    const m = await measureCheck(due(), fixedNow);
    expect(m).to.include({
      phase: "Error",
      message:
        "the stable version 1.0.0 has no data in the window (the query returned no data): there is nothing to compare with",
    });
  });

  it("several series for a version is an Error", async () => {
    series.set(query("2.0.0"), [STABLE, STABLE]);
    series.set(query("1.0.0"), [STABLE]);
    const m = await measureCheck(due(), fixedNow);
    expect(m.phase).to.equal("Error");
    expect(m.message).to.match(/^the range query for the new version 2\.0\.0 returned 2 series/);
  });

  it("an answer that is not the Prometheus API is an Error", async () => {
    const m = await measureCheck(due(), fixedNow);
    expect(m.phase).to.equal("Error");
    expect(m.message).to.match(/answered HTTP 404, not the Prometheus API/);
  });
});

describe("range query URLs", () => {
  it("keep the address's path and drop its query string and fragment", async () => {
    const { rangeUrl } = await import("../../src/health/prometheus-range.ts");
    const params = new URLSearchParams({ query: "up", step: "10" });
    expect(rangeUrl("http://prom:9090/prefix/", params)).to.equal(
      "http://prom:9090/prefix/api/v1/query_range?query=up&step=10",
    );
    expect(rangeUrl("http://prom:9090/?query=other#x", params)).to.equal(
      "http://prom:9090/api/v1/query_range?query=up&step=10",
    );
  });
});
