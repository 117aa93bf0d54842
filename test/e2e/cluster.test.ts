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

  it("honours pod readiness gates: Ready only while every gate condition is True", async () => {
    const gate = "example.mlops.dev/gate";
    const pod = (name: string, gates: boolean) => ({
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name, labels: { app: name } },
      spec: {
        ...(gates ? { readinessGates: [{ conditionType: gate }] } : {}),
        containers: [{ name: "c", image: "registry.example/gated:1" }],
      },
    });
    await kubectl(["-n", ns, "apply", "-f", "-"], JSON.stringify(pod("gated", true)));
    await kubectl(["-n", ns, "apply", "-f", "-"], JSON.stringify(pod("plain", false)));
    await kubectl(["-n", ns, "expose", "pod", "gated", "--name=gated", "--port=80", "--target-port=8080"]);
    const condition = async (name: string, type: string) => {
      const p = await kubectlJson<PodList["items"][number]>(["-n", ns, "get", "pod", name]);
      return p.status?.conditions?.find((c) => c.type === type)?.status;
    };
    await waitFor("the pod without gates Ready", async () => (await condition("plain", "Ready")) === "True");
    // kwok makes a pod Running with its containers ready in one write: from then on only
    // the gate decides.
    await waitFor("the gated pod Running with ready containers", async () => {
      const p = await kubectlJson<PodList["items"][number]>(["-n", ns, "get", "pod", "gated"]);
      return (
        p.status?.phase === "Running" &&
        p.status.conditions?.find((c) => c.type === "ContainersReady")?.status === "True"
      );
    });
    expect(await condition("gated", "Ready")).to.equal("False");
    expect(await condition("gated", gate)).to.equal(undefined);
    const slices = () =>
      kubectlJson<SliceList>(["-n", ns, "get", "endpointslices", "-l", "kubernetes.io/service-name=gated"]);
    await waitFor("the gated pod listed as a not-ready endpoint", async () => {
      const eps = (await slices()).items.flatMap((s) => s.endpoints ?? []);
      return eps.length === 1 && eps[0]?.conditions?.ready === false;
    });
    expect(await condition("gated", "Ready")).to.equal("False");

    const setGate = (status: string) =>
      kubectl([
        "-n",
        ns,
        "patch",
        "pod",
        "gated",
        "--subresource=status",
        "--type=strategic",
        "-p",
        JSON.stringify({ status: { conditions: [{ type: gate, status }] } }),
      ]);
    await setGate("True");
    await waitFor(
      "the gated pod Ready once its gate is True",
      async () => (await condition("gated", "Ready")) === "True",
    );
    await waitFor("the gated pod a ready endpoint", async () => readyEndpoints(await slices()) === 1);
    await setGate("False");
    await waitFor(
      "the gated pod not Ready once its gate is False",
      async () => (await condition("gated", "Ready")) === "False",
    );
    expect(await condition("plain", "Ready")).to.equal("True");
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
