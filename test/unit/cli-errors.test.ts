import { expect } from "chai";
import { KubeConfig } from "@kubernetes/client-node";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CliError, connect, explainError } from "../../src/cli/kube.ts";

function kubeConfig(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: "c", server: "https://127.0.0.1:6443", skipTLSVerify: true }],
    users: [{ name: "u", token: "t" }],
    contexts: [
      { name: "dev", cluster: "c", user: "u", namespace: "models" },
      { name: "prod", cluster: "c", user: "u" },
    ],
    currentContext: "dev",
  });
  return kc;
}

const apiError = (code: number, body: unknown) =>
  Object.assign(new Error(`HTTP ${code}`), { code, body: JSON.stringify(body) });

describe("cli errors", () => {
  const what = { namespace: "models", name: "fraud-detector" };

  it("tells a missing ModelDeployment from a missing CRD", () => {
    const notFound = explainError(
      apiError(404, {
        kind: "Status",
        reason: "NotFound",
        details: { name: "fraud-detector", kind: "modeldeployments" },
      }),
      kubeConfig(),
      what,
    );
    expect(notFound.message).to.equal('ModelDeployment "fraud-detector" not found in namespace "models"');
    expect(notFound.exitCode).to.equal(3);
    const noCrd = explainError(
      apiError(404, {
        kind: "Status",
        reason: "NotFound",
        message: "the server could not find the requested resource",
      }),
      kubeConfig(),
      what,
    );
    expect(noCrd.message).to.match(
      /CRD \(modeldeployments\.mlops\.dev\) is not installed.*kubectl apply -f crds\/.*Helm chart/,
    );
  });

  it("names the server when it cannot be reached, and passes on refusals", () => {
    const refused = explainError(
      Object.assign(new Error("fetch failed"), { cause: { code: "ECONNREFUSED" } }),
      kubeConfig(),
      what,
    );
    expect(refused.message).to.equal(
      "cannot reach the API server at https://127.0.0.1:6443 (ECONNREFUSED); check --kubeconfig and --context",
    );
    const forbidden = explainError(
      apiError(403, { message: 'modeldeployments.mlops.dev "x" is forbidden' }),
      kubeConfig(),
      what,
    );
    expect(forbidden.message).to.equal('not allowed: modeldeployments.mlops.dev "x" is forbidden');
  });

  it("takes the namespace from the flag, else the context, else default", () => {
    const dir = mkdtempSync(join(tmpdir(), "kmd-"));
    const file = join(dir, "kubeconfig");
    writeFileSync(file, kubeConfig().exportConfig());
    try {
      expect(connect({ kubeconfig: file, context: undefined, namespace: undefined }).namespace).to.equal(
        "models",
      );
      expect(connect({ kubeconfig: file, context: "prod", namespace: undefined }).namespace).to.equal(
        "default",
      );
      expect(connect({ kubeconfig: file, context: "prod", namespace: "x" }).namespace).to.equal("x");
      expect(() => connect({ kubeconfig: file, context: "staging", namespace: undefined })).to.throw(
        CliError,
        'context "staging" is not in the kubeconfig; it has: dev, prod',
      );
    } finally {
      rmSync(dir, { recursive: true });
    }
    expect(() =>
      connect({ kubeconfig: "/no/such/kubeconfig", context: undefined, namespace: undefined }),
    ).to.throw(CliError, /cannot read the kubeconfig \/no\/such\/kubeconfig/);
  });
});
