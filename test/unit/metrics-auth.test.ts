// Who may read /metrics with --metrics-secure: the authorizer's decisions with a fake reviewer
// standing in for the API server's TokenReview and SubjectAccessReview, its caches and bounds;
// and the HTTPS metrics server that asks it, with a certificate made in memory.
import { expect } from "chai";
import { X509Certificate, createPrivateKey } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  bearerToken,
  CACHE_TTL_MS,
  MetricsAuthorizer,
  type AccessReviewer,
  type UserInfo,
} from "../../src/observability/metrics-auth.ts";
import {
  inMemoryCertificate,
  readCertificateFiles,
  watchCertificateFiles,
} from "../../src/observability/cert-files.ts";
import { selfSignedCertificate } from "../../src/observability/self-signed.ts";
import { startProbeServers, type ProbeServers } from "../../src/observability/probes.ts";
import { BoundedTtlCache } from "../../src/observability/ttl-cache.ts";

/** A fake API server: tokens it knows, users it allows, and every review it was asked. */
class FakeReviewer implements AccessReviewer {
  readonly tokens = new Map<string, UserInfo>();
  readonly allowed = new Set<string>();
  readonly asked: string[] = [];
  failing: Error | undefined;
  /** While set, reviews wait for it. */
  gate: Promise<void> | undefined;

  async reviewToken(token: string) {
    this.asked.push(`token ${token}`);
    await this.gate;
    if (this.failing) throw this.failing;
    const user = this.tokens.get(token);
    return user ? { authenticated: true as const, user } : { authenticated: false as const };
  }
  async reviewAccess(user: UserInfo, verb: string, path: string) {
    this.asked.push(`access ${user.username} ${verb} ${path}`);
    await this.gate;
    if (this.failing) throw this.failing;
    return { allowed: this.allowed.has(user.username) };
  }
}

const PROMETHEUS = "system:serviceaccount:monitoring:prometheus";
const TENANT = "system:serviceaccount:team-a:default";

function fixture(now?: () => number, options: { cacheEntries?: number; maxInFlight?: number } = {}) {
  const reviewer = new FakeReviewer();
  reviewer.tokens.set("prom-token", { username: PROMETHEUS, groups: ["system:serviceaccounts"] });
  reviewer.tokens.set("tenant-token", { username: TENANT });
  reviewer.allowed.add(PROMETHEUS);
  return { reviewer, authorizer: new MetricsAuthorizer({ reviewer, now, ...options }) };
}

describe("secure metrics: the authorizer", () => {
  it("reads a bearer token as the API server does, and nothing else", () => {
    expect(bearerToken("Bearer abc")).to.equal("abc");
    expect(bearerToken("bearer   abc ")).to.equal("abc");
    for (const header of [undefined, "", "Bearer", "Bearer ", "Basic YWJj", "Bearer a b", "abc"]) {
      expect(bearerToken(header), String(header)).to.equal(undefined);
    }
    expect(bearerToken(`Bearer ${"x".repeat(9000)}`), "longer than 8 KiB").to.equal(undefined);
  });

  it("no token: 401 without asking the API server", async () => {
    const { reviewer, authorizer } = fixture();
    for (const header of [undefined, "Basic YWJj", "Bearer"]) {
      const d = await authorizer.authorize(header, "GET", "/metrics");
      expect(d.status, String(header)).to.equal(401);
      expect(d.message).to.match(/^Unauthorized: send a ServiceAccount token/);
    }
    expect(reviewer.asked).to.deep.equal([]);
  });

  it("a token the API server does not authenticate: 401", async () => {
    const { reviewer, authorizer } = fixture();
    const d = await authorizer.authorize("Bearer forged", "GET", "/metrics");
    expect(d).to.deep.equal({ status: 401, message: "Unauthorized: the token is not valid" });
    expect(reviewer.asked).to.deep.equal(["token forged"]);
  });

  it("authenticated but not allowed to get /metrics: 403 naming the user", async () => {
    const { reviewer, authorizer } = fixture();
    const d = await authorizer.authorize("Bearer tenant-token", "GET", "/metrics");
    expect(d).to.deep.equal({
      status: 403,
      message: `Forbidden: user ${TENANT} may not get /metrics`,
      user: TENANT,
    });
    expect(reviewer.asked).to.deep.equal(["token tenant-token", `access ${TENANT} get /metrics`]);
  });

  it("allowed: 200, and the answers are cached for their lifetimes", async () => {
    let now = 1_000_000;
    const { reviewer, authorizer } = fixture(() => now);
    for (let i = 0; i < 5; i++) {
      expect(await authorizer.authorize("Bearer prom-token", "GET", "/metrics")).to.deep.equal({
        status: 200,
        message: "ok",
        user: PROMETHEUS,
      });
    }
    expect(reviewer.asked, "one review of each kind for five requests").to.deep.equal([
      "token prom-token",
      `access ${PROMETHEUS} get /metrics`,
    ]);
    now += CACHE_TTL_MS.authenticated + 1;
    await authorizer.authorize("Bearer prom-token", "GET", "/metrics");
    expect(reviewer.asked.slice(2), "the token reviewed again after a minute").to.deep.equal([
      "token prom-token",
    ]);
    // A revoked permission is seen within the allowed lifetime.
    reviewer.allowed.delete(PROMETHEUS);
    now += CACHE_TTL_MS.allowed + 1;
    expect((await authorizer.authorize("Bearer prom-token", "GET", "/metrics")).status).to.equal(403);
  });

  it("the API server failing: 503, never access, and the failure is not cached", async () => {
    const { reviewer, authorizer } = fixture();
    reviewer.failing = new Error("connect ECONNREFUSED 127.0.0.1:6443");
    const d = await authorizer.authorize("Bearer prom-token", "GET", "/metrics");
    expect(d).to.deep.include({
      status: 503,
      message: "Service Unavailable: the token could not be reviewed; try again",
      error: "connect ECONNREFUSED 127.0.0.1:6443",
    });
    reviewer.failing = undefined;
    expect((await authorizer.authorize("Bearer prom-token", "GET", "/metrics")).status).to.equal(200);
    expect(reviewer.asked.filter((a) => a.startsWith("token"))).to.have.length(2);
  });

  it("keeps at most cacheEntries answers, whatever number of tokens it is sent", async () => {
    const { reviewer, authorizer } = fixture(undefined, { cacheEntries: 4 });
    for (let i = 0; i < 50; i++) {
      expect((await authorizer.authorize(`Bearer random-${i}`, "GET", "/metrics")).status).to.equal(401);
    }
    expect(authorizer.cached.tokens).to.equal(4);
    expect(reviewer.asked).to.have.length(50);
  });

  it("asks once for concurrent requests with one token, and refuses beyond maxInFlight reviews", async () => {
    const { reviewer, authorizer } = fixture(undefined, { maxInFlight: 2 });
    let open: () => void = () => {};
    reviewer.gate = new Promise((r) => (open = r));
    const same = [1, 2, 3].map(() => authorizer.authorize("Bearer prom-token", "GET", "/metrics"));
    const other = authorizer.authorize("Bearer tenant-token", "GET", "/metrics");
    const beyond = await authorizer.authorize("Bearer third", "GET", "/metrics");
    expect(beyond.status).to.equal(503);
    expect(beyond.error).to.equal("2 reviews are already waiting for the API server");
    open();
    expect((await Promise.all(same)).map((d) => d.status)).to.deep.equal([200, 200, 200]);
    expect((await other).status).to.equal(403);
    expect(reviewer.asked.filter((a) => a === "token prom-token")).to.have.length(1);
  });

  it("BoundedTtlCache: drops the oldest entry at the bound, and expired ones", () => {
    let now = 0;
    const cache = new BoundedTtlCache<number>(2, () => now);
    cache.set("a", 1, 100);
    cache.set("b", 2, 100);
    cache.set("c", 3, 100);
    expect([cache.get("a"), cache.get("b"), cache.get("c")]).to.deep.equal([undefined, 2, 3]);
    now = 100;
    expect(cache.get("b")).to.equal(undefined);
  });
});

interface Answer {
  status: number;
  body: string;
  headers: Record<string, string | string[] | undefined>;
}

/** An HTTPS request that trusts only `ca`, for the name localhost. */
function httpsGet(
  url: string,
  ca: string,
  headers: Record<string, string> = {},
  body?: string,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: "GET", ca, servername: "localhost", headers }, (res) => {
      let text = "";
      res.setEncoding("utf8").on("data", (c: string) => (text += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text, headers: res.headers }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

describe("secure metrics: the HTTPS metrics server", () => {
  let servers: ProbeServers | undefined;
  const tls = inMemoryCertificate();
  afterEach(async () => {
    await servers?.close();
    servers = undefined;
  });

  it("makes a self-signed certificate for localhost and the loopback addresses", () => {
    const x509 = new X509Certificate(tls.cert);
    expect(x509.subject).to.equal("CN=model-rollout-operator");
    expect(x509.subjectAltName).to.include("DNS:localhost").and.include("IP Address:127.0.0.1");
    expect(x509.verify(x509.publicKey), "self-signed").to.equal(true);
    expect(x509.checkPrivateKey(createPrivateKey(tls.key))).to.equal(true);
    expect(x509.checkHost("localhost")).to.equal("localhost");
    const days = (Date.parse(x509.validTo) - Date.now()) / 86_400_000;
    expect(days).to.be.within(364, 366);
  });

  it("serves /metrics over TLS only to allowed tokens; the probes stay plain and open", async () => {
    const { authorizer } = fixture();
    servers = await startProbeServers({
      metricsAddress: { host: "127.0.0.1", port: 0 },
      healthAddress: { host: "127.0.0.1", port: 0 },
      metricsTls: tls,
      metricsAuthorizer: authorizer,
      metrics: { render: async () => ({ contentType: "text/plain; version=0.0.4", body: "up 1\n" }) },
    });
    const url = `${servers.metricsUrl}/metrics`;
    expect(url).to.match(/^https:\/\/127\.0\.0\.1:\d+\/metrics$/);

    const none = await httpsGet(url, tls.cert);
    expect(none.status).to.equal(401);
    expect(none.headers["www-authenticate"]).to.equal('Bearer realm="metrics"');
    expect(none.body).to.not.contain("up 1");
    const forged = await httpsGet(url, tls.cert, { authorization: "Bearer forged" });
    expect(forged.status).to.equal(401);
    const tenant = await httpsGet(url, tls.cert, { authorization: "Bearer tenant-token" });
    expect(tenant).to.deep.include({ status: 403, body: `Forbidden: user ${TENANT} may not get /metrics\n` });
    const prom = await httpsGet(url, tls.cert, { authorization: "Bearer prom-token" });
    expect(prom).to.deep.include({ status: 200, body: "up 1\n" });
    const withBody = await httpsGet(
      url,
      tls.cert,
      { authorization: "Bearer prom-token", "content-length": "100" },
      "x".repeat(100),
    );
    expect(withBody.status).to.equal(413);
    // Another path is judged too (404 only for whoever may read it).
    expect((await httpsGet(`${servers.metricsUrl}/other`, tls.cert)).status).to.equal(401);

    // Plain HTTP on the TLS port gets no metrics.
    const plain = await fetch(url.replace("https:", "http:")).then(
      (r) => r.status,
      () => "refused",
    );
    expect(plain).to.not.equal(200);
    expect((await fetch(`${servers.healthUrl}/healthz`)).status, "liveness without a token").to.equal(200);
  });

  it("refuses headers larger than its bound", async () => {
    const { authorizer, reviewer } = fixture();
    servers = await startProbeServers({
      metricsAddress: { host: "127.0.0.1", port: 0 },
      metricsTls: tls,
      metricsAuthorizer: authorizer,
      metrics: { render: async () => ({ contentType: "text/plain", body: "up 1\n" }) },
    });
    const huge = await httpsGet(`${servers.metricsUrl}/metrics`, tls.cert, {
      "x-filler": "y".repeat(20_000),
    }).then(
      (a) => a.status,
      () => "connection closed",
    );
    expect([431, "connection closed"]).to.include(huge);
    expect(reviewer.asked).to.deep.equal([]);
  });
});

describe("secure metrics: certificate files", () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "mro-cert-"));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const write = (pair: { cert: string; key: string }) => {
    writeFileSync(join(dir, "tls.crt"), pair.cert);
    writeFileSync(join(dir, "tls.key"), pair.key);
  };

  it("reads a pair, and refuses a key of another certificate", () => {
    const a = selfSignedCertificate({ commonName: "a", altNames: ["localhost"] });
    const b = selfSignedCertificate({ commonName: "b", altNames: ["localhost"] });
    write(a);
    expect(readCertificateFiles(join(dir, "tls.crt"), join(dir, "tls.key"))).to.deep.equal(a);
    writeFileSync(join(dir, "tls.key"), b.key);
    expect(() => readCertificateFiles(join(dir, "tls.crt"), join(dir, "tls.key"))).to.throw(
      /does not belong to the certificate/,
    );
    writeFileSync(join(dir, "tls.crt"), "not a certificate");
    expect(() => readCertificateFiles(join(dir, "tls.crt"), join(dir, "tls.key"))).to.throw(
      /holds no PEM certificate/,
    );
  });

  it("reports a renewed pair when the files change", async () => {
    write(selfSignedCertificate({ commonName: "old", altNames: ["localhost"] }));
    const renewed = selfSignedCertificate({ commonName: "renewed", altNames: ["localhost"] });
    const seen: string[] = [];
    const stop = watchCertificateFiles(
      join(dir, "tls.crt"),
      join(dir, "tls.key"),
      (pair) => seen.push(pair instanceof Error ? "error" : new X509Certificate(pair.cert).subject),
      20,
    );
    try {
      // Written a moment later, so that the files' modification times differ from the first.
      await new Promise((r) => setTimeout(r, 50));
      write(renewed);
      const deadline = Date.now() + 5000;
      while (!seen.includes("CN=renewed") && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 20));
      expect(seen).to.include("CN=renewed");
    } finally {
      stop();
    }
  });
});
