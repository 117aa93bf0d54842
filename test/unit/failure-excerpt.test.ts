// The end of an e2e run says why each failing file failed (test/cluster/failure-excerpt.ts).
import { expect } from "chai";
import { failureExcerpt } from "../cluster/failure-excerpt.ts";

const mochaOutput = [
  "  traffic through the Gateway API",
  "    ✔ applies the example (700ms)",
  "    1) walks a canary through the route",
  "",
  "  5 passing (32s)",
  "  1 failing",
  "",
  "  1) traffic through the Gateway API",
  "       walks a canary through the route:",
  "",
  "      \u001b[31mAssertionError: expected 250 to be within 160..240\u001b[0m",
  "      at Context.<anonymous> (file:///repo/test/e2e/traffic.test.ts:231:40)",
  "      at process.processTicksAndRejections (node:internal/process/task_queues:105:5)",
  "",
  "  2) traffic through the Gateway API",
  "       at setWeight 0 the route sends nothing to the candidate:",
  "",
  "      AssertionError: expected 2 to equal 1",
  "      at new Promise (<anonymous>)",
  "      at async file:///repo/test/support/kube.ts:40:3",
  "",
].join("\n");

describe("the failure excerpt at the end of an e2e run", () => {
  it("keeps the failing tests' titles and errors, without colours, blank lines or stack frames", () => {
    expect(failureExcerpt(mochaOutput)).to.deep.equal([
      "  1) traffic through the Gateway API",
      "       walks a canary through the route:",
      "      AssertionError: expected 250 to be within 160..240",
      "  2) traffic through the Gateway API",
      "       at setWeight 0 the route sends nothing to the candidate:",
      "      AssertionError: expected 2 to equal 1",
    ]);
  });

  it("is bounded, and says how much it left out", () => {
    const long = `  1 failing\n${Array.from({ length: 40 }, (_, i) => `  line ${i}`).join("\n")}`;
    const got = failureExcerpt(long, 5);
    expect(got).to.have.length(5);
    expect(got.slice(0, 4)).to.deep.equal(["  line 0", "  line 1", "  line 2", "  line 3"]);
    expect(got[4]).to.equal("… 36 more lines in its output above");
  });

  it("gives the last lines when mocha never printed its failures (a file stopped by its time limit)", () => {
    const out =
      "  ✔ one\n  ✔ two\n\nrun-e2e: test/e2e/x.test.ts did not end within 900 s (MRO_E2E_FILE_TIMEOUT); stopped\n";
    expect(failureExcerpt(out, 2)).to.deep.equal([
      "  ✔ two",
      "run-e2e: test/e2e/x.test.ts did not end within 900 s (MRO_E2E_FILE_TIMEOUT); stopped",
    ]);
  });
});
