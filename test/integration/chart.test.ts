// The Helm chart, rendered by the real helm binary: what `helm install` would create with
// the default values and with watchNamespace, and what it refuses.
//   mocha --timeout 60000 test/integration/chart.test.ts
// helm comes from $MRO_TOOLS_BIN, else PATH, else hack/build-tools.sh (which builds it once).
import { spawnSync } from "node:child_process";
import { accessSync, constants, readFileSync } from "node:fs";
import { delimiter, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { expect } from "chai";
import { parse, parseAllDocuments } from "yaml";

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
  volumeMounts?: { name: string; mountPath: string }[];
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

function findHelm(): string {
  if (process.env.MRO_TOOLS_BIN) return join(process.env.MRO_TOOLS_BIN, "helm");
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    if (dir && isExecutable(join(dir, "helm"))) return join(dir, "helm");
  }
  const built = spawnSync("bash", [join(ROOT, "hack", "build-tools.sh")], { encoding: "utf8" });
  if (built.status !== 0) throw new Error(`hack/build-tools.sh failed: ${built.stderr}`);
  return join(built.stdout.trim(), "helm");
}

interface HelmResult {
  code: number;
  stdout: string;
  stderr: string;
}

let helmBinary: string | undefined;

function helm(args: string[]): HelmResult {
  helmBinary ??= findHelm();
  // HELM_* homes in a scratch place, so the user's repositories and plugins play no part.
  const env = {
    ...process.env,
    HELM_CACHE_HOME: "/tmp/mro-helm/cache",
    HELM_CONFIG_HOME: "/tmp/mro-helm/config",
  };
  const result = spawnSync(helmBinary, args, { encoding: "utf8", env, timeout: 30000 });
  if (result.error) throw result.error;
  return { code: result.status ?? -1, stdout: result.stdout, stderr: result.stderr };
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
  ["mlops.dev", "modeldeployments", ["get", "list", "watch", "update", "patch"]],
  ["mlops.dev", "modeldeployments/status", ["get", "update", "patch"]],
  ["mlops.dev", "modeldeployments/scale", ["get", "update", "patch"]],
  ["apps", "deployments", ["get", "list", "watch", "create", "update", "patch", "delete"]],
  ["", "services", ["get", "list", "watch", "create", "update", "patch", "delete"]],
  ["discovery.k8s.io", "endpointslices", ["get", "list", "watch"]],
  ["", "events", ["create", "patch"]],
  ["events.k8s.io", "events", ["create", "patch"]],
  ["", "pods", ["get", "list", "watch"]],
];
const LEASE_VERBS = ["get", "list", "watch", "create", "update", "patch"];

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
        "--health-probe-bind-address=:8081",
        "--leader-elect",
        "--log-level=info",
        "--log-format=json",
        "--workers=4",
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
        objects.filter((o) => !isAggregated(o)),
        "ClusterRole",
      );
      expectOperatorPermissions(clusterRole.rules ?? []);
      expect(allows(clusterRole.rules ?? [], "coordination.k8s.io", "leases", "create")).to.equal(
        false,
        "leases are granted in the release namespace only",
      );
      bindsToServiceAccount(
        only(objects, "ClusterRoleBinding"),
        "ClusterRole",
        clusterRole.metadata.name,
        sa.metadata.name,
      );
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

    it("grants the contract's permissions with a Role in that namespace, and nothing cluster-wide", () => {
      const sa = only(objects, "ServiceAccount");
      expect(objects.filter((o) => o.kind === "ClusterRole" && !isAggregated(o))).to.deep.equal([]);
      expect(objects.filter((o) => o.kind === "ClusterRoleBinding")).to.deep.equal([]);

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

  it("renders a ServiceMonitor for the metrics Service when asked", () => {
    const objects = render({
      "metrics.serviceMonitor.enabled": "true",
      "metrics.serviceMonitor.labels.release": "prom",
    });
    const monitor = only(objects, "ServiceMonitor");
    expect(monitor.metadata.labels).to.include({ release: "prom" });
    expect(monitor.spec?.endpoints).to.deep.equal([
      { port: "metrics", path: "/metrics", interval: "30s", scrapeTimeout: "10s" },
    ]);
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
