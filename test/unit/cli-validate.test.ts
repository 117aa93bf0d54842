import { expect } from "chai";
import { plugin } from "../support/plugin.ts";

const FIXTURES = "test/fixtures/manifests";

describe("cli validate", () => {
  it("prints every problem of a directory of manifests with its file, document and field", async () => {
    const res = await plugin(["validate", FIXTURES]);
    expect(res.code).to.equal(1);
    expect(res.stdout.trimEnd().split("\n").sort()).to.deep.equal(
      [
        `${FIXTURES}/bad/checks.yaml:0: spec.healthChecks.checks[0].prometheus.query: unknown template variable {{model}}: use {{name}}, {{namespace}}, {{version}}, {{service}}`,
        `${FIXTURES}/bad/checks.yaml:0: spec.healthChecks.checks[0].prometheus.successCondition: successCondition \`result <\` is not valid CEL: Unexpected token: EOF`,
        `${FIXTURES}/bad/kind-typo.yaml:0: kind: mlops.dev serves only kind ModelDeployment, not "ModelDeploymnet"`,
        `${FIXTURES}/bad/missing-version.yaml:0: spec.model.version: is required`,
        `${FIXTURES}/bad/not-yaml.yaml:0: invalid YAML: Flow map in block collection must be sufficiently indented and end with a } at line 7, column 3`,
        `${FIXTURES}/bad/steps.yaml:1: spec.strategy.canary.steps[1].pause.duration: "10 seconds" is not a duration: write it like 30s, 5m, 1h30m or 500ms`,
        `${FIXTURES}/bad/steps.yaml:1: spec.strategy.canary.steps[2].setWeight: setWeight values must never decrease from one step to the next (20 after 50)`,
        `${FIXTURES}/bad/two-strategies.yaml:0: spec.strategy: exactly one of strategy.canary or strategy.blueGreen must be set`,
        `${FIXTURES}/bad/unknown-port.yaml:0: spec.service.targetPort: no container declares a port named "grpc" (named ports: http)`,
      ].sort(),
    );
    expect(res.stderr).to.equal("9 problems in 7 of 10 ModelDeployments in 9 files\n");
  });

  it("passes good manifests (YAML and JSON, other kinds skipped) and the examples with a summary", async () => {
    const res = await plugin([
      "validate",
      `${FIXTURES}/good`,
      "examples/canary.yaml",
      "examples/blue-green.yaml",
      "examples/canary-analysis.yaml",
      "examples/canary-inference-pool.yaml",
      "examples/blue-green-agreement.yaml",
    ]);
    expect(res).to.deep.equal({ code: 0, stdout: "7 ModelDeployments in 7 files: valid\n", stderr: "" });
  });

  it("reads standard input with -", async () => {
    const yaml = [
      "apiVersion: mlops.dev/v1alpha1",
      "kind: ModelDeployment",
      "metadata: {name: x}",
      "spec:",
      "  model: {version: '1'}",
      "  template: {spec: {containers: [{name: s, image: i, ports: [{containerPort: 80}]}]}}",
      "  strategy: {canary: {steps: [{setWeight: 101}]}}",
    ].join("\n");
    const res = await plugin(["validate", "-"], yaml);
    expect(res.code).to.equal(1);
    expect(res.stdout).to.match(/^-:0: spec\.strategy\.canary\.steps\[0\]\.setWeight: .*100/);
  });

  it("warns, without failing, of an interval below the default minimum and of a successCondition whose cost grows with the square of the response", async () => {
    const yaml = [
      "apiVersion: mlops.dev/v1alpha1",
      "kind: ModelDeployment",
      "metadata: {name: x}",
      "spec:",
      "  model: {version: '1'}",
      "  template: {spec: {containers: [{name: s, image: i, ports: [{containerPort: 80}]}]}}",
      "  strategy: {canary: {steps: [{setWeight: 50}]}}",
      "  healthChecks:",
      "    interval: 1ms",
      "    checks:",
      "      - name: list",
      "        http:",
      "          path: /items",
      "          successCondition: json.items.all(a, json.items.exists(b, b == a))",
    ].join("\n");
    const res = await plugin(["validate", "-"], yaml);
    expect(res.code).to.equal(0);
    expect(res.stdout).to.equal("1 ModelDeployment in 1 file: valid (2 warnings)\n");
    const [interval, condition] = res.stderr.trimEnd().split("\n");
    expect(interval).to.equal(
      "-:0: spec.healthChecks.interval: warning: interval 1ms is below the platform's minimum of 1s (--check-min-interval): measured every 1s",
    );
    expect(condition).to.match(
      /^-:0: spec\.healthChecks\.checks\[0\]\.http\.successCondition: warning: successCondition `json\.items\.all\(a, json\.items\.exists\(b, b == a\)\)` iterates over response data \(`json\.items`\) inside another comprehension/,
    );
  });

  it("knows workloadRef: its scaleDown values, and that it goes without spec.traffic and a readiness gate", async () => {
    const base = [
      "apiVersion: mlops.dev/v1alpha1",
      "kind: ModelDeployment",
      "metadata: {name: x}",
      "spec:",
      "  model: {version: '1'}",
      "  template: {metadata: {labels: {app: x}}, spec: {containers: [{name: s, image: i, ports: [{containerPort: 80}]}]}}",
    ];
    const good = [
      ...base,
      "  strategy: {canary: {steps: [{setWeight: 50}]}}",
      "  workloadRef: {name: x-server, scaleDown: progressively}",
    ];
    expect(await plugin(["validate", "-"], good.join("\n"))).to.deep.include({ code: 0 });
    const bad = [
      ...base,
      "  strategy: {canary: {readinessGate: true, steps: [{setWeight: 50}]}}",
      "  workloadRef: {name: x-server, scaleDown: sometimes}",
    ];
    const res = await plugin(["validate", "-"], bad.join("\n"));
    expect(res.code).to.equal(1);
    const lines = res.stdout.trimEnd().split("\n");
    expect(
      lines.some((l) => l.startsWith("-:0: spec.workloadRef.scaleDown:") && /never/.test(l)),
      res.stdout,
    ).to.equal(true);
    expect(
      lines.some((l) => l.startsWith("-:0: spec.workloadRef: workloadRef: an adoption cannot hold")),
      res.stdout,
    ).to.equal(true);
  });

  it("says when a path does not exist, with exit code 3", async () => {
    const res = await plugin(["validate", "no/such/dir"]);
    expect(res).to.deep.equal({
      code: 3,
      stdout: "",
      stderr: "error: no/such/dir: no such file or directory\n",
    });
  });
});
