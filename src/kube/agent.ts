// Connection reuse: client-node 2.x's KubeConfig.applyToHTTPSOptions() caches one
// https.Agent per cluster and user, but without keep-alive, so every request still paid for
// a TCP connection and a TLS handshake (a third of the operator's CPU at 1000
// ModelDeployments). This keeps one keep-alive agent per set of TLS credentials and lets
// applyToHTTPSOptions() still fill in headers and tokens.
import { createHash } from "node:crypto";
import * as https from "node:https";
import type { KubeConnection } from "./kubeconfig.ts";

const agents = new Map<string, https.Agent>();

function fingerprint(opts: https.RequestOptions): string {
  const h = createHash("sha256");
  for (const v of [
    opts.ca,
    opts.cert,
    opts.key,
    opts.pfx,
    opts.passphrase,
    opts.servername,
    opts.rejectUnauthorized,
  ]) {
    h.update(
      v === undefined ? "\0" : typeof v === "object" && !Buffer.isBuffer(v) ? JSON.stringify(v) : String(v),
    );
    h.update("\u0001");
  }
  return h.digest("hex");
}

/**
 * Which connections a request shares: "requests" (lists, gets, writes: at most 64 at once)
 * or "watches" (each holds its connection for minutes, one per kind and watched namespace:
 * a pool of their own, so they never take the connections the writes need).
 */
export type ConnectionPool = "requests" | "watches";

/**
 * Fills `opts` with the kubeconfig's credentials for a request to `url`, with a shared
 * keep-alive agent for HTTPS (none through a proxy: the kubeconfig's agent is kept then).
 */
export async function applyRequestOptions(
  kc: KubeConnection,
  url: URL,
  opts: https.RequestOptions,
  pool: ConnectionPool = "requests",
): Promise<void> {
  await kc.applyToHTTPSOptions(opts);
  if (url.protocol !== "https:") {
    delete opts.agent;
    return;
  }
  if (kc.getCurrentCluster()?.proxyUrl) return;
  const key = `${pool} ${fingerprint(opts)}`;
  let agent = agents.get(key);
  if (!agent) {
    agent = new https.Agent({
      keepAlive: true,
      maxSockets: pool === "watches" ? Infinity : 64,
      ca: opts.ca,
      cert: opts.cert,
      key: opts.key,
      pfx: opts.pfx,
      passphrase: opts.passphrase,
      servername: opts.servername,
      ...(opts.rejectUnauthorized !== undefined ? { rejectUnauthorized: opts.rejectUnauthorized } : {}),
    });
    agents.set(key, agent);
  }
  opts.agent = agent;
}
