// A passing check's repeated result waits for the next status write, at most the report
// period (src/controller/check-report.ts); anything new is written at once.
import { expect } from "chai";
import type { CheckStatus, ModelDeployment } from "../../src/api/types.ts";
import { HeldCheckResults, routineCheckResults } from "../../src/controller/check-report.ts";

const T = Date.parse("2026-12-01T12:00:00Z");
const at = (s: number) => new Date(T + s * 1000).toISOString();
const ok = (s: number, extra: Partial<CheckStatus> = {}): CheckStatus => ({
  name: "ready",
  phase: "Successful",
  consecutiveFailures: 0,
  lastMeasured: at(s),
  value: String(s),
  ...extra,
});
const md = (checks: CheckStatus[] | undefined, uid = "u1") =>
  ({ metadata: { uid }, status: { checks } }) as unknown as ModelDeployment;

describe("check results: the report period", () => {
  it("calls routine only a result that repeats every written verdict", () => {
    expect(routineCheckResults([ok(0)], [ok(5)])).to.equal(true);
    expect(routineCheckResults([ok(0)], [ok(5, { phase: "Failed", consecutiveFailures: 1 })])).to.equal(
      false,
    );
    expect(routineCheckResults([ok(0, { phase: "Pending" })], [ok(5)]), "a first result").to.equal(false);
    expect(routineCheckResults([ok(0)], [ok(5, { phase: "Inconclusive" })])).to.equal(false);
    expect(routineCheckResults([ok(0)], [ok(5, { inconclusiveSince: at(5) })])).to.equal(false);
    expect(routineCheckResults([ok(0)], [ok(5), ok(5, { name: "other" })]), "a check added").to.equal(false);
    expect(routineCheckResults([ok(0)], [ok(5, { name: "other" })]), "a check renamed").to.equal(false);
    expect(routineCheckResults(undefined, [ok(5)])).to.equal(false);
    expect(routineCheckResults([], [])).to.equal(false);
  });

  it("holds a routine result until the written one is a period old, and lays it over what status says", () => {
    const held = new HeldCheckResults(30_000);
    const written = md([ok(0)]);
    expect(held.holdMs("ns/a", written, [ok(10)], ["checks"], T + 10_500)).to.equal(19_500);
    expect(held.overlay("ns/a", written).status?.checks).to.deep.equal([ok(10)]);
    // The period is over: written now.
    expect(held.holdMs("ns/a", written, [ok(31)], ["checks"], T + 31_000)).to.equal(undefined);
    // Any other field, or no period: written now.
    expect(held.holdMs("ns/a", written, [ok(12)], ["checks", "currentStep"], T + 12_000)).to.equal(undefined);
    expect(new HeldCheckResults(0).holdMs("ns/a", written, [ok(12)], ["checks"], T + 12_000)).to.equal(
      undefined,
    );
  });

  it("never lays an older result over a newer written one, nor one of another object", () => {
    const held = new HeldCheckResults(30_000);
    held.holdMs("ns/a", md([ok(0)]), [ok(10)], ["checks"], T + 10_000);
    const newer = md([ok(20)]);
    expect(held.overlay("ns/a", newer)).to.equal(newer);
    const recreated = md([ok(0)], "u2");
    expect(held.overlay("ns/a", recreated)).to.equal(recreated);
    held.forget("ns/a");
    const same = md([ok(0)]);
    expect(held.overlay("ns/a", same)).to.equal(same);
    expect(held.size).to.equal(0);
  });
});
