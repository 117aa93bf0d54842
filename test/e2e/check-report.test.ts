// How often a passing check's result is written (--check-report-period): a check that keeps
// passing is measured at its interval, but its repeated result waits for the next status
// write, at most the period; its record of measurements loses none of them, and a failure
// is written, and rolls back, at once.
//   bash hack/run.sh test-e2e test/e2e/check-report.test.ts
import { expect } from "chai";
import type { CheckStatus } from "../../src/api/types.ts";
import { CheckTarget } from "../support/check-target.ts";
import {
  applyMd,
  getMd,
  isReady,
  modelDeployment,
  operatorWrites,
  waitForMd,
  type Md,
} from "../support/md.ts";
import { useModelSuite } from "../support/suite.ts";

const PERIOD_S = 8;
const WINDOW_MS = 20_000;

describe("the report period of passing checks", function () {
  this.timeout(300_000);
  const suite = useModelSuite({
    namespace: "check-report",
    operatorArgs: [`--check-report-period=${PERIOD_S}s`],
  });
  let target: CheckTarget;

  before(async () => {
    target = await CheckTarget.start();
    target.route("/ready", { body: "ready\n", contentType: "text/plain" });
  });
  after(async () => target.stop());

  const spec = (version: string) =>
    modelDeployment("scorer", {
      version,
      replicas: 1,
      strategy: { canary: { steps: [{ setWeight: 50 }, { pause: {} }] } },
      healthChecks: {
        interval: "1s",
        failureThreshold: 1,
        checks: [{ name: "ready", http: { url: `${target.url}/ready` } }],
      },
    });
  const check = (m: Md) => (m.status?.checks as CheckStatus[] | undefined)?.find((c) => c.name === "ready");

  it("measures a passing check every interval, writes its result at most every period, and a failure at once", async () => {
    const ns = suite.ns;
    await applyMd(ns, spec("1.0.0"));
    await waitForMd(ns, "scorer", "1.0.0 Ready", isReady);
    await applyMd(ns, spec("2.0.0"));
    await waitForMd(
      ns,
      "scorer",
      "paused at 50% with the check passing",
      (m) => m.status?.currentStep === 1 && check(m)?.phase === "Successful",
      120_000,
    );

    // A window of the check passing again and again.
    const from = Date.now();
    let oldest = 0;
    while (Date.now() - from < WINDOW_MS) {
      const c = check(await getMd(ns, "scorer"));
      oldest = Math.max(oldest, Date.now() - Date.parse(c!.lastMeasured!));
      await new Promise((r) => setTimeout(r, 500));
    }
    const to = Date.now();
    const measured = target.requestsTo("/ready").filter((r) => r.at >= from && r.at < to).length;
    const statusWrites = operatorWrites(new Date(from)).filter(
      (w) =>
        w.objectRef?.namespace === ns &&
        w.objectRef.name === "scorer" &&
        w.uri.includes("/status") &&
        Date.parse(w.time) < to,
    ).length;
    console.log(
      `      in ${WINDOW_MS / 1000} s: ${measured} measurements, ${statusWrites} status writes, lastMeasured at most ${oldest} ms old`,
    );
    // Measured at its interval (1 s; generous for a loaded machine)...
    expect(measured).to.be.at.least(10);
    // ...but written about once a period: 20 s / 8 s, where every measurement was one write before.
    expect(statusWrites).to.be.within(1, 4);
    // What status shows is at most a period old (and a margin for a measurement in flight).
    expect(oldest).to.be.lessThan((PERIOD_S + 4) * 1000);
    // The record keeps each measurement, a second or so apart, none lost while it waited.
    const record = check(await getMd(ns, "scorer"))!.measurements!;
    expect(record).to.have.length(10);
    const gaps = record.slice(1).map((m, i) => Date.parse(m.time) - Date.parse(record[i]!.time));
    expect(Math.max(...gaps), `gaps between recorded measurements: ${gaps.join(", ")} ms`).to.be.lessThan(
      4000,
    );

    // A failure is news: written at once, and it rolls back.
    const failedAt = Date.now();
    target.route("/ready", { status: 503, body: "loading\n", contentType: "text/plain" });
    const rolledBack = await waitForMd(
      ns,
      "scorer",
      "rolled back on the failed check",
      (m) => m.status?.aborted?.reason === "HealthCheckFailed",
      60_000,
    );
    const tookMs = Date.now() - failedAt;
    console.log(`      the failure rolled back ${tookMs} ms after the check started failing`);
    expect(check(rolledBack)?.phase).to.equal("Failed");
    expect(tookMs, "well inside the report period").to.be.lessThan(PERIOD_S * 1000);
    await waitForMd(
      ns,
      "scorer",
      "all traffic back on 1.0.0",
      (m) => m.status?.traffic?.find((t) => t.version === "1.0.0")?.weight === 100,
    );
  });
});
