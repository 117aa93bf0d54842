// The Prometheus provider against a real Prometheus scraping a real exporter: the
// error-rate check a user would write, for a healthy version and a bad one.
//   mocha --timeout 60000 test/integration/prometheus.test.ts
import { createServer } from "node:net";
import { expect } from "chai";
import { measurePrometheus } from "../../src/health/prometheus.ts";
import type { DueCheck, Measurement } from "../../src/plan/types.ts";
import { Exporter } from "../support/exporter.ts";
import { startPrometheus, type PrometheusServer } from "../support/prometheus.ts";

const HEALTHY = "2.0.0"; // 1% errors
const BAD = "2.1.0"; // 25% errors
const IDLE = "1.9.0"; // series exist, no traffic: 0/0
const DATA_DEADLINE_MS = 30000;

const errorRate = (version: string) =>
  `sum(rate(errors_total{version="${version}"}[15s])) / sum(rate(requests_total{version="${version}"}[15s]))`;

describe("Prometheus health checks against a real Prometheus", function () {
  this.timeout(60000);
  let exporter: Exporter;
  let prometheus: PrometheusServer;

  function due(query: string, successCondition = "result < 0.05", address = prometheus.url): DueCheck {
    return {
      check: { name: "error-rate", prometheus: { address, query, successCondition } },
      vars: { name: "fraud-detector", namespace: "models", version: "x", service: "fraud-detector-x" },
      query,
      timeoutMs: 5000,
    };
  }

  /** Measures until `done` says the measurement is the one to judge, or the deadline passes. */
  async function measureUntil(check: DueCheck, done: (m: Measurement) => boolean): Promise<Measurement> {
    const deadline = Date.now() + DATA_DEADLINE_MS;
    while (true) {
      const m = await measurePrometheus(check, () => new Date());
      if (done(m) || Date.now() > deadline) return m;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }

  const hasData = (m: Measurement) => m.message !== "query returned no data";

  before(async () => {
    exporter = await Exporter.start();
    exporter.setRates(HEALTHY, { requests: 20, errors: 0.2 });
    exporter.setRates(BAD, { requests: 20, errors: 5 });
    exporter.setRates(IDLE, { requests: 0, errors: 0 });
    prometheus = await startPrometheus({ targets: [exporter.target] });
  });

  after(async () => {
    await prometheus?.stop();
    await exporter?.stop();
  });

  it("is Successful for a version whose error rate is under the threshold", async () => {
    const m = await measureUntil(due(errorRate(HEALTHY)), hasData);
    expect(m.phase, `${m.message} (prometheus output: ${prometheus.output().slice(-500)})`).to.equal(
      "Successful",
    );
    expect(Number(m.value)).to.be.closeTo(0.01, 0.001);
  });

  it("is Failed for a version whose error rate is over the threshold, with the rate it saw", async () => {
    const m = await measureUntil(due(errorRate(BAD)), hasData);
    expect(m.phase).to.equal("Failed");
    expect(Number(m.value)).to.be.closeTo(0.25, 0.001);
    expect(m.message).to.equal(`successCondition \`result < 0.05\` was false for ${m.value}`);
  });

  it("is Error with NaN, not Successful, for a version without traffic", async () => {
    const m = await measureUntil(due(errorRate(IDLE)), hasData);
    expect(m).to.include({ phase: "Error", value: "NaN" });
    expect(m.message).to.match(/^query returned NaN/);
  });

  it("judges every series of a query by version with a list condition", async () => {
    const byVersion =
      'sum by (version) (rate(errors_total{version=~"2\\\\..*"}[15s])) / sum by (version) (rate(requests_total{version=~"2\\\\..*"}[15s]))';
    const all = await measureUntil(
      due(byVersion, "result.all(x, x < 0.05)"),
      (m) => m.value?.startsWith("[") ?? false,
    );
    expect(all.phase).to.equal("Failed");
    const values = all
      .value!.slice(1, -1)
      .split(", ")
      .map(Number)
      .sort((a, b) => a - b);
    expect(values).to.have.length(2);
    expect(values[0]).to.be.closeTo(0.01, 0.001);
    expect(values[1]).to.be.closeTo(0.25, 0.001);
    const any = await measurePrometheus(due(byVersion, "results.exists(x, x < 0.05)"), () => new Date());
    expect(any.phase).to.equal("Successful");
  });

  it("is Error when the query matches no series", async () => {
    // Data for the healthy version is there, so Prometheus is scraping: this query has none.
    await measureUntil(due(errorRate(HEALTHY)), hasData);
    const m = await measurePrometheus(due(errorRate("9.9.9")), () => new Date());
    expect(m).to.include({ phase: "Error", message: "query returned no data" });
  });

  it("is Error with Prometheus' own message for a query that does not parse", async () => {
    const m = await measurePrometheus(due("sum(rate(errors_total[15s])"), () => new Date());
    expect(m.phase).to.equal("Error");
    expect(m.message).to.match(/^Prometheus rejected the query \(bad_data: .*parse error/);
  });

  it("is Error when Prometheus cannot be reached", async () => {
    const port = await closedPort();
    const m = await measurePrometheus(
      due(errorRate(HEALTHY), "result < 0.05", `http://127.0.0.1:${port}`),
      () => new Date(),
    );
    expect(m).to.include({
      phase: "Error",
      message: `query to Prometheus at http://127.0.0.1:${port} failed: connection refused`,
    });
  });
});

function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}
