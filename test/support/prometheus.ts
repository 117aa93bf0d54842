// A real Prometheus for tests: the `prometheus` binary (Debian's package, or PROMETHEUS_BIN),
// on 127.0.0.1 with a free port, its config and TSDB in a temporary folder, scraping the
// given targets every second. It never uses a Prometheus the machine may already run.
//
//   const prometheus = await startPrometheus({ targets: [exporter.target] });
//   ... prometheus.url ...
//   await prometheus.stop();
//
// If the test process exits without stop(), an exit handler kills it and removes its folder.
import { spawn, type ChildProcess } from "node:child_process";
import { accessSync, constants, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { assertLoopbackHostPort } from "./loopback-guard.ts";

export interface PrometheusOptions {
  /** host:port scrape targets (job "exporter", path /metrics). */
  targets: string[];
  /** Scrape interval (default 1s). */
  scrapeInterval?: string;
  /** How long to wait for /-/ready (default 30s). */
  readyTimeoutMs?: number;
  /** Labels added to every scraped series (a target's namespace="..."), as a static config's labels. */
  labels?: Record<string, string>;
}

export interface PrometheusServer {
  /** http://127.0.0.1:PORT */
  url: string;
  /** The folder with prometheus.yml and the TSDB; removed by stop(). */
  dir: string;
  /** What Prometheus printed (the last 64 KiB), for failure messages. */
  output(): string;
  /** Every query it evaluated so far, from its query log (query_log_file). */
  queries(): string[];
  /** SIGTERM, then SIGKILL after 5s; removes the folder. */
  stop(): Promise<void>;
}

const OUTPUT_LIMIT = 64 * 1024;

/** The prometheus binary: PROMETHEUS_BIN, else the first on PATH, else /usr/bin/prometheus. */
export function findPrometheus(): string | undefined {
  const candidates = [
    process.env.PROMETHEUS_BIN,
    ...(process.env.PATH ?? "").split(delimiter).map((dir) => dir && join(dir, "prometheus")),
    "/usr/bin/prometheus",
  ];
  for (const candidate of candidates) {
    if (!candidate) continue;
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // next
    }
  }
  return undefined;
}

export async function startPrometheus(options: PrometheusOptions): Promise<PrometheusServer> {
  // Prometheus dials its targets itself, outside the guard of this process: check them here.
  for (const target of options.targets) assertLoopbackHostPort(target, "a Prometheus scrape target");
  const binary = findPrometheus();
  if (!binary) {
    throw new Error(
      "prometheus is not installed: `apt-get install prometheus`, or set PROMETHEUS_BIN to a prometheus binary",
    );
  }
  // A free port can be taken between finding it and Prometheus binding it: try a few.
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await startOnce(binary, options);
    } catch (err) {
      lastError = err;
      if (!(err instanceof PortTakenError)) throw err;
    }
  }
  throw lastError;
}

class PortTakenError extends Error {}

async function startOnce(binary: string, options: PrometheusOptions): Promise<PrometheusServer> {
  const dir = mkdtempSync(join(tmpdir(), "mro-prometheus-"));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const interval = options.scrapeInterval ?? "1s";
  const config = [
    "global:",
    `  scrape_interval: ${interval}`,
    `  evaluation_interval: ${interval}`,
    `  query_log_file: ${JSON.stringify(join(dir, "queries.log"))}`,
    "scrape_configs:",
    "  - job_name: exporter",
    `    scrape_interval: ${interval}`,
    `    scrape_timeout: ${interval}`,
    "    static_configs:",
    `      - targets: ${JSON.stringify(options.targets)}`,
    ...(options.labels ? [`        labels: ${JSON.stringify(options.labels)}`] : []),
    "",
  ].join("\n");
  writeFileSync(join(dir, "prometheus.yml"), config);

  let output = "";
  const child: ChildProcess = spawn(
    binary,
    [
      `--config.file=${join(dir, "prometheus.yml")}`,
      `--storage.tsdb.path=${join(dir, "data")}`,
      `--web.listen-address=127.0.0.1:${port}`,
      "--storage.tsdb.retention.time=1h",
    ],
    { cwd: dir, stdio: ["ignore", "pipe", "pipe"] },
  );
  const collect = (chunk: Buffer) => {
    output = (output + chunk.toString("utf8")).slice(-OUTPUT_LIMIT);
  };
  child.stdout?.on("data", collect);
  child.stderr?.on("data", collect);

  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once("exit", () => resolve());
  });
  let spawnError: Error | undefined;
  child.once("error", (err) => (spawnError = err));

  // Kill it if the test process exits without stop(): only synchronous work is possible here.
  const onExit = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  };
  process.on("exit", onExit);

  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      const killTimer = setTimeout(() => child.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(killTimer);
    }
    process.off("exit", onExit);
    rmSync(dir, { recursive: true, force: true });
  };

  const deadline = Date.now() + (options.readyTimeoutMs ?? 30000);
  let hasExited = false;
  void exited.then(() => (hasExited = true));
  while (true) {
    if (spawnError || hasExited) {
      await stop();
      const why = spawnError ? spawnError.message : `exited with ${child.exitCode ?? child.signalCode}`;
      const message = `prometheus ${why}:\n${output.slice(-4000)}`;
      if (/address already in use/.test(output)) throw new PortTakenError(message);
      throw new Error(message);
    }
    if (await isReady(url)) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(
        `prometheus at ${url} was not ready within ${options.readyTimeoutMs ?? 30000}ms:\n${output.slice(-4000)}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }

  const queries = () => {
    let text: string;
    try {
      text = readFileSync(join(dir, "queries.log"), "utf8");
    } catch {
      return []; // no query yet
    }
    return text
      .split("\n")
      .filter((line) => line.startsWith("{"))
      .map((line) => (JSON.parse(line) as { params?: { query?: string } }).params?.query ?? "");
  };
  return { url, dir, output: () => output, queries, stop };
}

async function isReady(url: string): Promise<boolean> {
  try {
    const response = await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(1000) });
    await response.body?.cancel();
    return response.status === 200;
  } catch {
    return false;
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}
