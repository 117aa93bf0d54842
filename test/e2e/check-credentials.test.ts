// Credentials for health checks, as a platform would give them to the real operator: files
// (a CA made for the test with openssl, a bearer token) named in --check-credentials-file,
// against a real HTTPS server on 127.0.0.1, with the real control plane.
import { expect } from "chai";
import { writeFileSync } from "node:fs";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { createNamespace } from "../support/kube.ts";
import {
  applyMd,
  condition,
  deployments,
  isReady,
  mdEvents,
  getMd,
  modelDeployment,
  waitForMd,
  type Md,
} from "../support/md.ts";
import { startOperator, type OperatorProcess } from "../support/operator.ts";
import { makeTestCertificates, type TestCertificates } from "../support/tls-certs.ts";

const STEPS = [{ setWeight: 50 }, { pause: {} }];
const TOKEN = "platform-token-9b27e1";
const ROTATED = "platform-token-rotated-51ac0f";

const checkOf = (md: Md, name: string) => md.status?.checks?.find((c) => c.name === name);
const measuredPhase = (phase: string | undefined) =>
  phase === "Successful" || phase === "Failed" || phase === "Error";

/** An HTTPS server with the test CA's certificate for 127.0.0.1; /token answers 200 only to an accepted token. */
class HttpsTarget {
  readonly requests: { path: string; authorization: string | undefined }[] = [];
  accepted = new Set<string>();
  readonly #server: Server;
  constructor(certs: TestCertificates) {
    this.#server = createServer({ cert: certs.serverCert, key: certs.serverKey }, (req, res) => {
      const path = (req.url ?? "/").split("?")[0]!;
      this.requests.push({ path, authorization: req.headers.authorization });
      if (path === "/token" && !this.accepted.has(req.headers.authorization ?? ""))
        res.writeHead(401, { "content-type": "text/plain" }).end("bad token\n");
      else res.writeHead(200, { "content-type": "application/json" }).end('{"ready": true}');
    });
  }
  async start(): Promise<this> {
    await new Promise<void>((r) => this.#server.listen(0, "127.0.0.1", r));
    return this;
  }
  url(path: string): string {
    return `https://127.0.0.1:${(this.#server.address() as AddressInfo).port}${path}`;
  }
  requestsTo(path: string) {
    return this.requests.filter((r) => r.path === path);
  }
  async stop(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((r) => this.#server.close(() => r()));
  }
}

describe("check credentials", function () {
  this.timeout(300_000);
  let certs: TestCertificates;
  let target: HttpsTarget;
  let ns: string;
  let cleanup: () => Promise<void>;
  let op: OperatorProcess | undefined;
  let tokenFile: string;

  /** The credentials file a platform would mount: the CA, and the CA with a token, for `namespaces`. */
  const credentialsFile = (namespaces: string[]): string => {
    const file = join(certs.dir, `credentials-${namespaces.join("-")}.yaml`);
    writeFileSync(
      file,
      [
        "credentials:",
        "  - name: test-ca",
        `    namespaces: ${JSON.stringify(namespaces)}`,
        `    caFile: ${certs.caFile}`,
        "  - name: test-token",
        `    namespaces: ${JSON.stringify(namespaces)}`,
        `    caFile: ${certs.caFile}`,
        `    bearerTokenFile: ${tokenFile}`,
        "",
      ].join("\n"),
    );
    return file;
  };
  const startWith = async (namespaces: string[]) => {
    op = await startOperator({
      namespace: ns,
      args: [`--check-credentials-file=${credentialsFile(namespaces)}`],
    });
    return op;
  };
  const rollout = (name: string, version: string, checks: unknown[]) =>
    modelDeployment(name, {
      version,
      strategy: { canary: { steps: STEPS } },
      healthChecks: { interval: "1s", failureThreshold: 3, checks: checks as never },
    });

  before(async () => {
    certs = makeTestCertificates();
    tokenFile = join(certs.dir, "token");
    target = await new HttpsTarget(certs).start();
  });
  after(async () => {
    await target.stop();
    certs.remove();
  });
  beforeEach(async () => {
    ({ name: ns, cleanup } = await createNamespace("cred"));
    writeFileSync(tokenFile, `${TOKEN}\n`);
    target.accepted = new Set([`Bearer ${TOKEN}`]);
  });
  afterEach(async () => {
    await op?.stop("SIGKILL");
    op = undefined;
    await cleanup();
  });

  it("an HTTPS check with the platform's CA from a mounted file passes; without it, an Error that says why", async () => {
    await startWith([ns]);
    const checks = [
      { name: "with-ca", http: { url: target.url("/ready"), credential: "test-ca" } },
      { name: "without-ca", http: { url: target.url("/ready") } },
    ];
    await applyMd(ns, rollout("tls", "1.0.0", checks));
    await waitForMd(ns, "tls", "1.0.0 Ready", isReady);
    await applyMd(ns, rollout("tls", "2.0.0", checks));
    const measured = await waitForMd(
      ns,
      "tls",
      "both checks measured",
      (m) => [checkOf(m, "with-ca"), checkOf(m, "without-ca")].every((c) => measuredPhase(c?.phase)),
      60_000,
    );
    expect(checkOf(measured, "with-ca")).to.include({ phase: "Successful", value: "200" });
    expect(checkOf(measured, "without-ca")?.phase).to.equal("Error");
    expect(checkOf(measured, "without-ca")?.message).to.match(
      new RegExp(
        `^GET ${target.url("/ready").replace(/\./g, "\\.")} failed: TLS: certificate signed by unknown authority \\((UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_GET_ISSUER_CERT_LOCALLY)[^)]*\\); the platform's credential with the server's CA \\(caFile\\) makes it trusted$`,
      ),
    );
  });

  it("a bearer token from a file reaches the server, a rotated one from the next measurement on, and neither is written anywhere", async () => {
    await startWith([ns]);
    const checks = [{ name: "token", http: { url: target.url("/token"), credential: "test-token" } }];
    await applyMd(ns, rollout("token", "1.0.0", checks));
    await waitForMd(ns, "token", "1.0.0 Ready", isReady);
    await applyMd(ns, rollout("token", "2.0.0", checks));
    const measured = await waitForMd(
      ns,
      "token",
      "the check passes with the token",
      (m) => checkOf(m, "token")?.phase === "Successful",
      60_000,
    );
    expect(checkOf(measured, "token")?.value).to.equal("200");
    expect(target.requestsTo("/token")[0]?.authorization).to.equal(`Bearer ${TOKEN}`);

    // The platform rotates the token (a Secret volume updates its file): the server takes only the new one.
    target.accepted = new Set([`Bearer ${ROTATED}`]);
    writeFileSync(tokenFile, `${ROTATED}\n`);
    const before = target.requestsTo("/token").length;
    await waitForMd(
      ns,
      "token",
      "a measurement with the rotated token",
      () =>
        target
          .requestsTo("/token")
          .slice(before)
          .some((r) => r.authorization === `Bearer ${ROTATED}`),
      60_000,
    );
    const after = await getMd(ns, "token");
    expect(after.status?.stableVersion).to.equal("1.0.0");
    expect(condition(after, "Stalled")?.status).to.not.equal("True");

    const written = [JSON.stringify(after), JSON.stringify(await mdEvents(ns, "token")), op!.logs()].join(
      "\n",
    );
    for (const token of [TOKEN, ROTATED]) expect(written).to.not.include(token);
  });

  it("a namespace the platform does not allow the credential makes the spec invalid, naming it, and nothing is sent", async () => {
    await startWith(["team-elsewhere"]);
    await applyMd(
      ns,
      modelDeployment("denied", { version: "1.0.0", strategy: { canary: { steps: STEPS } } }),
    );
    await waitForMd(ns, "denied", "1.0.0 Ready", isReady);
    const sentBefore = target.requests.length;
    await applyMd(
      ns,
      rollout("denied", "2.0.0", [
        { name: "token", http: { url: target.url("/token"), credential: "test-token" } },
      ]),
    );
    const stalled = await waitForMd(
      ns,
      "denied",
      "Stalled InvalidSpec",
      (m) =>
        condition(m, "Stalled")?.reason === "InvalidSpec" &&
        m.status?.observedGeneration === m.metadata.generation,
    );
    expect(condition(stalled, "Stalled")?.message).to.equal(
      `the spec is invalid: spec.healthChecks.checks[0].http.credential: credential test-token may not be used in namespace ${ns}: the platform allows it in team-elsewhere (namespaces in --check-credentials-file)`,
    );
    expect(stalled.status?.stableVersion).to.equal("1.0.0");
    expect([...(await deployments(ns, "denied")).keys()]).to.deep.equal(["denied-1-0-0"]);
    expect(target.requests.length, "requests sent with the credential").to.equal(sentBefore);
  });
});
