// The Flux example's healthCheckExprs for ModelDeployment, evaluated as kustomize-controller
// evaluates them (RFC 0009): status.observedGeneration != metadata.generation is in
// progress, then `failed`, then `current`, and neither true is in progress. They must
// agree with the Argo CD health script on every object of gitops/argocd/testdata/.
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { evaluate } from "@marcbachmann/cel-js";
import { expect } from "chai";
import { parse, parseAllDocuments } from "yaml";

const GITOPS = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "gitops");

interface HealthCheckExpr {
  apiVersion: string;
  kind: string;
  inProgress?: string;
  failed?: string;
  current: string;
}
interface FluxKustomization {
  kind: string;
  spec: { wait?: boolean; timeout?: string; healthCheckExprs?: HealthCheckExpr[] };
}
interface ModelDeploymentLike {
  metadata?: { generation?: number };
  status?: { observedGeneration?: number };
}

type FluxStatus = "InProgress" | "Failed" | "Current";

/**
 * What kustomize-controller concludes. An expression that cannot be evaluated (it reads
 * `status` before the operator wrote one) is an error, and Flux keeps waiting: returned as
 * InProgress with the error.
 */
function assessWithFlux(
  exprs: HealthCheckExpr,
  obj: ModelDeploymentLike,
): { status: FluxStatus; error?: string } {
  const observed = obj.status?.observedGeneration;
  if (
    observed !== undefined &&
    obj.metadata?.generation !== undefined &&
    observed !== obj.metadata.generation
  ) {
    return { status: "InProgress" };
  }
  const ordered: [string | undefined, FluxStatus][] = [
    [exprs.inProgress, "InProgress"],
    [exprs.failed, "Failed"],
    [exprs.current, "Current"],
  ];
  for (const [expression, status] of ordered) {
    if (!expression) continue;
    let result: unknown;
    try {
      result = evaluate(expression, obj as Record<string, unknown>);
    } catch (error) {
      return { status: "InProgress", error: (error as Error).message };
    }
    if (typeof result !== "boolean")
      throw new Error(`${status} expression gave ${String(result)}, not a bool`);
    if (result) return { status };
  }
  return { status: "InProgress" };
}

/** Argo CD's health, as Flux should see it: a held rollout is done for now, as Suspended is. */
const FLUX_STATUS_FOR_ARGOCD: Record<string, FluxStatus> = {
  Progressing: "InProgress",
  Suspended: "Current",
  Degraded: "Failed",
  Healthy: "Current",
};

describe("Flux Kustomization example for ModelDeployments", () => {
  const kustomization = parseAllDocuments(
    readFileSync(join(GITOPS, "flux", "kustomization-models.yaml"), "utf8"),
  )
    .map((doc) => doc.toJS() as FluxKustomization)
    .find((doc) => doc.kind === "Kustomization");
  const exprs = kustomization?.spec.healthCheckExprs?.find(
    (e) => e.apiVersion === "mlops.dev/v1alpha1" && e.kind === "ModelDeployment",
  );

  it("waits for the ModelDeployments it applies, with a timeout", () => {
    expect(kustomization?.spec.wait).to.equal(true);
    expect(kustomization?.spec.timeout).to.match(/^\d+m$/);
    expect(exprs, "healthCheckExprs for mlops.dev/v1alpha1 ModelDeployment").to.not.equal(undefined);
  });

  const cases = (
    parse(readFileSync(join(GITOPS, "argocd", "health_test.yaml"), "utf8")) as {
      tests: { healthStatus: { status: string }; inputPath: string }[];
    }
  ).tests;

  for (const { healthStatus, inputPath } of cases) {
    const expected = FLUX_STATUS_FOR_ARGOCD[healthStatus.status]!;
    it(`${inputPath}: ${expected} (Argo CD: ${healthStatus.status})`, () => {
      const obj = parse(readFileSync(join(GITOPS, "argocd", inputPath), "utf8")) as ModelDeploymentLike;
      const result = assessWithFlux(exprs!, obj);
      expect(result.status).to.equal(expected);
      if (obj.status !== undefined)
        expect(result.error, "evaluates without error once there is a status").to.equal(undefined);
    });
  }

  it("keeps waiting, without failing, on an object without any status (a CRD older than the default)", () => {
    const obj = {
      apiVersion: "mlops.dev/v1alpha1",
      kind: "ModelDeployment",
      metadata: { generation: 1 },
      spec: {},
    };
    const result = assessWithFlux(exprs!, obj);
    expect(result.status).to.equal("InProgress");
    expect(result.error).to.match(/status/);
  });

  it("is in progress, before evaluating the expressions, while the status is the CRD's default", () => {
    const obj = {
      apiVersion: "mlops.dev/v1alpha1",
      kind: "ModelDeployment",
      metadata: { generation: 1 },
      spec: {},
      status: { observedGeneration: 0 },
    };
    expect(assessWithFlux(exprs!, obj)).to.deep.equal({ status: "InProgress" });
  });

  it("is in progress while a status has no conditions yet", () => {
    expect(
      assessWithFlux(exprs!, { metadata: { generation: 1 }, status: { observedGeneration: 1 } }),
    ).to.deep.equal({
      status: "InProgress",
    });
  });
});
