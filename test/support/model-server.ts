// A fake model server for HTTP health checks: GET /VERSION/ready answers with the status
// the test set for that version (200 by default); POST /VERSION/infer answers an
// inference-protocol-shaped JSON body. Pods on kwok are not real, so checks use a
// templated url pointing here: http://127.0.0.1:PORT/{{version}}/ready.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export class FakeModelServer {
  readonly #status = new Map<string, number>();
  readonly requests: { method: string; path: string; body: string }[] = [];
  readonly #server: Server;

  private constructor() {
    this.#server = createServer((req, res) => {
      let body = "";
      req.setEncoding("utf8");
      req.on("data", (c: string) => (body += c));
      req.on("end", () => {
        const path = req.url ?? "/";
        this.requests.push({ method: req.method ?? "GET", path, body });
        const [, version = "", op = ""] = path.split("/");
        const status = this.#status.get(version) ?? 200;
        if (op === "infer") {
          res.writeHead(status, { "content-type": "application/json" });
          res.end(
            JSON.stringify({
              model_name: "m",
              model_version: version,
              outputs: [{ name: "score", data: [0.1] }],
            }),
          );
          return;
        }
        res
          .writeHead(status, { "content-type": "text/plain" })
          .end(status === 200 ? "ready\n" : "not ready\n");
      });
    });
  }

  static async start(): Promise<FakeModelServer> {
    const s = new FakeModelServer();
    await new Promise<void>((resolve) => s.#server.listen(0, "127.0.0.1", resolve));
    return s;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  /** What GET /VERSION/ready answers from now on. */
  setStatus(version: string, status: number): void {
    this.#status.set(version, status);
  }

  async stop(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((r) => this.#server.close(() => r()));
  }
}
