// One JSON request to the API server, shared by the writes (kube/client.ts) and the
// informers' list pages (kube/listwatch.ts): the kubeconfig's credentials on a
// keep-alive connection, the operator's user agent, the client-side rate limit, a
// timeout, every request counted, and the API server's Status turned into an error.
import * as https from "node:https";
import { OPERATOR_NAME, VERSION } from "../api/constants.ts";
import { applyRequestOptions, type ConnectionPool } from "./agent.ts";
import type { KubeConnection } from "./kubeconfig.ts";
import type { RateLimiter } from "./ratelimit.ts";

// node:http through process.getBuiltinModule, not an ES import: the ES module of node:http
// reads every export once, and its WebSocket, CloseEvent and MessageEvent getters load Node's
// own copy of undici, about 13 MiB of RSS that the operator never uses (docs/benchmarks.md).
const http = process.getBuiltinModule("node:http");

/**
 * Sent with every request, so the API server's audit log and metrics can tell the operator's;
 * with the pod's name (env POD_NAME) when it has one, so that they can also tell which
 * replica or shard sent it.
 */
export const USER_AGENT = userAgent(process.env.POD_NAME);

/** `model-rollout-operator/VERSION`, then ` (POD_NAME)` when given (header-safe characters only). */
export function userAgent(podName: string | undefined): string {
  const base = `${OPERATOR_NAME}/${VERSION}`;
  const instance = podName?.replace(/[^\w.-]/g, "").slice(0, 128);
  return instance ? `${base} (${instance})` : base;
}

/** An answer of the API server other than 2xx. `status` 409 and 404 are normal: requeue. */
export class KubeApiError extends Error {
  readonly status: number;
  readonly reason: string | undefined;
  /** The reasons of the Status's details.causes (e.g. NamespaceTerminating). */
  readonly causes: readonly string[];
  constructor(status: number, message: string, reason?: string, causes: readonly string[] = []) {
    super(message);
    this.name = "KubeApiError";
    this.status = status;
    this.reason = reason;
    this.causes = causes;
  }
  /** The HTTP status, under the name client-node's errors use. */
  get statusCode(): number {
    return this.status;
  }
}

/**
 * The API server's answer `text` with status `code` to `what` ("GET /api/v1/...", "watch
 * /api/v1/..."), as a KubeApiError with the message and reason of its Status object.
 */
export function apiErrorOf(code: number, what: string, text: string): KubeApiError {
  let message = text.slice(0, 500);
  let reason: string | undefined;
  let causes: string[] = [];
  try {
    const st = JSON.parse(text) as {
      message?: string;
      reason?: string;
      details?: { causes?: { reason?: string }[] };
    };
    message = st.message ?? message;
    reason = st.reason;
    causes = (st.details?.causes ?? []).flatMap((c) => (typeof c.reason === "string" ? [c.reason] : []));
  } catch {
    // not a Status object
  }
  return new KubeApiError(code, `${what}: ${code} ${message}`, reason, causes);
}

/** Called once per request with its method and HTTP status (0: no answer). */
export type RequestObserver = (method: string, code: number) => void;

export interface RequestTraffic {
  onRequest?: RequestObserver;
  rateLimiter?: RateLimiter;
}

export interface JsonRequest {
  method: string;
  /** Path on the API server, e.g. /apis/apps/v1/namespaces/ns/deployments. */
  path: string;
  query?: Record<string, string>;
  /** Sent as JSON. */
  body?: unknown;
  /** Content-Type of the body (default application/json). */
  contentType?: string;
  signal?: AbortSignal;
  timeoutMs: number;
}

/** A request to the API server of `kc` ready to send: its URL, its options and its transport. */
export interface PreparedRequest {
  url: URL;
  options: https.RequestOptions;
  transport: typeof http | typeof https;
}

/** The URL of `path` on the current cluster and the options that carry the kubeconfig's credentials. */
export async function prepareRequest(
  kc: KubeConnection,
  method: string,
  path: string,
  query: Record<string, string> = {},
  headers: Record<string, string> = {},
  pool: ConnectionPool = "requests",
): Promise<PreparedRequest> {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error("the kubeconfig has no current cluster");
  const url = new URL(cluster.server.replace(/\/+$/, "") + path);
  for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
  const options: https.RequestOptions = {
    method,
    headers: { Accept: "application/json", "User-Agent": USER_AGENT, ...headers },
  };
  await applyRequestOptions(kc, url, options, pool);
  return { url, options, transport: url.protocol === "http:" ? http : https };
}

export async function requestJson<R>(
  kc: KubeConnection,
  req: JsonRequest,
  traffic: RequestTraffic = {},
): Promise<R> {
  const { method, signal, timeoutMs } = req;
  await traffic.rateLimiter?.acquire(signal);
  const payload = req.body === undefined ? undefined : Buffer.from(JSON.stringify(req.body));
  const headers: Record<string, string> = {};
  if (payload) {
    headers["Content-Type"] = req.contentType ?? "application/json";
    headers["Content-Length"] = String(payload.length);
  }
  const { url, options, transport } = await prepareRequest(kc, method, req.path, req.query, headers);
  return new Promise<R>((resolve, reject) => {
    const r = transport.request(url, { ...options, signal, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("error", reject);
      res.on("end", () => {
        const code = res.statusCode ?? 0;
        traffic.onRequest?.(method, code);
        const text = Buffer.concat(chunks).toString("utf8");
        if (code < 200 || code > 299) {
          reject(apiErrorOf(code, `${method} ${url.pathname}`, text));
          return;
        }
        try {
          resolve((text ? JSON.parse(text) : {}) as R);
        } catch (err) {
          reject(new Error(`${method} ${url.pathname}: invalid JSON: ${(err as Error).message}`));
        }
      });
    });
    r.on("timeout", () =>
      r.destroy(new Error(`${method} ${url.pathname}: no answer within ${timeoutMs} ms`)),
    );
    r.on("error", (err) => {
      if (!signal?.aborted) traffic.onRequest?.(method, 0);
      reject(err);
    });
    r.end(payload);
  });
}
