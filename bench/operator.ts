// The operator under test, as its own process (node src/main.ts), so that its CPU time
// (/proc/PID/stat) and resident memory (/proc/PID/status) are its own; its heap comes
// from its /metrics (prom-client's nodejs_heap_size_used_bytes), read right after a full
// garbage collection that bench/gc-hook.js runs on SIGUSR2.
import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, existsSync, openSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { freePort } from "../test/cluster/cluster.ts";
import { processCpuSeconds } from "./figures.ts";
import { pollUntil } from "./wait.ts";
import { loopbackOperatorFlags } from "../test/support/loopback-guard.ts";
import { writeLoopbackGuardJs } from "./loopback-guard-js.ts";

const ROOT = join(import.meta.dirname, "..");

export interface MemorySample {
  /** V8 heap in use after a full GC (nodejs_heap_size_used_bytes), bytes. */
  heapUsedBytes: number;
  /** The same, before the GC: what a scrape would see. */
  heapUsedBeforeGcBytes: number;
  /** Resident set size (/proc/PID/status VmRSS), bytes. */
  rssBytes: number;
}

export interface OperatorProcess {
  readonly pid: number;
  readonly metricsUrl: string;
  /** CPU seconds (user + system) the process used so far. */
  cpuSeconds(): number;
  rssBytes(): number;
  /** Scrapes /metrics; returns the value of one series without labels. */
  metric(name: string): Promise<number>;
  memory(): Promise<MemorySample>;
  stop(): Promise<void>;
}

export interface StartOptions {
  kubeconfig: string;
  /** The folder for its log and the GC marker file. */
  dir: string;
  /** A name for the log file. */
  label: string;
  args?: string[];
  /** Extra Node.js flags, e.g. --cpu-prof --cpu-prof-dir=DIR to profile the operator. */
  nodeArgs?: string[];
  /** The operator's entry point, relative to the checkout (default src/main.ts; dist/main.js after npm run build) or absolute. */
  entry?: string;
  /**
   * Pass the flags that keep checks on loopback (default true). An operator from before the
   * check-destination policy knows none of them; the loopback guard is preloaded all the same.
   */
  checkFlags?: boolean;
}

export async function startOperatorProcess(opts: StartOptions): Promise<OperatorProcess> {
  const metricsPort = await freePort();
  const healthPort = await freePort();
  const gcFile = join(opts.dir, `${opts.label}.gc`);
  const logFile = join(opts.dir, `${opts.label}.log`);
  const fd = openSync(logFile, "w");
  // The loopback guard in the operator too, and its checks allowed only to loopback.
  const loopback = loopbackOperatorFlags(undefined);
  const entry = opts.entry ?? join("src", "main.ts");
  // A compiled entry gets the guard compiled too: nothing loads Node's TypeScript stripper.
  const guardArgs = entry.endsWith(".js")
    ? ["--import", writeLoopbackGuardJs(join(opts.dir, "loopback-guard-js"))]
    : loopback.nodeArgs;
  const child: ChildProcess = spawn(
    process.execPath,
    [
      "--expose-gc",
      ...guardArgs,
      ...(opts.nodeArgs ?? []),
      "--import",
      join(ROOT, "bench", "gc-hook.js"),
      resolve(ROOT, entry),
      `--kubeconfig=${opts.kubeconfig}`,
      `--metrics-bind-address=127.0.0.1:${metricsPort}`,
      `--health-probe-bind-address=127.0.0.1:${healthPort}`,
      "--log-level=info",
      ...(opts.checkFlags === false ? [] : loopback.args),
      ...(opts.args ?? []),
    ],
    { cwd: ROOT, env: { ...process.env, MRO_BENCH_GC_FILE: gcFile }, stdio: ["ignore", fd, fd] },
  );
  closeSync(fd);
  const killOnExit = () => child.kill("SIGKILL");
  process.once("exit", killOnExit);
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  const pid = child.pid ?? -1;
  const metricsUrl = `http://127.0.0.1:${metricsPort}/metrics`;
  const alive = () => child.exitCode === null && child.signalCode === null;
  const tail = () => readFileSync(logFile, "utf8").split("\n").slice(-20).join("\n");

  await pollUntil(
    "the operator's /readyz",
    async () => {
      if (!alive())
        throw new Error(`the operator exited (${child.exitCode ?? child.signalCode}):\n${tail()}`);
      return fetch(`http://127.0.0.1:${healthPort}/readyz`).then(
        (r) => r.ok,
        () => false,
      );
    },
    60_000,
  );

  const metric = async (name: string): Promise<number> => {
    const text = await (await fetch(metricsUrl)).text();
    const line = text.split("\n").find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{}`));
    if (!line) throw new Error(`the operator's /metrics has no ${name}`);
    return Number(line.slice(line.lastIndexOf(" ") + 1));
  };
  let gcRuns = 0;
  const rssBytes = () => {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) * 1024 : NaN;
  };

  return {
    pid,
    metricsUrl,
    cpuSeconds: () => processCpuSeconds(pid),
    rssBytes,
    metric,
    async memory() {
      const heapUsedBeforeGcBytes = await metric("nodejs_heap_size_used_bytes");
      gcRuns++;
      process.kill(pid, "SIGUSR2");
      await pollUntil(
        "the operator's garbage collection",
        async () => existsSync(gcFile) && Number(readFileSync(gcFile, "utf8")) >= gcRuns,
        30_000,
        20,
      );
      return {
        heapUsedBytes: await metric("nodejs_heap_size_used_bytes"),
        heapUsedBeforeGcBytes,
        rssBytes: rssBytes(),
      };
    },
    async stop() {
      if (alive()) {
        child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
        await exited;
        clearTimeout(timer);
      }
      process.removeListener("exit", killOnExit);
    },
  };
}
