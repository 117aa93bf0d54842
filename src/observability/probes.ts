// The operator's HTTP endpoints, on two servers as in controller-runtime:
//   metrics address (--metrics-bind-address):       GET /metrics (Prometheus text format)
//   probe address (--health-probe-bind-address):    GET /healthz (liveness), GET /readyz (readiness)
//
// With --metrics-secure the metrics server speaks HTTPS and answers only requests whose bearer
// token the API server accepts and whose user may `get` /metrics (metrics-auth.ts); the probe
// server stays plain and open, as the kubelet probes it without credentials.
//
// /healthz answers 200 while the process runs and its event loop turns (a blocked loop
// does not answer, and the kubelet's probe timeout restarts the container), unless a
// liveness check fails. /readyz answers 200 when every readiness check passes (caches
// synced; with leader election: leading, or a standby that reaches the API server), else
// 503 with one line per check saying what is missing, like the API server's own /readyz.
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import type { BindAddress } from "../config.ts";
import { discardLogs, type LogSink } from "./log.ts";
import type { MetricsDecision } from "./metrics-auth.ts";

// node:http through process.getBuiltinModule, not an ES import: the ES module of node:http
// reads every export once, and its WebSocket, CloseEvent and MessageEvent getters load Node's
// own copy of undici, about 13 MiB of RSS that the operator never uses (docs/benchmarks.md).
const { createServer } = process.getBuiltinModule("node:http");

/** One named check: undefined when healthy, else why not. */
export interface ProbeCheck {
  name: string;
  check(): string | undefined;
}

export interface MetricsSource {
  render(): Promise<{ contentType: string; body: string }>;
}

export interface ProbeServerOptions {
  /** Where /metrics is served; undefined = no metrics server. */
  metricsAddress?: BindAddress;
  /** Where /healthz and /readyz are served; undefined = no probe server. */
  healthAddress?: BindAddress;
  metrics?: MetricsSource;
  /** Serve /metrics over HTTPS with this certificate and key (PEM); undefined = plain HTTP. */
  metricsTls?: { cert: string | Buffer; key: string | Buffer };
  /** Decides who may read the metrics server; undefined = whoever reaches its port. */
  metricsAuthorizer?: {
    authorize(authorization: string | undefined, method: string, path: string): Promise<MetricsDecision>;
  };
  readiness?: ProbeCheck[];
  liveness?: ProbeCheck[];
  logger?: LogSink;
  /** How long close() waits for open requests before it drops connections (default 5 s). */
  closeTimeoutMs?: number;
}

export interface ProbeServers {
  /** http(s)://host:port of the metrics server, when there is one. */
  readonly metricsUrl: string | undefined;
  /** Serve new TLS connections of the metrics server with this certificate (a renewed file). */
  setMetricsCertificate(tls: { cert: string | Buffer; key: string | Buffer }): void;
  /** http://host:port of the probe server, when there is one. */
  readonly healthUrl: string | undefined;
  /** From now on /readyz answers 503 "shutting down" (call first thing on SIGTERM). */
  setShuttingDown(): void;
  /** Stops both servers; resolves when they are closed. */
  close(): Promise<void>;
}

/**
 * Bounds of the metrics server, which may face clients that are not Prometheus: small headers
 * (a bearer token fits), no body, requests that must arrive within seconds.
 */
export const METRICS_SERVER_LIMITS = {
  maxHeaderSize: 16 * 1024,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 20_000,
  maxConnections: 256,
};

/** Ready when every informer has listed once. */
export function cachesSyncedCheck(informers: readonly { hasSynced(): boolean; name?: string }[]): ProbeCheck {
  return {
    name: "informers",
    check: () => {
      const waiting = informers.filter((i) => !i.hasSynced());
      if (waiting.length === 0) return undefined;
      const names = waiting.map((i, n) => i.name ?? `#${n}`);
      return `caches not synced yet (${waiting.length} of ${informers.length}: ${names.join(", ")})`;
    },
  };
}

/** Ready when leading, or a standby that reached the API server within the lease duration. */
export function leaderElectionCheck(elector: {
  isReady(): boolean;
  isLeader(): boolean;
  currentLeader(): string | undefined;
}): ProbeCheck {
  return {
    name: "leader-election",
    check: () => {
      if (elector.isReady()) return undefined;
      const leader = elector.currentLeader();
      return leader === undefined
        ? "has not read the leader-election Lease yet"
        : "cannot reach the API server to renew or watch the leader-election Lease";
    },
  };
}

export async function startProbeServers(options: ProbeServerOptions): Promise<ProbeServers> {
  const log = options.logger ?? discardLogs;
  const readiness = options.readiness ?? [];
  const liveness = options.liveness ?? [];
  const closeTimeoutMs = options.closeTimeoutMs ?? 5000;
  let shuttingDown = false;

  const servers: Server[] = [];
  let metricsUrl: string | undefined;
  let healthUrl: string | undefined;
  let metricsServer: ReturnType<typeof createHttpsServer> | undefined;

  try {
    if (options.metricsAddress) {
      const server = createMetricsServer(options, metricsRequestHandler(options, log));
      if (options.metricsTls) metricsServer = server as ReturnType<typeof createHttpsServer>;
      servers.push(server);
      metricsUrl = await listen(server, options.metricsAddress, options.metricsTls ? "https" : "http");
      log.info("serving metrics", {
        url: `${metricsUrl}/metrics`,
        authentication: options.metricsAuthorizer ? "TokenReview and SubjectAccessReview" : "none",
      });
    }
    if (options.healthAddress) {
      const server = createServer((req, res) => {
        route(log, req, res, {
          "/healthz": async () => answerChecks(res, req, liveness, undefined),
          "/livez": async () => answerChecks(res, req, liveness, undefined),
          "/readyz": async () =>
            answerChecks(res, req, readiness, shuttingDown ? "shutting down" : undefined),
        });
      });
      servers.push(server);
      healthUrl = await listen(server, options.healthAddress);
      log.info("serving health probes", { url: healthUrl, paths: "/healthz /readyz" });
    }
  } catch (err) {
    await Promise.all(servers.map((s) => closeServer(s, 0)));
    throw err;
  }

  return {
    metricsUrl,
    healthUrl,
    setMetricsCertificate: (tls) => metricsServer?.setSecureContext({ ...tls, minVersion: "TLSv1.2" }),
    setShuttingDown: () => {
      shuttingDown = true;
    },
    close: async () => {
      shuttingDown = true;
      await Promise.all(servers.map((s) => closeServer(s, closeTimeoutMs)));
    },
  };
}

type RequestHandler = (req: IncomingMessage, res: ServerResponse) => void;

/** The metrics server, HTTPS when a certificate is given, with its bounds on headers, time and connections. */
function createMetricsServer(options: ProbeServerOptions, handle: RequestHandler): Server {
  const limits = { maxHeaderSize: METRICS_SERVER_LIMITS.maxHeaderSize };
  const server = options.metricsTls
    ? createHttpsServer({ ...limits, ...options.metricsTls, minVersion: "TLSv1.2" }, handle)
    : createServer(limits, handle);
  server.headersTimeout = METRICS_SERVER_LIMITS.headersTimeoutMs;
  server.requestTimeout = METRICS_SERVER_LIMITS.requestTimeoutMs;
  server.maxConnections = METRICS_SERVER_LIMITS.maxConnections;
  return server;
}

/** /metrics, behind the authorizer (TokenReview and SubjectAccessReview) when there is one. */
function metricsRequestHandler(options: ProbeServerOptions, log: LogSink): RequestHandler {
  const metrics = options.metrics;
  const authorizer = options.metricsAuthorizer;
  return (req, res) => {
    const serve = () =>
      route(log, req, res, {
        "/metrics": async () => {
          if (!metrics) return reply(res, 404, "no metrics\n");
          const { contentType, body } = await metrics.render();
          reply(res, 200, body, contentType);
        },
      });
    if (!authorizer) return serve();
    // Nothing is read from a request body: one that announces a body is refused at once.
    const length = req.headers["content-length"];
    if (req.headers["transfer-encoding"] !== undefined || (length !== undefined && length !== "0")) {
      res.setHeader("connection", "close");
      return reply(res, 413, "a request body is not accepted\n");
    }
    const path = new URL(req.url ?? "/", "https://metrics").pathname;
    authorizer.authorize(req.headers.authorization, req.method ?? "GET", path).then(
      (decision) => {
        if (decision.status === 200) return serve();
        if (decision.status === 503)
          log.error("metrics request refused: its access could not be reviewed", {
            user: decision.user,
            error: decision.error,
          });
        else log.debug("metrics request refused", { status: decision.status, user: decision.user });
        if (decision.status === 401) res.setHeader("www-authenticate", 'Bearer realm="metrics"');
        if (decision.status === 503) res.setHeader("retry-after", "5");
        reply(res, decision.status, `${decision.message}\n`);
      },
      (err: unknown) => {
        log.error("metrics authorization failed", {
          error: err instanceof Error ? err.message : String(err),
        });
        reply(res, 500, "internal error\n");
      },
    );
  };
}

/** Serves GET and HEAD of the given paths; 404 for others, 405 for other methods. */
function route(
  log: LogSink,
  req: IncomingMessage,
  res: ServerResponse,
  handlers: Record<string, () => Promise<void>>,
): void {
  const path = new URL(req.url ?? "/", "http://probe").pathname;
  const handler = handlers[path];
  if (!handler) return reply(res, 404, `not found; try ${Object.keys(handlers).join(" ")}\n`);
  if (req.method !== "GET" && req.method !== "HEAD") {
    res.setHeader("allow", "GET, HEAD");
    return reply(res, 405, "method not allowed\n");
  }
  handler().catch((err: unknown) => {
    log.error("probe endpoint failed", { path, error: err instanceof Error ? err.message : String(err) });
    if (!res.headersSent) reply(res, 500, "internal error\n");
    else res.destroy();
  });
}

/** 200 "ok" when every check passes; 503 with "[-]name: reason" lines otherwise. ?verbose lists all. */
function answerChecks(
  res: ServerResponse,
  req: IncomingMessage,
  checks: readonly ProbeCheck[],
  override: string | undefined,
): void {
  const verbose = new URL(req.url ?? "/", "http://probe").searchParams.has("verbose");
  const lines: string[] = [];
  let failed = false;
  if (override) {
    failed = true;
    lines.push(`[-]${override}`);
  }
  for (const c of checks) {
    let reason: string | undefined;
    try {
      reason = c.check();
    } catch (err) {
      reason = `check failed: ${err instanceof Error ? err.message : String(err)}`;
    }
    if (reason !== undefined) {
      failed = true;
      lines.push(`[-]${c.name}: ${reason}`);
    } else if (verbose) {
      lines.push(`[+]${c.name} ok`);
    }
  }
  if (failed) return reply(res, 503, `${lines.join("\n")}\nnot ready\n`);
  reply(res, 200, verbose ? `${lines.join("\n")}\nok\n` : "ok\n");
}

function reply(
  res: ServerResponse,
  status: number,
  body: string,
  contentType = "text/plain; charset=utf-8",
): void {
  res.statusCode = status;
  res.setHeader("content-type", contentType);
  res.setHeader("cache-control", "no-store");
  res.end(res.req.method === "HEAD" ? undefined : body);
}

function listen(server: Server, address: BindAddress, scheme = "http"): Promise<string> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    server.once("error", onError);
    server.listen(address.port, address.host, () => {
      server.off("error", onError);
      const bound = server.address() as AddressInfo;
      const host = bound.family === "IPv6" ? `[${bound.address}]` : bound.address;
      resolve(`${scheme}://${host}:${bound.port}`);
    });
  });
}

function closeServer(server: Server, timeoutMs: number): Promise<void> {
  if (!server.listening) return Promise.resolve();
  return new Promise((resolve) => {
    const force = setTimeout(() => server.closeAllConnections(), timeoutMs);
    server.close(() => {
      clearTimeout(force);
      resolve();
    });
    server.closeIdleConnections();
  });
}
