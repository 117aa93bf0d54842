// Runs the real operator process (node src/main.ts) against the test control plane.
import { spawn, type ChildProcess } from "node:child_process";
import { appendFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { freePort } from "../cluster/cluster.ts";

const ROOT = join(import.meta.dirname, "..", "..");

export interface OperatorProcess {
  readonly pid: number;
  /** http://127.0.0.1:PORT of /metrics. */
  readonly metricsUrl: string;
  /** http://127.0.0.1:PORT of /healthz and /readyz. */
  readonly healthUrl: string;
  /** Everything it logged so far. */
  logs(): string;
  /** Log lines parsed as JSON. */
  logLines(): Record<string, unknown>[];
  /** SIGTERM (or the given signal) and wait for the exit; resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  /** Resolves with the exit code when the process ends on its own. */
  readonly exited: Promise<number | null>;
}

export interface StartOperatorOptions {
  /** Only this namespace (--watch-namespace). */
  namespace?: string;
  args?: string[];
  env?: Record<string, string>;
  /** Wait for /readyz (default true). */
  waitReady?: boolean;
}

const running = new Set<ChildProcess>();
process.on("exit", () => {
  for (const c of running) c.kill("SIGKILL");
});

export async function startOperator(options: StartOperatorOptions = {}): Promise<OperatorProcess> {
  const metricsPort = await freePort();
  const healthPort = await freePort();
  const args = [
    join(ROOT, "src", "main.ts"),
    `--metrics-bind-address=127.0.0.1:${metricsPort}`,
    `--health-probe-bind-address=127.0.0.1:${healthPort}`,
    "--log-level=debug",
    // Everything in the tests runs on 127.0.0.0/8, which the default policy denies to checks
    // (the operator's own ports); a test of that policy passes --check-allow-cidrs= to clear it.
    "--check-allow-cidrs=127.0.0.0/8",
    ...(options.namespace ? [`--watch-namespace=${options.namespace}`] : []),
    ...(options.args ?? []),
  ];
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    env: { ...process.env, ...options.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  running.add(child);
  let output = "";
  // MRO_TEST_OPERATOR_LOG_DIR: also keep each operator's output in a file there, to read after a failure.
  const logDir = process.env.MRO_TEST_OPERATOR_LOG_DIR;
  const logFile = logDir ? join(logDir, `operator-${child.pid ?? "unknown"}.log`) : undefined;
  if (logDir) mkdirSync(logDir, { recursive: true });
  const keep = (c: string) => {
    output += c;
    if (logFile) appendFileSync(logFile, c);
  };
  child.stdout.setEncoding("utf8").on("data", keep);
  child.stderr.setEncoding("utf8").on("data", keep);
  const exited = new Promise<number | null>((resolve) =>
    child.on("exit", (code) => {
      running.delete(child);
      resolve(code);
    }),
  );
  const op: OperatorProcess = {
    pid: child.pid ?? -1,
    metricsUrl: `http://127.0.0.1:${metricsPort}`,
    healthUrl: `http://127.0.0.1:${healthPort}`,
    logs: () => output,
    logLines: () =>
      output
        .split("\n")
        .filter((l) => l.startsWith("{"))
        .map((l) => JSON.parse(l) as Record<string, unknown>),
    exited,
    async stop(signal = "SIGTERM") {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill(signal);
      return exited;
    },
  };
  if (options.waitReady ?? true) {
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`the operator exited with ${child.exitCode}:\n${output}`);
      const ok = await fetch(`${op.healthUrl}/readyz`).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) break;
      if (Date.now() > deadline) {
        await op.stop("SIGKILL");
        throw new Error(`the operator was not ready within 30s:\n${output}`);
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  return op;
}
