// The tests against the real control plane, in parallel workers (npm test):
//
//   node test/cluster/run-e2e.ts [--jobs N] [FILE ...] [MOCHA FLAGS]
//
// Most of their time is spent waiting (on reconciles, pods, polls), not computing, so
// files run side by side. Each worker has a control plane of its own (in
// .cache/test-cluster-N, with its own audit log, cluster DNS and TMPDIR), so no two
// operators ever see the same objects and every file runs exactly as it would alone with
// `bash hack/run.sh test-e2e FILE`: one file at a time per control plane, in one mocha
// process per file. Workers take the next file from one queue, longest first by the last
// run's times (.cache/e2e-timings.json), so the run ends about when its longest file does.
//
// Each file's output is printed in one piece when it ends, under a line naming the file,
// its worker, time and result; a failing file fails the run, and the end lists it again.
//   MRO_E2E_JOBS       workers (default 2); --jobs N wins
//   MRO_KEEP_CLUSTER=1 leave the workers' control planes running and print their kubeconfigs
//   MRO_E2E_FILE_TIMEOUT  seconds one file may run before it is stopped and fails (default 900)
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, globSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { installLoopbackGuard } from "../support/loopback-guard.ts";
import type { Timings, TestTiming } from "../support/timing-reporter.ts";
import { apiGet, type Cluster } from "./cluster.ts";
import { failureExcerpt } from "./failure-excerpt.ts";
import { startTestCluster, testClusterDir, testClusterEnv } from "./global-fixture.ts";

installLoopbackGuard();

const ROOT = join(import.meta.dirname, "..", "..");
const CONFIG = join(ROOT, ".mocharc.e2e.json");
const TIMINGS = join(ROOT, ".cache", "e2e-timings.json");
const SLOWEST_TESTS = 10;
/** Longest one file may run (seconds): about six times the slowest file on a busy machine. */
const FILE_TIMEOUT_S = Number(process.env.MRO_E2E_FILE_TIMEOUT ?? 900);

interface FileResult {
  file: string;
  worker: number;
  seconds: number;
  code: number | null;
  passed: number;
  failed: number;
  tests: TestTiming[];
  output: string;
}

/** --jobs N; files that exist are the files to run; everything else goes to mocha (like hack/run.sh test-e2e). */
function parseArgs(argv: string[]): { jobs: number; files: string[]; mochaFlags: string[] } {
  let jobs = Number(process.env.MRO_E2E_JOBS ?? 2);
  const files: string[] = [];
  const mochaFlags: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--jobs") jobs = Number(argv[++i]);
    else if (a.startsWith("--jobs=")) jobs = Number(a.slice("--jobs=".length));
    else if (existsSync(join(ROOT, a)) && a.endsWith(".ts")) files.push(a);
    else mochaFlags.push(a);
  }
  if (!Number.isInteger(jobs) || jobs < 1) throw new Error(`run-e2e: --jobs must be a whole number >= 1`);
  return { jobs, files, mochaFlags };
}

/** The files of .mocharc.e2e.json's spec, as mocha would find them. */
function specFiles(config: { spec: string[] }): string[] {
  return [...new Set(config.spec.flatMap((g) => globSync(g, { cwd: ROOT }).sort()))];
}

function lastTimings(): Record<string, number> {
  try {
    return JSON.parse(readFileSync(TIMINGS, "utf8")) as Record<string, number>;
  } catch {
    return {}; // no earlier run
  }
}

/** Longest first by the last run's times; files without one first of all, in spec order. */
function queueOrder(files: string[]): string[] {
  const last = lastTimings();
  const known = (f: string) => last[f] ?? Number.POSITIVE_INFINITY;
  return files
    .map((f, i) => ({ f, i }))
    .sort((a, b) => known(b.f) - known(a.f) || a.i - b.i)
    .map((x) => x.f);
}

function readTimings(file: string): Timings | undefined {
  try {
    return JSON.parse(readFileSync(file, "utf8")) as Timings;
  } catch {
    return undefined;
  }
}

/** Whether the worker's API server answers /readyz within 30 s. */
async function controlPlaneReady(c: Cluster): Promise<boolean> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const status = await apiGet(c.dir, c.server, "/readyz").then(
      (r) => r.status,
      () => 0,
    );
    if (status === 200) return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 500));
  }
}

const running = new Set<ChildProcess>();

/** One mocha process for one file on a worker's control plane; resolves with its output and result. */
function runFile(
  file: string,
  worker: number,
  env: Record<string, string>,
  mochaFlags: string[],
  scratch: string,
): Promise<FileResult> {
  const config = JSON.parse(readFileSync(CONFIG, "utf8")) as Record<string, unknown>;
  const configFile = join(scratch, "mocharc.json");
  writeFileSync(configFile, JSON.stringify({ ...config, spec: [file] }));
  const timingsFile = join(scratch, "timings.json");
  rmSync(timingsFile, { force: true });
  const color = process.stdout.isTTY ? ["--color"] : [];
  const t0 = Date.now();
  return new Promise((resolve) => {
    const child = spawn("mocha", ["--config", configFile, ...color, ...mochaFlags], {
      cwd: ROOT,
      env: { ...process.env, ...env, MRO_TEST_TIMINGS: timingsFile },
      stdio: ["ignore", "pipe", "pipe"],
    });
    running.add(child);
    // A file that hangs (a test process that cannot exit because a child it started does
    // not) fails after FILE_TIMEOUT_S with the output it had, instead of holding the run.
    let timedOut = false;
    const limit = setTimeout(() => {
      timedOut = true;
      child.kill("SIGTERM");
      setTimeout(() => child.kill("SIGKILL"), 10_000).unref();
    }, FILE_TIMEOUT_S * 1000);
    let output = "";
    child.stdout.setEncoding("utf8").on("data", (c: string) => (output += c));
    child.stderr.setEncoding("utf8").on("data", (c: string) => (output += c));
    child.on("error", (err) => (output += `\nrun-e2e: mocha could not start: ${err.message}\n`));
    child.on("close", (code, signal) => {
      clearTimeout(limit);
      running.delete(child);
      if (timedOut)
        output += `\nrun-e2e: ${file} did not end within ${FILE_TIMEOUT_S} s (MRO_E2E_FILE_TIMEOUT); stopped\n`;
      const timings = readTimings(timingsFile);
      const counts = timings?.files.reduce(
        (t, f) => ({ passed: t.passed + f.passed, failed: t.failed + f.failed }),
        {
          passed: 0,
          failed: 0,
        },
      );
      resolve({
        file,
        worker,
        seconds: (Date.now() - t0) / 1000,
        code: signal || timedOut ? null : code,
        passed: counts?.passed ?? 0,
        failed: counts?.failed ?? 0,
        tests: timings?.tests ?? [],
        output: signal ? `${output}\nrun-e2e: mocha ended by ${signal}\n` : output,
      });
    });
  });
}

function printFile(r: FileResult): void {
  const ok = r.code === 0;
  const what = ok ? `${r.passed} passing` : `FAILED (exit ${r.code ?? "by signal"}, ${r.failed} failing)`;
  const head = `── ${r.file} · worker ${r.worker} · ${r.seconds.toFixed(1)} s · ${what} `;
  process.stdout.write(`\n${head.padEnd(100, "─")}\n${r.output.trimEnd()}\n`);
}

function printSummary(results: FileResult[], wallSeconds: number, jobs: number): void {
  const sorted = [...results].sort((a, b) => b.seconds - a.seconds);
  const busy = results.reduce((t, r) => t + r.seconds, 0);
  console.log(
    `\n== time per file (${jobs} workers; ${busy.toFixed(0)} s of files in ${wallSeconds.toFixed(0)} s)`,
  );
  for (const r of sorted) {
    const mark = r.code === 0 ? "" : "  FAILED";
    console.log(
      `  ${r.seconds.toFixed(1).padStart(7)} s  w${r.worker}  ${String(r.passed + r.failed).padStart(3)} tests  ${r.file}${mark}`,
    );
  }
  const tests = results.flatMap((r) => r.tests).sort((a, b) => b.seconds - a.seconds);
  console.log(`\n  slowest tests:`);
  for (const t of tests.slice(0, SLOWEST_TESTS))
    console.log(`  ${t.seconds.toFixed(1).padStart(7)} s  ${t.title}`);
  const passed = results.reduce((t, r) => t + r.passed, 0);
  const failed = results.filter((r) => r.code !== 0);
  console.log(
    `\n  ${passed} passing, ${results.reduce((t, r) => t + r.failed, 0)} failing, in ${results.length} files`,
  );
  // Last, why each failed: the end of a long log is what is read first.
  for (const r of failed) {
    console.log(`  FAILED: ${r.file} (worker ${r.worker}; its whole output is above)`);
    for (const line of failureExcerpt(r.output)) console.log(`    | ${line}`);
  }
}

async function main(): Promise<number> {
  const { jobs: wanted, files: given, mochaFlags } = parseArgs(process.argv.slice(2));
  const config = JSON.parse(readFileSync(CONFIG, "utf8")) as { spec: string[] };
  const files = queueOrder(
    given.length > 0 ? given.map((f) => relative(ROOT, join(ROOT, f))) : specFiles(config),
  );
  const jobs = Math.min(wanted, files.length);
  const queue = [...files];
  const clusters: Cluster[] = [];
  const scratchDirs: string[] = [];
  const results: FileResult[] = [];
  const t0 = Date.now();
  let interrupted = false;
  const brokenBy: string[] = [];

  const keep = process.env.MRO_KEEP_CLUSTER === "1";
  const stopAll = async () => {
    for (const c of running) c.kill("SIGTERM");
    if (keep) {
      for (const c of clusters)
        console.log(`  MRO_KEEP_CLUSTER=1: ${c.kubeconfig} (stop it: npm run cluster:down -- ${c.dir})`);
    } else await Promise.all(clusters.map((c) => c.stop().catch(() => {})));
    for (const d of scratchDirs) {
      try {
        rmSync(d, { recursive: true, force: true });
      } catch (err) {
        console.error(`run-e2e: could not remove ${d}: ${(err as Error).message}`);
      }
    }
  };
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.once(sig, () => {
      interrupted = true;
      queue.length = 0;
      void stopAll().finally(() => process.exit(130));
    });
  }

  console.log(`  [e2e] ${files.length} files in ${jobs} workers, each with its own control plane`);
  const worker = async (n: number) => {
    const log = (m: string) => console.log(`  [cluster ${n}] ${m}`);
    const cluster = await startTestCluster(`${testClusterDir()}-${n}`, log, keep);
    clusters.push(cluster);
    // Its own TMPDIR: tests that look at what appeared in the temporary folder (the data
    // plane's) see only their worker's files.
    const tmp = mkdtempSync(join(tmpdir(), `mro-e2e-${n}-`));
    scratchDirs.push(tmp);
    const scratch = mkdtempSync(join(tmp, "run-"));
    const env = { ...testClusterEnv(cluster), MRO_E2E_WORKER: String(n), TMPDIR: tmp };
    for (let file = queue.shift(); file !== undefined && !interrupted; file = queue.shift()) {
      console.log(`  [e2e] worker ${n}: ${file}`);
      const r = await runFile(file, n, env, mochaFlags, scratch);
      printFile(r);
      results.push(r);
      // A file must leave its worker's control plane serving (a fault test restarts the
      // API server); if it does not, the worker takes no more files and the run fails.
      if (!interrupted && !(await controlPlaneReady(cluster))) {
        brokenBy.push(`${file} (worker ${n}): the control plane did not answer /readyz after it`);
        return;
      }
    }
  };
  let failedToStart: unknown;
  try {
    await Promise.all(
      Array.from({ length: jobs }, (_, i) =>
        worker(i + 1).catch((err) => {
          failedToStart = err;
          queue.length = 0;
        }),
      ),
    );
  } finally {
    await stopAll();
  }
  if (failedToStart) {
    console.error(
      `run-e2e: ${failedToStart instanceof Error ? failedToStart.message : String(failedToStart)}`,
    );
    return 1;
  }
  printSummary(results, (Date.now() - t0) / 1000, jobs);
  // The times of the files that passed (a failing file may have stopped early), kept for
  // the next run's queue.
  const last = {
    ...lastTimings(),
    ...Object.fromEntries(results.filter((r) => r.code === 0).map((r) => [r.file, Math.round(r.seconds)])),
  };
  writeFileSync(TIMINGS, JSON.stringify(last, null, 2) + "\n");
  for (const b of brokenBy) console.log(`  CONTROL PLANE DOWN after ${b}`);
  const missing = files.filter((f) => !results.some((r) => r.file === f));
  for (const f of missing) console.log(`  NOT RUN: ${f}`);
  return results.every((r) => r.code === 0) && missing.length === 0 && brokenBy.length === 0 ? 0 : 1;
}

process.exitCode = await main();
