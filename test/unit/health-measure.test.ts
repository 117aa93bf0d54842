// measureChecks: every due check measured at once, one measurement each, never a throw.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { expect } from "chai";
import { measureChecks } from "../../src/health/index.ts";
import type { DueCheck } from "../../src/plan/types.ts";

const fixedNow = () => new Date("2030-01-02T03:04:05Z");
const vars = { name: "fraud", namespace: "models", version: "2.1.0", service: "fraud-2-1-0" };

describe("measureChecks", () => {
  let server: Server;
  let base: string;

  before(async () => {
    server = createServer((req, res) => {
      if (req.url === "/ready") res.writeHead(200).end("ok");
      else if (req.url === "/api/v1/query?query=up&timeout=1s") {
        res.writeHead(200, { "content-type": "application/json" }).end(
          JSON.stringify({
            status: "success",
            data: { resultType: "vector", result: [{ metric: {}, value: [1, "1"] }] },
          }),
        );
      }
      // anything else hangs until the client gives up
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => {
    server.closeAllConnections();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it("returns one measurement per check, in order, from both providers", async () => {
    const due: DueCheck[] = [
      { check: { name: "ready", http: { path: "/ready" } }, vars, url: `${base}/ready`, timeoutMs: 1000 },
      {
        check: { name: "up", prometheus: { address: base, query: "up", successCondition: "result == 1.0" } },
        vars,
        query: "up",
        timeoutMs: 1000,
      },
      { check: { name: "nothing" }, vars, timeoutMs: 1000 },
    ];
    expect(await measureChecks(due, fixedNow)).to.deep.equal([
      { name: "ready", phase: "Successful", value: "200", time: "2030-01-02T03:04:05.000Z" },
      { name: "up", phase: "Successful", value: "1", time: "2030-01-02T03:04:05.000Z" },
      {
        name: "nothing",
        phase: "Error",
        message: "check has no provider: it needs http, prometheus, signature, warmup or agreement",
        time: "2030-01-02T03:04:05.000Z",
      },
    ]);
  });

  it("measures in parallel: slow checks cost one timeout, not the sum", async () => {
    const slow = (name: string): DueCheck => ({
      check: { name, http: { path: "/hang" } },
      vars,
      url: `${base}/hang`,
      timeoutMs: 300,
    });
    const started = Date.now();
    const measurements = await measureChecks([slow("a"), slow("b"), slow("c"), slow("d")], fixedNow);
    expect(Date.now() - started).to.be.lessThan(900);
    expect(measurements.map((m) => [m.name, m.phase])).to.deep.equal([
      ["a", "Error"],
      ["b", "Error"],
      ["c", "Error"],
      ["d", "Error"],
    ]);
  });

  it("turns a provider that throws into an Error measurement", async () => {
    // A check object that does not match its type (no validation before) makes the provider throw.
    const due: DueCheck = {
      check: {
        name: "broken",
        prometheus: { address: 9090 as unknown as string, query: "up", successCondition: "result == 1.0" },
      },
      vars,
      query: "up",
      timeoutMs: 1000,
    };
    const [m] = await measureChecks([due], fixedNow);
    expect(m).to.include({ name: "broken", phase: "Error", time: "2030-01-02T03:04:05.000Z" });
    expect(m?.message).to.match(/^measuring the check failed unexpectedly: /);
  });

  it("returns nothing for nothing due", async () => {
    expect(await measureChecks([], fixedNow)).to.deep.equal([]);
  });
});
