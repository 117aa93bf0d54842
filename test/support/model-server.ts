// Model servers for tests.
//
// - ModelServer and serveService()/serveVersion() (below): a model server speaking the
//   Open Inference Protocol behind the real Service of a version, answering as the test
//   says and counting what it receives. The default check target works against it.
// - FakeModelServer: one server for all versions on 127.0.0.1, for checks with a
//   templated url (http://127.0.0.1:PORT/{{version}}/ready): GET /VERSION/ready answers
//   with the status the test set for that version (200 by default); POST /VERSION/infer
//   answers an inference-protocol-shaped JSON body.
import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from "node:http";
import type { AddressInfo } from "node:net";
import { childName } from "../../src/plan/naming.ts";
import { tool, waitFor } from "./kube.ts";
import { assertLoopbackAddress } from "./loopback-guard.ts";

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

// ---------------------------------------------------------------------------------------
// Test model servers behind real Services.
//
// The local control plane hands out ClusterIPs from 127.96.0.0/16, and every address of
// 127.0.0.0/8 reaches the loopback interface, so a test can serve a Service the operator
// created for real: serveService() binds a ModelServer to that Service's ClusterIP and
// port. Then whatever dials the Service's name (the operator's default check target
// http://NAME-V.NAMESPACE.svc:PORT/..., found through the cluster DNS) or its ClusterIP
// reaches the server, and the server counts what it receives. Pods keep their 10.244.x
// addresses, which nothing dials: the Service's ClusterIP is the model.
//
//   const v2 = await serveVersion(ns, "fraud", "2.0.0", { model: "fraud" });
//   v2.behave({ ready: 503 });                 // the model is not loaded any more
//   expect(v2.count("GET", "/v2/models/fraud/ready")).to.be.above(0);
//
// Ports below 1024 need root to bind: the tests give their ModelDeployments a Service port
// such as 8080.

/** A tensor of the Open Inference Protocol (KServe v2). */
export interface OipTensor {
  name: string;
  datatype: string;
  shape: number[];
  data: unknown[];
}

/** An inference request of the Open Inference Protocol. */
export interface OipInferRequest {
  id?: string;
  inputs: OipTensor[];
}

/** How a model server answers; ModelServer.behave() changes it while it runs. */
export interface ModelBehaviour {
  /** Status of GET /v2/models/{model}/ready and /v2/health/ready (default 200). */
  ready?: number;
  /** Status of GET /v2/health/live (default 200). */
  live?: number;
  /** The outputs POST /v2/models/{model}/infer answers with (default: score [0.1]). */
  outputs?: OipTensor[];
  /** A model: the outputs of each inference request, computed from it (instead of `outputs`). */
  infer?: (request: OipInferRequest) => OipTensor[];
  /** The inputs GET /v2/models/{model} names (default: features, FP32 [-1, 4]). */
  inputs?: Omit<OipTensor, "data">[];
  /** Status of POST /v2/models/{model}/infer (default 200); other than 200 answers {"error": ...}. */
  inferStatus?: number;
  /** Every answer waits this long first (a slow model). */
  delayMs?: number;
  /** Every request is answered with this status and {"error": ...} (a broken server). */
  failStatus?: number;
  /** Every connection is closed without an answer (a server that crashes mid-request). */
  reset?: boolean;
}

export interface ReceivedRequest {
  method: string;
  path: string;
  /** The Host header: which name the client dialled. */
  host: string | undefined;
  headers: IncomingHttpHeaders;
  body: string;
  /** Date.now() when the request was complete. */
  at: number;
}

export interface ModelServerOptions extends ModelBehaviour {
  /** A loopback address (a Service's ClusterIP); anything else is refused. */
  host: string;
  /** 0 = a free port. */
  port: number;
  /** The model name of the inference-protocol paths (spec.model.name). */
  model: string;
  /** What metadata and inference answers name as the version. */
  version: string;
}

const DEFAULT_OUTPUTS: OipTensor[] = [{ name: "score", datatype: "FP32", shape: [1, 1], data: [0.1] }];
const DEFAULT_INPUTS: Omit<OipTensor, "data">[] = [{ name: "features", datatype: "FP32", shape: [-1, 4] }];

/** A model server speaking the Open Inference Protocol, on one loopback address and port. */
export class ModelServer {
  readonly model: string;
  readonly version: string;
  /** Every request received, in order. */
  readonly requests: ReceivedRequest[] = [];
  #behaviour: ModelBehaviour;
  readonly #server: Server;

  private constructor(options: ModelServerOptions) {
    const { host: _host, port: _port, model, version, ...behaviour } = options;
    this.model = model;
    this.version = version;
    this.#behaviour = behaviour;
    this.#server = createServer((req, res) => void this.#handle(req, res));
    this.#server.keepAliveTimeout = 1000;
  }

  static async start(options: ModelServerOptions): Promise<ModelServer> {
    assertLoopbackAddress(options.host, `the model server of ${options.model} ${options.version}`);
    const s = new ModelServer(options);
    await new Promise<void>((resolve, reject) => {
      s.#server.once("error", reject);
      s.#server.listen(options.port, options.host, () => resolve());
    });
    return s;
  }

  /** host:port it listens on. */
  get address(): string {
    const a = this.#server.address() as AddressInfo;
    return `${a.address}:${a.port}`;
  }

  get url(): string {
    return `http://${this.address}`;
  }

  /** Changes how it answers from now on (fields not given keep their value). */
  behave(behaviour: ModelBehaviour): void {
    this.#behaviour = { ...this.#behaviour, ...behaviour };
  }

  /** Requests received, optionally only of this method and path. */
  count(method?: string, path?: string): number {
    return this.requests.filter((r) => (!method || r.method === method) && (!path || r.path === path)).length;
  }

  async stop(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((r) => this.#server.close(() => r()));
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const path = req.url ?? "/";
    const body = Buffer.concat(chunks).toString("utf8");
    this.requests.push({
      method: req.method ?? "",
      path,
      host: req.headers.host,
      headers: req.headers,
      body,
      at: Date.now(),
    });
    const b = this.#behaviour;
    if (b.reset) {
      req.socket.destroy();
      return;
    }
    if (b.delayMs) await new Promise((r) => setTimeout(r, b.delayMs));
    const json = (status: number, value: unknown): void => {
      res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(value));
    };
    if (b.failStatus) return json(b.failStatus, { error: `${this.model} ${this.version}: failing (test)` });

    const m = /^\/v2\/models\/([^/]+)(?:\/versions\/([^/]+))?(\/ready|\/infer)?$/.exec(path.split("?")[0]!);
    if (req.method === "GET" && path === "/v2/health/live")
      return json(b.live ?? 200, { live: (b.live ?? 200) === 200 });
    if (req.method === "GET" && path === "/v2/health/ready")
      return json(b.ready ?? 200, { ready: (b.ready ?? 200) === 200 });
    if (!m) return json(404, { error: `no route ${req.method} ${path}` });
    if (decodeURIComponent(m[1]!) !== this.model) return json(404, { error: `model ${m[1]} not found` });
    if (m[3] === "/ready" && req.method === "GET") {
      const status = b.ready ?? 200;
      return json(status, { name: this.model, ready: status === 200 });
    }
    if (m[3] === undefined && req.method === "GET") {
      return json(200, {
        name: this.model,
        versions: [this.version],
        platform: "model-rollout-operator-test",
        inputs: b.inputs ?? DEFAULT_INPUTS,
        outputs: (b.outputs ?? DEFAULT_OUTPUTS).map(({ name, datatype, shape }) => ({
          name,
          datatype,
          shape,
        })),
      });
    }
    if (m[3] === "/infer" && req.method === "POST") {
      let request: { id?: string; inputs?: OipTensor[] };
      try {
        request = JSON.parse(body) as typeof request;
      } catch {
        return json(400, { error: "the request body is not JSON" });
      }
      if (!Array.isArray(request.inputs)) return json(400, { error: "the request has no inputs" });
      const status = b.inferStatus ?? 200;
      if (status !== 200)
        return json(status, { error: `${this.model} ${this.version}: inference failed (test)` });
      return json(200, {
        model_name: this.model,
        model_version: this.version,
        ...(request.id ? { id: request.id } : {}),
        outputs: b.infer ? b.infer(request as OipInferRequest) : (b.outputs ?? DEFAULT_OUTPUTS),
      });
    }
    return json(405, { error: `${req.method} ${path} is not allowed` });
  }
}

/**
 * Waits for the Service NAMESPACE/NAME (created by the operator) and serves it: a
 * ModelServer on its ClusterIP and its port (the first, or the one named `portName`).
 */
export async function serveService(
  namespace: string,
  name: string,
  options: Omit<ModelServerOptions, "host" | "port"> & { portName?: string; timeoutMs?: number },
): Promise<ModelServer> {
  const { portName, timeoutMs, ...server } = options;
  const svc = await waitFor(
    `Service ${namespace}/${name} with a ClusterIP`,
    async () => {
      const r = await tool("kubectl", ["-n", namespace, "get", "service", name, "-o", "json"]);
      if (r.code !== 0) return undefined;
      const s = JSON.parse(r.stdout) as {
        spec?: { clusterIP?: string; ports?: { name?: string; port: number }[] };
      };
      return s.spec?.clusterIP && s.spec.clusterIP !== "None" ? s : undefined;
    },
    { timeoutMs: timeoutMs ?? 60_000, intervalMs: 100 },
  );
  const port = (portName ? svc.spec?.ports?.find((p) => p.name === portName) : svc.spec?.ports?.[0])?.port;
  if (!port) throw new Error(`Service ${namespace}/${name} has no port ${portName ?? ""}`.trim());
  return ModelServer.start({ ...server, host: svc.spec!.clusterIP!, port });
}

/**
 * Serves the Service of one version of a ModelDeployment (NAME-V, or NAME-V-REVISION for
 * a changed template, as `service`) once the operator has created it. `model` defaults to
 * the ModelDeployment's name, as spec.model.name does.
 */
export function serveVersion(
  namespace: string,
  mdName: string,
  version: string,
  options: Partial<Omit<ModelServerOptions, "host" | "port" | "version">> & { service?: string } = {},
): Promise<ModelServer> {
  const { service, model, ...behaviour } = options;
  return serveService(namespace, service ?? childName(mdName, version), {
    ...behaviour,
    model: model ?? mdName,
    version,
  });
}
