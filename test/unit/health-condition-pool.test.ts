// successConditions evaluated on worker threads under a budget: an expression whose cost a
// server decides (nested comprehensions over a long list, a backtracking regular
// expression, a list that fills the heap) ends as an error that says so, while the main
// thread stays free and the next evaluation runs on a fresh worker.
import { expect } from "chai";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { ConditionPool } from "../../src/health/condition-pool.ts";

const items = (n: number) => JSON.stringify({ items: Array.from({ length: n }, (_, i) => i) });
const http = (expression: string, body: string) => ({
  kind: "http" as const,
  expression,
  status: 200,
  body,
  headers: [["content-type", "application/json"]] as [string, string][],
});
const EXPENSIVE = "json.items.all(a, json.items.all(b, json.items.exists(c, c < 0) || true))";

describe("ConditionPool", function () {
  this.timeout(30_000);
  let pool: ConditionPool;
  afterEach(async () => {
    await pool.close();
  });

  it("evaluates HTTP and Prometheus conditions with the variables a measurement saw", async () => {
    pool = new ConditionPool({ timeoutMs: 5000 });
    expect(await pool.evaluate(http("json.items.size() == 3 && status == 200", items(3)))).to.deep.equal({
      ok: true,
      value: true,
    });
    expect(await pool.evaluate(http(`headers["content-type"] == "text/plain"`, "{}"))).to.deep.equal({
      ok: true,
      value: false,
    });
    expect(await pool.evaluate(http(`body.contains("ready")`, "not json: ready"))).to.deep.equal({
      ok: true,
      value: true,
    });
    expect(
      await pool.evaluate({ kind: "prometheus", expression: "result < 0.01", values: [0.002] }),
    ).to.deep.equal({ ok: true, value: true });
    expect(
      await pool.evaluate({ kind: "prometheus", expression: "results.all(x, x < 0.5)", values: [0.1, 0.7] }),
    ).to.deep.equal({ ok: true, value: false });
  });

  it("stops an evaluation at its budget with a message that says so, without blocking the event loop", async () => {
    pool = new ConditionPool({ timeoutMs: 300 });
    const delay = monitorEventLoopDelay({ resolution: 10 });
    delay.enable();
    const started = Date.now();
    const outcome = await pool.evaluate(http(EXPENSIVE, items(1000)));
    const took = Date.now() - started;
    delay.disable();
    expect(outcome.ok).to.equal(false);
    expect(!outcome.ok && outcome.error).to.match(/exceeded the budget of 300ms/);
    expect(!outcome.ok && outcome.error).to.include("--check-condition-timeout");
    // Generous bounds for a loaded machine: the evaluation alone would run for minutes.
    expect(took).to.be.lessThan(10_000);
    expect(delay.max / 1e6, "event-loop delay (ms)").to.be.lessThan(1000);
    expect(pool.terminated).to.equal(1);
    // The next evaluation gets a fresh worker and works.
    expect(await pool.evaluate(http("json.items.size() == 1000", items(1000)))).to.deep.equal({
      ok: true,
      value: true,
    });
  });

  it("stops a regular expression that backtracks", async () => {
    pool = new ConditionPool({ timeoutMs: 300 });
    const outcome = await pool.evaluate(http(`body.matches("^(a+)+$")`, "a".repeat(40) + "b"));
    expect(!outcome.ok && outcome.error).to.match(/exceeded the budget/);
  });

  it("stops an evaluation that passes the memory limit", async () => {
    pool = new ConditionPool({ timeoutMs: 20_000, memoryMb: 16 });
    const outcome = await pool.evaluate(
      http("json.items.map(a, json.items.map(b, [a, b, a + b])).size() > 0", items(1000)),
    );
    expect(outcome.ok).to.equal(false);
    expect(!outcome.ok && outcome.error).to.match(/exceeded the memory budget of 16 MiB/);
  });

  it("runs evaluations side by side up to its size, and queues the rest", async () => {
    pool = new ConditionPool({ timeoutMs: 400, workers: 2 });
    const cheap = pool.evaluate(http("status == 200", "{}"));
    const outcomes = await Promise.all([
      pool.evaluate(http(EXPENSIVE, items(1000))),
      pool.evaluate(http(EXPENSIVE, items(1000))),
      cheap,
      pool.evaluate(http("status == 200", "{}")),
    ]);
    expect(outcomes.map((o) => o.ok)).to.deep.equal([false, false, true, true]);
  });

  it("answers an error once closed", async () => {
    pool = new ConditionPool();
    await pool.close();
    expect(await pool.evaluate(http("true", "{}"))).to.deep.equal({
      ok: false,
      error: "the operator is shutting down",
    });
  });
});
