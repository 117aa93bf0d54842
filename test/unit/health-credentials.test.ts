// Credentials for health checks that the platform declares (a CA bundle, a client
// certificate, a bearer token: files mounted into the operator), who may use them, how their
// files are read again when they change, and what a request with them does against a real
// HTTPS server on 127.0.0.1 (certificates made with openssl for the test).
import { expect } from "chai";
import { writeFileSync } from "node:fs";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import type { TLSSocket } from "node:tls";
import type { HealthCheck } from "../../src/api/types.ts";
import { CredentialFiles, type FileSystem } from "../../src/health/credential-files.ts";
import {
  computeCredentialProblems,
  CredentialPolicy,
  parseCredentials,
  type Credential,
} from "../../src/health/credentials.ts";
import { checkFetch } from "../../src/health/dial.ts";
import { measureCheck } from "../../src/health/index.ts";
import { plan } from "../../src/plan/plan.ts";
import type { DueCheck } from "../../src/plan/types.ts";
import { validateModelDeployment } from "../../src/plan/validate.ts";
import { makeTestCertificates, type TestCertificates } from "../support/tls-certs.ts";
import { makeMd, T0 } from "./plan-fixtures.ts";

const TOKEN = "platform-token-4c1d9e";

describe("check credentials", () => {
  describe("the credentials file", () => {
    it("reads names, namespaces, hosts and files", () => {
      expect(
        parseCredentials(`
credentials:
  - name: managed-prometheus
    namespaces: [team-a, team-b]
    hosts: [Prometheus.example.com, .monitoring.svc]
    caFile: /etc/mro/credentials/prom/ca.crt
    bearerTokenFile: /etc/mro/credentials/prom/token
  - name: mtls
    namespaces: ["*"]
    certFile: /etc/mro/credentials/mtls/tls.crt
    keyFile: /etc/mro/credentials/mtls/tls.key
`),
      ).to.deep.equal([
        {
          name: "managed-prometheus",
          namespaces: ["team-a", "team-b"],
          hosts: ["prometheus.example.com", ".monitoring.svc"],
          caFile: "/etc/mro/credentials/prom/ca.crt",
          bearerTokenFile: "/etc/mro/credentials/prom/token",
        },
        {
          name: "mtls",
          namespaces: ["*"],
          certFile: "/etc/mro/credentials/mtls/tls.crt",
          keyFile: "/etc/mro/credentials/mtls/tls.key",
        },
      ]);
      expect(parseCredentials("")).to.deep.equal([]);
    });

    it("refuses what it cannot be sure of, naming the entry and the field", () => {
      const cases: [string, RegExp][] = [
        ["credentials: {}", /^credentials must be a list/],
        ["other: 1", /^expected a mapping with one key, credentials/],
        ["credentials: [{name: a, caFile: /ca}]", /^credentials\[0\]\.namespaces must list the namespaces/],
        ["credentials: [{name: a, namespaces: [], caFile: /ca}]", /^credentials\[0\]\.namespaces must list/],
        ["credentials: [{name: A, namespaces: [x], caFile: /ca}]", /^credentials\[0\]\.name must be a name/],
        ["credentials: [{name: a, namespaces: [Team_A], caFile: /ca}]", /"Team_A" is not a namespace name/],
        [
          "credentials: [{name: a, namespaces: [x]}]",
          /^credentials\[0\]: a credential needs at least one of/,
        ],
        ["credentials: [{name: a, namespaces: [x], caFile: ca.crt}]", /caFile must be an absolute file path/],
        ["credentials: [{name: a, namespaces: [x], certFile: /c}]", /certFile and keyFile go together/],
        ["credentials: [{name: a, namespaces: [x], token: /t}]", /^credentials\[0\]: unknown field token/],
        [
          "credentials: [{name: a, namespaces: [x], caFile: /c}, {name: a, namespaces: [y], caFile: /d}]",
          /^credentials\[1\]: credential a is declared twice/,
        ],
        ["credentials: [{name: a, namespaces: [x], caFile: /c, hosts: []}]", /hosts, when given, must list/],
        ["credentials: [", /^not YAML/],
      ];
      for (const [text, want] of cases) expect(() => parseCredentials(text), text).to.throw(want);
    });
  });

  describe("who may use a credential", () => {
    const policy = new CredentialPolicy([
      {
        name: "prom",
        namespaces: ["team-a"],
        hosts: ["prometheus.example.com", ".monitoring.svc"],
        caFile: "/ca",
      },
      { name: "shared-ca", namespaces: ["*"], caFile: "/ca" },
    ]);

    it("allows the namespaces and hosts the platform lists, and nothing else", () => {
      expect(policy.judge("prom", "team-a", "prometheus.example.com").allowed).to.equal(true);
      expect(policy.judge("prom", "team-a", "prometheus.monitoring.svc").allowed).to.equal(true);
      expect(policy.judge("shared-ca", "anyone", "models.example.com").allowed).to.equal(true);
      expect(policy.judge("prom", "team-b", "prometheus.example.com")).to.deep.equal({
        allowed: false,
        reason:
          "credential prom may not be used in namespace team-b: the platform allows it in team-a (namespaces in --check-credentials-file)",
      });
      // A tenant that may use the token still cannot send it to a server it chose.
      expect(policy.judge("prom", "team-a", "collector.team-a.svc")).to.deep.equal({
        allowed: false,
        reason:
          "credential prom is not sent to collector.team-a.svc: the platform allows it only for prometheus.example.com, .monitoring.svc (hosts in --check-credentials-file)",
      });
      expect(policy.judge("nope", "team-a", "x")).to.deep.equal({
        allowed: false,
        reason: "credential nope is unknown: the platform does not declare it (--check-credentials-file)",
      });
      expect(new CredentialPolicy([]).judge("prom", "team-a", "x")).to.deep.include({
        reason: "credential prom is unknown: the platform declares none (--check-credentials-file)",
      });
    });

    it("makes a spec that names a credential it may not use invalid, naming the field and the credential", () => {
      const prom: HealthCheck = {
        name: "errors",
        prometheus: {
          address: "https://prometheus.example.com",
          query: "up",
          successCondition: "result == 1",
          credential: "prom",
        },
      };
      const own: HealthCheck = { name: "own", http: { path: "/ready", credential: "prom" } };
      const md = makeMd({ healthChecks: { checks: [prom, own] } });
      md.metadata!.namespace = "team-b";
      const problems = computeCredentialProblems(md, policy);
      expect(problems.map((p) => p.path)).to.deep.equal([
        "spec.healthChecks.checks[0].prometheus.credential",
        "spec.healthChecks.checks[1].http.credential",
      ]);
      expect(problems[0]!.message).to.include("credential prom may not be used in namespace team-b");
      const p = plan({
        md,
        observed: { deployments: [], services: [], endpointSlices: [] },
        measurements: [],
        now: T0,
        platformProblems: problems,
      });
      expect(p.apply).to.deep.equal([]);
      expect(p.status.conditions?.find((c) => c.type === "Stalled")).to.deep.include({
        status: "True",
        reason: "InvalidSpec",
      });
      md.metadata!.namespace = "team-a";
      expect(computeCredentialProblems(md, policy).map((p) => p.path)).to.deep.equal([
        // The version's own Service is not a host the platform sends this token to.
        "spec.healthChecks.checks[1].http.credential",
      ]);
    });

    it("is checked at apply and by validate for its shape only", () => {
      const md = makeMd({
        healthChecks: { checks: [{ name: "a", http: { path: "/", credential: "Not_A_Name" } }] },
      });
      expect(validateModelDeployment(md)).to.deep.include({
        path: "spec.healthChecks.checks[0].http.credential",
        message:
          "must be the name of a credential the platform declares (lower-case letters, digits, '-' and '.')",
      });
    });
  });

  describe("its files", () => {
    it("are read once while they do not change, and again when they do (a rotated token)", async () => {
      const files = new Map([["/t", { text: "token-1\n", mtimeMs: 1 }]]);
      let reads = 0;
      const fs: FileSystem = {
        stat: async (path) => {
          const f = files.get(path);
          if (!f) throw Object.assign(new Error("gone"), { code: "ENOENT" });
          return { mtimeMs: f.mtimeMs, size: f.text.length, ino: 1 };
        },
        readFile: async (path) => {
          reads++;
          return files.get(path)!.text;
        },
      };
      const store = new CredentialFiles(fs);
      const credential: Credential = { name: "t", namespaces: ["*"], bearerTokenFile: "/t" };
      const first = await store.load(credential);
      expect(first.authorization).to.equal("Bearer token-1");
      await store.load(credential);
      expect(reads).to.equal(1);
      files.set("/t", { text: "token-2", mtimeMs: 2 });
      const rotated = await store.load(credential);
      expect(rotated.authorization).to.equal("Bearer token-2");
      expect(rotated.version).to.not.equal(first.version);
      expect(reads).to.equal(2);
      files.delete("/t");
      const error = await store.load(credential).then(
        () => undefined,
        (err: Error) => err.message,
      );
      expect(error).to.equal(
        "credential t: cannot read its bearerTokenFile /t (no such file; is its Secret mounted into the operator?)",
      );
      files.set("/t", { text: "\n", mtimeMs: 3 });
      expect(await store.load(credential).catch((err: Error) => err.message)).to.equal(
        "credential t: its bearerTokenFile /t is empty",
      );
    });
  });

  describe("against an HTTPS server", () => {
    let certs: TestCertificates;
    let server: Server;
    let port = 0;
    const seen: { authorization?: string; clientCert: boolean }[] = [];

    before(async () => {
      certs = makeTestCertificates();
      writeFileSync(`${certs.dir}/token`, `${TOKEN}\n`);
      server = createServer(
        {
          cert: certs.serverCert,
          key: certs.serverKey,
          ca: certs.ca,
          requestCert: true,
          rejectUnauthorized: false,
        },
        (req, res) => {
          const clientCert = (req.socket as TLSSocket).authorized;
          seen.push({ authorization: req.headers.authorization, clientCert });
          if (req.url === "/mtls" && !clientCert) res.writeHead(401).end("client certificate needed");
          else if (req.url === "/api/v1/query?query=up&timeout=5s")
            res
              .writeHead(200, { "content-type": "application/json" })
              .end(
                '{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"1"]}]}}',
              );
          else res.end('{"ready": true}');
        },
      );
      await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
      port = (server.address() as AddressInfo).port;
    });
    after(async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
      certs.remove();
    });
    beforeEach(() => (seen.length = 0));

    const options = (...credentials: Credential[]) => ({
      credentials: { policy: new CredentialPolicy(credentials), files: new CredentialFiles() },
      send: checkFetch({ judgeAddress: () => ({ allowed: true }) }),
    });
    const httpDue = (path: string, credential?: string): DueCheck => {
      const url = `https://127.0.0.1:${port}${path}`;
      return {
        check: { name: "tls", http: { url, credential } },
        vars: { name: "m", namespace: "team-a", version: "1", service: "m-1" },
        url,
        timeoutMs: 5000,
      };
    };

    it("passes with the platform's CA from a file; without it, an Error that says why", async () => {
      const ca: Credential = { name: "ca", namespaces: ["team-a"], caFile: certs.caFile };
      expect(await measureCheck(httpDue("/ready", "ca"), () => T0, options(ca))).to.include({
        phase: "Successful",
      });
      const without = await measureCheck(httpDue("/ready"), () => T0, options(ca));
      expect(without.phase).to.equal("Error");
      expect(without.message, without.message).to.match(
        new RegExp(
          `^GET https://127\\.0\\.0\\.1:${port}/ready failed: TLS: certificate signed by unknown authority \\((SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE)[^)]*\\); the platform's credential with the server's CA \\(caFile\\) makes it trusted$`,
        ),
      );
    });

    it("sends the bearer token from a file, and a client certificate, and writes neither anywhere", async () => {
      const full: Credential = {
        name: "full",
        namespaces: ["team-a"],
        caFile: certs.caFile,
        certFile: certs.clientCertFile,
        keyFile: certs.clientKeyFile,
        bearerTokenFile: `${certs.dir}/token`,
      };
      const m = await measureCheck(httpDue("/mtls", "full"), () => T0, options(full));
      expect(m).to.include({ phase: "Successful" });
      expect(seen).to.deep.equal([{ authorization: `Bearer ${TOKEN}`, clientCert: true }]);
      const failed = await measureCheck(
        {
          ...httpDue("/mtls", "full"),
          check: { name: "tls", http: { url: httpDue("/mtls").url!, expectStatus: 418, credential: "full" } },
        },
        () => T0,
        options(full),
      );
      expect(failed.phase).to.equal("Failed");
      expect(JSON.stringify(failed)).to.not.include(TOKEN);
      // Without the client certificate the server says no.
      const caOnly: Credential = { ...full, name: "ca-only", certFile: undefined, keyFile: undefined };
      delete caOnly.certFile;
      delete caOnly.keyFile;
      expect(await measureCheck(httpDue("/mtls", "ca-only"), () => T0, options(caOnly))).to.include({
        phase: "Failed",
        value: "401",
      });
    });

    it("carries its TLS material without any dial settings too", async () => {
      const ca: Credential = { name: "ca-plain", namespaces: ["team-a"], caFile: certs.caFile };
      const m = await measureCheck(httpDue("/ready", "ca-plain"), () => T0, {
        credentials: { policy: new CredentialPolicy([ca]), files: new CredentialFiles() },
      });
      expect(m).to.include({ phase: "Successful" });
    });

    it("goes with a Prometheus query", async () => {
      const prom: Credential = {
        name: "prom",
        namespaces: ["team-a"],
        caFile: certs.caFile,
        bearerTokenFile: `${certs.dir}/token`,
      };
      const due: DueCheck = {
        check: {
          name: "q",
          prometheus: {
            address: `https://127.0.0.1:${port}`,
            query: "up",
            successCondition: "result == 1",
            credential: "prom",
          },
        },
        vars: { name: "m", namespace: "team-a", version: "1", service: "m-1" },
        query: "up",
        timeoutMs: 5000,
      };
      expect(await measureCheck(due, () => T0, options(prom))).to.include({
        phase: "Successful",
        value: "1",
      });
      expect(seen[0]?.authorization).to.equal(`Bearer ${TOKEN}`);
    });

    it("is not sent from a namespace the platform does not allow: an Error, and nothing reaches the server", async () => {
      const other: Credential = {
        name: "ca",
        namespaces: ["team-b"],
        caFile: certs.caFile,
        bearerTokenFile: `${certs.dir}/token`,
      };
      const m = await measureCheck(httpDue("/ready", "ca"), () => T0, options(other));
      expect(m).to.include({ phase: "Error" });
      expect(m.message).to.equal(
        "the request is not sent: credential ca may not be used in namespace team-a: the platform allows it in team-b (namespaces in --check-credentials-file)",
      );
      expect(seen).to.deep.equal([]);
    });
  });
});
