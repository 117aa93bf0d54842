// Offline and in-cluster validation: what a user gets wrong, with the path and a message.
import { expect } from "chai";
import type { ModelDeployment } from "../../src/api/types.ts";
import { validateModelDeployment } from "../../src/plan/index.ts";
import { httpCheck, makeMd, promCheck } from "./plan-fixtures.ts";

type Edit = (md: ModelDeployment & { spec: Record<string, unknown> }) => void;
const spec = (md: ModelDeployment) => md.spec as never as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

describe("plan: validateModelDeployment", () => {
  it("accepts the README example and a blue/green spec", () => {
    expect(
      validateModelDeployment(makeMd({ healthChecks: { checks: [httpCheck(), promCheck()] } })),
    ).to.deep.equal([]);
    expect(
      validateModelDeployment(
        makeMd({ strategy: { blueGreen: { previewReplicas: 1, autoPromotionSeconds: 30 } } }),
      ),
    ).to.deep.equal([]);
  });

  const rows: { name: string; edit: Edit; path: string; message: RegExp }[] = [
    {
      name: "no version",
      edit: (md) => delete spec(md).model.version,
      path: "spec.model.version",
      message: /is required/,
    },
    {
      name: "a version that is no label value",
      edit: (md) => (spec(md).model.version = "2.1.0+build"),
      path: "spec.model.version",
      message: /valid label value/,
    },
    {
      name: "both strategies",
      edit: (md) => (spec(md).strategy.blueGreen = {}),
      path: "spec.strategy",
      message: /exactly one/,
    },
    {
      name: "no strategy",
      edit: (md) => (spec(md).strategy = {}),
      path: "spec.strategy",
      message: /exactly one/,
    },
    {
      name: "a step with both setWeight and pause",
      edit: (md) => (spec(md).strategy.canary.steps[0].pause = {}),
      path: "spec.strategy.canary.steps[0]",
      message: /exactly one of setWeight, pause, setHeaderRoute or setMirrorRoute/,
    },
    {
      name: "a header route step without spec.traffic",
      edit: (md) =>
        (spec(md).strategy.canary.steps = [
          {
            setHeaderRoute: {
              name: "beta",
              match: [{ headerName: "x-cohort", headerValue: { exact: "beta" } }],
            },
          },
        ]),
      path: "spec.strategy.canary.steps[0]",
      message: /setHeaderRoute and setMirrorRoute steps need spec.traffic/,
    },
    {
      name: "a mirror step with a bad duration",
      edit: (md) => {
        spec(md).traffic = { gatewayAPI: { httpRoute: { parentRefs: [{ name: "gw" }] } } };
        spec(md).strategy.canary.steps = [
          { setMirrorRoute: { name: "shadow", percentage: 10, duration: "soon" } },
        ];
      },
      path: "spec.strategy.canary.steps[0].setMirrorRoute.duration",
      message: /is not a duration/,
    },
    {
      name: "InferencePool backends whose endpoint picker is shared (no {{pool}})",
      edit: (md) =>
        (spec(md).traffic = {
          gatewayAPI: {
            httpRoute: { parentRefs: [{ name: "gw" }] },
            inferencePool: { endpointPickerRef: { name: "shared-epp", port: { number: 9002 } } },
          },
        }),
      path: "spec.traffic.gatewayAPI.inferencePool.endpointPickerRef.name",
      message: /must contain \{\{pool\}\}: an endpoint picker serves one pool/,
    },
    {
      name: "an endpoint picker name that is no DNS label around {{pool}}",
      edit: (md) =>
        (spec(md).traffic = {
          gatewayAPI: {
            httpRoute: { parentRefs: [{ name: "gw" }] },
            inferencePool: { endpointPickerRef: { name: "{{pool}}_EPP", port: { number: 9002 } } },
          },
        }),
      path: "spec.traffic.gatewayAPI.inferencePool.endpointPickerRef.name",
      message: /must otherwise be a DNS label/,
    },
    {
      name: "an endpoint picker Service without a port",
      edit: (md) =>
        (spec(md).traffic = {
          gatewayAPI: {
            httpRoute: { parentRefs: [{ name: "gw" }] },
            inferencePool: { endpointPickerRef: { name: "{{pool}}-epp" } },
          },
        }),
      path: "spec.traffic.gatewayAPI.inferencePool.endpointPickerRef",
      message: /port is required when kind is Service/,
    },
    {
      name: "an endpoint picker Service name longer than 63 characters with the pool's name in it",
      edit: (md) =>
        (spec(md).traffic = {
          gatewayAPI: {
            httpRoute: { parentRefs: [{ name: "gw" }] },
            inferencePool: {
              endpointPickerRef: {
                name: "{{pool}}-endpoint-picker-service-of-the-fraud-models",
                port: { number: 9002 },
              },
            },
          },
        }),
      path: "spec.traffic.gatewayAPI.inferencePool.endpointPickerRef.name",
      message:
        /names the Service fraud-detector-1-0-0-endpoint-picker-service-of-the-fraud-models for the pool fraud-detector-1-0-0, longer than the 63 characters/,
    },
    {
      name: "InferencePool target ports twice the same",
      edit: (md) =>
        (spec(md).traffic = {
          gatewayAPI: {
            httpRoute: { parentRefs: [{ name: "gw" }] },
            inferencePool: { targetPorts: [{ number: 8000 }, { number: 8000 }] },
          },
        }),
      path: "spec.traffic.gatewayAPI.inferencePool.targetPorts",
      message: /port number must be unique/,
    },
    {
      name: "decreasing weights",
      edit: (md) => (spec(md).strategy.canary.steps = [{ setWeight: 50 }, { setWeight: 20 }]),
      path: "spec.strategy.canary.steps[1].setWeight",
      message: /never decrease.*20 after 50/,
    },
    {
      name: "a weight over 100",
      edit: (md) => (spec(md).strategy.canary.steps = [{ setWeight: 120 }]),
      path: "spec.strategy.canary.steps[0].setWeight",
      message: /must be <= 100/,
    },
    {
      name: "a bad pause duration",
      edit: (md) => (spec(md).strategy.canary.steps[1].pause.duration = "1d"),
      path: "spec.strategy.canary.steps[1].pause.duration",
      message: /"1d" is not a duration/,
    },
    {
      name: "a misspelled field",
      edit: (md) => (spec(md).strategy.canary.steps[0] = { setweight: 20 }),
      path: "spec.strategy.canary.steps[0].setweight",
      message: /unknown field/,
    },
    {
      name: "a zero interval",
      edit: (md) => (spec(md).healthChecks = { interval: "0s", checks: [promCheck()] }),
      path: "spec.healthChecks.interval",
      message: /longer than 0/,
    },
    {
      name: "a check with two providers",
      edit: (md) => (spec(md).healthChecks = { checks: [{ ...promCheck(), http: { path: "/" } }] }),
      path: "spec.healthChecks.checks[0]",
      message: /exactly one provider/,
    },
    {
      name: "duplicate check names",
      edit: (md) => (spec(md).healthChecks = { checks: [promCheck("a"), promCheck("a")] }),
      path: "spec.healthChecks.checks[1].name",
      message: /duplicate check name/,
    },
    {
      name: "an http check with path and url",
      edit: (md) =>
        (spec(md).healthChecks = { checks: [{ name: "x", http: { path: "/", url: "http://x/" } }] }),
      path: "spec.healthChecks.checks[0].http",
      message: /exactly one of path or url/,
    },
    {
      name: "a body without POST",
      edit: (md) => (spec(md).healthChecks = { checks: [{ name: "x", http: { path: "/", body: "{}" } }] }),
      path: "spec.healthChecks.checks[0].http.body",
      message: /needs method POST/,
    },
    {
      name: "a successCondition that does not compile",
      edit: (md) =>
        (spec(md).healthChecks = {
          checks: [
            { ...promCheck(), prometheus: { ...promCheck().prometheus, successCondition: "result <" } },
          ],
        }),
      path: "spec.healthChecks.checks[0].prometheus.successCondition",
      message: /not valid CEL/,
    },
    {
      name: "an http successCondition over Prometheus variables",
      edit: (md) =>
        (spec(md).healthChecks = {
          checks: [{ name: "x", http: { path: "/", successCondition: "result < 1" } }],
        }),
      path: "spec.healthChecks.checks[0].http.successCondition",
      message: /Unknown variable: result/,
    },
    {
      name: "a header name that is no HTTP token",
      edit: (md) =>
        (spec(md).healthChecks = {
          checks: [{ name: "x", http: { path: "/", headers: { "bad key": "1" } } }],
        }),
      path: "spec.healthChecks.checks[0].http.headers",
      message: /^"bad key" is not an HTTP header name/,
    },
    {
      name: "a header value with a line break, without quoting it",
      edit: (md) =>
        (spec(md).healthChecks = {
          checks: [{ name: "x", http: { path: "/", headers: { "X-Token": "s3cr3t\r\nInjected: 1" } } }],
        }),
      path: "spec.healthChecks.checks[0].http.headers.X-Token",
      message: /^cannot be sent as an HTTP header value: .*\(the value is not shown\)$/,
    },
    {
      name: "a header value beyond Latin-1",
      edit: (md) =>
        (spec(md).healthChecks = {
          checks: [{ name: "x", http: { path: "/", headers: { "X-Emoji": "🚀" } } }],
        }),
      path: "spec.healthChecks.checks[0].http.headers.X-Emoji",
      message: /beyond U\+00FF/,
    },
    {
      name: "an unknown template variable",
      edit: (md) => (spec(md).healthChecks = { checks: [{ name: "x", http: { url: "http://{{svc}}.x/" } }] }),
      path: "spec.healthChecks.checks[0].http.url",
      message: /unknown template variable \{\{svc\}\}: use \{\{name\}\}/,
    },
    {
      name: "an unclosed template",
      edit: (md) =>
        (spec(md).healthChecks = {
          checks: [{ ...promCheck(), prometheus: { ...promCheck().prometheus, query: 'up{v="{{version"}' } }],
        }),
      path: "spec.healthChecks.checks[0].prometheus.query",
      message: /not closed/,
    },
    {
      name: "a check port name no container declares",
      edit: (md) =>
        (spec(md).healthChecks = { checks: [httpCheck("x", { http: { path: "/", port: "metrics" } })] }),
      path: "spec.healthChecks.checks[0].http.port",
      message: /no port named "metrics" \(named ports: http\)/,
    },
    {
      name: "a check port that the Service does not forward to",
      edit: (md) => {
        spec(md).template.spec.containers[0].ports.push({ name: "metrics", containerPort: 9090 });
        spec(md).healthChecks = { checks: [httpCheck("x", { http: { path: "/", port: "metrics" } })] };
      },
      path: "spec.healthChecks.checks[0].http.port",
      message: /not the port the Services forward to/,
    },
    {
      name: "a numeric check port other than the Service port",
      edit: (md) =>
        (spec(md).healthChecks = { checks: [httpCheck("x", { http: { path: "/", port: 8080 } })] }),
      path: "spec.healthChecks.checks[0].http.port",
      message: /listens on port 80 only/,
    },
    {
      name: "a targetPort name no container declares",
      edit: (md) => (spec(md).service = { port: 80, targetPort: "grpc" }),
      path: "spec.service.targetPort",
      message: /no container declares a port named "grpc"/,
    },
    {
      name: "no container port and no targetPort",
      edit: (md) => delete spec(md).template.spec.containers[0].ports,
      path: "spec.service.targetPort",
      message: /declares no ports/,
    },
    {
      name: "a port name Kubernetes would reject",
      edit: (md) => (spec(md).template.spec.containers[0].ports[0].name = "http-inference-port"),
      path: "spec.template.spec.containers[0].ports[0].name",
      message: /at most 15/,
    },
    {
      name: "a pod label the operator sets",
      edit: (md) => (spec(md).template.metadata.labels["mlops.dev/version"] = "x"),
      path: "spec.template.metadata.labels.mlops.dev/version",
      message: /set by the operator/,
    },
    {
      name: "a name the clients' Service cannot have",
      edit: (md) => (md.metadata!.name = "9-fraud.detector"),
      path: "metadata.name",
      message: /DNS label/,
    },
    {
      name: "negative replicas",
      edit: (md) => (spec(md).replicas = -1),
      path: "spec.replicas",
      message: /must be >= 0/,
    },
  ];
  for (const row of rows) {
    it(`reports ${row.name}`, () => {
      const md = makeMd();
      row.edit(md as never);
      const problems = validateModelDeployment(md);
      const hit = problems.find((p) => p.path === row.path && row.message.test(p.message));
      expect(hit, JSON.stringify(problems, null, 1)).to.not.equal(undefined);
    });
  }

  it("accepts header values with tabs and Latin-1, and never quotes a refused value", () => {
    const withHeaders = (headers: Record<string, string>) =>
      makeMd({ healthChecks: { checks: [{ name: "x", http: { path: "/", headers } }] } } as never);
    expect(validateModelDeployment(withHeaders({ "X-A": "a\tb café", Accept: "" }))).to.deep.equal([]);
    const problems = validateModelDeployment(withHeaders({ Authorization: "Bearer s3cr3t\n" }));
    expect(problems).to.have.length(1);
    expect(JSON.stringify(problems)).to.not.contain("s3cr3t");
  });

  it("accepts previewReplicas above spec.replicas: an autoscaler may scale below it (the preview is then spec.replicas)", () => {
    const md = makeMd({ replicas: 2, strategy: { blueGreen: { previewReplicas: 5 } } });
    expect(validateModelDeployment(md)).to.deep.equal([]);
  });

  it("says what is wrong with something that is not an object", () => {
    expect(validateModelDeployment("nope")).to.deep.equal([
      { path: "", message: "a ModelDeployment must be an object" },
    ]);
    expect(validateModelDeployment({})).to.deep.include({ path: "spec", message: "is required" });
  });
});
