// Warm-up checks against a local server: every request sent one after the other, latencies
// in the measurement, failures counted against maxFailures.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { expect } from "chai";
import { measureCheck } from "../../src/health/index.ts";
import { summarize } from "../../src/health/warmup.ts";
import type { DueCheck } from "../../src/plan/types.ts";
import type { WarmupCheck } from "../../src/api/types.ts";

describe("warm-up checks", () => {
  let server: Server;
  let url: string;
  let received: { method: string; body: string; type: string | undefined }[];
  let statuses: number[];

  before(async () => {
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        received.push({
          method: req.method ?? "",
          body: Buffer.concat(chunks).toString("utf8"),
          type: req.headers["content-type"],
        });
        res.writeHead(statuses.shift() ?? 200).end("{}");
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v2/models/fraud/infer`;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  beforeEach(() => {
    received = [];
    statuses = [];
  });

  const due = (warmup: Partial<WarmupCheck> = {}): DueCheck => ({
    check: { name: "warmup", warmup: { path: "/v2/models/fraud/infer", requests: 5, ...warmup } },
    vars: { name: "fraud", namespace: "models", version: "2.0.0", service: "fraud-2-0-0" },
    url,
    body: '{"inputs": []}',
    timeoutMs: 2000,
  });
  const now = () => new Date("2030-01-02T03:04:05Z");

  it("sends every request, as a JSON POST, and reports the latencies", async () => {
    const m = await measureCheck(due(), now);
    expect(received).to.have.length(5);
    expect(
      received.every(
        (r) => r.method === "POST" && r.body === '{"inputs": []}' && r.type === "application/json",
      ),
    ).to.equal(true);
    expect(m.phase).to.equal("Successful");
    expect(m.value).to.match(/^5\/5 ok, p50 \d+ms, p95 \d+ms, max \d+ms$/);
    expect(m.warmup).to.include({ requests: 5, failed: 0 });
    expect(m.warmup?.maxMs).to.be.at.least(m.warmup?.p50Ms ?? 0);
  });

  it("is Failed when more requests fail than maxFailures allows, naming the first", async () => {
    statuses = [200, 503, 200, 503, 200];
    const m = await measureCheck(due({ maxFailures: 1 }), now);
    expect(m).to.include({
      phase: "Failed",
      message:
        "2 of 5 warm-up requests failed (at most 1 may); first: request 2: expected status 200, got 503",
    });
    expect(m.warmup).to.include({ requests: 5, failed: 2 });
    statuses = [503];
    expect((await measureCheck(due({ maxFailures: 1 }), now)).phase).to.equal("Successful");
  });

  it("percentiles by nearest rank", () => {
    expect(summarize([5, 1, 3, 2, 4], 0)).to.deep.equal({
      requests: 5,
      failed: 0,
      p50Ms: 3,
      p95Ms: 5,
      maxMs: 5,
    });
    expect(summarize([], 0)).to.deep.equal({ requests: 0, failed: 0 });
  });
});
