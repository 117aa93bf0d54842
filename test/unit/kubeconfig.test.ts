import { expect } from "chai";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import type * as https from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KubeConfig } from "@kubernetes/client-node";
import { inClusterCredentials, loadKubeConnection, StaticKubeConnection } from "../../src/kube/kubeconfig.ts";

const b64 = (s: string) => Buffer.from(s).toString("base64");

function kubeconfig(user: Record<string, unknown>, cluster: Record<string, unknown> = {}): string {
  return JSON.stringify({
    apiVersion: "v1",
    kind: "Config",
    "current-context": "ctx",
    contexts: [
      { name: "other", context: { cluster: "other", user: "other" } },
      { name: "ctx", context: { cluster: "c", user: "u", namespace: "models" } },
    ],
    clusters: [
      { name: "other", cluster: { server: "https://127.0.0.2:1" } },
      { name: "c", cluster: { server: "https://127.0.0.1:6443", ...cluster } },
    ],
    users: [
      { name: "other", user: { token: "not-this-one" } },
      { name: "u", user },
    ],
  });
}

async function optionsOf(conn: { applyToHTTPSOptions(o: https.RequestOptions): Promise<void> }) {
  const opts: https.RequestOptions = { headers: {} };
  await conn.applyToHTTPSOptions(opts);
  return opts;
}

describe("the kubeconfig (kube/kubeconfig.ts)", () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "mro-kubeconfig-"));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("reads the current context's server, CA and client certificate as kubectl does (YAML, data fields)", async () => {
    const file = join(dir, "config");
    writeFileSync(
      file,
      [
        "apiVersion: v1",
        "kind: Config",
        "current-context: ctx",
        "contexts:",
        "- name: ctx",
        "  context: {cluster: c, user: u}",
        "clusters:",
        "- name: c",
        "  cluster:",
        "    server: https://127.0.0.1:6443",
        `    certificate-authority-data: ${b64("CA")}`,
        "users:",
        "- name: u",
        "  user:",
        `    client-certificate-data: ${b64("CERT")}`,
        `    client-key-data: ${b64("KEY")}`,
        "",
      ].join("\n"),
    );
    const conn = await loadKubeConnection(file, {});
    expect(conn).to.be.instanceOf(StaticKubeConnection);
    expect(conn.getCurrentCluster()?.server).to.equal("https://127.0.0.1:6443");
    const opts = await optionsOf(conn);
    expect(String(opts.ca)).to.equal("CA");
    expect(String(opts.cert)).to.equal("CERT");
    expect(String(opts.key)).to.equal("KEY");
  });

  it("reads files relative to the kubeconfig's folder, a token file, and skip-TLS-verify", async () => {
    writeFileSync(join(dir, "ca.crt"), "CA-FILE");
    writeFileSync(join(dir, "token"), "file-token\n");
    const file = join(dir, "config");
    writeFileSync(
      file,
      kubeconfig(
        { tokenFile: "token" },
        { "certificate-authority": "ca.crt", "insecure-skip-tls-verify": true },
      ),
    );
    const opts = await optionsOf(await loadKubeConnection(undefined, { KUBECONFIG: file }));
    expect(String(opts.ca)).to.equal("CA-FILE");
    expect(opts.rejectUnauthorized).to.equal(false);
    expect((opts.headers as Record<string, string>).Authorization).to.equal("Bearer file-token");
  });

  it("sends a bearer token or basic auth", async () => {
    const token = new StaticKubeConnection({ server: "https://127.0.0.1:6443", token: "t0k" });
    expect(((await optionsOf(token)).headers as Record<string, string>).Authorization).to.equal("Bearer t0k");
    const basic = new StaticKubeConnection({
      server: "https://127.0.0.1:6443",
      username: "a",
      password: "b",
    });
    expect(((await optionsOf(basic)).headers as Record<string, string>).Authorization).to.equal(
      `Basic ${b64("a:b")}`,
    );
  });

  it("hands a kubeconfig it does not read itself (an exec credential plugin) to client-node's KubeConfig", async () => {
    const file = join(dir, "config");
    writeFileSync(
      file,
      kubeconfig({ exec: { apiVersion: "client.authentication.k8s.io/v1", command: "get-token" } }),
    );
    const conn = await loadKubeConnection(file, {});
    expect(conn).to.be.instanceOf(KubeConfig);
    expect(conn.getCurrentCluster()?.server).to.equal("https://127.0.0.1:6443");
  });

  it("uses the service account inside a pod when there is no kubeconfig", async () => {
    writeFileSync(join(dir, "token"), "sa-token");
    writeFileSync(join(dir, "ca.crt"), "SA-CA");
    const env = { KUBERNETES_SERVICE_HOST: "127.96.0.1", KUBERNETES_SERVICE_PORT: "443" };
    const creds = inClusterCredentials(env, dir);
    expect(creds?.server).to.equal("https://127.96.0.1:443");
    const opts = await optionsOf(new StaticKubeConnection(creds!));
    expect(String(opts.ca)).to.equal("SA-CA");
    expect((opts.headers as Record<string, string>).Authorization).to.equal("Bearer sa-token");
    expect(
      inClusterCredentials({ KUBERNETES_SERVICE_HOST: "fd00::1", KUBERNETES_SERVICE_PORT: "443" }, dir)
        ?.server,
    ).to.equal("https://[fd00::1]:443");
    expect(inClusterCredentials({}, dir), "outside a pod").to.equal(undefined);
  });
});
