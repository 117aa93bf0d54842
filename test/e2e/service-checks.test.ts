// Health checks against each version's own Service, as in a cluster: the default target
// http://NAME-V.NAMESPACE.svc:PORT/PATH (no `url`) is resolved by the operator through the
// cluster DNS (CoreDNS, --check-dns-server) to the Service's loopback ClusterIP, where a
// real model server listens (serveVersion). The servers' request counts show which
// version each request reached.
import { expect } from "chai";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { CLUSTER_DOMAIN } from "../cluster/coredns.ts";
import { kubectlJson } from "../support/kube.ts";
import { resolveLoopback } from "../support/loopback-guard.ts";
import { applyMd, condition, isReady, mdEvents, modelDeployment, waitForMd, type Md } from "../support/md.ts";
import { serveVersion } from "../support/model-server.ts";
import { useModelSuite } from "../support/suite.ts";

const dnsServer = (): string => {
  const server = process.env.MRO_TEST_DNS_SERVER;
  if (!server) throw new Error("MRO_TEST_DNS_SERVER is not set: the e2e fixture starts the cluster DNS");
  return server;
};

/** What CoreDNS logged (the log plugin: one line per query). */
const corednsLog = () => readFileSync(join(dirname(process.env.KUBECONFIG!), "logs", "coredns.log"), "utf8");

const PORT = 8080; // a Service port a test may bind without root

const INFER_BODY = JSON.stringify({
  inputs: [{ name: "features", shape: [1, 4], datatype: "FP32", data: [0.1, 0.2, 0.3, 0.4] }],
});

/** A canary that holds at 50% until promoted, gated by OIP readiness, metadata and a smoke test. */
const spec = (name: string, version: string) =>
  modelDeployment(name, {
    version,
    replicas: 2,
    strategy: { canary: { steps: [{ setWeight: 50 }, { pause: {} }] } },
    healthChecks: {
      interval: "1s",
      failureThreshold: 3,
      checks: [
        { name: "model-ready", http: { path: `/v2/models/${name}/ready`, port: "http" } },
        {
          name: "metadata",
          http: {
            path: `/v2/models/${name}`,
            port: "http",
            successCondition: `json.versions == ["${version}"]`,
          },
        },
        {
          name: "smoke",
          http: {
            path: `/v2/models/${name}/infer`,
            port: "http",
            method: "POST",
            body: INFER_BODY,
            successCondition: "json.outputs[0].data[0] < 0.5",
          },
        },
      ],
    },
    extra: { service: { port: PORT, targetPort: "http" } },
  });

const checkOf = (md: Md, name: string) => md.status?.checks?.find((c) => c.name === name);

describe("health checks against each version's own Service, through the cluster DNS", function () {
  this.timeout(180_000);
  const suite = useModelSuite();

  it("CoreDNS answers NAME.NAMESPACE.svc and the .svc.cluster.local form with the Service's loopback ClusterIP", async () => {
    await applyMd(suite.ns, spec("names", "1.0.0"));
    const v1 = await serveVersion(suite.ns, "names", "1.0.0");
    suite.servers.push(v1);
    const svc = await kubectlJson<{ spec: { clusterIP: string } }>([
      "-n",
      suite.ns,
      "get",
      "service",
      "names-1-0-0",
    ]);
    expect(svc.spec.clusterIP).to.match(/^127\.96\./);
    expect(v1.address).to.equal(`${svc.spec.clusterIP}:${PORT}`);
    expect(await resolveLoopback(`names-1-0-0.${suite.ns}.svc`, dnsServer())).to.equal(svc.spec.clusterIP);
    expect(await resolveLoopback(`names-1-0-0.${suite.ns}.svc.${CLUSTER_DOMAIN}`, dnsServer())).to.equal(
      svc.spec.clusterIP,
    );
  });

  it("measures the default target on the new version's Service only, and rolls back on what that server answers", async () => {
    const name = "dflt";
    await applyMd(suite.ns, spec(name, "1.0.0"));
    const v1 = await serveVersion(suite.ns, name, "1.0.0");
    suite.servers.push(v1);
    await waitForMd(suite.ns, name, "1.0.0 Ready", isReady);
    const v1Before = v1.count();

    await applyMd(suite.ns, spec(name, "2.0.0"));
    // The operator creates the Service NAME-2-0-0; the server binds its ClusterIP at once.
    const v2 = await serveVersion(suite.ns, name, "2.0.0");
    suite.servers.push(v2);
    const paused = await waitForMd(
      suite.ns,
      name,
      "paused at 50% with every check Successful",
      (m) =>
        m.status?.currentStep === 1 &&
        ["model-ready", "metadata", "smoke"].every((c) => checkOf(m, c)?.phase === "Successful"),
    );
    expect(paused.status?.candidateVersion).to.equal("2.0.0");

    // Every check reached 2.0.0's server by the Service's name, none reached 1.0.0's.
    expect(v2.count("GET", `/v2/models/${name}/ready`)).to.be.at.least(1);
    expect(v2.count("GET", `/v2/models/${name}`)).to.be.at.least(1);
    expect(v2.count("POST", `/v2/models/${name}/infer`)).to.be.at.least(1);
    expect(new Set(v2.requests.map((r) => r.host))).to.deep.equal(
      new Set([`${name}-2-0-0.${suite.ns}.svc:${PORT}`]),
    );
    expect(JSON.parse(v2.requests.find((r) => r.method === "POST")!.body)).to.deep.equal(
      JSON.parse(INFER_BODY),
    );
    expect(v1.count(), "requests to 1.0.0's server during the rollout").to.equal(v1Before);
    // The operator found the Service through CoreDNS.
    expect(corednsLog()).to.contain(`"A IN ${name}-2-0-0.${suite.ns}.svc.`);

    // The model answers a wrong score: the smoke test fails on that server's answer.
    v2.behave({ outputs: [{ name: "score", datatype: "FP32", shape: [1, 1], data: [0.9] }] });
    const md = await waitForMd(
      suite.ns,
      name,
      "rolled back on the smoke test",
      (m) => condition(m, "Stalled")?.reason === "HealthCheckFailed",
    );
    expect(checkOf(md, "smoke")).to.include({ phase: "Failed", value: "200" });
    expect(checkOf(md, "smoke")?.message).to.include("json.outputs[0].data[0] < 0.5").and.to.include("0.9");
    expect(condition(md, "Stalled")?.message).to.include("smoke");
    const ev = (await mdEvents(suite.ns, name)).find((e) => e.reason === "CheckFailed");
    expect(ev?.message).to.include("smoke");
    await waitForMd(suite.ns, name, "traffic back on 1.0.0", (m) => m.status?.traffic?.length === 1);
    expect(v1.count(), "the stable version's server is never measured").to.equal(v1Before);
  });

  it("reports a version whose Service nobody serves as unreachable, by the Service's name", async () => {
    const name = "nosrv";
    await applyMd(suite.ns, spec(name, "1.0.0"));
    await waitForMd(suite.ns, name, "1.0.0 Ready", isReady);
    await applyMd(suite.ns, spec(name, "2.0.0"));
    const md = await waitForMd(
      suite.ns,
      name,
      "rolled back: nothing answers on 2.0.0's ClusterIP",
      (m) => condition(m, "Stalled")?.reason === "HealthCheckFailed",
    );
    expect(checkOf(md, "model-ready")?.phase).to.equal("Error");
    expect(checkOf(md, "model-ready")?.message).to.equal(
      `GET http://${name}-2-0-0.${suite.ns}.svc:${PORT}/v2/models/${name}/ready failed: connection refused`,
    );
  });
});
