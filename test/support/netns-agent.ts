// The process inside a loopback-only namespace (see loopback-namespace.ts). It is PID 1 of
// its own PID namespace in a network namespace whose only interface is `lo`, so whatever it
// starts, serves or sends can only reach 127.0.0.0/8 of that namespace, and everything it
// started dies with it.
//
// It reads one JSON command per line on stdin and writes one JSON answer per line on stdout
// ({id, ok: true, result} or {id, ok: false, error}); stdin closing means stop. Commands:
//   spawn   {name, command, args, env?, cwd?, logFile}   start a process, output to logFile
//   status  {name}                                       {running, exitCode, signal}
//   serve   {servers: [{address, port, answer}]}         HTTP servers answering `answer`
//   served  {}                                           what each server received
//   send    {url, host?, headers?, count, concurrency}   answers counted by body and status
//   fetch   {url}                                        {status, body} of one GET
//   memory  {}                                           RSS of every process in the namespace
//   network {}                                           interfaces and listening TCP ports
//   removeOnExit {path}                                  a folder to remove when the agent ends
import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import { openSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { Agent, createServer, request, type Server } from "node:http";
import { networkInterfaces } from "node:os";
import { createInterface } from "node:readline";

interface Served {
  answer: string;
  address: string;
  port: number;
  requests: number;
  /**
   * The x-request-id of each request: Envoy gives every client request one, and a copy
   * made by a RequestMirror filter keeps the original's (its Host header is unchanged).
   */
  requestIds: string[];
}

const children = new Map<string, ChildProcess>();
const servers: { server: Server; served: Served }[] = [];
const removeOnExit: string[] = [];

// The namespace starts with `lo` down: without this, even 127.0.0.1 is unreachable.
execFileSync("ip", ["link", "set", "lo", "up"]);

const commands: Record<string, (args: Record<string, unknown>) => Promise<unknown>> = {
  async spawn(a) {
    const name = String(a.name);
    if (children.has(name)) throw new Error(`a process named ${name} runs already`);
    const log = openSync(String(a.logFile), "a");
    const child = spawn(String(a.command), (a.args as string[]) ?? [], {
      cwd: a.cwd ? String(a.cwd) : undefined,
      env: { ...(a.env as Record<string, string>) },
      stdio: ["ignore", log, log],
    });
    await new Promise<void>((resolve, reject) => {
      child.once("spawn", resolve);
      child.once("error", reject);
    });
    children.set(name, child);
    return { pid: child.pid };
  },

  async status(a) {
    const child = children.get(String(a.name));
    if (!child) throw new Error(`no process named ${String(a.name)}`);
    const running = child.exitCode === null && child.signalCode === null;
    return { running, exitCode: child.exitCode, signal: child.signalCode };
  },

  async serve(a) {
    for (const s of a.servers as { address: string; port: number; answer: string }[]) {
      const served: Served = {
        answer: s.answer,
        address: s.address,
        port: s.port,
        requests: 0,
        requestIds: [],
      };
      const server = createServer((req, res) => {
        served.requests++;
        served.requestIds.push(String(req.headers["x-request-id"] ?? ""));
        req.resume();
        req.on("end", () => res.writeHead(200, { "content-type": "text/plain" }).end(s.answer));
      });
      await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(s.port, s.address, resolve);
      });
      servers.push({ server, served });
    }
    return {};
  },

  async served() {
    return servers.map((s) => s.served);
  },

  async send(a) {
    const count = Number(a.count);
    const concurrency = Math.max(1, Math.min(Number(a.concurrency ?? 8), count));
    const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
    const answers: Record<string, number> = {};
    const statuses: Record<string, number> = {};
    let errors = 0;
    let next = 0;
    const headers = { ...(a.headers as Record<string, string>), ...(a.host ? { host: String(a.host) } : {}) };
    const one = () =>
      new Promise<void>((resolve) => {
        const req = request(String(a.url), { agent, headers, timeout: 5000 }, (res) => {
          let body = "";
          res.setEncoding("utf8");
          res.on("data", (c: string) => (body += c));
          res.on("end", () => {
            statuses[String(res.statusCode)] = (statuses[String(res.statusCode)] ?? 0) + 1;
            if (res.statusCode === 200) answers[body] = (answers[body] ?? 0) + 1;
            resolve();
          });
        });
        req.on("timeout", () => req.destroy(new Error("timeout")));
        req.on("error", () => {
          errors++;
          resolve();
        });
        req.end();
      });
    const worker = async () => {
      while (next < count) {
        next++;
        await one();
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
    agent.destroy();
    return { answers, statuses, errors };
  },

  async fetch(a) {
    const response = await fetch(String(a.url), { signal: AbortSignal.timeout(5000) });
    return { status: response.status, body: await response.text() };
  },

  async memory() {
    const processes: { pid: number; command: string; rssKiB: number }[] = [];
    for (const entry of readdirSync("/proc")) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        const status = readFileSync(`/proc/${entry}/status`, "utf8");
        // argv[0], not the thread name of status (Node's is "MainThread").
        const argv0 = readFileSync(`/proc/${entry}/cmdline`, "utf8").split("\0")[0] ?? "";
        const command = argv0.split("/").pop() || (/^Name:\s+(.*)$/m.exec(status)?.[1] ?? "");
        const rssKiB = Number(/^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1] ?? 0);
        processes.push({ pid: Number(entry), command, rssKiB });
      } catch {
        // exited meanwhile
      }
    }
    return processes;
  },

  async removeOnExit(a) {
    removeOnExit.push(String(a.path));
    return {};
  },

  async network() {
    const interfaces = Object.entries(networkInterfaces()).map(([name, addresses]) => ({
      name,
      addresses: (addresses ?? []).map((a) => a.cidr ?? a.address),
    }));
    return { interfaces, listening: listeningTcp() };
  },
};

/** Listening TCP sockets of this network namespace, as ADDRESS:PORT (IPv4 only). */
function listeningTcp(): string[] {
  const listening: string[] = [];
  for (const line of readFileSync("/proc/net/tcp", "utf8").split("\n").slice(1)) {
    const [, local, , state] = line.trim().split(/\s+/);
    if (state !== "0A" || !local) continue; // 0A: LISTEN
    const [hex, port] = local.split(":");
    const address = (hex!.match(/../g) ?? [])
      .reverse()
      .map((b) => parseInt(b, 16))
      .join(".");
    listening.push(`${address}:${parseInt(port!, 16)}`);
  }
  return [...new Set(listening)].sort();
}

function reply(message: unknown): void {
  process.stdout.write(JSON.stringify(message) + "\n");
}

const lines = createInterface({ input: process.stdin });
lines.on("line", (line) => {
  let id: unknown;
  void (async () => {
    try {
      const {
        id: commandId,
        command,
        args,
      } = JSON.parse(line) as {
        id: unknown;
        command: string;
        args: Record<string, unknown>;
      };
      id = commandId;
      const run = commands[command];
      if (!run) throw new Error(`unknown command ${command}`);
      reply({ id, ok: true, result: await run(args ?? {}) });
    } catch (err) {
      reply({ id, ok: false, error: err instanceof Error ? err.message : String(err) });
    }
  })();
});

// Stop: the processes get SIGTERM and 5 s; then this PID 1 exits, and the kernel kills
// whatever is left in the namespace.
lines.on("close", () => {
  for (const s of servers) s.server.close();
  const running = [...children.values()].filter((c) => c.exitCode === null && c.signalCode === null);
  for (const child of running) child.kill("SIGTERM");
  const exited = running.map((c) => new Promise((resolve) => c.once("exit", resolve)));
  const exit = () => {
    for (const path of removeOnExit) rmSync(path, { recursive: true, force: true });
    process.exit(0);
  };
  setTimeout(exit, 5000).unref();
  void Promise.all(exited).then(exit);
});
