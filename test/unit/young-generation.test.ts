import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { expect } from "chai";

const MODULE = pathToFileURL(join(import.meta.dirname, "../../src/observability/young-generation.ts")).href;

// A burst of short-lived allocation with a part kept alive (what parsing a relist does),
// then a full GC: the physical size of V8's new space, in MiB, in a fresh process.
function newSpaceAfterBurst(preload: boolean): number {
  const script = `
    ${preload ? `await import(${JSON.stringify(MODULE)});` : ""}
    const { getHeapSpaceStatistics } = await import("node:v8");
    let kept = [];
    for (let round = 0; round < 40; round++) {
      const batch = [];
      for (let i = 0; i < 20000; i++) batch.push({ i, name: "object-" + i, labels: { round } });
      kept.push(batch);
      if (kept.length > 4) kept.shift();
    }
    kept = [];
    globalThis.gc();
    const space = getHeapSpaceStatistics().find((s) => s.space_name === "new_space");
    process.stdout.write(String(space.physical_space_size / 1048576));
  `;
  return Number(
    execFileSync(process.execPath, ["--expose-gc", "--input-type=module", "-e", script], {
      encoding: "utf8",
    }),
  );
}

describe("young generation (observability/young-generation.ts)", () => {
  // The operator turns off V8's growth of the young generation with a V8 flag set at run
  // time. A Node.js upgrade that drops or ignores the flag must fail here, not silently give
  // the operator's memory at rest back to an empty new space.
  it("keeps V8's new space at its initial size through a burst of allocation", function () {
    this.timeout(30_000);
    const grown = newSpaceAfterBurst(false);
    const held = newSpaceAfterBurst(true);
    expect(
      grown,
      "without the module the burst grows the new space (else this test proves nothing)",
    ).to.be.above(4);
    expect(held).to.be.at.most(2);
  });
});
