// The API client's token bucket (--kube-api-qps, --kube-api-burst).
import { ManualClock, settle } from "../support/manual-clock.ts";
import { expect } from "chai";
import { KubeConfig } from "@kubernetes/client-node";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { ModelDeployment } from "../../src/api/types.ts";
import { getJson } from "../../src/kube/listwatch.ts";
import { kubeClient } from "../../src/kube/client.ts";
import {
  rateLimiter,
  requestPriority,
  TokenBucket,
  unlimited,
  type RequestPriority,
} from "../../src/kube/ratelimit.ts";

describe("API client rate limit (token bucket)", () => {
  it("lets a burst through at once, then one request per 1/qps seconds, in order", async () => {
    const clock = new ManualClock();
    const bucket = new TokenBucket(10, 3, clock);
    const granted: number[] = [];
    for (let i = 0; i < 6; i++) void bucket.acquire().then(() => granted.push(i));
    await settle();
    expect(granted, "the burst").to.deep.equal([0, 1, 2]);
    await clock.advance(99);
    expect(granted).to.deep.equal([0, 1, 2]);
    await clock.advance(1);
    expect(granted, "after 100 ms, one more").to.deep.equal([0, 1, 2, 3]);
    await clock.advance(200);
    expect(granted).to.deep.equal([0, 1, 2, 3, 4, 5]);
  });

  it("serves callers by priority (high, normal, low), each before lower ones that waited longer", async () => {
    const clock = new ManualClock();
    const bucket = new TokenBucket(10, 1, clock);
    await bucket.acquire();
    const granted: string[] = [];
    const waits: Record<string, number> = {};
    const ask = (name: string, priority: RequestPriority) =>
      void requestPriority.run(priority, () =>
        bucket.acquire().then((ms) => {
          granted.push(name);
          waits[name] = ms;
        }),
      );
    ask("relist-1", "low");
    ask("relist-2", "low");
    ask("progress", "normal");
    await clock.advance(50);
    ask("user-change", "high");
    await clock.advance(50);
    expect(granted, "the next token goes to the user's change").to.deep.equal(["user-change"]);
    expect(waits["user-change"]).to.equal(50);
    await clock.advance(300);
    expect(granted).to.deep.equal(["user-change", "progress", "relist-1", "relist-2"]);
    expect(waits["relist-2"]).to.equal(400);
    // Outside any reconcile (an informer's list): normal.
    expect(requestPriority.getStore()).to.equal(undefined);
  });

  it("refills up to the burst, not beyond, while idle", async () => {
    const clock = new ManualClock();
    const bucket = new TokenBucket(2, 4, clock);
    for (let i = 0; i < 4; i++) await bucket.acquire();
    expect(bucket.available()).to.equal(0);
    await clock.advance(1000);
    expect(bucket.available()).to.equal(2);
    await clock.advance(60_000);
    expect(bucket.available()).to.equal(4);
  });

  it("sends at most burst + qps * t requests in t seconds however many are asked for", async () => {
    const clock = new ManualClock();
    const bucket = new TokenBucket(5, 10, clock);
    let sent = 0;
    for (let i = 0; i < 1000; i++) void bucket.acquire().then(() => sent++);
    await clock.advance(20_000);
    expect(sent).to.equal(10 + 5 * 20);
  });

  it("gives the token back when the caller gives up", async () => {
    const clock = new ManualClock();
    const bucket = new TokenBucket(1, 1, clock);
    await bucket.acquire();
    const abort = new AbortController();
    const waiting = bucket.acquire(abort.signal);
    abort.abort(new Error("stopped"));
    let err: unknown;
    await waiting.catch((e: unknown) => (err = e));
    expect((err as Error).message).to.equal("stopped");
    await clock.advance(1000);
    expect(bucket.available()).to.equal(1);
  });

  it("qps 0 means no limit; invalid settings are refused", async () => {
    expect(rateLimiter(0, 1)).to.equal(unlimited);
    expect(await unlimited.acquire()).to.equal(0);
    expect(() => new TokenBucket(-1, 1)).to.throw(RangeError);
    expect(() => new TokenBucket(1, 0)).to.throw(RangeError);
  });
});

describe("API client rate limit, applied to the operator's requests", () => {
  let server: Server;
  let received: string[];
  let kc: KubeConfig;
  before(async () => {
    received = [];
    server = createServer((req, res) => {
      received.push(`${req.method} ${req.url?.split("?")[0]}`);
      const conflict = req.method === "PUT";
      res.writeHead(conflict ? 409 : 200, { "content-type": "application/json" });
      res.end(
        JSON.stringify(conflict ? { kind: "Status", reason: "Conflict", message: "stale" } : { items: [] }),
      );
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [
        {
          name: "c",
          server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
          skipTLSVerify: true,
        },
      ],
      users: [{ name: "u" }],
      contexts: [{ name: "x", cluster: "c", user: "u" }],
      currentContext: "x",
    });
  });
  after(() => new Promise<void>((r) => server.close(() => r())));
  beforeEach(() => (received = []));

  /** Polls until `n` requests arrived, or fails after 2 s of real time. */
  const arrived = async (n: number) => {
    const deadline = Date.now() + 2000;
    while (received.length < n) {
      if (Date.now() > deadline) throw new Error(`expected ${n} requests, got ${received.length}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  };

  it("writes wait for a token and are counted by method and code", async () => {
    const clock = new ManualClock();
    const counted: string[] = [];
    const client = kubeClient(kc, {
      rateLimiter: new TokenBucket(1, 2, clock),
      onRequest: (method, code) => counted.push(`${method} ${code}`),
    });
    const md = {
      apiVersion: "mlops.dev/v1alpha1",
      kind: "ModelDeployment",
      metadata: { namespace: "m", name: "a" },
    } as ModelDeployment;
    const writes = [
      client.delete("apps/v1", "Deployment", "m", "a-1"),
      client.delete("apps/v1", "Deployment", "m", "a-2"),
      client.replaceStatus(md, {}).catch((e: unknown) => e),
    ];
    await arrived(2);
    await new Promise((r) => setTimeout(r, 50));
    expect(received, "the burst of 2 went out; the third waits for a token").to.have.length(2);
    await clock.advance(1000);
    await arrived(3);
    const [, , conflict] = await Promise.all(writes);
    expect((conflict as { status?: number }).status).to.equal(409);
    expect(counted.sort()).to.deep.equal(["DELETE 200", "DELETE 200", "PUT 409"]);
  });

  it("informer lists wait for a token and are counted", async () => {
    const clock = new ManualClock();
    const counted: string[] = [];
    const traffic = {
      rateLimiter: new TokenBucket(2, 1, clock),
      onRequest: (method: string, code: number) => counted.push(`${method} ${code}`),
    };
    const signal = new AbortController().signal;
    const lists = [1, 2, 3].map(() => getJson(kc, "/api/v1/services", {}, signal, 5000, traffic));
    await arrived(1);
    await new Promise((r) => setTimeout(r, 50));
    expect(received).to.have.length(1);
    await clock.advance(500);
    await arrived(2);
    await clock.advance(500);
    await arrived(3);
    await Promise.all(lists);
    expect(counted).to.deep.equal(["GET 200", "GET 200", "GET 200"]);
  });
});
