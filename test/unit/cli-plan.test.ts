import { expect } from "chai";
import { plugin } from "../support/plugin.ts";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parse, parseAllDocuments } from "yaml";

const ROOT = join(import.meta.dirname, "..", "..");

/** The rows of the table that follows the line `title` in plan's text, split on runs of spaces. */
function tableAfter(text: string, title: RegExp): string[][] {
  const lines = text.split("\n");
  const start = lines.findIndex((l) => title.test(l));
  expect(start, `no line matching ${title}`).to.be.greaterThan(-1);
  const rows: string[][] = [];
  for (const line of lines.slice(start + 2)) {
    if (!/^ {2}\S/.test(line) || line.startsWith("  (")) break;
    rows.push(line.trim().split(/\s{2,}/));
  }
  return rows;
}

interface Child {
  kind: string;
  metadata: {
    name: string;
    namespace: string;
    labels: Record<string, string>;
    annotations?: Record<string, string>;
  };
  spec: {
    replicas?: number;
    selector?: Record<string, unknown>;
    template?: { spec: { containers: { env: { name: string; value: string }[] }[] } };
  };
}

/** The revision hash the plan printed in the first Deployment's selector. */
function revisionIn(stdout: string): string {
  return /mlops\.dev\/revision=([0-9a-f]{10})/.exec(stdout)?.[1] ?? "";
}

/** A ModelDeployment that names a route the user owns. */
const userRouteMd = (gatewayAPI: Record<string, unknown>) =>
  JSON.stringify({
    apiVersion: "mlops.dev/v1alpha1",
    kind: "ModelDeployment",
    metadata: { name: "fraud" },
    spec: {
      model: { version: "1.0.0" },
      replicas: 2,
      template: {
        spec: { containers: [{ name: "s", image: "x", ports: [{ name: "http", containerPort: 8080 }] }] },
      },
      traffic: { gatewayAPI },
      strategy: { canary: { steps: [{ setWeight: 20 }] } },
    },
  });

describe("cli plan", () => {
  it("shows what goes into a route the user owns (httpRouteRef): the rule's weights; validate knows the field", async () => {
    const md = userRouteMd({ httpRouteRef: { name: "storefront", rule: "fraud" } });
    const res = await plugin(["plan", "-", "-n", "models"], md);
    expect(res.code, res.stderr).to.equal(0);
    expect(tableAfter(res.stdout, /^Children:/).find((r) => r[0] === "HTTPRoute")).to.deep.equal([
      "HTTPRoute",
      "storefront",
      "-",
      "your route, rule fraud",
      "fraud-1-0-0=100",
    ]);
    const ok = await plugin(["validate", "-"], md);
    expect(ok.code, ok.stdout).to.equal(0);
    const both = await plugin(
      ["validate", "-"],
      userRouteMd({
        httpRoute: { parentRefs: [{ name: "edge" }] },
        httpRouteRef: { name: "storefront", rule: "fraud" },
      }),
    );
    expect(both.code).to.equal(1);
    expect(both.stdout).to.contain(
      "spec.traffic.gatewayAPI: exactly one of gatewayAPI.httpRoute (an HTTPRoute the operator writes and owns), gatewayAPI.grpcRoute (a GRPCRoute the operator writes and owns) and gatewayAPI.httpRouteRef (an existing HTTPRoute you own) must be set",
    );
    const noRule = await plugin(["validate", "-"], userRouteMd({ httpRouteRef: { name: "storefront" } }));
    expect(noRule.code).to.equal(1);
    expect(noRule.stdout).to.contain("spec.traffic.gatewayAPI.httpRouteRef.rule: is required");
  });

  it("prints the children and every canary step with its replicas for examples/canary.yaml", async () => {
    const res = await plugin(["plan", "examples/canary.yaml", "-n", "models"]);
    expect(res.code, res.stderr).to.equal(0);
    expect(res.stdout.split("\n")[0]).to.equal(
      "ModelDeployment models/fraud-detector: version 1.0.0, 4 replicas, canary strategy",
    );
    expect(tableAfter(res.stdout, /^Children:/).map((r) => r.slice(0, 3))).to.deep.equal([
      ["Deployment", "fraud-detector-1-0-0", "4"],
      ["Service", "fraud-detector-1-0-0", "-"],
      ["Service", "fraud-detector", "-"],
    ]);
    expect(tableAfter(res.stdout, /^Rollout when 1\.0\.0 replaces/)).to.deep.equal([
      ["0", "setWeight 25%", "25%", "1", "3", "5"],
      ["1", "pause 10s", "25%", "1", "3", "4"],
      ["2", "setWeight 50%", "50%", "2", "2", "5"],
      ["3", "pause 10s", "50%", "2", "2", "4"],
      ["-", "promote", "100%", "4", "0", "6"],
    ]);
    // The defaults (maxSurge 100%, maxUnavailable 0): the new pods come up before old ones go.
    expect(res.stdout).to.contain(
      "peak pods of both versions: 6 (spec.replicas 4; maxSurge 100%: at most 8 pods; maxUnavailable 0: at least 4 ready serving)",
    );
    expect(res.stdout).to.contain("the new version must be Available within 120s of each scaling");
    expect(res.stdout).to.contain("old versions kept at 0 replicas for a fast rollback: 2");
  });

  it("prints the route, its exact weights and rules per step, and the pods per step for examples/canary-gateway-api.yaml", async () => {
    const res = await plugin(["plan", "examples/canary-gateway-api.yaml", "-n", "models"]);
    expect(res.code, res.stderr).to.equal(0);
    expect(tableAfter(res.stdout, /^Children:/).map((r) => [r[0], r[1], r[3], r[4]])).to.deep.equal([
      [
        "Deployment",
        "fraud-detector-1-0-0",
        "mlops.dev/model=fraud-detector,mlops.dev/version=1.0.0,mlops.dev/revision=" + revisionIn(res.stdout),
        "registry.example/model-server:1.0",
      ],
      [
        "Service",
        "fraud-detector-1-0-0",
        "mlops.dev/model=fraud-detector,mlops.dev/version=1.0.0,mlops.dev/revision=" + revisionIn(res.stdout),
        "80->http",
      ],
      [
        "Service",
        "fraud-detector",
        "mlops.dev/model=fraud-detector,mlops.dev/version=1.0.0,mlops.dev/revision=" + revisionIn(res.stdout),
        "80->http",
      ],
      ["HTTPRoute", "fraud-detector", "parents inference-gateway/http", "fraud-detector-1-0-0=100"],
    ]);
    expect(tableAfter(res.stdout, /^Rollout when 1\.0\.0 replaces/)).to.deep.equal([
      ["0", "setWeight 0%", "0%", "1", "4", "5"],
      ["1", "mirror route shadow: 100% copied to new, 30s", "0%", "1", "4", "5"],
      ["2", "setWeight 5%", "5%", "1", "4", "5"],
      ["3", "pause 30s", "5%", "1", "4", "5"],
      ["4", "header route beta: x-cohort=beta -> new, until promote", "5%", "1", "4", "5"],
      ["5", "setWeight 25%", "25%", "1", "4", "5"],
      ["6", "pause 1m", "25%", "1", "4", "5"],
      ["-", "promote", "100%", "4", "4", "8"],
    ]);
    expect(res.stdout).to.contain("through the route the weights are exact");
    expect(res.stdout).to.contain(
      "peak pods of both versions: 8 (spec.replicas 4; maxSurge 100%: at most 8 pods",
    );
  });

  it("prints each version's InferencePool, the route to the pools and the swap-mode steps for examples/canary-inference-pool.yaml", async () => {
    const res = await plugin(["plan", "examples/canary-inference-pool.yaml", "-n", "models"]);
    expect(res.code, res.stderr).to.equal(0);
    const rows = tableAfter(res.stdout, /^Children:/).map((r) => [r[0], r[1], r[4]]);
    expect(rows).to.deep.include.members([
      ["InferencePool", "llama-chat-3-1-0", "8000, EPP llama-chat-3-1-0-epp:9002"],
      ["HTTPRoute", "llama-chat", "pool llama-chat-3-1-0=100"],
    ]);
    expect(tableAfter(res.stdout, /^Rollout when 3\.1\.0 replaces/)).to.deep.equal([
      ["0", "setWeight 0%", "0%", "1", "1", "2"],
      ["1", "setWeight 10%", "10%", "1", "1", "2"],
      ["2", "pause 5m", "10%", "1", "1", "2"],
      ["3", "setWeight 50%", "50%", "1", "1", "2"],
      ["4", "pause until promote", "50%", "1", "1", "2"],
      ["-", "promote", "100%", "2", "0", "2"],
    ]);
    expect(res.stdout).to.contain(
      "the route's backends are InferencePools, one per version (llama-chat-<version>)",
    );

    const yaml = await plugin(["plan", "examples/canary-inference-pool.yaml", "-n", "models", "-o", "yaml"]);
    const children = (parse(yaml.stdout) as { children: (Child & { apiVersion: string })[] }).children;
    const pool = children.find((d) => d.kind === "InferencePool") as unknown as {
      apiVersion: string;
      spec: Record<string, unknown>;
    };
    expect(pool.apiVersion).to.equal("inference.networking.k8s.io/v1");
    expect(pool.spec).to.deep.include({
      targetPorts: [{ number: 8000 }],
      endpointPickerRef: { name: "llama-chat-3-1-0-epp", port: { number: 9002 }, failureMode: "FailClose" },
    });
  });

  it("prints the blue/green stages and the preview Service for examples/blue-green.yaml", async () => {
    const res = await plugin(["plan", "examples/blue-green.yaml"]);
    expect(res.code, res.stderr).to.equal(0);
    expect(tableAfter(res.stdout, /^Children:/).map((r) => [r[0], r[1], r.at(-1)])).to.deep.equal([
      ["Deployment", "sentiment-classifier-1-0-0", "version 1.0.0"],
      ["Service", "sentiment-classifier-1-0-0", "version 1.0.0"],
      ["Service", "sentiment-classifier", "clients"],
      ["Service", "sentiment-classifier-preview", "preview, during a rollout"],
    ]);
    expect(tableAfter(res.stdout, /^Rollout when/).map((r) => r.slice(0, 4))).to.deep.equal([
      ["preview", "0%", "1", "3"],
      ["scale-up", "0%", "3", "3"],
      ["switch", "100%", "3", "3"],
      ["scale-down", "100%", "3", "0"],
    ]);
  });

  it("prints the agreement gate of examples/blue-green-agreement.yaml, and when a check runs after the switch", async () => {
    const res = await plugin(["plan", "examples/blue-green-agreement.yaml"]);
    expect(res.code, res.stderr).to.equal(0);
    expect(res.stdout).to.contain(
      "  agreement (agreement): the requests of ConfigMap fraud-detector-requests key requests.json to the new and the stable version (OpenInference), expects agreement >= 0.98; every 10s, timeout 20s, rolled back after 2 consecutive failures",
    );
    const md = parseAllDocuments(readFileSync(join(ROOT, "examples", "blue-green-agreement.yaml"), "utf8"))
      .map((d) => d.toJS() as { kind: string; spec: { healthChecks: { checks: Record<string, unknown>[] } } })
      .find((d) => d.kind === "ModelDeployment")!;
    md.spec.healthChecks.checks[0]!.promotion = "After";
    const after = await plugin(["plan", "-"], JSON.stringify(md));
    expect(after.code, after.stderr).to.equal(0);
    expect(after.stdout).to.contain(
      "expects agreement >= 0.98; after the switch, while the old version is kept ready; every 10s",
    );
  });

  it("prints -o yaml with the complete children the operator applies", async () => {
    const res = await plugin(["plan", "examples/canary.yaml", "-o", "yaml"]);
    expect(res.code, res.stderr).to.equal(0);
    const plan = parse(res.stdout) as {
      children: Child[];
      rollout: { steps: { candidateReplicas: number; stableReplicas: number }[] };
    };
    const [deployment, versionService, clients] = plan.children;
    expect(deployment!.kind).to.equal("Deployment");
    expect(deployment!.metadata).to.deep.include({ name: "fraud-detector-1-0-0", namespace: "default" });
    expect(deployment!.spec.replicas).to.equal(4);
    const revision = deployment!.metadata.annotations?.["mlops.dev/revision"];
    expect(revision).to.match(/^[0-9a-f]{10}$/);
    expect(deployment!.spec.selector).to.deep.equal({
      matchLabels: {
        "mlops.dev/model": "fraud-detector",
        "mlops.dev/version": "1.0.0",
        "mlops.dev/revision": revision,
      },
    });
    expect(deployment!.spec.template!.spec.containers[0]!.env).to.deep.include({
      name: "MODEL_URI",
      value: "s3://models/fraud-detector/1.0.0",
    });
    expect(versionService!.metadata.labels["mlops.dev/role"]).to.equal("version");
    expect(clients!.metadata.name).to.equal("fraud-detector");
    expect(plan.rollout.steps.map((s) => [s.candidateReplicas, s.stableReplicas])).to.deep.equal([
      [1, 3],
      [1, 3],
      [2, 2],
      [2, 2],
    ]);
  });

  it("prints the pods of each version per step and the peak under maxSurge and maxUnavailable", async () => {
    const withCapacity = (capacity: string, traffic = false) =>
      readFileSync(
        join(ROOT, traffic ? "examples/canary-gateway-api.yaml" : "examples/canary.yaml"),
        "utf8",
      ).replace("    canary:\n", `    canary:\n${capacity}`);
    // The swap mode: never more than spec.replicas pods, one pod of capacity out while a pod is swapped.
    const swap = await plugin(["plan", "-"], withCapacity("      maxSurge: 0\n      maxUnavailable: 1\n"));
    expect(swap.code, swap.stderr).to.equal(0);
    expect(tableAfter(swap.stdout, /^Rollout when 1\.0\.0 replaces/)).to.deep.equal([
      ["0", "setWeight 25%", "25%", "1", "3", "4"],
      ["1", "pause 10s", "25%", "1", "3", "4"],
      ["2", "setWeight 50%", "50%", "2", "2", "4"],
      ["3", "pause 10s", "50%", "2", "2", "4"],
      ["-", "promote", "100%", "4", "0", "4"],
    ]);
    expect(swap.stdout).to.contain(
      "peak pods of both versions: 4 (spec.replicas 4; maxSurge 0: at most 4 pods",
    );
    expect(swap.stdout).to.contain("1 pod(s) of capacity are out of service");
    // Through a route with one pod of surge: the stable version gives up only what the surge does not cover.
    const routed = await plugin(["plan", "-"], withCapacity("      maxSurge: 1\n", true));
    expect(routed.code, routed.stderr).to.equal(0);
    const rows = tableAfter(routed.stdout, /^Rollout when 1\.0\.0 replaces/);
    expect(rows.map((r) => r.slice(-3))).to.deep.equal([
      ...Array.from({ length: 7 }, () => ["1", "4", "5"]),
      ["4", "1", "5"],
    ]);
    expect(routed.stdout).to.contain(
      "peak pods of both versions: 5 (spec.replicas 4; maxSurge 1: at most 5 pods",
    );
    // A step's own replicas, and -o yaml carries the budget.
    const scaled = await plugin(
      ["plan", "-", "-o", "yaml"],
      withCapacity("      maxSurge: 25%\n", true).replace(
        "- setWeight: 5\n",
        "- replicas: 2\n          setWeight: 5\n",
      ),
    );
    expect(scaled.code, scaled.stderr).to.equal(0);
    const y = parse(scaled.stdout) as {
      rollout: { steps: { candidateReplicas: number; stableReplicas: number }[]; capacity: unknown };
    };
    expect(y.rollout.steps[2]).to.include({ candidateReplicas: 2, stableReplicas: 3 });
    expect(y.rollout.capacity).to.deep.equal({
      maxSurge: "25%",
      maxUnavailable: 0,
      maxPods: 5,
      minReadyPods: 4,
      peakPods: 5,
    });
  });

  it("validate knows maxSurge, maxUnavailable and a step's replicas", async () => {
    const base = readFileSync(join(ROOT, "examples/canary.yaml"), "utf8");
    const bothZero = await plugin(
      ["validate", "-"],
      base.replace("    canary:\n", "    canary:\n      maxSurge: 0%\n      maxUnavailable: 0\n"),
    );
    expect(bothZero.code).to.equal(1);
    expect(bothZero.stdout).to.contain("spec.strategy.canary: maxSurge and maxUnavailable cannot both be 0");
    const badValue = await plugin(
      ["validate", "-"],
      base.replace("    canary:\n", "    canary:\n      maxSurge: 150%\n"),
    );
    expect(badValue.code).to.equal(1);
    expect(badValue.stdout).to.contain(
      "spec.strategy.canary.maxSurge: must be a number >= 0 or a percentage",
    );
    const replicasNoRoute = await plugin(
      ["validate", "-"],
      base.replace("- setWeight: 25", "- {setWeight: 25, replicas: 2}"),
    );
    expect(replicasNoRoute.code).to.equal(1);
    expect(replicasNoRoute.stdout).to.contain(
      "spec.strategy.canary.steps[0].replicas: replicas on a setWeight step needs spec.traffic",
    );
    const replicasOnPause = await plugin(
      ["validate", "-"],
      readFileSync(join(ROOT, "examples/canary-gateway-api.yaml"), "utf8").replace(
        "- pause: { duration: 30s }",
        "- pause: { duration: 30s }\n          replicas: 2",
      ),
    );
    expect(replicasOnPause.code).to.equal(1);
    expect(replicasOnPause.stdout).to.contain("replicas goes with setWeight");
    const good = await plugin(
      ["validate", "-"],
      base.replace("    canary:\n", "    canary:\n      maxSurge: 0\n      maxUnavailable: 25%\n"),
    );
    expect(good.code, good.stdout).to.equal(0);
  });

  it("reads standard input and refuses an invalid manifest with its problems", async () => {
    const good = await plugin(["plan", "-"], readFileSync(join(ROOT, "examples/canary.yaml"), "utf8"));
    expect(good.code).to.equal(0);
    expect(good.stdout).to.contain("fraud-detector-1-0-0");
    const bad = await plugin(["plan", "test/fixtures/manifests/bad/two-strategies.yaml"]);
    expect(bad.code).to.equal(1);
    expect(bad.stdout).to.equal("");
    expect(bad.stderr).to.contain(
      "test/fixtures/manifests/bad/two-strategies.yaml:0: spec.strategy: exactly one of strategy.canary or strategy.blueGreen must be set",
    );
  });
});
