// A network namespace that has only loopback, for test processes whose ports or
// connections must stay local by construction (Envoy Gateway listens on all interfaces).
//
// `unshare --net --pid --fork --kill-child --mount-proc` runs netns-agent.ts as PID 1 of a
// new PID namespace inside a new network namespace; the agent brings `lo` up and then
// spawns processes, serves HTTP and sends requests there on this process's behalf, over
// its stdin/stdout (no sockets cross the namespace boundary). When the agent ends, the
// kernel kills every process of the namespace; --kill-child ends the agent when unshare
// ends, and unshare is killed when this process exits, so nothing outlives a test run.
//
// Needs root (or unprivileged user namespaces: LOOPBACK_NS_USERNS=1 adds --map-root-user)
// and util-linux's unshare plus iproute2's ip.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { createInterface } from "node:readline";

const AGENT = join(import.meta.dirname, "netns-agent.ts");
const OUTPUT_LIMIT = 64 * 1024;

export interface SendOptions {
  /** http://ADDRESS:PORT/PATH inside the namespace. */
  url: string;
  host?: string;
  headers?: Record<string, string>;
  count: number;
  /** Requests in flight at once (default 8). */
  concurrency?: number;
}

export interface SendResult {
  /** 200 answers counted by body. */
  answers: Record<string, number>;
  /** Answers counted by status code. */
  statuses: Record<string, number>;
  /** Requests that got no answer (connection refused, reset, 5 s timeout). */
  errors: number;
}

export interface ServedCounts {
  answer: string;
  address: string;
  port: number;
  requests: number;
  /** x-request-id of each request received; a mirrored copy has its original's. */
  requestIds: string[];
}

export interface NamespaceProcess {
  pid: number;
  command: string;
  rssKiB: number;
}

/** Why a loopback namespace cannot be made here, or undefined when it can. */
export function loopbackNamespaceProblem(): string | undefined {
  const probe = spawnSync("unshare", [...unshareArgs(), "--", "ip", "link", "set", "lo", "up"], {
    encoding: "utf8",
  });
  if (probe.error) return `unshare could not run: ${probe.error.message} (util-linux)`;
  if (probe.status !== 0) return `unshare --net failed: ${probe.stderr.trim()}`;
  return undefined;
}

function unshareArgs(): string[] {
  const args = ["--net", "--pid", "--fork", "--kill-child", "--mount-proc"];
  if (process.env.LOOPBACK_NS_USERNS === "1") args.unshift("--map-root-user");
  return args;
}

export class LoopbackNamespace {
  readonly #child: ChildProcess;
  readonly #pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  readonly #exited: Promise<void>;
  readonly #onExit = () => this.#child.kill("SIGKILL");
  #nextId = 1;
  #output = "";
  #ended = false;

  private constructor() {
    this.#child = spawn("unshare", [...unshareArgs(), "--", process.execPath, AGENT], {
      stdio: ["pipe", "pipe", "pipe"],
    });
    this.#exited = new Promise((resolve) => this.#child.once("exit", () => resolve()));
    void this.#exited.then(() => {
      this.#ended = true;
      process.off("exit", this.#onExit);
      for (const p of this.#pending.values()) p.reject(new Error(`the namespace ended:\n${this.#output}`));
      this.#pending.clear();
    });
    this.#child.once("error", (err) => (this.#output += `\n${err.message}`));
    this.#child.stderr?.on("data", (chunk: Buffer) => {
      this.#output = (this.#output + chunk.toString("utf8")).slice(-OUTPUT_LIMIT);
    });
    createInterface({ input: this.#child.stdout! }).on("line", (line) => {
      const message = JSON.parse(line) as { id: number; ok: boolean; result?: unknown; error?: string };
      const p = this.#pending.get(message.id);
      if (!p) return;
      this.#pending.delete(message.id);
      if (message.ok) p.resolve(message.result);
      else p.reject(new Error(message.error));
    });
    // Only synchronous work is possible in an exit handler: kill unshare, the kernel does the rest.
    process.on("exit", this.#onExit);
  }

  /** Starts the namespace and waits until its agent answers. */
  static async create(): Promise<LoopbackNamespace> {
    const ns = new LoopbackNamespace();
    await ns.call("served", {});
    return ns;
  }

  call<T>(command: string, args: Record<string, unknown>): Promise<T> {
    if (this.#ended) return Promise.reject(new Error(`the namespace ended:\n${this.#output}`));
    const id = this.#nextId++;
    return new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.#child.stdin!.write(JSON.stringify({ id, command, args }) + "\n");
    });
  }

  /** Starts a process in the namespace; its stdout and stderr go to logFile. */
  spawn(
    name: string,
    command: string,
    args: string[],
    options: { env?: Record<string, string>; cwd?: string; logFile: string },
  ): Promise<{ pid: number }> {
    return this.call("spawn", { name, command, args, ...options });
  }

  status(name: string): Promise<{ running: boolean; exitCode: number | null; signal: string | null }> {
    return this.call("status", { name });
  }

  /** HTTP servers inside the namespace that answer every request with `answer`. */
  serve(servers: { address: string; port: number; answer: string }[]): Promise<void> {
    return this.call("serve", { servers });
  }

  /** What each server has received so far. */
  served(): Promise<ServedCounts[]> {
    return this.call("served", {});
  }

  /** Sends `count` GET requests from inside the namespace and counts the answers. */
  send(options: SendOptions): Promise<SendResult> {
    return this.call("send", { ...options });
  }

  /** One GET from inside the namespace. */
  fetch(url: string): Promise<{ status: number; body: string }> {
    return this.call("fetch", { url });
  }

  /** Every process of the namespace with its resident memory. */
  processes(): Promise<NamespaceProcess[]> {
    return this.call("memory", {});
  }

  /** A folder the agent removes when it ends (after its processes), however this process ends. */
  removeOnExit(path: string): Promise<void> {
    return this.call("removeOnExit", { path });
  }

  /** The namespace's interfaces with their addresses, and its listening IPv4 TCP sockets. */
  network(): Promise<{ interfaces: { name: string; addresses: string[] }[]; listening: string[] }> {
    return this.call("network", {});
  }

  /** What the agent printed, for failure messages. */
  output(): string {
    return this.#output;
  }

  /** Ends the agent (its processes get SIGTERM, then the namespace is gone); SIGKILL after 8 s. */
  async stop(): Promise<void> {
    if (!this.#ended) {
      this.#child.stdin!.end();
      const kill = setTimeout(() => this.#child.kill("SIGKILL"), 8000);
      await this.#exited;
      clearTimeout(kill);
    }
  }
}
