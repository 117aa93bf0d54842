// The argocd-cm patch embeds gitops/argocd/health.lua; the file is the one that is
// tested with the real Lua interpreter, so the embedded copy must be the same script.
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { expect } from "chai";
import { parse } from "yaml";

const ARGOCD = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "gitops", "argocd");
const KEY = "resource.customizations.health.mlops.dev_ModelDeployment";

describe("Argo CD argocd-cm patch", () => {
  const patch = parse(readFileSync(join(ARGOCD, "argocd-cm-patch.yaml"), "utf8")) as {
    kind: string;
    metadata: { name: string; namespace: string };
    data: Record<string, string>;
  };

  it("patches the argocd-cm ConfigMap with the ModelDeployment health key only", () => {
    expect(patch.kind).to.equal("ConfigMap");
    expect(patch.metadata).to.deep.equal({ name: "argocd-cm", namespace: "argocd" });
    expect(Object.keys(patch.data)).to.deep.equal([KEY]);
  });

  it("embeds health.lua byte for byte", () => {
    const script = readFileSync(join(ARGOCD, "health.lua"), "utf8");
    expect(
      patch.data[KEY] === script,
      "argocd-cm-patch.yaml does not embed the current health.lua; re-indent health.lua under the key",
    ).to.equal(true);
  });
});

describe("Argo CD Application for ModelDeployments", () => {
  it("ignores the action annotation, and respects that when syncing", () => {
    const app = parse(readFileSync(join(ARGOCD, "application-models.yaml"), "utf8")) as {
      spec: {
        ignoreDifferences: { group: string; kind: string; jsonPointers: string[] }[];
        syncPolicy: { syncOptions: string[] };
      };
    };
    expect(app.spec.ignoreDifferences).to.deep.include({
      group: "mlops.dev",
      kind: "ModelDeployment",
      jsonPointers: ["/metadata/annotations/mlops.dev~1action"],
    });
    expect(app.spec.syncPolicy.syncOptions).to.include("RespectIgnoreDifferences=true");
  });
});
