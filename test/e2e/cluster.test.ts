// The local control plane itself: what every other test relies on.
import { expect } from "chai";
import { readFileSync } from "node:fs";
import { createNamespace, kubectl, kubectlJson, tool, waitFor } from "../support/kube.ts";

interface Deployment {
  status?: { availableReplicas?: number; readyReplicas?: number; replicas?: number };
}
interface SliceList {
  items: { endpoints?: { conditions?: { ready?: boolean } }[] }[];
}
interface PodList {
  items: { status?: { phase?: string; conditions?: { type: string; status: string }[] } }[];
}

const readyEndpoints = (list: SliceList) =>
  list.items.flatMap((s) => s.endpoints ?? []).filter((e) => e.conditions?.ready === true).length;

describe("local control plane", () => {
  let ns: string;
  let cleanup: () => Promise<void>;
  beforeEach(async function () {
    ({ name: ns, cleanup } = await createNamespace(this.currentTest?.title ?? "t"));
  });
  afterEach(async () => cleanup());

  it("kubectl version reports the pinned server version", async () => {
    const v = await kubectlJson<{ serverVersion: { gitVersion: string } }>(["version"]);
    expect(v.serverVersion.gitVersion).to.equal("v1.37.2");
  });

  it("runs a Deployment of 3 replicas to 3 available, and its Service gets 3 ready endpoints", async () => {
    await kubectl([
      "-n",
      ns,
      "create",
      "deployment",
      "web",
      "--image=registry.example/web:1",
      "--replicas=3",
      "--port=8080",
    ]);
    await kubectl(["-n", ns, "expose", "deployment", "web", "--port=80", "--target-port=8080"]);
    await waitFor("3 available replicas", async () => {
      const d = await kubectlJson<Deployment>(["-n", ns, "get", "deployment", "web"]);
      return d.status?.availableReplicas === 3;
    });
    const n = await waitFor("3 ready endpoints", async () => {
      const list = await kubectlJson<SliceList>([
        "-n",
        ns,
        "get",
        "endpointslices",
        "-l",
        "kubernetes.io/service-name=web",
      ]);
      return readyEndpoints(list) === 3 && 3;
    });
    expect(n).to.equal(3);
  });

  it("keeps pods labelled kwok.mlops.dev/never-ready Running but never Ready", async () => {
    await kubectl(
      ["-n", ns, "apply", "-f", "-"],
      JSON.stringify({
        apiVersion: "apps/v1",
        kind: "Deployment",
        metadata: { name: "stuck" },
        spec: {
          replicas: 2,
          selector: { matchLabels: { app: "stuck" } },
          template: {
            metadata: { labels: { app: "stuck", "kwok.mlops.dev/never-ready": "true" } },
            spec: { containers: [{ name: "c", image: "registry.example/stuck:1" }] },
          },
        },
      }),
    );
    await waitFor("2 Running pods", async () => {
      const pods = await kubectlJson<PodList>(["-n", ns, "get", "pods", "-l", "app=stuck"]);
      return pods.items.length === 2 && pods.items.every((p) => p.status?.phase === "Running");
    });
    const pods = await kubectlJson<PodList>(["-n", ns, "get", "pods", "-l", "app=stuck"]);
    for (const p of pods.items) {
      expect(p.status?.conditions?.find((c) => c.type === "Ready")?.status).to.equal("False");
    }
    const d = await kubectlJson<Deployment>(["-n", ns, "get", "deployment", "stuck"]);
    expect(d.status?.availableReplicas ?? 0).to.equal(0);
  });

  it("deletes pods when their Deployment scales down", async () => {
    await kubectl([
      "-n",
      ns,
      "create",
      "deployment",
      "shrink",
      "--image=registry.example/web:1",
      "--replicas=3",
    ]);
    await waitFor(
      "3 pods",
      async () => (await kubectlJson<PodList>(["-n", ns, "get", "pods"])).items.length === 3,
    );
    await kubectl(["-n", ns, "scale", "deployment", "shrink", "--replicas=1"]);
    await waitFor(
      "1 pod left",
      async () => (await kubectlJson<PodList>(["-n", ns, "get", "pods"])).items.length === 1,
    );
  });

  it("enforces RBAC: a service account without a role cannot list pods", async () => {
    const res = await tool("kubectl", [
      "auth",
      "can-i",
      "list",
      "pods",
      "-n",
      ns,
      `--as=system:serviceaccount:${ns}:default`,
    ]);
    expect(res.stdout.trim()).to.equal("no");
    const admin = await tool("kubectl", ["auth", "can-i", "list", "pods", "-n", ns]);
    expect(admin.stdout.trim()).to.equal("yes");
  });

  it("records writes in the audit log", async () => {
    await kubectl(["-n", ns, "create", "configmap", "audited", "--from-literal=a=b"]);
    const log = process.env.MRO_AUDIT_LOG ?? "";
    const found = await waitFor("an audit event for the ConfigMap", async () =>
      readFileSync(log, "utf8")
        .split("\n")
        .some(
          (l) =>
            l.includes(`"namespace":"${ns}"`) &&
            l.includes('"resource":"configmaps"') &&
            l.includes('"verb":"create"'),
        ),
    );
    expect(found).to.equal(true);
  });

  it("has a real helm binary", async () => {
    const res = await tool("helm", ["version", "--short"]);
    expect(res.stdout).to.match(/^v4\.3\.1/);
  });
});
