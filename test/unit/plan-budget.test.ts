// The platform's budget for health checks: intervals raised to its minimum and timeouts
// lowered to its maximum, with a warning per field, and the warnings in status and one
// Warning Event when they appear.
import { expect } from "chai";
import { Reasons } from "../../src/api/reasons.ts";
import { applyCheckBudget, DEFAULT_CHECK_BUDGET } from "../../src/plan/budget.ts";
import { checkDueAt } from "../../src/plan/checks.ts";
import { checkIntervalMs, checkTimeoutMs } from "../../src/plan/spec.ts";
import type { Plan } from "../../src/plan/types.ts";
import { withSpecWarnings } from "../../src/plan/warnings.ts";
import { httpCheck, makeMd, promCheck } from "./plan-fixtures.ts";

const budget = { minIntervalMs: 1000, maxTimeoutMs: 60_000 };

describe("check budget", () => {
  it("leaves a spec within the budget as it is, the same object, with no warning", () => {
    const md = makeMd({ healthChecks: { interval: "10s", checks: [httpCheck(), promCheck()] } });
    const out = applyCheckBudget(md, budget);
    expect(out.md).to.equal(md);
    expect(out.warnings).to.deep.equal([]);
    expect(applyCheckBudget(makeMd(), budget).warnings).to.deep.equal([]);
  });

  it("raises a shared interval and a check's own interval to the minimum, and lowers a timeout", () => {
    const md = makeMd({
      healthChecks: {
        interval: "1ms",
        checks: [
          httpCheck("a"),
          httpCheck("b", { interval: "500ms", timeout: "1h" }),
          httpCheck("c", { interval: "5s" }),
        ],
      },
    });
    const out = applyCheckBudget(md, budget);
    const [a, b, c] = out.md.spec.healthChecks!.checks!;
    expect(checkIntervalMs(out.md, a!)).to.equal(1000);
    expect(checkIntervalMs(out.md, b!)).to.equal(1000);
    expect(checkIntervalMs(out.md, c!)).to.equal(5000);
    expect(checkTimeoutMs(b!)).to.equal(60_000);
    expect(checkTimeoutMs(a!)).to.equal(5000);
    expect(out.warnings).to.deep.equal([
      {
        path: "spec.healthChecks.interval",
        message:
          "interval 1ms is below the platform's minimum of 1s (--check-min-interval): measured every 1s",
      },
      {
        path: "spec.healthChecks.checks[1].interval",
        message:
          "interval 500ms is below the platform's minimum of 1s (--check-min-interval): measured every 1s",
      },
      {
        path: "spec.healthChecks.checks[1].timeout",
        message:
          "timeout 1h is above the platform's maximum of 1m (--check-max-timeout): a measurement is given 1m",
      },
    ]);
    // The spec it was given is not changed.
    expect(md.spec.healthChecks!.interval).to.equal("1ms");
    expect(md.spec.healthChecks!.checks![1]!.timeout).to.equal("1h");
  });

  it("does not warn of a shared interval that every check overrides", () => {
    const md = makeMd({ healthChecks: { interval: "1ms", checks: [httpCheck("a", { interval: "2s" })] } });
    expect(applyCheckBudget(md, budget).warnings).to.deep.equal([]);
  });

  it("makes the planner measure a clamped check again only after the minimum interval", () => {
    const md = makeMd({
      model: { version: "2.0.0" },
      healthChecks: { interval: "1ms", checks: [httpCheck("a")] },
    });
    const measuredAt = Date.parse("2030-01-01T00:00:00.000Z");
    md.status = { rollout: { version: "2.0.0", startedAt: "2029-12-31T23:00:00.000Z" } as never };
    const last = {
      name: "a",
      phase: "Successful" as const,
      lastMeasured: new Date(measuredAt).toISOString(),
    };
    expect(checkDueAt(md, md.spec.healthChecks!.checks![0]!, last)).to.equal(measuredAt + 1);
    const budgeted = applyCheckBudget(md, DEFAULT_CHECK_BUDGET).md;
    expect(checkDueAt(budgeted, budgeted.spec.healthChecks!.checks![0]!, last)).to.equal(measuredAt + 1000);
  });
});

describe("spec warnings in status", () => {
  const plan = (): Plan => ({
    apply: [],
    delete: [],
    status: { phase: "Healthy" },
    events: [],
    clearAction: false,
  });
  const warning = { path: "spec.healthChecks.interval", message: "interval 1ms is below ..." };

  it("writes the warnings into status and announces new ones with one Warning Event", () => {
    const md = makeMd();
    const p = withSpecWarnings(plan(), md, [warning]);
    expect(p.status.warnings).to.deep.equal(["spec.healthChecks.interval: interval 1ms is below ..."]);
    expect(p.events).to.deep.equal([
      {
        type: "Warning",
        reason: Reasons.SpecWarning,
        message: "spec.healthChecks.interval: interval 1ms is below ...",
      },
    ]);
  });

  it("sends no Event for a warning the status already holds, and clears warnings that went away", () => {
    const md = makeMd();
    md.status = { warnings: ["spec.healthChecks.interval: interval 1ms is below ..."] };
    const again = withSpecWarnings(plan(), md, [warning]);
    expect(again.events).to.deep.equal([]);
    expect(again.status.warnings).to.deep.equal(md.status.warnings);
    const gone = withSpecWarnings({ ...plan(), status: { warnings: md.status.warnings } }, md, []);
    expect(gone.status).to.not.have.property("warnings");
    expect(gone.events).to.deep.equal([]);
  });
});
