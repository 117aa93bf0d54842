// What Argo CD and Flux really conclude about ModelDeployments, computed by their own code
// (hack/tools/gitops-health: Argo CD's settings manager and Lua sandbox with gitops-engine's
// health; kstatus status.Compute; kustomize-controller's CEL evaluation of the example
// Kustomization's healthCheckExprs), next to what `kubectl wait --for=condition=Ready`
// says:
//   - every test object of gitops/argocd/testdata/, against gitops/argocd/health_test.yaml;
//   - live ModelDeployments, as the API server returns them, at each phase of a canary and of
//     a blue/green rollout, including one created while the operator is stopped.
// The phases seen make the table in docs/gitops.md: the last test fails when the two differ
// (MRO_UPDATE_DOCS=1 rewrites the table from what was seen).
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { parse } from "yaml";
import { KWOK_NEVER_READY_LABEL } from "../cluster/cluster.ts";
import {
  FLUX_KUSTOMIZATION,
  assessGitOpsHealth,
  gitopsHealthBinary,
  type GitOpsHealth,
} from "../support/gitops-health.ts";
import { createNamespace, kubectl, kubectlJson, tool } from "../support/kube.ts";
import { applyMd, condition, isReady, modelDeployment, waitForMd, type Md } from "../support/md.ts";
import { startOperator, type OperatorProcess } from "../support/operator.ts";

const ROOT = join(import.meta.dirname, "..", "..");
const ARGOCD = join(ROOT, "gitops", "argocd");
const DOC = join(ROOT, "docs", "gitops.md");
const TABLE_BEGIN = "<!-- BEGIN phase table: written by test/e2e/gitops-health.test.ts -->";
const TABLE_END = "<!-- END phase table -->";

/** kstatus for each test object. no-status.yaml is Current: kstatus has nothing to wait for, which is why the CRD defaults status.observedGeneration to 0 (not-observed.yaml is what the API server returns). */
const KSTATUS_OF_FIXTURE: Record<string, string> = {
  "testdata/no-status.yaml": "Current",
  "testdata/not-observed.yaml": "InProgress",
  "testdata/progressing-canary.yaml": "InProgress",
  "testdata/paused-step.yaml": "InProgress",
  "testdata/paused-spec.yaml": "InProgress",
  "testdata/healthy.yaml": "Current",
  "testdata/stale-generation.yaml": "InProgress",
  "testdata/stalled-rollback.yaml": "Failed",
  "testdata/stalled-then-fixed.yaml": "InProgress",
};

/**
 * Flux's wait with gitops/flux/kustomization-models.yaml: as kstatus, except that a held
 * rollout counts as done (as Argo CD's Suspended). An object without any status makes its
 * expressions fail to evaluate, and Flux keeps waiting: "error".
 */
const FLUX_OF_FIXTURE: Record<string, string> = {
  ...KSTATUS_OF_FIXTURE,
  "testdata/no-status.yaml": "error",
  "testdata/paused-spec.yaml": "Current",
};

interface Seen {
  argocd: string;
  kstatus: string;
  flux: string;
  wait: "met" | "not met";
}
interface Row extends Seen {
  strategy: string;
  phase: string;
}

function tableOf(rows: readonly Row[]): string {
  const lines = [
    "| strategy | phase | Argo CD health | kstatus | Flux `wait`, example Kustomization | `kubectl wait --for=condition=Ready` |",
    "| --- | --- | --- | --- | --- | --- |",
    ...rows.map((r) => `| ${r.strategy} | ${r.phase} | ${r.argocd} | ${r.kstatus} | ${r.flux} | ${r.wait} |`),
  ];
  return lines.join("\n");
}

describe("GitOps health with Argo CD's and Flux's own code", function () {
  this.timeout(300_000);

  before(function () {
    // A cold build of the program takes minutes; hack/build-tools.sh normally did it already.
    this.timeout(20 * 60_000);
    gitopsHealthBinary();
  });

  describe("the test objects of gitops/argocd/testdata/", () => {
    const cases = (
      parse(readFileSync(join(ARGOCD, "health_test.yaml"), "utf8")) as {
        tests: { healthStatus: { status: string; message: string }; inputPath: string }[];
      }
    ).tests;

    it("cover every file there, each with a kstatus expectation", () => {
      const present = readdirSync(join(ARGOCD, "testdata"))
        .map((f) => `testdata/${f}`)
        .sort();
      expect(cases.map((c) => c.inputPath).sort()).to.deep.equal(present);
      expect(Object.keys(KSTATUS_OF_FIXTURE).sort()).to.deep.equal(present);
    });

    it("the example Kustomization waits, with a timeout, and has healthCheckExprs for ModelDeployment", () => {
      const k = readFileSync(FLUX_KUSTOMIZATION, "utf8")
        .split(/^---$/m)
        .map(
          (d) =>
            parse(d) as {
              kind?: string;
              spec?: { wait?: boolean; timeout?: string; healthCheckExprs?: Record<string, string>[] };
            },
        )
        .find((d) => d.kind === "Kustomization");
      expect(k?.spec?.wait).to.equal(true);
      expect(k?.spec?.timeout).to.match(/^\d+m$/);
      const exprs = k?.spec?.healthCheckExprs?.find(
        (e) => e.apiVersion === "mlops.dev/v1alpha1" && e.kind === "ModelDeployment",
      );
      expect(exprs).to.have.keys("apiVersion", "kind", "failed", "current");
    });

    for (const { healthStatus, inputPath } of cases) {
      const flux = FLUX_OF_FIXTURE[inputPath];
      it(`${inputPath}: Argo CD ${healthStatus.status}, kstatus ${KSTATUS_OF_FIXTURE[inputPath]}, Flux ${flux}`, () => {
        const [got] = assessGitOpsHealth({ files: [join(ARGOCD, inputPath)] });
        expect(got?.argocd).to.deep.equal(healthStatus);
        expect(got?.kstatus.status).to.equal(KSTATUS_OF_FIXTURE[inputPath]);
        expect(got?.fluxKstatus, "Flux's fork of kstatus agrees").to.deep.equal(got?.kstatus);
        if (flux === "error") expect(got?.flux.error).to.match(/no such attribute.*status/);
        else expect(got?.flux).to.include({ status: flux }).and.not.have.property("error");
      });
    }

    const md = (status: Record<string, unknown>) => ({
      apiVersion: "mlops.dev/v1alpha1",
      kind: "ModelDeployment",
      metadata: { name: "m", namespace: "n", generation: 2 },
      spec: {},
      status: { observedGeneration: 2, ...status },
    });

    it("reads Stalled before Ready, and names the condition's reason when it has no message", () => {
      const [got] = assessGitOpsHealth({
        objects: [
          md({
            conditions: [
              { type: "Ready", status: "True", reason: "Ready", message: "" },
              { type: "Stalled", status: "True", reason: "InvalidSpec", message: "" },
            ],
          }),
        ],
      });
      expect(got?.argocd).to.deep.equal({ status: "Degraded", message: "InvalidSpec" });
    });

    it("is Progressing, not Healthy, while a status has no conditions yet", () => {
      const [got] = assessGitOpsHealth({ objects: [md({})] });
      expect(got?.argocd).to.deep.equal({
        status: "Progressing",
        message: "Waiting for the ModelDeployment to become Ready",
      });
    });

    it("passes messages through byte for byte (quotes, backslashes, UTF-8)", () => {
      const message = 'check "p99 latency" \\ 250 ms ≥ 200 ms';
      const [got] = assessGitOpsHealth({
        objects: [
          md({ conditions: [{ type: "Stalled", status: "True", reason: "HealthCheckFailed", message }] }),
        ],
      });
      expect(got?.argocd).to.deep.equal({ status: "Degraded", message: `HealthCheckFailed: ${message}` });
    });

    it("runs the script in Argo CD's sandbox: the string library is closed", () => {
      // The guard of this file's meaning: a script that uses string.format fails here as it
      // does in Argo CD (the health script once did, for every status of an older generation).
      const dir = mkdtempSync(join(tmpdir(), "mro-argocd-cm-"));
      try {
        const cm = join(dir, "argocd-cm.yaml");
        writeFileSync(
          cm,
          [
            "apiVersion: v1",
            "kind: ConfigMap",
            "metadata: {name: argocd-cm, namespace: argocd}",
            "data:",
            "  resource.customizations.health.mlops.dev_ModelDeployment: |",
            '    return {status = "Healthy", message = string.format("%d", 1)}',
          ].join("\n"),
        );
        const [got] = assessGitOpsHealth({ objects: [md({})] }, cm);
        expect(got?.argocd.status).to.equal("Unknown");
        expect(got?.argocd.error).to.include("attempt to index a non-table object(nil) with key 'format'");
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });

  describe("live ModelDeployments at each phase of a rollout", () => {
    const rows: Row[] = [];
    let operator: OperatorProcess | undefined;
    let ns: string;
    let cleanup: () => Promise<void>;

    beforeEach(async function () {
      ({ name: ns, cleanup } = await createNamespace(this.currentTest?.title.slice(0, 12) ?? "t"));
    });
    afterEach(async () => {
      if (operator) expect(await operator.stop(), operator.logs().slice(-3000)).to.equal(0);
      operator = undefined;
      await cleanup();
    });

    const start = async () => {
      operator = await startOperator({ namespace: ns });
    };
    const stop = async () => {
      const code = await operator?.stop();
      expect(code, operator?.logs().slice(-3000)).to.equal(0);
      operator = undefined;
    };

    /**
     * The object as the API server returns it, what Argo CD and kstatus make of it, and what
     * `kubectl wait --for=condition=Ready --timeout=0s` (check once) says, all of one
     * resourceVersion; recorded as a row of the table and compared with `expected`.
     */
    async function observe(
      strategy: string,
      phase: string,
      name: string,
      expected: Seen,
    ): Promise<GitOpsHealth> {
      for (let attempt = 0; ; attempt++) {
        const md = await kubectlJson<Md & { metadata: { resourceVersion: string } }>([
          "-n",
          ns,
          "get",
          "modeldeployment",
          name,
        ]);
        const [health] = assessGitOpsHealth({ objects: [md] });
        const waited = await tool("kubectl", [
          "-n",
          ns,
          "wait",
          "--for=condition=Ready",
          `md/${name}`,
          "--timeout=0s",
        ]);
        const after = await kubectlJson<{ metadata: { resourceVersion: string } }>([
          "-n",
          ns,
          "get",
          "modeldeployment",
          name,
        ]);
        // The operator wrote in between (a progress figure): look again, at one version.
        if (after.metadata.resourceVersion !== md.metadata.resourceVersion && attempt < 5) continue;
        const seen: Seen = {
          argocd: health!.argocd.status ?? "",
          kstatus: health!.kstatus.status ?? "",
          flux: health!.flux.error !== undefined ? "error" : (health!.flux.status ?? ""),
          wait: waited.code === 0 ? "met" : "not met",
        };
        rows.push({ strategy, phase, ...seen });
        expect(seen, `${phase}: ${JSON.stringify({ health, status: md.status })}`).to.deep.equal(expected);
        expect(health!.argocd.error, "Argo CD evaluates the script without error").to.equal(undefined);
        expect(health!.fluxKstatus, "Flux's fork of kstatus agrees").to.deep.equal(health!.kstatus);
        return health!;
      }
    }

    const NOT_OBSERVED = "Waiting for the operator to observe the ModelDeployment";

    it("canary", async () => {
      const steps = { canary: { steps: [{ setWeight: 50 }, { pause: {} }] } };
      const spec = (version: string, extra: Partial<Parameters<typeof modelDeployment>[1]> = {}) =>
        modelDeployment("fraud", { version, replicas: 2, strategy: steps, ...extra });
      const C = "canary";

      // Created while no operator runs: the API server serves the CRD's default status.
      await applyMd(ns, spec("1.0.0"));
      const served = await kubectlJson<Md>(["-n", ns, "get", "md", "fraud"]);
      expect(served.status).to.deep.equal({ observedGeneration: 0 });
      const created = await observe(C, "created while the operator is stopped", "fraud", {
        argocd: "Progressing",
        kstatus: "InProgress",
        flux: "InProgress",
        wait: "not met",
      });
      expect(created.argocd.message).to.equal(NOT_OBSERVED);
      expect(created.kstatus.message).to.equal(
        "ModelDeployment generation is 1, but latest observed generation is 0",
      );

      await start();
      await waitForMd(ns, "fraud", "1.0.0 Ready", isReady);
      await observe(C, "first version serves all traffic", "fraud", {
        argocd: "Healthy",
        kstatus: "Current",
        flux: "Current",
        wait: "met",
      });

      // A commit the operator has not seen yet: the status is of the older generation.
      await stop();
      await applyMd(ns, spec("2.0.0", { podLabels: { [KWOK_NEVER_READY_LABEL]: "true" } }));
      const stale = await observe(C, "new version applied, not observed yet", "fraud", {
        argocd: "Progressing",
        kstatus: "InProgress",
        flux: "InProgress",
        wait: "not met",
      });
      expect(stale.argocd.message).to.equal(
        "Waiting for the operator to observe generation 2 (status is of generation 1)",
      );

      // 2.0.0's pods never become ready: the canary stays at its first step.
      await start();
      await waitForMd(
        ns,
        "fraud",
        "2.0.0 rolling out",
        (m) =>
          m.status?.observedGeneration === m.metadata.generation &&
          m.status?.candidateVersion === "2.0.0" &&
          condition(m, "Reconciling")?.reason === "RolloutInProgress",
      );
      const progressing = await observe(C, "progressing (candidate not ready)", "fraud", {
        argocd: "Progressing",
        kstatus: "InProgress",
        flux: "InProgress",
        wait: "not met",
      });
      expect(progressing.argocd.message).to.match(/^RolloutInProgress: /);

      await applyMd(ns, spec("3.0.0"));
      await waitForMd(
        ns,
        "fraud",
        "3.0.0 at the pause step",
        (m) =>
          m.status?.observedGeneration === m.metadata.generation &&
          m.status?.candidateVersion === "3.0.0" &&
          m.status?.currentStep === 1,
      );
      // A pause step without a duration is part of the rollout, not a hold: the operator
      // reports it as in progress (Reconciling=True, RolloutInProgress).
      const atPause = await observe(C, "at a pause step, waiting for promote", "fraud", {
        argocd: "Progressing",
        kstatus: "InProgress",
        flux: "InProgress",
        wait: "not met",
      });
      expect(atPause.argocd.message).to.include("pause until promote");

      await kubectl(["-n", ns, "annotate", "md", "fraud", "mlops.dev/action=pause"]);
      await waitForMd(ns, "fraud", "held by the pause action", (m) => m.status?.phase === "Paused");
      const held = await observe(C, "held by the pause action", "fraud", {
        argocd: "Suspended",
        kstatus: "InProgress",
        // The example's healthCheckExprs count a held rollout as done, as Argo CD's Suspended.
        flux: "Current",
        wait: "not met",
      });
      expect(held.argocd.message).to.include("paused by the pause action");
      await kubectl(["-n", ns, "annotate", "md", "fraud", "mlops.dev/action=resume"]);
      await waitForMd(ns, "fraud", "resumed", (m) => m.status?.phase === "Progressing");

      await kubectl(["-n", ns, "annotate", "md", "fraud", "mlops.dev/action=promote"]);
      await waitForMd(
        ns,
        "fraud",
        "3.0.0 promoted",
        (m) => isReady(m) && m.status?.stableVersion === "3.0.0",
      );
      await observe(C, "promoted", "fraud", {
        argocd: "Healthy",
        kstatus: "Current",
        flux: "Current",
        wait: "met",
      });

      await applyMd(
        ns,
        spec("4.0.0", { podLabels: { [KWOK_NEVER_READY_LABEL]: "true" }, progressDeadlineSeconds: 3 }),
      );
      await waitForMd(
        ns,
        "fraud",
        "4.0.0 rolled back",
        (m) =>
          m.status?.observedGeneration === m.metadata.generation &&
          condition(m, "Stalled")?.reason === "ProgressDeadlineExceeded",
      );
      const rolledBack = await observe(C, "rolled back (progress deadline)", "fraud", {
        argocd: "Degraded",
        kstatus: "Failed",
        flux: "Failed",
        wait: "not met",
      });
      expect(rolledBack.argocd.message).to.match(/^ProgressDeadlineExceeded: /);

      await applyMd(
        ns,
        spec("5.0.0", {
          healthChecks: {
            checks: [
              {
                name: "errors",
                prometheus: { address: "http://127.0.0.1:1", query: "up", successCondition: "result <" },
              },
            ],
          },
        }),
      );
      await waitForMd(
        ns,
        "fraud",
        "5.0.0 invalid",
        (m) =>
          m.status?.observedGeneration === m.metadata.generation &&
          condition(m, "Stalled")?.reason === "InvalidSpec",
      );
      const invalid = await observe(C, "invalid spec", "fraud", {
        argocd: "Degraded",
        kstatus: "Failed",
        flux: "Failed",
        wait: "not met",
      });
      expect(invalid.argocd.message).to.match(/^InvalidSpec: /);
    });

    it("blue/green", async () => {
      const spec = (version: string, extra: Partial<Parameters<typeof modelDeployment>[1]> = {}) =>
        modelDeployment("bg", {
          version,
          replicas: 2,
          strategy: { blueGreen: { previewReplicas: 1, scaleDownDelaySeconds: 1 } },
          ...extra,
        });
      const B = "blue/green";

      await applyMd(ns, spec("1"));
      const created = await observe(B, "created while the operator is stopped", "bg", {
        argocd: "Progressing",
        kstatus: "InProgress",
        flux: "InProgress",
        wait: "not met",
      });
      expect(created.argocd.message).to.equal(NOT_OBSERVED);

      await start();
      await waitForMd(ns, "bg", "1 Ready", isReady);
      await observe(B, "first version serves all traffic", "bg", {
        argocd: "Healthy",
        kstatus: "Current",
        flux: "Current",
        wait: "met",
      });

      await applyMd(ns, spec("2", { podLabels: { [KWOK_NEVER_READY_LABEL]: "true" } }));
      await waitForMd(
        ns,
        "bg",
        "preview of 2 starting",
        (m) =>
          m.status?.observedGeneration === m.metadata.generation &&
          m.status?.candidateVersion === "2" &&
          condition(m, "Reconciling")?.reason === "RolloutInProgress",
      );
      await observe(B, "progressing (preview not ready)", "bg", {
        argocd: "Progressing",
        kstatus: "InProgress",
        flux: "InProgress",
        wait: "not met",
      });

      await applyMd(ns, spec("3"));
      await waitForMd(
        ns,
        "bg",
        "preview of 3 waiting for promote",
        (m) =>
          m.status?.observedGeneration === m.metadata.generation &&
          m.status?.candidateVersion === "3" &&
          (condition(m, "Reconciling")?.message ?? "").includes("waiting for promotion"),
      );
      // Like a canary's pause step: part of the rollout, reported as in progress.
      const preview = await observe(B, "preview ready, waiting for promote", "bg", {
        argocd: "Progressing",
        kstatus: "InProgress",
        flux: "InProgress",
        wait: "not met",
      });
      expect(preview.argocd.message).to.include("waiting for promotion");

      await kubectl(["-n", ns, "annotate", "md", "bg", "mlops.dev/action=promote"]);
      await waitForMd(ns, "bg", "3 promoted", (m) => isReady(m) && m.status?.stableVersion === "3");
      await observe(B, "promoted", "bg", {
        argocd: "Healthy",
        kstatus: "Current",
        flux: "Current",
        wait: "met",
      });

      await kubectl(["-n", ns, "annotate", "md", "bg", "mlops.dev/action=rollback"]);
      await waitForMd(
        ns,
        "bg",
        "rolled back to 1",
        (m) => m.status?.stableVersion === "1" && condition(m, "Stalled")?.status === "True",
      );
      const rolledBack = await observe(B, "rolled back (rollback action)", "bg", {
        argocd: "Degraded",
        kstatus: "Failed",
        flux: "Failed",
        wait: "not met",
      });
      expect(rolledBack.argocd.message).to.match(/^RolledBack: /);
    });

    it("docs/gitops.md shows the table of what was seen", () => {
      const phases = rows.length;
      expect(phases, "both rollouts ran to the end").to.equal(15);
      const table = tableOf(rows);
      const doc = readFileSync(DOC, "utf8");
      const begin = doc.indexOf(TABLE_BEGIN);
      const end = doc.indexOf(TABLE_END);
      expect(begin, `${DOC} has the table markers`).to.be.greaterThan(-1);
      expect(end).to.be.greaterThan(begin);
      const current = doc.slice(begin + TABLE_BEGIN.length, end).trim();
      if (process.env.MRO_UPDATE_DOCS === "1" && current !== table) {
        writeFileSync(DOC, `${doc.slice(0, begin + TABLE_BEGIN.length)}\n${table}\n${doc.slice(end)}`);
        return;
      }
      expect(
        current,
        "docs/gitops.md's phase table differs from what the rollouts showed; rerun this file with MRO_UPDATE_DOCS=1",
      ).to.equal(table);
    });
  });
});
