// Runs the real operator process (node src/main.ts) against the test control plane, kept
// on loopback (loopbackOperatorFlags): the loopback guard preloaded, checks allowed only to
// 127.0.0.0/8 and names in check URLs resolved through the cluster DNS, so the default
// check target http://NAME-V.NAMESPACE.svc:PORT/... works as in a cluster. The
// connections its guard refuses fail the test that is running (recordRefusal).
import { spawn, type ChildProcess } from "node:child_process";
import { appendFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { freePort } from "../cluster/cluster.ts";
import { loopbackOperatorFlags, recordRefusal, REFUSAL_MARKER } from "./loopback-guard.ts";

const ROOT = join(import.meta.dirname, "..", "..");

export interface OperatorProcess {
  readonly pid: number;
  /** http://127.0.0.1:PORT of /metrics (https:// with --metrics-secure). */
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
  /** How the process is started (default: this checkout's src/main.ts on this Node). */
  launcher?: OperatorLauncher;
}

/** Starts the operator with the given flags; the image tests run it from the container image. */
export interface OperatorLauncher {
  /** `env` holds only the test's variables; the launcher decides what else the process sees. */
  spawn(flags: string[], env: Record<string, string>): ChildProcess;
  /** Delivers a signal to the operator (default: to the spawned process). */
  signal?(child: ChildProcess, signal: NodeJS.Signals): void;
}

const sourceLauncher: OperatorLauncher = {
  // The loopback guard is preloaded (node --import) into the operator run from source.
  spawn: (flags, env) =>
    spawn(
      process.execPath,
      [...loopbackOperatorFlags(undefined).nodeArgs, join(ROOT, "src", "main.ts"), ...flags],
      {
        cwd: ROOT,
        env: { ...process.env, ...env },
        stdio: ["ignore", "pipe", "pipe"],
      },
    ),
};

const running = new Set<ChildProcess>();
process.on("exit", () => {
  for (const c of running) c.kill("SIGKILL");
});

export async function startOperator(options: StartOperatorOptions = {}): Promise<OperatorProcess> {
  const metricsPort = await freePort();
  const healthPort = await freePort();
  // MRO_TEST_DNS_SERVER: the cluster DNS of the test control plane (global-fixture.ts).
  const loopback = loopbackOperatorFlags(process.env.MRO_TEST_DNS_SERVER);
  const flags = [
    `--metrics-bind-address=127.0.0.1:${metricsPort}`,
    `--health-probe-bind-address=127.0.0.1:${healthPort}`,
    "--log-level=debug",
    ...loopback.args,
    ...(options.namespace ? [`--watch-namespace=${options.namespace}`] : []),
    ...(options.args ?? []),
  ];
  const launcher = options.launcher ?? sourceLauncher;
  const child = launcher.spawn(flags, options.env ?? {});
  const signal = (sig: NodeJS.Signals) => (launcher.signal ? launcher.signal(child, sig) : child.kill(sig));
  running.add(child);
  let output = "";
  // MRO_TEST_OPERATOR_LOG_DIR: also keep each operator's output in a file there, to read after a failure.
  const logDir = process.env.MRO_TEST_OPERATOR_LOG_DIR;
  const logFile = logDir ? join(logDir, `operator-${child.pid ?? "unknown"}.log`) : undefined;
  if (logDir) mkdirSync(logDir, { recursive: true });
  let partialLine = "";
  const keep = (c: string) => {
    output += c;
    if (logFile) appendFileSync(logFile, c);
    const lines = (partialLine + c).split("\n");
    partialLine = lines.pop() ?? "";
    for (const line of lines) {
      if (line.startsWith(REFUSAL_MARKER))
        recordRefusal(`operator ${child.pid}: ${line.slice(REFUSAL_MARKER.length + 1)}`);
    }
  };
  child.stdout?.setEncoding("utf8").on("data", keep);
  child.stderr?.setEncoding("utf8").on("data", keep);
  const exited = new Promise<number | null>((resolve) =>
    child.on("exit", (code) => {
      running.delete(child);
      resolve(code);
    }),
  );
  const secureMetrics = flags.some((f) => f === "--metrics-secure" || f === "--metrics-secure=true");
  const op: OperatorProcess = {
    pid: child.pid ?? -1,
    metricsUrl: `${secureMetrics ? "https" : "http"}://127.0.0.1:${metricsPort}`,
    healthUrl: `http://127.0.0.1:${healthPort}`,
    logs: () => output,
    logLines: () =>
      output
        .split("\n")
        .filter((l) => l.startsWith("{"))
        .map((l) => JSON.parse(l) as Record<string, unknown>),
    exited,
    async stop(sig = "SIGTERM") {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      signal(sig);
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
