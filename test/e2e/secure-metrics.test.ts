// /metrics with --metrics-secure, against the real API server: the operator serves HTTPS and
// asks the API server about every new bearer token (TokenReview) and what its user may do
// (SubjectAccessReview of get on /metrics). Tokens are real ServiceAccount tokens from the
// TokenRequest API (`kubectl create token`), one bound to a metrics-reader ClusterRole, one not.
import { expect } from "chai";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { selfSignedCertificate } from "../../src/observability/self-signed.ts";
import { createNamespace, kubectl } from "../support/kube.ts";
import { startOperator, type OperatorProcess } from "../support/operator.ts";

interface Answer {
  status: number;
  body: string;
}

/** GET over HTTPS, trusting only `ca` for the name localhost. */
function scrape(url: string, ca: string, token?: string): Promise<Answer> {
  const headers: Record<string, string> = token === undefined ? {} : { authorization: `Bearer ${token}` };
  return new Promise((resolve, reject) => {
    const req = request(url, { ca, servername: "localhost", headers, timeout: 30_000 }, (res) => {
      let body = "";
      res.setEncoding("utf8").on("data", (c: string) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("timeout", () => req.destroy(new Error(`no answer from ${url} within 30s`)));
    req.on("error", reject);
    req.end();
  });
}

/** The reviews the operator asked of the API server since `since`, from its audit log. */
function operatorReviews(since: Date): string[] {
  const log = process.env.MRO_AUDIT_LOG;
  if (!log) throw new Error("MRO_AUDIT_LOG is not set: run with hack/run.sh test-e2e");
  return readFileSync(log, "utf8")
    .split("\n")
    .filter((l) => l.includes("review"))
    .map(
      (l) =>
        JSON.parse(l) as {
          userAgent?: string;
          objectRef?: { resource?: string };
          requestReceivedTimestamp: string;
        },
    )
    .filter(
      (e) =>
        (e.userAgent ?? "").startsWith("model-rollout-operator/") &&
        new Date(e.requestReceivedTimestamp) >= since &&
        /^(tokenreviews|subjectaccessreviews)$/.test(e.objectRef?.resource ?? ""),
    )
    .map((e) => e.objectRef!.resource!);
}

describe("secure metrics (--metrics-secure) with real TokenReview and SubjectAccessReview", function () {
  this.timeout(180_000);
  let ns: string;
  let cleanup: () => Promise<void>;
  let op: OperatorProcess | undefined;
  let dir: string;
  const role = () => `mro-e2e-metrics-reader-${ns}`;

  before(async () => {
    ({ name: ns, cleanup } = await createNamespace("metrics"));
    dir = mkdtempSync(join(tmpdir(), "mro-metrics-tls-"));
    await kubectl(["-n", ns, "create", "serviceaccount", "prometheus"]);
    await kubectl(["-n", ns, "create", "serviceaccount", "tenant"]);
    // What the chart's ...-metrics-reader ClusterRole grants, bound to one of the two.
    await kubectl(["create", "clusterrole", role(), "--verb=get", "--non-resource-url=/metrics"]);
    await kubectl([
      "create",
      "clusterrolebinding",
      role(),
      `--clusterrole=${role()}`,
      `--serviceaccount=${ns}:prometheus`,
    ]);
  });
  after(async () => {
    await op?.stop("SIGKILL");
    await kubectl(["delete", "clusterrolebinding,clusterrole", role(), "--ignore-not-found"]).catch(() => {});
    await cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it("refuses no token (401), an unbound ServiceAccount (403), and serves the bound one (200)", async () => {
    // A certificate in files, so the client can verify it; the chart's default makes one in memory.
    const tls = selfSignedCertificate({ commonName: "metrics-e2e", altNames: ["localhost", "127.0.0.1"] });
    writeFileSync(join(dir, "tls.crt"), tls.cert);
    writeFileSync(join(dir, "tls.key"), tls.key, { mode: 0o600 });
    const since = new Date(Date.now() - 1000);
    op = await startOperator({
      namespace: ns,
      args: [
        "--metrics-secure",
        `--metrics-cert-file=${join(dir, "tls.crt")}`,
        `--metrics-key-file=${join(dir, "tls.key")}`,
      ],
    });
    const url = `${op.metricsUrl}/metrics`;
    expect(url).to.match(/^https:\/\//);
    const reader = (await kubectl(["-n", ns, "create", "token", "prometheus", "--duration=10m"])).trim();
    const tenant = (await kubectl(["-n", ns, "create", "token", "tenant", "--duration=10m"])).trim();

    const none = await scrape(url, tls.cert);
    expect(none.status, none.body).to.equal(401);
    expect(none.body).to.not.contain("controller_runtime");

    const forged = await scrape(url, tls.cert, `${reader.slice(0, -4)}AAAA`);
    expect(forged.status, "a token with a broken signature").to.equal(401);

    const unbound = await scrape(url, tls.cert, tenant);
    expect(unbound.status, unbound.body).to.equal(403);
    expect(unbound.body).to.equal(
      `Forbidden: user system:serviceaccount:${ns}:tenant may not get /metrics\n`,
    );

    for (let i = 0; i < 5; i++) {
      const bound = await scrape(url, tls.cert, reader);
      expect(bound.status, bound.body).to.equal(200);
      expect(bound.body).to.match(/^# HELP /m);
      expect(bound.body).to.contain("controller_runtime_reconcile_total");
      expect(bound.body).to.contain("nodejs_eventloop_lag_max_seconds");
    }

    // Plain HTTP gets nothing from the HTTPS port; the probes need no token.
    const plain = await fetch(url.replace("https:", "http:")).then(
      (r) => r.status,
      () => "no HTTP answer",
    );
    expect(plain).to.not.equal(200);
    expect((await fetch(`${op.healthUrl}/readyz`)).status).to.equal(200);

    // Each token was reviewed once, the bound one's access once, for five scrapes (the cache).
    const reviews = operatorReviews(since);
    expect(reviews.filter((r) => r === "tokenreviews").length, "TokenReviews").to.equal(3);
    expect(reviews.filter((r) => r === "subjectaccessreviews").length, "SubjectAccessReviews").to.equal(2);
  });
});
