// A server that health checks of the security tests point at, on 127.0.0.1: each path
// answers what the test set for it, after an optional delay, and every request is recorded
// with its time, so a test can count what the operator sent and when.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export interface Route {
  status?: number;
  contentType?: string;
  body: string;
  /** Answer after this many ms. */
  delayMs?: number;
}

export interface RecordedRequest {
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
  /** ms since the epoch when it arrived. */
  at: number;
}

export class CheckTarget {
  readonly requests: RecordedRequest[] = [];
  readonly #routes = new Map<string, Route>();
  readonly #server: Server;

  private constructor() {
    this.#server = createServer((req, res) => {
      const path = (req.url ?? "/").split("?")[0]!;
      this.requests.push({ method: req.method ?? "GET", path, headers: req.headers, at: Date.now() });
      req.resume();
      const route = this.#routes.get(path) ?? { status: 404, body: "no such route\n" };
      const answer = () => {
        if (res.destroyed) return;
        res
          .writeHead(route.status ?? 200, { "content-type": route.contentType ?? "application/json" })
          .end(route.body);
      };
      if (route.delayMs) setTimeout(answer, route.delayMs);
      else answer();
    });
  }

  static async start(host = "127.0.0.1"): Promise<CheckTarget> {
    const t = new CheckTarget();
    await new Promise<void>((resolve) => t.#server.listen(0, host, resolve));
    return t;
  }

  get port(): number {
    return (this.#server.address() as AddressInfo).port;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  route(path: string, route: Route): this {
    this.#routes.set(path, route);
    return this;
  }

  requestsTo(path: string): RecordedRequest[] {
    return this.requests.filter((r) => r.path === path);
  }

  async stop(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((r) => this.#server.close(() => r()));
  }
}
