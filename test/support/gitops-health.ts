// What Argo CD and Flux conclude about objects, computed by their own code: the
// hack/tools/gitops-health program (Argo CD's settings and Lua sandbox, gitops-engine's
// health; kstatus status.Compute from sigs.k8s.io/cli-utils; kustomize-controller's wait
// with the example Kustomization's healthCheckExprs, from fluxcd/pkg/runtime/cel). It is built and cached by
// hack/build-gitops-health.sh, which hack/build-tools.sh runs on a fresh machine.
import { execFileSync, spawnSync } from "node:child_process";
import { join } from "node:path";

const ROOT = join(import.meta.dirname, "..", "..");

/** The argocd-cm patch users apply: the health script is read from it as Argo CD reads it. */
export const ARGOCD_CM_PATCH = join(ROOT, "gitops", "argocd", "argocd-cm-patch.yaml");

/** The example Kustomization users copy: Flux's wait is computed with its healthCheckExprs. */
export const FLUX_KUSTOMIZATION = join(ROOT, "gitops", "flux", "kustomization-models.yaml");

export interface Verdict {
  status?: string;
  message?: string;
  error?: string;
}

export interface GitOpsHealth {
  kind: string;
  namespace?: string;
  name: string;
  generation: number;
  /** gitops-engine's GetResourceHealth with the argocd-cm health script (Healthy, Progressing, ...). */
  argocd: Verdict;
  /** kstatus status.Compute (Current, InProgress, Failed, ...): Flux's wait without healthCheckExprs. */
  kstatus: Verdict;
  /** The same from Flux's fork of kstatus (github.com/fluxcd/cli-utils): Flux's wait without healthCheckExprs. */
  fluxKstatus: Verdict;
  /** Flux's wait with the example Kustomization's healthCheckExprs; an error means Flux keeps waiting. */
  flux: Verdict;
}

let binary: string | undefined;

/** The program's path: $MRO_GITOPS_HEALTH, else what hack/build-gitops-health.sh prints (it builds once). */
export function gitopsHealthBinary(): string {
  if (binary) return binary;
  const fromEnv = process.env.MRO_GITOPS_HEALTH;
  if (fromEnv) return (binary = fromEnv);
  const built = spawnSync("bash", [join(ROOT, "hack", "build-gitops-health.sh")], {
    encoding: "utf8",
    timeout: 20 * 60_000,
  });
  if (built.status !== 0) throw new Error(`hack/build-gitops-health.sh failed: ${built.stderr}`);
  return (binary = built.stdout.trim());
}

/**
 * One verdict per object, in order. `objects` are plain objects (as kubectl prints them) or
 * YAML/JSON files; `argocdCm` is the ConfigMap (or patch) holding the health script.
 */
export function assessGitOpsHealth(
  objects: { files: string[] } | { objects: unknown[] },
  argocdCm = ARGOCD_CM_PATCH,
): GitOpsHealth[] {
  const args = [
    "--argocd-cm",
    argocdCm,
    "--flux-kustomization",
    FLUX_KUSTOMIZATION,
    ...("files" in objects ? objects.files : []),
  ];
  const input =
    "objects" in objects ? JSON.stringify({ apiVersion: "v1", kind: "List", items: objects.objects }) : "";
  const out = execFileSync(gitopsHealthBinary(), args, { input, encoding: "utf8", timeout: 30_000 });
  return out
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => JSON.parse(l) as GitOpsHealth);
}
