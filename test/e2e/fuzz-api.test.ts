// Property-based fuzzing of the ModelDeployment API with the real operator running: fast-check
// generates manifests, valid and invalid (test/support/fuzz-manifests.ts), each is created on
// the real API server, and
//   - either the API server refuses it, with a message that names a field of the manifest,
//   - or the operator handles it: a Ready, Reconciling or Stalled condition for the current
//     generation, within a bounded wait;
// meanwhile the operator never exits, its event-loop delay (its own
// nodejs_eventloop_lag_max_seconds, scraped every second) stays bounded, and an unrelated
// ModelDeployment rolls out a new version.
//   FUZZ_SEED=N    replay a run (the seed is printed at the start)
//   FUZZ_RUNS=N    manifests generated (default 80)
//   FUZZ_CASE=I    run only case I of that seed (to reproduce one failure)
import { expect } from "chai";
import fc from "fast-check";
import { CheckTarget } from "../support/check-target.ts";
import { createNamespace, kubectl, tool, waitFor } from "../support/kube.ts";
import { manifest, namedFields } from "../support/fuzz-manifests.ts";
import { applyMd, getMd, isReady, mdEvents, modelDeployment, waitForMd, type Md } from "../support/md.ts";
import { startOperator, type OperatorProcess } from "../support/operator.ts";

const SEED = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : Date.now() % 2 ** 31;
const RUNS = Number(process.env.FUZZ_RUNS ?? 80);
const ONLY_CASE = process.env.FUZZ_CASE === undefined ? undefined : Number(process.env.FUZZ_CASE);
/** Manifests in flight at once. */
const BATCH = 8;
/** How long an accepted manifest may wait for its condition (a loaded 2-core machine). */
const HANDLED_WITHIN_MS = 60_000;
/** The event loop may be late by this much at worst; CEL, JSON and regexes run off it. */
const MAX_EVENT_LOOP_DELAY_S = 2;

const CONDITION_TYPES = ["Ready", "Reconciling", "Stalled"];

interface Outcome {
  index: number;
  result: "rejected" | "handled";
  detail: string;
}

/** The conditions of the current generation, when the operator has observed it. */
function handledConditions(md: Md): string[] | undefined {
  const generation = md.metadata.generation;
  if (md.status?.observedGeneration !== generation) return undefined;
  const current = (md.status.conditions ?? []).filter(
    (c) => CONDITION_TYPES.includes(c.type) && c.observedGeneration === generation,
  );
  return current.length > 0 ? current.map((c) => `${c.type}=${c.status}/${c.reason}`) : undefined;
}

function hasChecks(obj: Record<string, unknown>): boolean {
  const checks = (obj.spec as { healthChecks?: { checks?: unknown[] } }).healthChecks?.checks;
  return Array.isArray(checks) && checks.length > 0;
}

/** nodejs_eventloop_lag_max_seconds from the operator's /metrics (the max since the last scrape). */
async function eventLoopMax(op: OperatorProcess): Promise<number | undefined> {
  const text = await (await fetch(`${op.metricsUrl}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith("nodejs_eventloop_lag_max_seconds "));
  return line === undefined ? undefined : Number(line.split(" ")[1]);
}

describe("fuzzing the ModelDeployment API with the operator running", function () {
  this.timeout(600_000);
  let target: CheckTarget;
  let ns: string;
  let cleanup: () => Promise<void>;
  let op: OperatorProcess;
  let exitCode: number | null | undefined;

  before(async () => {
    target = await CheckTarget.start();
    target.route("/ok", { body: '{"ready": true}' });
    target.route("/items", { body: JSON.stringify({ items: Array.from({ length: 1000 }, (_, i) => i) }) });
    target.route("/big", { body: JSON.stringify({ pad: "x".repeat(2 * 1024 * 1024) }) });
    // A Prometheus instant query's answer, for the Prometheus checks whose address is the target.
    target.route("/api/v1/query", {
      body: JSON.stringify({
        status: "success",
        data: { resultType: "vector", result: [{ metric: {}, value: [0, "0.25"] }] },
      }),
    });
    ({ name: ns, cleanup } = await createNamespace("fuzz"));
    op = await startOperator({ namespace: ns, args: ["--log-level=info"] });
    void op.exited.then((code) => (exitCode = code));
  });
  after(async () => {
    await op?.stop("SIGKILL");
    await target?.stop();
    await cleanup?.();
  });

  it(`every generated manifest is refused naming a field, or handled with a condition (seed ${SEED})`, async () => {
    console.log(`      fuzz seed ${SEED}, ${RUNS} manifests: replay with FUZZ_SEED=${SEED}`);
    const arbitrary = fc.tuple(
      ...Array.from({ length: RUNS }, (_, i) => manifest(i, { checkUrl: target.url })),
    );
    const [cases] = fc.sample(arbitrary, { seed: SEED, numRuns: 1 });
    const indexes = [...cases!.keys()].filter((i) => ONLY_CASE === undefined || i === ONLY_CASE);

    // The event loop, watched the whole time.
    let maxDelay = 0;
    let scrapes = 0;
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        const delay = await eventLoopMax(op).catch(() => undefined);
        if (delay !== undefined) {
          maxDelay = Math.max(maxDelay, delay);
          scrapes++;
        }
        await new Promise((r) => setTimeout(r, 1000));
      }
    })();

    // The unrelated ModelDeployment: Ready before, a new version rolled out during the run.
    const steady = (version: string) =>
      modelDeployment("steady", {
        version,
        replicas: 1,
        strategy: { canary: { steps: [{ setWeight: 50 }, { pause: { duration: "1s" } }] } },
      });
    await applyMd(ns, steady("1.0.0"));
    await waitForMd(ns, "steady", "steady 1.0.0 Ready", isReady, 90_000);
    let steadyRollout: Promise<Md> | undefined;

    const outcomes: Outcome[] = [];
    const failures: string[] = [];
    // Health checks gate the rollout of a new version: a valid manifest with checks, once
    // Ready, gets a second version, so that its checks are measured (their phases are counted).
    const phases = new Map<string, number>();
    let rolledOut = 0;
    const rollOutWithChecks = async (
      index: number,
      name: string,
      obj: Record<string, unknown>,
      replay: string,
    ) => {
      const ready = await waitFor(`case ${index} Ready`, async () => isReady(await getMd(ns, name)), {
        timeoutMs: 45_000,
        intervalMs: 500,
      }).catch(() => false);
      if (!ready) return;
      const version = (obj.spec as { model: { version: string } }).model.version;
      const next = version === "2.0.0-fz" ? "3.0.0-fz" : "2.0.0-fz";
      await kubectl([
        "-n",
        ns,
        "patch",
        "md",
        name,
        "--type=merge",
        "-p",
        JSON.stringify({ spec: { model: { version: next } } }),
      ]);
      rolledOut++;
      await waitFor(
        `case ${index} handled with a condition of generation 2`,
        async () => {
          const md = await getMd(ns, name);
          return md.metadata.generation === 2 && handledConditions(md);
        },
        { timeoutMs: HANDLED_WITHIN_MS, intervalMs: 500 },
      ).catch((err: unknown) =>
        failures.push(`case ${index} (${replay}), its second version: ${(err as Error).message}`),
      );
      const checks = await waitFor(
        `case ${index}'s checks measured`,
        async () => {
          const measured = (await getMd(ns, name)).status?.checks ?? [];
          return measured.length > 0 && measured;
        },
        { timeoutMs: 20_000, intervalMs: 500 },
      ).catch(() => []);
      for (const c of checks) phases.set(c.phase, (phases.get(c.phase) ?? 0) + 1);
    };

    const runCase = async (index: number): Promise<void> => {
      const obj = cases![index]!;
      const name = (obj.metadata as { name: string }).name;
      const replay = `FUZZ_SEED=${SEED} FUZZ_CASE=${index}`;
      const created = await tool("kubectl", ["-n", ns, "create", "-f", "-"], JSON.stringify(obj));
      if (created.code !== 0) {
        const named = namedFields(created.stderr, obj);
        if (!named.some((f) => f.found)) {
          failures.push(
            `case ${index} (${replay}) was refused without naming a field of it: ${created.stderr.trim().slice(0, 600)}\n  manifest: ${JSON.stringify(obj).slice(0, 2000)}`,
          );
        }
        outcomes.push({ index, result: "rejected", detail: named.find((f) => f.found)?.path ?? "?" });
        return;
      }
      try {
        const conditions = await waitFor(
          `case ${index} handled with a condition of generation 1`,
          async () => handledConditions(await getMd(ns, name)),
          { timeoutMs: HANDLED_WITHIN_MS, intervalMs: 500 },
        );
        outcomes.push({ index, result: "handled", detail: conditions.join(",") });
        // An invalid spec is said twice: in the condition and in an Event.
        if (conditions.includes("Stalled=True/InvalidSpec")) {
          await waitFor(
            `case ${index}: an InvalidSpec Event`,
            async () => (await mdEvents(ns, name)).some((e) => e.reason === "InvalidSpec"),
            { timeoutMs: 30_000, intervalMs: 500 },
          ).catch((err: unknown) => failures.push(`case ${index} (${replay}): ${(err as Error).message}`));
        } else if (hasChecks(obj)) {
          await rollOutWithChecks(index, name, obj, replay);
        }
      } catch (err) {
        const md = await getMd(ns, name).catch(() => undefined);
        failures.push(
          `case ${index} (${replay}) was accepted but not handled: ${(err as Error).message}\n  status: ${JSON.stringify(md?.status ?? null).slice(0, 1000)}\n  manifest: ${JSON.stringify(obj).slice(0, 2000)}`,
        );
      }
      // Out of the way of the next cases: the garbage collector removes its children.
      await tool("kubectl", ["-n", ns, "delete", "modeldeployment", name, "--wait=false"]);
    };

    const replayOfBatch = (start: number) =>
      `FUZZ_SEED=${SEED}, one of cases ${indexes.slice(start, start + BATCH).join(", ")}`;
    for (let start = 0; start < indexes.length; start += BATCH) {
      await Promise.all(indexes.slice(start, start + BATCH).map(runCase));
      expect(op.logs(), "the operator's log").to.not.match(/uncaught exception|unhandled rejection/);
      expect(exitCode, `the operator exited (${replayOfBatch(start)})`).to.equal(undefined);
      if (start + BATCH >= indexes.length / 2 && steadyRollout === undefined) {
        await applyMd(ns, steady("2.0.0"));
        steadyRollout = waitForMd(
          ns,
          "steady",
          "steady 2.0.0 promoted while the fuzzing goes on",
          (m) => isReady(m) && m.status?.stableVersion === "2.0.0",
          180_000,
        );
        steadyRollout.catch(() => {});
      }
    }
    if (steadyRollout === undefined) await applyMd(ns, steady("2.0.0"));
    const promoted =
      (await steadyRollout) ??
      (await waitForMd(
        ns,
        "steady",
        "steady 2.0.0 promoted",
        (m) => isReady(m) && m.status?.stableVersion === "2.0.0",
      ));
    watching = false;
    await watcher;

    const rejected = outcomes.filter((o) => o.result === "rejected");
    const handled = outcomes.filter((o) => o.result === "handled");
    const tally = (list: Outcome[]) => {
      const counts = new Map<string, number>();
      for (const o of list) counts.set(o.detail, (counts.get(o.detail) ?? 0) + 1);
      return [...counts].map(([k, v]) => `${k} x${v}`).join("; ");
    };
    console.log(`      refused at apply: ${rejected.length} (${tally(rejected)})`);
    console.log(`      handled by the operator: ${handled.length} (${tally(handled)})`);
    console.log(
      `      rolled a second version out with checks: ${rolledOut} (measurements: ${[...phases].map(([p, n]) => `${p} x${n}`).join(", ") || "none"})`,
    );
    console.log(`      event-loop delay: max ${(maxDelay * 1000).toFixed(0)} ms over ${scrapes} scrapes`);

    expect(failures, failures.join("\n\n")).to.deep.equal([]);
    // Nothing went wrong inside the operator: no error logged, every Event recorded.
    const troubles = op
      .logLines()
      .filter((l) => l.level === "error" || /could not record an Event/.test(String(l.msg)))
      .map((l) => JSON.stringify(l).slice(0, 500));
    expect(troubles, troubles.join("\n")).to.deep.equal([]);
    expect(exitCode, "the operator's exit code (undefined: still running)").to.equal(undefined);
    expect((await fetch(`${op.healthUrl}/healthz`)).status).to.equal(200);
    expect(promoted.status?.stableVersion).to.equal("2.0.0");
    expect(scrapes, "event-loop scrapes").to.be.at.least(3);
    expect(maxDelay, "max event-loop delay (s)").to.be.lessThan(MAX_EVENT_LOOP_DELAY_S);
    if (ONLY_CASE === undefined) {
      // The generator reaches both sides of the API.
      expect(rejected.length, "refused").to.be.greaterThan(RUNS / 10);
      expect(handled.length, "handled").to.be.greaterThan(RUNS / 10);
    }
    await kubectl(["-n", ns, "get", "modeldeployment", "steady"]);
  });
});
