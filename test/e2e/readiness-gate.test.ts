// A 0% stage without a router (spec.strategy.canary.readinessGate), against the real control
// plane: kwok honours readiness gates (test/cluster/kwok.yaml), so a candidate pod is Ready,
// and in the clients' Service's EndpointSlices, only once the operator set its condition
// mlops.dev/admitted through pods/status. The candidate's checks reach it through its own
// Service (which publishes not-ready addresses): a real model server bound to that Service's
// loopback ClusterIP counts them. Nothing here dials a pod address.
import { expect } from "chai";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { kubectl, kubectlJson, tool, waitFor } from "../support/kube.ts";
import { applyMd, condition, isReady, modelDeployment, waitForMd, type Md } from "../support/md.ts";
import { serveVersion } from "../support/model-server.ts";
import { useModelSuite } from "../support/suite.ts";

const PORT = 8080;

interface Endpoint {
  targetRef?: { name?: string };
  conditions?: { ready?: boolean; serving?: boolean };
}
interface SliceList {
  items: { endpoints?: Endpoint[] }[];
}
interface Pod {
  metadata: { name: string; labels?: Record<string, string>; deletionTimestamp?: string };
  spec: { readinessGates?: { conditionType: string }[] };
  status?: { phase?: string; conditions?: { type: string; status: string; reason?: string }[] };
}

const spec = (name: string, version: string, steps: unknown[], ready?: string) =>
  modelDeployment(name, {
    version,
    replicas: 2,
    strategy: { canary: { readinessGate: true, steps } },
    healthChecks: {
      interval: "1s",
      // 3, not 2: a check measured on a pod that is up but not yet Ready is measured again as
      // the step's replicas become ready, so two measurements can come within milliseconds,
      // before a test's model server is bound; the third is an interval later.
      failureThreshold: 3,
      checks: [{ name: "model-ready", http: { path: ready ?? `/v2/models/${name}/ready`, port: "http" } }],
    },
    extra: { service: { port: PORT, targetPort: "http" } },
  });

const slices = (ns: string, service: string) =>
  kubectlJson<SliceList>(["-n", ns, "get", "endpointslices", "-l", `kubernetes.io/service-name=${service}`]);
const endpoints = (list: SliceList) => list.items.flatMap((s) => s.endpoints ?? []);
const podsOf = async (ns: string, name: string, version: string) =>
  (
    await kubectlJson<{ items: Pod[] }>([
      "-n",
      ns,
      "get",
      "pods",
      "-l",
      `mlops.dev/model=${name},mlops.dev/version=${version}`,
    ])
  ).items.filter((p) => !p.metadata.deletionTimestamp);
const podCondition = (p: Pod, type: string) => p.status?.conditions?.find((c) => c.type === type);

/** Samples the clients' Service's EndpointSlices until stopped: every candidate endpoint it ever listed as ready or serving. */
function watchClientsService(ns: string, name: string, candidatePrefix: string) {
  const seen: string[] = [];
  let samples = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      for (const e of endpoints(await slices(ns, name)))
        if (e.targetRef?.name?.startsWith(candidatePrefix) && (e.conditions?.ready || e.conditions?.serving))
          seen.push(e.targetRef.name);
      samples++;
    }
  })();
  return {
    seen,
    samples: () => samples,
    stop: async () => {
      running = false;
      await loop;
    },
  };
}

/** pods/status writes the operator made in `ns` to pods named `prefix*`, from the audit log. */
function operatorPodStatusWrites(ns: string, prefix: string): string[] {
  return readFileSync(process.env.MRO_AUDIT_LOG ?? "", "utf8")
    .split("\n")
    .filter(Boolean)
    .map(
      (l) =>
        JSON.parse(l) as {
          verb: string;
          userAgent?: string;
          stage?: string;
          objectRef?: { resource?: string; subresource?: string; namespace?: string; name?: string };
        },
    )
    .filter(
      (e) =>
        e.stage === "ResponseComplete" &&
        e.verb === "patch" &&
        e.userAgent?.startsWith("model-rollout-operator/") &&
        e.objectRef?.resource === "pods" &&
        e.objectRef.subresource === "status" &&
        e.objectRef.namespace === ns &&
        e.objectRef.name?.startsWith(prefix),
    )
    .map((e) => e.objectRef?.name ?? "");
}

describe("a 0% stage without a router: the candidate's pods behind a readiness gate", function () {
  this.timeout(180_000);
  const suite = useModelSuite();

  it("at setWeight 0 the candidate's own Service answers its checks while the clients' Service never lists it ready; the step opens the gate", async () => {
    const name = "gate";
    const steps = [{ setWeight: 0 }, { pause: {} }, { setWeight: 50 }, { pause: {} }];
    // No pod is watched until a ModelDeployment uses the gate (the operator's caches synced without one).
    const podCacheSynced = () =>
      suite.operator
        .logLines()
        .some((l) => l.msg === "informer synced" && /^v1 pods/.test(String(l.source ?? "")));
    await waitFor("the operator's caches synced", async () =>
      suite.operator.logLines().some((l) => l.msg === "caches synced, reconciling"),
    );
    expect(podCacheSynced(), "a pod watch before any ModelDeployment uses the gate").to.equal(false);
    await applyMd(suite.ns, spec(name, "1.0.0", steps));
    const v1 = await serveVersion(suite.ns, name, "1.0.0");
    suite.servers.push(v1);
    // The first version's pods carry the gate too: the operator admits them.
    await waitForMd(suite.ns, name, "1.0.0 Ready", isReady);
    expect(podCacheSynced(), "the pod watch, opened by the gate").to.equal(true);
    for (const p of await podsOf(suite.ns, name, "1.0.0")) {
      expect(p.spec.readinessGates).to.deep.equal([{ conditionType: "mlops.dev/admitted" }]);
      expect(podCondition(p, "mlops.dev/admitted")).to.include({ status: "True", reason: "Admitted" });
    }

    const clients = watchClientsService(suite.ns, name, `${name}-2-0-0-`);
    await applyMd(suite.ns, spec(name, "2.0.0", steps));
    const v2 = await serveVersion(suite.ns, name, "2.0.0");
    suite.servers.push(v2);
    const held = await waitForMd(
      suite.ns,
      name,
      "the 0% stage passed its checks, held by the pause at 0%",
      (m) => m.status?.currentStep === 1 && m.status.checks?.[0]?.phase === "Successful",
    );
    expect(held.status?.readinessGate).to.include({ open: false, candidatePods: 1 });
    expect(held.status?.readinessGate?.message).to.match(
      /^closed: 1 of 1 pods of 2\.0\.0 run behind the gate/,
    );
    expect(v2.count("GET", `/v2/models/${name}/ready`), "checks answered by 2.0.0's server").to.be.at.least(
      1,
    );
    expect(new Set(v2.requests.map((r) => r.host))).to.deep.equal(
      new Set([`${name}-2-0-0.${suite.ns}.svc:${PORT}`]),
    );

    const [candidate] = await podsOf(suite.ns, name, "2.0.0");
    expect(candidate?.status?.phase).to.equal("Running");
    expect(podCondition(candidate!, "ContainersReady")?.status).to.equal("True");
    expect(podCondition(candidate!, "Ready")?.status).to.equal("False");
    expect(podCondition(candidate!, "mlops.dev/admitted")).to.equal(undefined);
    // Its own Service lists it (not-ready addresses published); the clients' Service not as ready.
    // The EndpointSlice controller writes the slice on its own schedule: wait for it to list the pod.
    const own = await waitFor(`${name}-2-0-0's EndpointSlice listing the candidate`, async () => {
      const e = endpoints(await slices(suite.ns, `${name}-2-0-0`));
      return e.length > 0 && e;
    });
    expect(own.map((e) => [e.targetRef?.name, e.conditions?.ready])).to.deep.equal([
      [candidate!.metadata.name, true],
    ]);
    const svc = (n: string) =>
      kubectlJson<{ spec: { publishNotReadyAddresses?: boolean } }>(["-n", suite.ns, "get", "service", n]);
    expect((await svc(`${name}-2-0-0`)).spec.publishNotReadyAddresses).to.equal(true);
    expect((await svc(name)).spec.publishNotReadyAddresses).to.equal(undefined);
    expect(held.status?.traffic?.find((t) => t.version === "2.0.0")?.weight ?? 0).to.equal(0);

    await clients.stop();
    expect(clients.samples(), "samples of the clients' Service").to.be.above(3);
    expect(
      clients.seen,
      "candidate pods the clients' Service listed ready before the gate opened",
    ).to.deep.equal([]);

    await kubectl(["-n", suite.ns, "annotate", "md", name, "mlops.dev/action=promote", "--overwrite"]);
    const opened = await waitForMd(
      suite.ns,
      name,
      "at 50% with the gate open",
      (m) => m.status?.currentStep === 3,
    );
    expect(opened.status?.readinessGate?.open).to.equal(true);

    const admitted = await waitForMd(
      suite.ns,
      name,
      "the candidate pod in the clients' Service at 50%",
      (m) =>
        JSON.stringify(m.status?.traffic?.map((t) => [t.version, t.weight, t.readyEndpoints])) ===
        JSON.stringify([
          ["1.0.0", 50, 1],
          ["2.0.0", 50, 1],
        ]),
    );
    expect(admitted.status?.readinessGate).to.include({ open: true, waitingPods: 0 });
    // By pod: the EndpointSlice API lets one endpoint show in two slices for a moment.
    const ready = endpoints(await slices(suite.ns, name))
      .filter((e) => e.targetRef?.name?.startsWith(`${name}-2-0-0-`) && e.conditions?.ready)
      .map((e) => e.targetRef?.name);
    expect(new Set(ready).size, "the candidate's pods ready in the clients' Service").to.equal(1);
    for (const p of await podsOf(suite.ns, name, "2.0.0"))
      expect(podCondition(p, "mlops.dev/admitted")).to.include({ status: "True", reason: "Admitted" });
    // Each candidate pod was written once.
    const writes = operatorPodStatusWrites(suite.ns, `${name}-2-0-0-`);
    expect(writes, "the operator's pods/status writes").to.have.length(new Set(writes).size);
  });

  it("a failing check at the 0% stage rolls back with the gate never opened", async () => {
    const name = "gatefail";
    const steps = [{ setWeight: 0 }, { setWeight: 50 }];
    await applyMd(suite.ns, spec(name, "1.0.0", steps));
    suite.servers.push(await serveVersion(suite.ns, name, "1.0.0"));
    await waitForMd(suite.ns, name, "1.0.0 Ready", isReady);

    const clients = watchClientsService(suite.ns, name, `${name}-2-0-0-`);
    await applyMd(suite.ns, spec(name, "2.0.0", steps));
    const v2 = await serveVersion(suite.ns, name, "2.0.0", { ready: 503 });
    suite.servers.push(v2);
    const md: Md = await waitForMd(
      suite.ns,
      name,
      "rolled back on the 0% stage's check",
      (m) => condition(m, "Stalled")?.reason === "HealthCheckFailed",
    );
    expect(md.status?.checks?.[0]).to.include({ name: "model-ready", phase: "Failed", value: "503" });
    expect(
      v2.count("GET", `/v2/models/${name}/ready`),
      "the failing check reached 2.0.0's server",
    ).to.be.at.least(1);
    await waitForMd(suite.ns, name, "the candidate gone", (m) => m.status?.traffic?.length === 1);
    await clients.stop();
    expect(clients.seen, "candidate pods the clients' Service listed ready").to.deep.equal([]);
    expect(
      operatorPodStatusWrites(suite.ns, `${name}-2-0-0-`),
      "gate writes on candidate pods",
    ).to.deep.equal([]);
    const after = await waitForMd(
      suite.ns,
      name,
      "the gate closed in status",
      (m) => m.status?.readinessGate !== undefined,
    );
    expect(after.status?.readinessGate?.open).to.equal(false);
  });

  it("an operator started anew mid-way picks up from the status: it opens the gate the previous one left closed", async () => {
    const name = "gaterestart";
    const steps = [{ setWeight: 0 }, { pause: {} }, { setWeight: 50 }, { pause: {} }];
    await applyMd(suite.ns, spec(name, "1.0.0", steps));
    suite.servers.push(await serveVersion(suite.ns, name, "1.0.0"));
    await waitForMd(suite.ns, name, "1.0.0 Ready", isReady);
    await applyMd(suite.ns, spec(name, "2.0.0", steps));
    suite.servers.push(await serveVersion(suite.ns, name, "2.0.0"));
    await waitForMd(
      suite.ns,
      name,
      "held at 0% with the checks passed",
      (m) => m.status?.currentStep === 1 && m.status.checks?.[0]?.phase === "Successful",
    );
    // The operator goes away; the promote waits for the next one, which has only the status
    // and the pods to go on.
    await suite.operator.stop();
    await kubectl(["-n", suite.ns, "annotate", "md", name, "mlops.dev/action=promote", "--overwrite"]);
    const [pod] = await podsOf(suite.ns, name, "2.0.0");
    expect(podCondition(pod!, "mlops.dev/admitted")).to.equal(undefined);
    await suite.startOperator();
    const md = await waitForMd(
      suite.ns,
      name,
      "at 50% with the candidate pod admitted",
      (m) => m.status?.currentStep === 3 && m.status.readinessGate?.open === true,
    );
    expect(md.status?.stableVersion).to.equal("1.0.0");
    for (const p of await podsOf(suite.ns, name, "2.0.0"))
      expect(podCondition(p, "mlops.dev/admitted")).to.include({ status: "True", reason: "Admitted" });
    const writes = operatorPodStatusWrites(suite.ns, `${name}-2-0-0-`);
    expect(writes, "the operator's pods/status writes").to.have.length(new Set(writes).size);
  });

  it("applies examples/canary-readiness-gate.yaml: its first version's pods are admitted and it becomes Ready", async () => {
    await kubectl([
      "-n",
      suite.ns,
      "apply",
      "-f",
      join(import.meta.dirname, "..", "..", "examples", "canary-readiness-gate.yaml"),
    ]);
    const md = await waitForMd(suite.ns, "fraud-detector", "the example Ready", isReady);
    expect(md.status?.readinessGate).to.include({ open: true, admittedPods: 4, waitingPods: 0 });
    const pods = await podsOf(suite.ns, "fraud-detector", "1.0.0");
    expect(pods.map((p) => podCondition(p, "Ready")?.status)).to.deep.equal(["True", "True", "True", "True"]);
  });

  it("is refused at apply together with spec.traffic", async () => {
    const md = spec("gateroute", "1.0.0", [{ setWeight: 0 }]);
    (md.spec as Record<string, unknown>).traffic = {
      gatewayAPI: { httpRoute: { parentRefs: [{ name: "gw" }] } },
    };
    const res = await tool("kubectl", ["-n", suite.ns, "apply", "-f", "-"], JSON.stringify(md));
    expect(res.code).to.not.equal(0);
    expect(res.stderr).to.include("strategy.canary.readinessGate is for canaries without spec.traffic");
  });
});
