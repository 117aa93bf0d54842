// The API server's own addresses and ports, which health checks may not reach unless the
// platform allows them (health/destination-policy.ts): the server of the kubeconfig in use
// (resolved once at start when it is a name) and, in a pod, KUBERNETES_SERVICE_HOST/PORT.
import { lookup } from "node:dns/promises";
import { isIP } from "node:net";
import type { KubeConnection } from "./kubeconfig.ts";

export async function apiServerAddresses(
  kc: Pick<KubeConnection, "getCurrentCluster">,
  env: Record<string, string | undefined>,
): Promise<{ address: string; port: number }[]> {
  const out: { address: string; port: number }[] = [];
  const server = kc.getCurrentCluster()?.server;
  if (server) {
    try {
      const u = new URL(server);
      const host = u.hostname.replace(/^\[(.*)\]$/, "$1");
      const port = u.port ? Number(u.port) : 443;
      if (isIP(host)) out.push({ address: host, port });
      else
        for (const { address } of await lookup(host, { all: true }).catch(() => []))
          out.push({ address, port });
    } catch {
      // Not a URL: the API client reports that.
    }
  }
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = Number(env.KUBERNETES_SERVICE_PORT ?? "443");
  if (host && isIP(host) && Number.isInteger(port)) out.push({ address: host, port });
  return out;
}
