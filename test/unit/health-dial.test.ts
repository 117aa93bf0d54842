// How checks connect (src/health/dial.ts): names through the DNS server the operator was
// given, only to the networks it allows, each bounded in time. A small DNS responder on
// 127.0.0.1 stands in for the cluster DNS; the e2e tests use the real CoreDNS.
//
// The private address below is only ever refused by the allowed networks: nothing
// connects to it (and the loopback guard of the test run would refuse it too).
import { expect } from "chai";
import { createSocket, type Socket as UdpSocket } from "node:dgram";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { HttpCheck } from "../../src/api/types.ts";
import { parseCidr, parseDnsServer } from "../../src/health/addresses.ts";
import { checkFetch } from "../../src/health/dial.ts";
import { measureHttp } from "../../src/health/http.ts";
import { queryPrometheus } from "../../src/health/prometheus.ts";
import type { DueCheck } from "../../src/plan/types.ts";

const now = () => new Date("2030-01-02T03:04:05Z");
const POD_IP = "10.244.0.5"; // configuration only: the allowed networks refuse it before any connection

/** Answers A queries from `records` (NXDOMAIN for other names, no AAAA); silent when `mute`. */
class TinyDns {
  records = new Map<string, string>();
  mute = false;
  queries: string[] = [];
  private readonly socket: UdpSocket;
  private constructor(socket: UdpSocket) {
    this.socket = socket;
    socket.on("message", (msg, rinfo) => {
      const { name, end, type } = question(msg);
      this.queries.push(`${name} ${type === 1 ? "A" : type === 28 ? "AAAA" : type}`);
      if (this.mute) return;
      const address = type === 1 ? this.records.get(name) : undefined;
      const known = this.records.has(name);
      const header = Buffer.alloc(12);
      msg.copy(header, 0, 0, 2); // id
      header.writeUInt16BE(0x8180 | (known ? 0 : 3), 2); // response, RD, RA; rcode 3 = NXDOMAIN
      header.writeUInt16BE(1, 4); // one question
      header.writeUInt16BE(address ? 1 : 0, 6);
      const answer = address
        ? Buffer.concat([
            Buffer.from([0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 5, 0, 4]), // name pointer, A, IN, ttl 5, 4 bytes
            Buffer.from(address.split(".").map(Number)),
          ])
        : Buffer.alloc(0);
      socket.send(Buffer.concat([header, msg.subarray(12, end), answer]), rinfo.port, rinfo.address);
    });
  }
  static async start(): Promise<TinyDns> {
    const socket = createSocket("udp4");
    await new Promise<void>((r) => socket.bind(0, "127.0.0.1", r));
    return new TinyDns(socket);
  }
  get server(): string {
    return `127.0.0.1:${this.socket.address().port}`;
  }
  stop(): void {
    this.socket.close();
  }
}

function question(msg: Buffer): { name: string; end: number; type: number } {
  const labels: string[] = [];
  let i = 12;
  while (msg[i]! > 0) {
    labels.push(msg.subarray(i + 1, i + 1 + msg[i]!).toString("ascii"));
    i += msg[i]! + 1;
  }
  return { name: labels.join("."), end: i + 5, type: msg.readUInt16BE(i + 1) };
}

function due(url: string, http: Omit<HttpCheck, "url"> = {}, timeoutMs = 5000): DueCheck {
  return {
    check: { name: "model-ready", http: { ...http, url } },
    vars: { name: "m", namespace: "models", version: "1", service: "m-1" },
    url,
    timeoutMs,
  };
}

describe("health checks: where they connect", () => {
  let dns: TinyDns;
  let server: Server;
  let port = 0;
  const seen: { host: string | undefined; url: string | undefined }[] = [];

  before(async () => {
    dns = await TinyDns.start();
    server = createServer((req, res) => {
      seen.push({ host: req.headers.host, url: req.url });
      res.writeHead(200, { "content-type": "application/json" });
      res.end(
        JSON.stringify({
          status: "success",
          data: { resultType: "vector", result: [{ metric: {}, value: [0, "0.5"] }] },
        }),
      );
    });
    // 127.0.0.3: an address of its own, as a Service's ClusterIP is.
    await new Promise<void>((r) => server.listen(0, "127.0.0.3", r));
    port = (server.address() as AddressInfo).port;
    dns.records.set("m-1.models.svc", "127.0.0.3");
  });
  after(() => {
    dns.stop();
    server.close();
  });
  beforeEach(() => {
    seen.length = 0;
    dns.queries.length = 0;
    dns.mute = false;
  });

  it("resolves a Service name through the given DNS server and keeps the name in the Host header", async () => {
    const send = checkFetch({ dnsServer: dns.server, allowedCidrs: ["127.0.0.0/8"] });
    const m = await measureHttp(due(`http://m-1.models.svc:${port}/v2/models/m/ready`), now, { send });
    expect(m).to.include({ phase: "Successful", value: "200" });
    expect(seen).to.deep.equal([{ host: `m-1.models.svc:${port}`, url: "/v2/models/m/ready" }]);
    expect(dns.queries).to.include("m-1.models.svc A");
  });

  it("serves Prometheus queries the same way", async () => {
    const send = checkFetch({ dnsServer: dns.server });
    const result = await queryPrometheus(`http://m-1.models.svc:${port}`, "up", 5000, false, send);
    expect(result).to.deep.include({ ok: true });
    expect(seen[0]?.url).to.match(/^\/api\/v1\/query\?query=up/);
  });

  it("says which name the DNS server does not know", async () => {
    const send = checkFetch({ dnsServer: dns.server });
    const m = await measureHttp(due(`http://gone.models.svc:${port}/ready`), now, { send });
    expect(m.phase).to.equal("Error");
    expect(m.message).to.equal(
      `GET http://gone.models.svc:${port}/ready failed: host not found (gone.models.svc has no address at the DNS server ${dns.server} (ENOTFOUND))`,
    );
    expect(seen).to.deep.equal([]);
  });

  it("gives up on a DNS server that does not answer, in bounded time", async () => {
    dns.mute = true;
    const send = checkFetch({ dnsServer: dns.server });
    const started = Date.now();
    const m = await measureHttp(due(`http://m-1.models.svc:${port}/ready`, {}, 20_000), now, { send });
    expect(m.phase).to.equal("Error");
    expect(m.message).to.match(
      /host not found \(m-1\.models\.svc has no address at the DNS server .* \(ETIMEOUT\)\)/,
    );
    expect(Date.now() - started).to.be.below(8000);
  });

  it("refuses addresses outside the allowed networks, whether written or resolved, before connecting", async () => {
    const send = checkFetch({ dnsServer: dns.server, allowedCidrs: ["127.0.0.1/32"] });
    const byName = await measureHttp(due(`http://m-1.models.svc:${port}/ready`), now, { send });
    expect(byName).to.include({ phase: "Error" });
    expect(byName.message).to.equal(
      `GET http://m-1.models.svc:${port}/ready failed: destination 127.0.0.3 (the address of m-1.models.svc) is outside the allowed networks (--check-only-cidrs=127.0.0.1/32)`,
    );
    const loopbackOnly = checkFetch({ allowedCidrs: ["127.0.0.0/8"] });
    const written = await measureHttp(due(`http://${POD_IP}:8080/ready`), now, { send: loopbackOnly });
    expect(written.message).to.equal(
      `GET http://${POD_IP}:8080/ready failed: destination ${POD_IP} is outside the allowed networks (--check-only-cidrs=127.0.0.0/8)`,
    );
    expect(seen).to.deep.equal([]);
  });

  it("without a DNS server uses the system resolver (localhost from /etc/hosts), still within the allowed networks", async () => {
    const local = createServer((_req, res) => res.end("ok")).listen(0, "127.0.0.1");
    await new Promise((r) => local.once("listening", r));
    const localPort = (local.address() as AddressInfo).port;
    try {
      const allowed = await measureHttp(due(`http://localhost:${localPort}/`), now, {
        send: checkFetch({ allowedCidrs: ["127.0.0.0/8"] }),
      });
      expect(allowed).to.include({ phase: "Successful" });
      const refused = await measureHttp(due(`http://localhost:${localPort}/`), now, {
        send: checkFetch({ allowedCidrs: ["127.0.0.2/32"] }),
      });
      expect(refused.message).to.contain(
        "destination 127.0.0.1 (the address of localhost) is outside the allowed networks",
      );
    } finally {
      local.close();
    }
  });

  it("judges each resolved address by the destination policy when it connects, and sends nothing to a denied one", async () => {
    const send = checkFetch({
      dnsServer: dns.server,
      judgeAddress: (address) =>
        address === "127.0.0.3" ? { allowed: false, reason: "a denied address" } : { allowed: true },
    });
    const m = await measureHttp(due(`http://m-1.models.svc:${port}/ready`), now, { send });
    expect(m).to.include({ phase: "Error" });
    expect(m.message).to.equal(
      `GET http://m-1.models.svc:${port}/ready failed: destination m-1.models.svc resolved to 127.0.0.3, which the platform's policy denies: a denied address`,
    );
    expect(seen).to.deep.equal([]);
  });

  it("does not follow a redirect to another destination, so nothing reaches it", async () => {
    const redirect = createServer((_req, res) =>
      res.writeHead(302, { location: `http://127.0.0.1:${port}/` }).end(),
    );
    await new Promise<void>((r) => redirect.listen(0, "127.0.0.3", r));
    const redirectPort = (redirect.address() as AddressInfo).port;
    try {
      const send = checkFetch({ allowedCidrs: ["127.0.0.3/32"] });
      const m = await measureHttp(due(`http://127.0.0.3:${redirectPort}/old`), now, { send });
      expect(m.message).to.equal(
        `GET http://127.0.0.3:${redirectPort}/old failed: redirected to another destination, not followed (checks follow redirects within the host and port they name)`,
      );
      expect(seen).to.deep.equal([]);
    } finally {
      redirect.close();
    }
  });

  it("sends as the global fetch does when nothing is set", async () => {
    const local = createServer((req, res) => res.end(`ok ${req.url}`)).listen(0, "127.0.0.1");
    await new Promise((r) => local.once("listening", r));
    try {
      const response = await checkFetch({})(
        `http://127.0.0.1:${(local.address() as AddressInfo).port}/x`,
        {},
      );
      expect(await response.text()).to.equal("ok /x");
    } finally {
      local.close();
    }
  });

  it("parses CIDRs and DNS servers", () => {
    expect(parseCidr("127.0.0.0/8")).to.deep.equal({ address: "127.0.0.0", prefix: 8, family: "ipv4" });
    expect(parseCidr("fd00::/8")).to.deep.equal({ address: "fd00::", prefix: 8, family: "ipv6" });
    expect(parseCidr("127.0.0.1")).to.deep.equal({ address: "127.0.0.1", prefix: 32, family: "ipv4" });
    for (const bad of ["127.0.0.0/33", "::/129", "localhost/8", "", "1.2.3/8"])
      expect(parseCidr(bad), bad).to.equal(undefined);
    expect(parseDnsServer("127.0.0.1")).to.equal("127.0.0.1:53");
    expect(parseDnsServer("127.0.0.1:5353")).to.equal("127.0.0.1:5353");
    expect(parseDnsServer("[::1]:5353")).to.equal("[::1]:5353");
    expect(parseDnsServer("::1")).to.equal("[::1]:53");
    for (const bad of ["dns.example", "127.0.0.1:0", "127.0.0.1:70000", "1.2.3:53"])
      expect(parseDnsServer(bad), bad).to.equal(undefined);
  });
});
