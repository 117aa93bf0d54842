// The chart ships the CRD as a copy of the top-level crds/ file (the one source of truth).
// A copy, not a symlink: Flux's source-controller leaves symlinks out of the artifacts it
// builds from Git, Windows checkouts turn them into text files, and a packaged chart must
// hold the real file. This test is what keeps the copy honest.
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { expect } from "chai";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const SOURCE = join(ROOT, "crds");
const CHART_CRDS = join(ROOT, "charts", "model-rollout-operator", "crds");

describe("chart CRDs", () => {
  it("are exactly the files of the top-level crds/ folder", () => {
    expect(readdirSync(CHART_CRDS).sort()).to.deep.equal(readdirSync(SOURCE).sort());
    for (const file of readdirSync(SOURCE)) {
      const copy = readFileSync(join(CHART_CRDS, file), "utf8");
      const source = readFileSync(join(SOURCE, file), "utf8");
      expect(
        copy === source,
        `charts/model-rollout-operator/crds/${file} differs from crds/${file}; ` +
          `run: cp crds/${file} charts/model-rollout-operator/crds/`,
      ).to.equal(true);
    }
  });
});
