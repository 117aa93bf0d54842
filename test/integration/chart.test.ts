// The Helm chart, rendered by the real helm binary: what `helm install` would create with
// the default values and with watchNamespace, and what it refuses; then installed with
// helm on a real control plane (kube-apiserver, controllers, kwok nodes) under the
// restricted Pod Security Standard, with every permission checked by the API server, and
// the real operator process run under the chart's ServiceAccount (a TokenRequest token):
// leader election and a canary rollout cluster-wide, then again with watchNamespace.
//   mocha --timeout 240000 test/integration/chart.test.ts
// helm comes from $MRO_TOOLS_BIN, else PATH, else hack/build-tools.sh (which builds it once);
// the control plane's binaries from $MRO_TOOLS_BIN, else hack/build-tools.sh.
import { spawnSync } from "node:child_process";
import { accessSync, constants, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { expect } from "chai";
import { parse, parseAllDocuments } from "yaml";
import { parseConfig, type Config } from "../../src/config.ts";
import { parseCredentials } from "../../src/health/credentials.ts";
import { parseDestinations } from "../../src/notify/destinations.ts";
import { startCluster, type Cluster } from "../cluster/cluster.ts";
import { kubectl as kubectlAsync, waitFor } from "../support/kube.ts";
import { childName } from "../../src/plan/naming.ts";
import {
  applyMd,
  condition,
  deployments,
  isReady,
  mdEvents,
  modelDeployment,
  waitForMd,
  type Md,
} from "../support/md.ts";
import { startOperator, type OperatorProcess } from "../support/operator.ts";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const CHART = join(ROOT, "charts", "model-rollout-operator");
const CRD_FILE = "modeldeployments.mlops.dev.yaml";
const RELEASE = "model-rollout-operator";
const RELEASE_NAMESPACE = "mlops-system";

// Minimal shapes of what the chart renders; only the fields the tests read.
interface PolicyRule {
  apiGroups?: string[];
  resources?: string[];
  resourceNames?: string[];
  verbs: string[];
}
interface Subject {
  kind: string;
  name: string;
  namespace?: string;
}
interface Probe {
  httpGet?: { path: string; port: string | number };
}
interface Container {
  name: string;
  image: string;
  args?: string[];
  env?: { name: string; valueFrom?: { fieldRef?: { fieldPath: string } } }[];
  ports?: { name: string; containerPort: number }[];
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  securityContext?: Record<string, unknown>;
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
}
interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  rules?: PolicyRule[];
  roleRef?: { kind: string; name: string };
  subjects?: Subject[];
  spec?: Record<string, unknown>;
}
interface DeploymentSpec {
  replicas: number;
  template: {
    spec: {
      serviceAccountName: string;
      securityContext: Record<string, unknown>;
      containers: Container[];
      volumes?: { name: string }[];
    };
  };
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The project's tools folder: $MRO_TOOLS_BIN, else what hack/build-tools.sh prints. */
function toolsBin(): string {
  if (process.env.MRO_TOOLS_BIN) return process.env.MRO_TOOLS_BIN;
  const built = spawnSync("bash", [join(ROOT, "hack", "build-tools.sh")], { encoding: "utf8" });
  if (built.status !== 0) throw new Error(`hack/build-tools.sh failed: ${built.stderr}`);
  return built.stdout.trim();
}

function findHelm(): string {
  if (process.env.MRO_TOOLS_BIN) return join(process.env.MRO_TOOLS_BIN, "helm");
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    if (dir && isExecutable(join(dir, "helm"))) return join(dir, "helm");
  }
  return join(toolsBin(), "helm");
}

interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

let helmBinary: string | undefined;
/** Set while the real control plane runs: helm and kubectl talk to it, and to nothing else. */
let kubeconfig = "/dev/null";

function run(binary: string, args: string[], input?: string): RunResult {
  // HELM_* homes in a scratch place, so the user's repositories and plugins play no part.
  const env = {
    ...process.env,
    HELM_CACHE_HOME: "/tmp/mro-helm/cache",
    HELM_CONFIG_HOME: "/tmp/mro-helm/config",
    KUBECONFIG: kubeconfig,
  };
  const result = spawnSync(binary, args, { encoding: "utf8", env, input, timeout: 120000 });
  if (result.error) throw result.error;
  return { code: result.status ?? -1, stdout: result.stdout, stderr: result.stderr };
}

function helm(args: string[]): RunResult {
  helmBinary ??= findHelm();
  return run(helmBinary, args);
}

/** `helm template` with --set flags; fails the test with helm's own message if helm fails. */
function render(set: Record<string, string> = {}, extra: string[] = []): K8sObject[] {
  const flags = Object.entries(set).flatMap(([key, value]) => ["--set", `${key}=${value}`]);
  const result = helm(["template", RELEASE, CHART, "--namespace", RELEASE_NAMESPACE, ...flags, ...extra]);
  expect(result.code, `helm template failed:\n${result.stderr}`).to.equal(0);
  return parseAllDocuments(result.stdout)
    .map((doc) => doc.toJS() as K8sObject | null)
    .filter((obj): obj is K8sObject => obj !== null);
}

function only(objects: K8sObject[], kind: string, name?: string): K8sObject {
  const found = objects.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  expect(found, `exactly one ${kind}${name ? ` ${name}` : ""}`).to.have.length(1);
  return found[0]!;
}

function operatorContainer(objects: K8sObject[]): { spec: DeploymentSpec; container: Container } {
  const spec = only(objects, "Deployment").spec as unknown as DeploymentSpec;
  const container = spec.template.spec.containers.find((c) => c.name === "operator");
  expect(container, "container named operator").to.not.equal(undefined);
  return { spec, container: container! };
}

/** What the operator makes of the pod the chart renders: its args and its downward-API env. */
function operatorConfig(objects: K8sObject[]): Config {
  const { container } = operatorContainer(objects);
  const env: Record<string, string> = {};
  for (const e of container.env ?? []) {
    if (e.valueFrom?.fieldRef?.fieldPath === "metadata.namespace") env[e.name] = RELEASE_NAMESPACE;
    if (e.valueFrom?.fieldRef?.fieldPath === "metadata.name") env[e.name] = "model-rollout-operator-abc12";
  }
  return parseConfig(container.args ?? [], env);
}

/** Does one of the rules allow `verb` on group/resource (no resourceNames restriction)? */
function allows(rules: PolicyRule[], group: string, resource: string, verb: string): boolean {
  return rules.some(
    (rule) =>
      (rule.apiGroups ?? []).includes(group) &&
      (rule.resources ?? []).includes(resource) &&
      rule.verbs.includes(verb) &&
      !rule.resourceNames?.length,
  );
}

/** The permissions the operator's runtime contract asks for in the namespaces it watches. */
const OPERATOR_PERMISSIONS: [group: string, resource: string, verbs: string[]][] = [
  ["mlops.dev", "modeldeployments", ["list", "watch", "patch"]],
  ["mlops.dev", "modeldeployments/status", ["update"]],
  ["apps", "deployments", ["get", "list", "watch", "patch", "delete"]],
  ["apps", "deployments/scale", ["patch"]],
  ["", "services", ["get", "list", "watch", "patch", "delete"]],
  ["discovery.k8s.io", "endpointslices", ["list", "watch"]],
  ["", "configmaps", ["get"]],
  ["", "pods", ["list", "watch"]],
  ["", "pods/status", ["patch"]],
  ["gateway.networking.k8s.io", "httproutes", ["get", "list", "watch", "update", "patch", "delete"]],
  ["inference.networking.k8s.io", "inferencepools", ["list", "watch", "create", "patch", "delete"]],
  ["events.k8s.io", "events", ["create"]],
];
const LEASE_VERBS = ["get", "create", "update"];

function expectOperatorPermissions(rules: PolicyRule[]): void {
  const missing = OPERATOR_PERMISSIONS.flatMap(([group, resource, verbs]) =>
    verbs
      .filter((verb) => !allows(rules, group, resource, verb))
      .map((verb) => `${verb} ${group}/${resource}`),
  );
  expect(missing, "permissions the operator needs but is not granted").to.deep.equal([]);
  const wildcards = rules.filter((r) =>
    [r.apiGroups, r.resources, r.verbs].some((list) => list?.includes("*")),
  );
  expect(wildcards, "no wildcard rules").to.deep.equal([]);
}

function bindsToServiceAccount(binding: K8sObject, roleKind: string, roleName: string, sa: string): void {
  expect(binding.roleRef).to.include({ kind: roleKind, name: roleName });
  expect(binding.subjects).to.deep.equal([
    { kind: "ServiceAccount", name: sa, namespace: RELEASE_NAMESPACE },
  ]);
}

const isAggregated = (o: K8sObject) =>
  Object.keys(o.metadata.labels ?? {}).some((l) => l.startsWith("rbac.authorization.k8s.io/aggregate-to-"));
/** The secure-metrics roles (metrics-auth-rbac.yaml), apart from the operator's own. */
const isMetricsRbac = (o: K8sObject) => /-metrics-(auth|reader)$/.test(o.metadata.name);

describe("Helm chart (real helm)", function () {
  this.timeout(60000);

  it("passes helm lint, with default values and with watchNamespace", () => {
    for (const args of [[], ["--set", "watchNamespace=models"]]) {
      const result = helm(["lint", CHART, "--strict", ...args]);
      expect(result.code, result.stdout + result.stderr).to.equal(0);
      expect(result.stdout).to.contain("1 chart(s) linted, 0 chart(s) failed");
    }
  });

  describe("with default values", () => {
    let objects: K8sObject[];
    before(() => {
      objects = render();
    });

    it("runs 2 replicas with leader election, the contract's flags and the downward-API env", () => {
      const { spec, container } = operatorContainer(objects);
      expect(spec.replicas).to.equal(2);
      expect(container.image).to.equal("model-rollout-operator:0.1.0");
      expect(container.args).to.deep.equal([
        "--metrics-bind-address=:8080",
        "--metrics-secure",
        "--health-probe-bind-address=:8081",
        "--leader-elect",
        "--log-level=info",
        "--log-format=json",
        "--workers=10",
        "--check-min-interval=1s",
        "--check-max-timeout=60s",
        "--check-report-period=2m",
        "--check-condition-timeout=1s",
        "--check-condition-memory=64",
        "--check-response-messages=own-service",
        "--check-destinations=default",
      ]);
      const env = Object.fromEntries(
        (container.env ?? []).map((e) => [e.name, e.valueFrom?.fieldRef?.fieldPath]),
      );
      expect(env).to.deep.equal({ POD_NAME: "metadata.name", POD_NAMESPACE: "metadata.namespace" });
    });

    it("probes /healthz and /readyz on the health port, and exposes metrics on 8080", () => {
      const { container } = operatorContainer(objects);
      const ports = Object.fromEntries((container.ports ?? []).map((p) => [p.name, p.containerPort]));
      expect(ports).to.deep.equal({ metrics: 8080, health: 8081 });
      expect(container.livenessProbe?.httpGet).to.deep.equal({ path: "/healthz", port: "health" });
      expect(container.readinessProbe?.httpGet).to.deep.equal({ path: "/readyz", port: "health" });

      const service = only(objects, "Service");
      expect(service.metadata.name).to.equal("model-rollout-operator-metrics");
      expect(service.spec?.ports).to.deep.equal([
        { name: "metrics", port: 8080, targetPort: "metrics", protocol: "TCP" },
      ]);
      expect(service.spec?.selector).to.deep.equal(
        (only(objects, "Deployment").spec as { selector: { matchLabels: unknown } }).selector.matchLabels,
      );
      expect(objects.filter((o) => o.kind === "ServiceMonitor")).to.deep.equal([]);
    });

    it("passes arguments the operator accepts: leader election in its own namespace, all namespaces", () => {
      const config = operatorConfig(objects);
      expect(config).to.deep.include({
        metricsBindAddress: { host: undefined, port: 8080 },
        healthProbeBindAddress: { host: undefined, port: 8081 },
        leaderElect: true,
        leaderElectionNamespace: RELEASE_NAMESPACE,
        leaderElectionId: "model-rollout-operator",
        leaderElectionIdentity: "model-rollout-operator-abc12",
        watchNamespaces: undefined,
        logLevel: "info",
        logFormat: "json",
        workers: 10,
      });
    });

    it("passes the platform's health-check settings: budget, response messages, destination policy", () => {
      const config = operatorConfig(
        render({
          "checks.minInterval": "5s",
          "checks.responseMessages": "all",
          "checks.destinations": "restricted",
          "checks.allowCidrs": "{10.0.0.0/8,fd00::/8}",
          "checks.allowHosts": "{prometheus.monitoring,.shared.svc}",
        }),
      );
      expect(config).to.deep.include({
        checkMinIntervalMs: 5000,
        checkMaxTimeoutMs: 60_000,
        checkResponseMessages: "all",
        checkDestinations: "restricted",
        checkAllowCidrs: ["10.0.0.0/8", "fd00::/8"],
        checkAllowHosts: ["prometheus.monitoring", ".shared.svc"],
      });
    });

    it("mounts the platform's check credentials from Secrets as files and names them in --check-credentials-file", () => {
      const dir = mkdtempSync(join(tmpdir(), "mro-chart-values-"));
      try {
        const values = join(dir, "values.yaml");
        const secretDir = "/etc/model-rollout-operator/secrets/prometheus-client";
        writeFileSync(
          values,
          JSON.stringify({
            checkPromql: { namespace: "require", namespaceLabel: "kubernetes_namespace" },
            checkCredentials: {
              secrets: [{ secretName: "prometheus-client" }],
              credentials: [
                {
                  name: "managed-prometheus",
                  namespaces: ["team-a"],
                  hosts: ["prometheus.example.com"],
                  caFile: `${secretDir}/ca.crt`,
                  bearerTokenFile: `${secretDir}/token`,
                },
              ],
            },
          }),
        );
        const rendered = render({}, ["-f", values]);
        const { spec, container } = operatorContainer(rendered);
        const file = "/etc/model-rollout-operator/check-credentials/credentials.yaml";
        expect(container.args).to.include(`--check-credentials-file=${file}`);
        const config = parseConfig(
          (container.args ?? []).filter((a) => !a.startsWith("--check-credentials-file=")),
          { POD_NAMESPACE: RELEASE_NAMESPACE },
        );
        expect(config).to.deep.include({
          checkPromqlNamespace: "require",
          checkPromqlNamespaceLabel: "kubernetes_namespace",
        });
        // The ConfigMap holds the credentials file: names and paths, read as the operator reads it.
        const configMap = only(rendered, "ConfigMap", `${RELEASE}-check-credentials`) as unknown as {
          data: Record<string, string>;
        };
        expect(parseCredentials(configMap.data["credentials.yaml"]!)).to.deep.equal([
          {
            name: "managed-prometheus",
            namespaces: ["team-a"],
            hosts: ["prometheus.example.com"],
            caFile: `${secretDir}/ca.crt`,
            bearerTokenFile: `${secretDir}/token`,
          },
        ]);
        expect(container.volumeMounts).to.deep.include.members([
          {
            name: "check-credentials",
            mountPath: "/etc/model-rollout-operator/check-credentials",
            readOnly: true,
          },
          { name: "check-secret-prometheus-client", mountPath: secretDir, readOnly: true },
        ]);
        const volumes = (spec.template.spec as unknown as { volumes: Record<string, unknown>[] }).volumes;
        expect(volumes).to.deep.include({
          name: "check-secret-prometheus-client",
          secret: { secretName: "prometheus-client", defaultMode: 0o444 },
        });
        // The kubelet mounts the Secret; the operator's own rights still do not reach Secrets.
        for (const role of rendered.filter((o) => o.kind === "ClusterRole" || o.kind === "Role"))
          expect(
            (role.rules ?? []).some((r) => (r.resources ?? []).includes("secrets")),
            `${role.kind} ${role.metadata.name}`,
          ).to.equal(false);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it("mounts the notification destinations (a ConfigMap) and their URL Secrets as files, with no RBAC on either", () => {
      const dir = mkdtempSync(join(tmpdir(), "mro-chart-values-"));
      try {
        const values = join(dir, "values.yaml");
        const secretDir = "/etc/model-rollout-operator/notification-secrets/team-a-slack-webhook";
        const destinations = [
          { name: "team-a-slack", format: "slack", namespaces: ["team-a"], urlFile: `${secretDir}/url` },
          {
            name: "audit",
            format: "cloudevents",
            url: "http://audit.platform.svc:8080/",
            namespaces: ["*"],
            cloudEvents: { mode: "structured" },
            timeoutSeconds: 2,
            maxAttempts: 4,
          },
        ];
        writeFileSync(
          values,
          JSON.stringify({
            notifications: { secrets: [{ secretName: "team-a-slack-webhook" }], destinations },
          }),
        );
        const rendered = render({}, ["-f", values]);
        const { spec, container } = operatorContainer(rendered);
        const file = "/etc/model-rollout-operator/notifications/destinations.yaml";
        expect(container.args).to.include(`--notification-destinations-file=${file}`);
        // The ConfigMap holds the destinations file, read as the operator reads it.
        const configMap = only(rendered, "ConfigMap", `${RELEASE}-notification-destinations`) as unknown as {
          data: Record<string, string>;
        };
        expect(
          parseDestinations(configMap.data["destinations.yaml"]!).map((d) => [
            d.name,
            d.format,
            d.cloudEventsMode,
          ]),
        ).to.deep.equal([
          ["team-a-slack", "slack", "binary"],
          ["audit", "cloudevents", "structured"],
        ]);
        expect(container.volumeMounts).to.deep.include.members([
          {
            name: "notification-destinations",
            mountPath: "/etc/model-rollout-operator/notifications",
            readOnly: true,
          },
          { name: "notify-secret-team-a-slack-webhook", mountPath: secretDir, readOnly: true },
        ]);
        const volumes = (spec.template.spec as unknown as { volumes: Record<string, unknown>[] }).volumes;
        expect(volumes).to.deep.include({
          name: "notify-secret-team-a-slack-webhook",
          secret: { secretName: "team-a-slack-webhook", defaultMode: 0o444 },
        });
        const annotations = (
          spec.template as unknown as { metadata: { annotations?: Record<string, string> } }
        ).metadata.annotations;
        expect(annotations?.["checksum/notification-destinations"]).to.match(/^[0-9a-f]{64}$/);
        // The kubelet mounts both; the operator's own rights reach no Secret, and of ConfigMaps
        // only the `get` that prediction agreement's request sets need: no list or watch, so
        // the destinations ConfigMap is read from its mount, never through the API.
        for (const role of rendered.filter((o) => o.kind === "ClusterRole" || o.kind === "Role")) {
          const rules = role.rules ?? [];
          const name = `${role.kind} ${role.metadata.name}`;
          expect(
            rules.some((r) => (r.resources ?? []).includes("secrets")),
            name,
          ).to.equal(false);
          const configMapVerbs = rules
            .filter((r) => (r.resources ?? []).includes("configmaps"))
            .flatMap((r) => r.verbs ?? []);
          expect(
            configMapVerbs.filter((v) => v !== "get"),
            name,
          ).to.deep.equal([]);
        }
        // A destination without url or urlFile is refused by the values schema.
        writeFileSync(
          values,
          JSON.stringify({
            notifications: { destinations: [{ name: "x", format: "slack", namespaces: ["*"] }] },
          }),
        );
        const refused = helm(["template", RELEASE, CHART, "-f", values]);
        expect(refused.code).to.not.equal(0);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it("runs locked down: non-root 65532, read-only root, no capabilities, RuntimeDefault seccomp", () => {
      const { spec, container } = operatorContainer(objects);
      expect(spec.template.spec.securityContext).to.deep.include({
        runAsNonRoot: true,
        runAsUser: 65532,
        seccompProfile: { type: "RuntimeDefault" },
      });
      expect(container.securityContext).to.deep.include({
        allowPrivilegeEscalation: false,
        readOnlyRootFilesystem: true,
        runAsNonRoot: true,
        capabilities: { drop: ["ALL"] },
      });
      expect(container.volumeMounts).to.deep.include({ name: "tmp", mountPath: "/tmp" });
    });

    it("grants every permission of the contract through a ClusterRole bound to its ServiceAccount", () => {
      const sa = only(objects, "ServiceAccount");
      expect(sa.metadata.namespace).to.equal(RELEASE_NAMESPACE);
      expect(operatorContainer(objects).spec.template.spec.serviceAccountName).to.equal(sa.metadata.name);

      const clusterRole = only(
        objects.filter((o) => !isAggregated(o) && !isMetricsRbac(o)),
        "ClusterRole",
      );
      expectOperatorPermissions(clusterRole.rules ?? []);
      expect(allows(clusterRole.rules ?? [], "coordination.k8s.io", "leases", "create")).to.equal(
        false,
        "leases are granted in the release namespace only",
      );
      bindsToServiceAccount(
        only(
          objects.filter((o) => !isMetricsRbac(o)),
          "ClusterRoleBinding",
        ),
        "ClusterRole",
        clusterRole.metadata.name,
        sa.metadata.name,
      );
    });

    it("grants exactly list, watch, create, patch and delete on inferencepools, and nothing on them with rbac.inferencePools=false", () => {
      const poolRules = (objs: K8sObject[]) =>
        only(
          objs.filter((o) => !isAggregated(o) && !isMetricsRbac(o)),
          "ClusterRole",
        ).rules?.filter((r) => (r.apiGroups ?? []).includes("inference.networking.k8s.io")) ?? [];
      expect(poolRules(objects)).to.deep.equal([
        {
          apiGroups: ["inference.networking.k8s.io"],
          resources: ["inferencepools"],
          verbs: ["list", "watch", "create", "patch", "delete"],
        },
      ]);
      expect(poolRules(render({ "rbac.inferencePools": "false" }))).to.deep.equal([]);
    });

    it("grants the leader-election Lease verbs with a Role in the release namespace", () => {
      const sa = only(objects, "ServiceAccount");
      const role = only(objects, "Role");
      expect(role.metadata.namespace).to.equal(RELEASE_NAMESPACE);
      for (const verb of LEASE_VERBS) {
        expect(allows(role.rules ?? [], "coordination.k8s.io", "leases", verb), `${verb} leases`).to.equal(
          true,
        );
      }
      const binding = only(objects, "RoleBinding");
      expect(binding.metadata.namespace).to.equal(RELEASE_NAMESPACE);
      bindsToServiceAccount(binding, "Role", role.metadata.name, sa.metadata.name);
    });

    it("keeps one operator pod running through a node drain (PodDisruptionBudget)", () => {
      const pdb = only(objects, "PodDisruptionBudget");
      expect(pdb.spec).to.deep.include({ maxUnavailable: 1 });
      expect(render({ replicaCount: "1" }).filter((o) => o.kind === "PodDisruptionBudget")).to.deep.equal([]);
    });

    it("ships the CRD, identical to the top-level crds/ file", () => {
      const withCrds = render({}, ["--include-crds"]);
      const crd = only(withCrds, "CustomResourceDefinition");
      const source = readFileSync(join(ROOT, "crds", CRD_FILE), "utf8");
      expect(crd).to.deep.equal(parse(source));
      expect(readFileSync(join(CHART, "crds", CRD_FILE), "utf8")).to.equal(source);
      expect(
        objects.filter((o) => o.kind === "CustomResourceDefinition"),
        "not a template",
      ).to.deep.equal([]);
    });
  });

  describe("with watchNamespace set", () => {
    let objects: K8sObject[];
    before(() => {
      objects = render({ watchNamespace: "models" });
    });

    it("passes --watch-namespace", () => {
      expect(operatorContainer(objects).container.args).to.include("--watch-namespace=models");
    });

    it("makes the operator watch only that namespace", () => {
      expect(operatorConfig(objects).watchNamespaces).to.deep.equal(["models"]);
    });

    it("grants the contract's permissions with a Role in that namespace, and nothing cluster-wide", () => {
      const sa = only(objects, "ServiceAccount");
      // Cluster-wide only the secure-metrics reviews, which are cluster-scoped.
      expect(
        objects.filter((o) => o.kind === "ClusterRole" && !isAggregated(o)).map((o) => o.metadata.name),
      ).to.deep.equal(["model-rollout-operator-metrics-auth", "model-rollout-operator-metrics-reader"]);
      expect(
        objects.filter((o) => o.kind === "ClusterRoleBinding").map((o) => o.metadata.name),
      ).to.deep.equal(["model-rollout-operator-metrics-auth"]);

      const role = only(
        objects.filter((o) => o.metadata.namespace === "models"),
        "Role",
      );
      expectOperatorPermissions(role.rules ?? []);
      const binding = only(
        objects.filter((o) => o.metadata.namespace === "models"),
        "RoleBinding",
      );
      bindsToServiceAccount(binding, "Role", role.metadata.name, sa.metadata.name);
    });

    it("keeps the leader-election Role in the release namespace", () => {
      const role = only(
        objects.filter((o) => o.metadata.namespace === RELEASE_NAMESPACE),
        "Role",
      );
      expect(allows(role.rules ?? [], "coordination.k8s.io", "leases", "update")).to.equal(true);
    });
  });

  it("renders a ServiceMonitor for the metrics Service when asked: HTTPS with Prometheus's token", () => {
    const objects = render({
      "metrics.serviceMonitor.enabled": "true",
      "metrics.serviceMonitor.labels.release": "prom",
    });
    const monitor = only(objects, "ServiceMonitor");
    expect(monitor.metadata.labels).to.include({ release: "prom" });
    expect(monitor.spec?.endpoints).to.deep.equal([
      {
        port: "metrics",
        path: "/metrics",
        interval: "30s",
        scrapeTimeout: "10s",
        scheme: "https",
        bearerTokenFile: "/var/run/secrets/kubernetes.io/serviceaccount/token",
        tlsConfig: { insecureSkipVerify: true },
      },
    ]);
    const verified = only(
      render({
        "metrics.serviceMonitor.enabled": "true",
        "metrics.serviceMonitor.tlsConfig.serverName": "model-rollout-operator-metrics.mlops-system.svc",
        "metrics.serviceMonitor.tlsConfig.ca.secret.name": "metrics-ca",
        "metrics.serviceMonitor.tlsConfig.ca.secret.key": "ca.crt",
      }),
      "ServiceMonitor",
    );
    expect((verified.spec?.endpoints as { tlsConfig: unknown }[])[0]!.tlsConfig).to.deep.equal({
      ca: { secret: { name: "metrics-ca", key: "ca.crt" } },
      serverName: "model-rollout-operator-metrics.mlops-system.svc",
    });
  });

  describe("metrics.secure", () => {
    it("by default: --metrics-secure with a certificate made in memory, and the review permissions", () => {
      const objects = render();
      const config = operatorConfig(objects);
      expect(config).to.deep.include({ metricsSecure: true, metricsCertFile: undefined });
      const auth = only(objects, "ClusterRole", "model-rollout-operator-metrics-auth");
      expect(auth.rules).to.deep.equal([
        { apiGroups: ["authentication.k8s.io"], resources: ["tokenreviews"], verbs: ["create"] },
        { apiGroups: ["authorization.k8s.io"], resources: ["subjectaccessreviews"], verbs: ["create"] },
      ]);
      bindsToServiceAccount(
        only(objects, "ClusterRoleBinding", "model-rollout-operator-metrics-auth"),
        "ClusterRole",
        auth.metadata.name,
        only(objects, "ServiceAccount").metadata.name,
      );
      const reader = only(objects, "ClusterRole", "model-rollout-operator-metrics-reader");
      expect(reader.rules).to.deep.equal([{ nonResourceURLs: ["/metrics"], verbs: ["get"] }]);
      expect(
        objects.filter((o) => o.metadata.name === "model-rollout-operator-metrics-reader"),
      ).to.have.length(1, "no binding unless metrics.reader.serviceAccounts names one");
    });

    it("binds metrics.reader.serviceAccounts to the metrics-reader ClusterRole", () => {
      const objects = render({
        "metrics.reader.serviceAccounts[0].name": "prometheus-k8s",
        "metrics.reader.serviceAccounts[0].namespace": "monitoring",
      });
      const binding = only(objects, "ClusterRoleBinding", "model-rollout-operator-metrics-reader");
      expect(binding.roleRef).to.include({
        kind: "ClusterRole",
        name: "model-rollout-operator-metrics-reader",
      });
      expect(binding.subjects).to.deep.equal([
        { kind: "ServiceAccount", name: "prometheus-k8s", namespace: "monitoring" },
      ]);
    });

    it("mounts metrics.certSecret and passes its files", () => {
      const { spec, container } = operatorContainer(render({ "metrics.certSecret": "operator-metrics-tls" }));
      expect(container.args).to.include.members([
        "--metrics-secure",
        "--metrics-cert-file=/etc/model-rollout-operator/metrics-tls/tls.crt",
        "--metrics-key-file=/etc/model-rollout-operator/metrics-tls/tls.key",
      ]);
      expect(container.volumeMounts).to.deep.include({
        name: "metrics-tls",
        mountPath: "/etc/model-rollout-operator/metrics-tls",
        readOnly: true,
      });
      expect(spec.template.spec.volumes).to.deep.include({
        name: "metrics-tls",
        secret: { secretName: "operator-metrics-tls" },
      });
    });

    it("false: plain HTTP, no review permissions, a plain ServiceMonitor", () => {
      const objects = render({ "metrics.secure": "false", "metrics.serviceMonitor.enabled": "true" });
      expect(operatorConfig(objects).metricsSecure).to.equal(false);
      expect(operatorContainer(objects).container.args).to.not.include("--metrics-secure");
      expect(objects.filter(isMetricsRbac)).to.deep.equal([]);
      expect(only(objects, "ServiceMonitor").spec?.endpoints).to.deep.equal([
        { port: "metrics", path: "/metrics", interval: "30s", scrapeTimeout: "10s" },
      ]);
    });
  });

  describe("sharding", () => {
    it("sharding.shard: the operator reconciles only that shard's ModelDeployments, with a Lease of its own", () => {
      const objects = render({ "sharding.shard": "gpu-a" });
      const { container } = operatorContainer(objects);
      expect(container.args).to.include.members([
        "--watch-label-selector=mlops.dev/shard=gpu-a",
        "--leader-election-id=model-rollout-operator-gpu-a",
      ]);
      const config = operatorConfig(objects);
      expect(config.watchLabelSelector?.requirements).to.deep.equal([
        { key: "mlops.dev/shard", op: "=", value: "gpu-a" },
      ]);
      expect(config).to.deep.include({ leaderElect: true, leaderElectionId: "model-rollout-operator-gpu-a" });
    });

    it("sharding.defaultInstance: only the ModelDeployments without a shard key, in the default Lease", () => {
      const config = operatorConfig(render({ "sharding.defaultInstance": "true" }));
      expect(config.watchLabelSelector).to.deep.equal({
        text: "!mlops.dev/shard",
        requirements: [{ key: "mlops.dev/shard", op: "!exists" }],
      });
      expect(config.leaderElectionId).to.equal("model-rollout-operator");
    });

    it("by default: every ModelDeployment, no selector", () => {
      const { container } = operatorContainer(render());
      expect((container.args ?? []).filter((a) => a.startsWith("--watch-label-selector"))).to.deep.equal([]);
    });

    it("refuses a release that is both a shard and the default instance, and a shard name that is no label", () => {
      const both = helm([
        "template",
        RELEASE,
        CHART,
        "--set",
        "sharding.shard=a",
        "--set",
        "sharding.defaultInstance=true",
      ]);
      expect(both.code).to.not.equal(0);
      expect(both.stderr).to.contain("a release is either one shard or the default instance");
      const bad = helm(["template", RELEASE, CHART, "--set", "sharding.shard=GPU_A"]);
      expect(bad.code).to.not.equal(0);
      expect(bad.stderr).to.match(/sharding\.?\/?shard/);
    });
  });

  describe("rejects bad values with helm's error", () => {
    function fails(set: string[]): string {
      const result = helm(["template", RELEASE, CHART, ...set]);
      expect(result.code, `helm accepted ${set.join(" ")}`).to.not.equal(0);
      return result.stderr;
    }

    it("replicaCount: two", () => {
      const stderr = fails(["--set-string", "replicaCount=two"]);
      expect(stderr).to.contain("values don't meet the specifications of the schema");
      expect(stderr).to.match(/replicaCount'?: got string, want integer/);
    });

    it("an unknown log level and a misspelt key", () => {
      const stderr = fails(["--set", "logLevel=verbose", "--set", "replicas=3"]);
      expect(stderr).to.match(/logLevel'?: value must be one of 'debug', 'info', 'warn', 'error'/);
      expect(stderr).to.match(/additional properties 'replicas' not allowed/);
    });

    it("several replicas without leader election", () => {
      const stderr = fails(["--set", "replicaCount=3", "--set", "leaderElection.enabled=false"]);
      expect(stderr).to.contain("replicaCount is 3 but leaderElection.enabled is false");
    });
  });
});

describe("Helm chart installed on a real control plane", function () {
  this.timeout(180000);
  let cluster: Cluster | undefined;
  let work: string;
  let kubectlBinary: string;
  const SERVICE_ACCOUNT = `system:serviceaccount:${RELEASE_NAMESPACE}:${RELEASE}`;
  const operators: OperatorProcess[] = [];
  // Taken in before(), not here: a describe body runs when mocha loads the file, before the
  // global fixture has set KUBECONFIG, and restoring that would unset it for later files.
  let savedEnv: Record<string, string | undefined> = {};

  const kubectl = (args: string[], input?: string) => run(kubectlBinary, args, input);

  function kubectlJSON<T>(args: string[], input?: string): T {
    const result = kubectl([...args, "-o", "json"], input);
    expect(result.code, `kubectl ${args.join(" ")}: ${result.stderr}`).to.equal(0);
    return JSON.parse(result.stdout) as T;
  }

  type Permission = [verb: string, group: string, resource: string, namespace: string];

  /** Asks the API server's authorizer about each permission, as the operator's ServiceAccount. */
  function authorize(permissions: Permission[]): boolean[] {
    const reviews = permissions.map(([verb, group, resource, namespace]) => {
      const [plural, subresource] = resource.split("/");
      return {
        apiVersion: "authorization.k8s.io/v1",
        kind: "SubjectAccessReview",
        spec: {
          user: SERVICE_ACCOUNT,
          groups: [
            "system:serviceaccounts",
            `system:serviceaccounts:${RELEASE_NAMESPACE}`,
            "system:authenticated",
          ],
          resourceAttributes: { verb, group, resource: plural, subresource, namespace },
        },
      };
    });
    const created = kubectl(
      ["create", "-o", "json", "-f", "-"],
      JSON.stringify({ apiVersion: "v1", kind: "List", items: reviews }),
    );
    expect(created.code, created.stderr).to.equal(0);
    // kubectl prints one JSON object per review, one after the other.
    const answers = JSON.parse(`[${created.stdout.trim().replace(/^\}\n\{/gm, "},\n{")}]`) as {
      status: { allowed?: boolean };
    }[];
    expect(answers).to.have.length(permissions.length);
    return answers.map((answer) => answer.status.allowed === true);
  }

  const describePermission = ([verb, group, resource, namespace]: Permission) =>
    `${verb} ${group}/${resource} in ${namespace}`;

  function denied(permissions: Permission[]): string[] {
    const answers = authorize(permissions);
    return permissions.filter((_, i) => !answers[i]).map(describePermission);
  }

  function granted(permissions: Permission[]): string[] {
    const answers = authorize(permissions);
    return permissions.filter((_, i) => answers[i]).map(describePermission);
  }

  const contractIn = (namespace: string) =>
    OPERATOR_PERMISSIONS.flatMap(([group, resource, verbs]) =>
      verbs.map((verb): Permission => [verb, group, resource, namespace]),
    );

  /** A kubeconfig that authenticates as the chart's ServiceAccount with a TokenRequest token. */
  function serviceAccountKubeconfig(file: string): string {
    const token = kubectl(["create", "token", RELEASE, "-n", RELEASE_NAMESPACE, "--duration=1h"]);
    expect(token.code, token.stderr).to.equal(0);
    const admin = parse(readFileSync(cluster!.kubeconfig, "utf8")) as {
      clusters: { cluster: { server: string; "certificate-authority-data": string } }[];
    };
    const { server, "certificate-authority-data": ca } = admin.clusters[0]!.cluster;
    writeFileSync(
      file,
      JSON.stringify({
        apiVersion: "v1",
        kind: "Config",
        clusters: [{ name: "local", cluster: { server, "certificate-authority-data": ca } }],
        users: [{ name: RELEASE, user: { token: token.stdout.trim() } }],
        contexts: [{ name: "operator", context: { cluster: "local", user: RELEASE } }],
        "current-context": "operator",
      }),
      { mode: 0o600 },
    );
    const whoami = kubectlJSON<{ status: { userInfo: { username: string } } }>([
      "auth",
      "whoami",
      "--kubeconfig",
      file,
    ]);
    expect(whoami.status.userInfo.username).to.equal(SERVICE_ACCOUNT);
    return file;
  }

  const leaseHolder = async () =>
    kubectlAsync(["-n", RELEASE_NAMESPACE, "get", "lease", RELEASE, "-o", "jsonpath={.spec.holderIdentity}"]);

  /** `kubectl auth can-i VERB RESOURCE` as the ServiceAccount: what kubectl answers (yes or no). */
  /** --as flags for a ServiceAccount with the groups its tokens carry. */
  const asServiceAccount = (namespace: string, name: string) => [
    `--as=system:serviceaccount:${namespace}:${name}`,
    "--as-group=system:serviceaccounts",
    `--as-group=system:serviceaccounts:${namespace}`,
    "--as-group=system:authenticated",
  ];

  function canI(verb: string, resource: string, namespace: string | "all"): string {
    const where = namespace === "all" ? ["--all-namespaces"] : ["-n", namespace];
    return kubectl([
      "auth",
      "can-i",
      verb,
      resource,
      ...where,
      ...asServiceAccount(RELEASE_NAMESPACE, RELEASE),
    ]).stdout.trim();
  }

  /** `kubectl auth can-i --list -n NAMESPACE` as a ServiceAccount: its table. */
  function canIList(namespace: string, as: string[]): string {
    const list = kubectl(["auth", "can-i", "--list", "-n", namespace, ...as]);
    expect(list.code, list.stderr).to.equal(0);
    return list.stdout;
  }

  /** Secrets, whatever the verb and wherever: kubectl says no to each. */
  function expectNoSecrets(namespaces: string[]): void {
    const asked = ["get", "list", "watch"].flatMap((verb) =>
      [...namespaces, "all"].map((ns) => `${verb} secrets in ${ns}: ${canI(verb, "secrets", ns)}`),
    );
    expect(asked.filter((answer) => !answer.endsWith(": no"))).to.deep.equal([]);
  }

  interface AuditEvent {
    verb: string;
    user: { username: string };
    userAgent?: string;
    objectRef?: { apiGroup?: string; resource?: string; subresource?: string };
    responseStatus?: { code?: number };
    requestReceivedTimestamp: string;
  }

  /** The operator's writes as the ServiceAccount since `since`, from the API server's audit log (Leases are not audited). */
  function serviceAccountWrites(since: Date): { request: string; code: number }[] {
    return readFileSync(cluster!.auditLog, "utf8")
      .split("\n")
      .filter((line) => line.includes(SERVICE_ACCOUNT))
      .map((line) => JSON.parse(line) as AuditEvent)
      .filter(
        (e) =>
          e.user.username === SERVICE_ACCOUNT &&
          (e.userAgent ?? "").startsWith("model-rollout-operator/") &&
          new Date(e.requestReceivedTimestamp) >= since,
      )
      .map((e) => {
        const ref = e.objectRef ?? {};
        const resource = [ref.apiGroup || "core", ref.resource, ref.subresource].filter(Boolean).join("/");
        return { request: `${e.verb} ${resource}`, code: e.responseStatus?.code ?? 0 };
      });
  }

  /** Requests the operator counted with a 403 answer (rest_client_requests_total{code="403"}). */
  async function forbiddenRequests(op: OperatorProcess): Promise<number> {
    const text = await (await fetch(`${op.metricsUrl}/metrics`)).text();
    return text
      .split("\n")
      .filter((line) => line.startsWith("rest_client_requests_total{") && line.includes('code="403"'))
      .reduce((total, line) => total + Number(line.split(" ").at(-1)), 0);
  }

  /**
   * Runs the real operator as the chart's ServiceAccount, with leader election in the release
   * namespace, and takes a ModelDeployment in `namespace` through a canary rollout: first
   * version Ready, second version promoted, the first one deleted (revisionHistoryLimit 0), an
   * action annotation handled. Then stops it with SIGTERM, which releases the Lease.
   */
  async function rolloutAsServiceAccount(
    namespace: string,
    pod: string,
    watchNamespace?: string,
  ): Promise<{ op: OperatorProcess; md: Md; events: string[]; writes: { request: string; code: number }[] }> {
    const saKubeconfig = serviceAccountKubeconfig(join(work, `${pod}.kubeconfig`));
    const since = new Date(Date.now() - 1000);
    const op = await startOperator({
      namespace: watchNamespace,
      args: [
        `--kubeconfig=${saKubeconfig}`,
        "--leader-elect",
        `--leader-election-namespace=${RELEASE_NAMESPACE}`,
      ],
      env: { KUBECONFIG: saKubeconfig, POD_NAME: pod },
    });
    operators.push(op);
    let md: Md;
    let events: string[];
    try {
      await waitFor(
        `${pod} to hold the Lease ${RELEASE_NAMESPACE}/${RELEASE}`,
        async () => (await leaseHolder()) === pod,
        {
          timeoutMs: 60_000,
          intervalMs: 500,
        },
      );

      const name = "fraud";
      const spec = (version: string) =>
        modelDeployment(name, {
          version,
          replicas: 2,
          strategy: { canary: { steps: [{ setWeight: 50 }, { pause: { duration: "1s" } }] } },
          extra: { revisionHistoryLimit: 0 },
        });
      await applyMd(namespace, spec("1.0.0"));
      await waitForMd(
        namespace,
        name,
        "1.0.0 Ready",
        (m) => isReady(m) && m.status?.stableVersion === "1.0.0",
        90_000,
      );
      await applyMd(namespace, spec("2.0.0"));
      md = await waitForMd(
        namespace,
        name,
        "2.0.0 promoted",
        (m) => isReady(m) && m.status?.stableVersion === "2.0.0" && !m.status.candidateVersion,
        120_000,
      );
      await waitFor(
        "the 1.0.0 Deployment and Service deleted",
        async () =>
          [...(await deployments(namespace, name)).keys()].join() === childName(name, "2.0.0") &&
          (
            await kubectlAsync([
              "-n",
              namespace,
              "get",
              "services",
              "-l",
              `mlops.dev/model=${name},mlops.dev/version=1.0.0`,
              "-o",
              "name",
            ])
          ).trim() === "",
        { timeoutMs: 60_000, intervalMs: 500 },
      );

      // An action that does not apply (nothing to promote): refused, and the annotation removed.
      await kubectlAsync(["-n", namespace, "annotate", "md", name, "mlops.dev/action=promote"]);
      await waitFor(
        "the action annotation removed",
        async () =>
          (
            await kubectlAsync(["-n", namespace, "get", "md", name, "-o", "jsonpath={.metadata.annotations}"])
          ).includes("mlops.dev/action") === false,
        { timeoutMs: 60_000, intervalMs: 500 },
      );
      events = await waitFor(
        "Events up to ActionRefused",
        async () => {
          const reasons = (await mdEvents(namespace, name)).map((e) => e.reason);
          return reasons.includes("ActionRefused") ? reasons : undefined;
        },
        { timeoutMs: 30_000, intervalMs: 500 },
      );
    } catch (err) {
      // Release the Lease for the next test, and show what the operator was refused.
      await op.stop("SIGTERM");
      const refused = op
        .logs()
        .split("\n")
        .filter((line) => /forbidden/i.test(line));
      throw new Error(`${(err as Error).message}\nforbidden in the operator's log:\n${refused.join("\n")}`, {
        cause: err,
      });
    }
    expect(await forbiddenRequests(op), "requests answered 403").to.equal(0);
    expect(await op.stop("SIGTERM"), "exit code after SIGTERM").to.equal(0);
    expect(await leaseHolder(), "the Lease released on SIGTERM").to.equal("");
    expect(op.logs()).to.contain("released the Lease");
    return { op, md, events, writes: serviceAccountWrites(since) };
  }

  /** What a rollout under the ServiceAccount must show, in either mode. */
  function expectCleanRollout(run: Awaited<ReturnType<typeof rolloutAsServiceAccount>>): void {
    expect(condition(run.md, "Ready")?.status).to.equal("True");
    expect(run.md.status?.traffic?.map(({ version, weight }) => ({ version, weight }))).to.deep.equal([
      { version: "2.0.0", weight: 100 },
    ]);
    expect(run.events).to.include.members([
      "RolloutStarted",
      "PauseStarted",
      "StepCompleted",
      "ActionRefused",
    ]);
    expect(
      run.events.filter((reason) => reason === "Promoted"),
      "Promoted Events (1.0.0, then 2.0.0)",
    ).to.have.length(2);
    const forbiddenLines = run.op
      .logs()
      .split("\n")
      .filter((line) => /forbidden/i.test(line));
    expect(forbiddenLines, "forbidden in the operator's log").to.deep.equal([]);
    expect(
      run.writes.filter((w) => w.code === 403),
      "writes refused by the API server",
    ).to.deep.equal([]);
    // Every kind of write the operator made, as the API server saw it: exactly these.
    expect([...new Set(run.writes.map((w) => w.request))].sort()).to.deep.equal([
      "create events.k8s.io/events",
      "delete apps/deployments",
      "delete core/services",
      "patch apps/deployments",
      "patch core/services",
      "patch mlops.dev/modeldeployments",
      "update mlops.dev/modeldeployments/status",
    ]);
  }

  before(async () => {
    savedEnv = { KUBECONFIG: process.env.KUBECONFIG, MRO_TOOLS_BIN: process.env.MRO_TOOLS_BIN };
    const bin = toolsBin();
    kubectlBinary = join(bin, "kubectl");
    work = mkdtempSync(join(tmpdir(), "mro-chart-"));
    cluster = await startCluster({ dir: join(work, "cluster"), binDir: bin, nodes: 2 });
    kubeconfig = cluster.kubeconfig;
    // test/support's kubectl helpers read these.
    process.env.KUBECONFIG = cluster.kubeconfig;
    process.env.MRO_TOOLS_BIN = bin;
    for (const namespace of [RELEASE_NAMESPACE, "models", "other"]) {
      expect(kubectl(["create", "namespace", namespace]).code).to.equal(0);
    }
    const label = kubectl([
      "label",
      "namespace",
      RELEASE_NAMESPACE,
      "pod-security.kubernetes.io/enforce=restricted",
      "pod-security.kubernetes.io/enforce-version=latest",
    ]);
    expect(label.code, label.stderr).to.equal(0);
  });

  after(async () => {
    await Promise.all(operators.splice(0).map((op) => op.stop("SIGKILL")));
    kubeconfig = "/dev/null";
    for (const [key, value] of Object.entries(savedEnv)) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
    await cluster?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it("the API server accepts the chart's CRD and establishes it", () => {
    const applied = kubectl(["apply", "--server-side", "-f", join(CHART, "crds")]);
    expect(applied.code, `the API server refused the CRD:\n${applied.stderr}`).to.equal(0);
    const established = kubectl([
      "wait",
      "--for=condition=Established",
      "--timeout=60s",
      "crd/modeldeployments.mlops.dev",
    ]);
    expect(established.code, established.stderr).to.equal(0);
  });

  it("helm install brings both replicas up", () => {
    // The CRD was applied above; --skip-crds keeps a CRD problem from hiding the rest.
    const installed = helm([
      "install",
      RELEASE,
      CHART,
      "-n",
      RELEASE_NAMESPACE,
      "--skip-crds",
      "--wait",
      "--timeout",
      "90s",
    ]);
    expect(installed.code, installed.stderr).to.equal(0);
    expect(installed.stdout).to.contain("It reconciles ModelDeployments in every namespace.");
    const deployment = kubectlJSON<{ status: { availableReplicas?: number } }>([
      "get",
      "deployment",
      RELEASE,
      "-n",
      RELEASE_NAMESPACE,
    ]);
    expect(deployment.status.availableReplicas).to.equal(2);
  });

  it("runs pods the restricted Pod Security Standard admits, and that standard is enforced", () => {
    const podOf = (set: string[]) => {
      const rendered = helm([
        "template",
        RELEASE,
        CHART,
        "-n",
        RELEASE_NAMESPACE,
        ...set,
        "--show-only",
        "templates/deployment.yaml",
      ]);
      expect(rendered.code, rendered.stderr).to.equal(0);
      const template = (
        parse(rendered.stdout) as { spec: DeploymentSpec & { template: { metadata: unknown } } }
      ).spec.template;
      return JSON.stringify({
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name: "probe", namespace: RELEASE_NAMESPACE },
        spec: template.spec,
      });
    };
    const admitted = kubectl(["create", "--dry-run=server", "-f", "-"], podOf([]));
    expect(admitted.code, admitted.stderr).to.equal(0);
    const weakened = kubectl(
      ["create", "--dry-run=server", "-f", "-"],
      podOf(["--set", "securityContext.allowPrivilegeEscalation=true"]),
    );
    expect(weakened.code).to.not.equal(0);
    expect(weakened.stderr).to.contain('violates PodSecurity "restricted:latest"');
  });

  it("the API server grants the ServiceAccount every permission of the contract, and no more", () => {
    expect(denied([...contractIn("models"), ...contractIn("other")]), "denied").to.deep.equal([]);
    expect(
      denied(LEASE_VERBS.map((verb) => [verb, "coordination.k8s.io", "leases", RELEASE_NAMESPACE])),
    ).to.deep.equal([]);
    const beyondTheContract: Permission[] = [
      ["create", "coordination.k8s.io", "leases", "models"],
      ["create", "mlops.dev", "modeldeployments", "models"],
      ["delete", "mlops.dev", "modeldeployments", "models"],
      ["delete", "", "pods", "models"],
      ["get", "", "secrets", "models"],
      // An agreement check's request set is read with get: no ConfigMap cache, no writes.
      ["list", "", "configmaps", "models"],
      ["watch", "", "configmaps", "models"],
      ["update", "", "configmaps", "models"],
      ["update", "mlops.dev", "modeldeployments", "models"],
      ["update", "apps", "deployments", "models"],
      ["patch", "", "pods", "models"],
      ["update", "", "pods/status", "models"],
      ["patch", "coordination.k8s.io", "leases", RELEASE_NAMESPACE],
    ];
    expect(granted(beyondTheContract), "granted beyond the contract").to.deep.equal([]);
    // metrics.secure (the default): the two reviews behind authenticated /metrics.
    expect(
      denied([
        ["create", "authentication.k8s.io", "tokenreviews", ""],
        ["create", "authorization.k8s.io", "subjectaccessreviews", ""],
      ]),
    ).to.deep.equal([]);
  });

  it("the real operator, as the ServiceAccount, leads through its Lease and rolls out a canary in any namespace", async () => {
    expectNoSecrets(["models", "other", RELEASE_NAMESPACE]);
    const run = await rolloutAsServiceAccount("other", "operator-cluster-wide");
    expectCleanRollout(run);
  });

  it("helm upgrade with watchNamespace confines the permissions to that namespace", () => {
    const upgraded = helm([
      "upgrade",
      RELEASE,
      CHART,
      "-n",
      RELEASE_NAMESPACE,
      "--skip-crds",
      "--set",
      "watchNamespace=models",
      "--wait",
      "--timeout",
      "90s",
    ]);
    expect(upgraded.code, upgraded.stderr).to.equal(0);
    expect(denied(contractIn("models"))).to.deep.equal([]);
    expect(granted(contractIn("other")), "granted outside the watched namespace").to.deep.equal([]);
    expect(denied([["update", "coordination.k8s.io", "leases", RELEASE_NAMESPACE]])).to.deep.equal([]);
    const deployment = kubectlJSON<{ spec: DeploymentSpec }>([
      "get",
      "deployment",
      RELEASE,
      "-n",
      RELEASE_NAMESPACE,
    ]);
    expect(deployment.spec.template.spec.containers[0]?.args).to.include("--watch-namespace=models");
  });

  it("with watchNamespace, the real operator as the ServiceAccount rolls out a canary there, and sees nothing else", async () => {
    // kubectl auth can-i: in another namespace the ServiceAccount may do exactly what a
    // ServiceAccount with no binding at all may do (discovery, questions about itself).
    // Besides that, only the cluster-scoped reviews of secure metrics (metrics.secure).
    const unbound = canIList("other", asServiceAccount("other", "nobody"));
    expect(unbound).to.contain("selfsubjectaccessreviews.authorization.k8s.io");
    const reviews =
      /^(tokenreviews\.authentication\.k8s\.io|subjectaccessreviews\.authorization\.k8s\.io) +\[\] +\[\] +\[create\]\n/gm;
    const operatorList = canIList("other", asServiceAccount(RELEASE_NAMESPACE, RELEASE));
    expect(operatorList.match(reviews)).to.have.length(2);
    expect(operatorList.replace(reviews, "")).to.equal(unbound);
    expect(canIList("models", asServiceAccount(RELEASE_NAMESPACE, RELEASE))).to.match(
      /^modeldeployments\.mlops\.dev +\[\] +\[\] +\[list watch patch\]/m,
    );
    expect(canI("list", "modeldeployments.mlops.dev", "other")).to.equal("no");
    expect(canI("list", "modeldeployments.mlops.dev", "all")).to.equal("no");
    expect(canI("patch", "deployments.apps", "models")).to.equal("yes");
    expectNoSecrets(["models", "other", RELEASE_NAMESPACE]);

    // A ModelDeployment outside the watched namespace stays untouched.
    await applyMd("other", modelDeployment("outside", { version: "1.0.0" }));
    const run = await rolloutAsServiceAccount("models", "operator-models", "models");
    expectCleanRollout(run);
    const outside = await kubectlAsync(["-n", "other", "get", "md", "outside", "-o", "jsonpath={.status}"]);
    // Only the CRD's default: no status written by the operator.
    expect(outside, "status of the ModelDeployment outside the watched namespace").to.equal(
      '{"observedGeneration":0}',
    );
    expect([...(await deployments("other", "outside")).keys()]).to.deep.equal([]);
  });

  it("helm uninstall removes everything it installed", () => {
    const uninstalled = helm(["uninstall", RELEASE, "-n", RELEASE_NAMESPACE, "--wait"]);
    expect(uninstalled.code, uninstalled.stderr).to.equal(0);
    const selector = `app.kubernetes.io/instance=${RELEASE}`;
    const left = kubectl([
      "get",
      "deployments,services,serviceaccounts,roles,rolebindings,poddisruptionbudgets,clusterroles,clusterrolebindings",
      "--all-namespaces",
      "-l",
      selector,
      "-o",
      "name",
    ]);
    expect(left.code, left.stderr).to.equal(0);
    expect(left.stdout.trim()).to.equal("");
  });
});
