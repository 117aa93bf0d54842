// npm run cluster:up / cluster:down: a local control plane for people, in the background.
//   up      start (or report the one already running) and print how to use it
//   down    stop it (or the one in the folder given as argument)
// The folder is $MRO_CACHE_DIR/cluster (default .cache/cluster).
import { join } from "node:path";
import { installLoopbackGuard } from "../support/loopback-guard.ts";
import { apiGet, readState, startCluster, stopCluster } from "./cluster.ts";

installLoopbackGuard();

const cacheDir = process.env.MRO_CACHE_DIR ?? join(import.meta.dirname, "..", "..", ".cache");
export const clusterDir = join(cacheDir, "cluster");

async function running(): Promise<boolean> {
  const st = readState(clusterDir);
  if (!st) return false;
  return (await apiGet(clusterDir, st.server, "/readyz").catch(() => ({ status: 0 }))).status === 200;
}

const cmd = process.argv[2];
if (cmd === "up") {
  if (await running()) {
    console.log(
      `A local control plane is already running. export KUBECONFIG=${join(clusterDir, "kubeconfig")}`,
    );
  } else {
    const binDir = process.env.MRO_TOOLS_BIN;
    if (!binDir) throw new Error("MRO_TOOLS_BIN is not set: run through `npm run cluster:up`");
    const c = await startCluster({
      dir: clusterDir,
      binDir,
      corednsBinDir: process.env.MRO_COREDNS_BIN,
      detached: true,
      log: (m) => console.log(`[cluster] ${m}`),
    });
    console.log(`
Local control plane running (kube-apiserver ${c.server}, etcd, kube-controller-manager, kube-scheduler, kwok${c.dnsServer ? `, CoreDNS on ${c.dnsServer}` : ""}).
  export KUBECONFIG=${c.kubeconfig}
  kubectl get nodes
Logs: ${join(clusterDir, "logs")}   Stop: npm run cluster:down`);
  }
} else if (cmd === "down") {
  // An optional folder stops another control plane, e.g. one kept by MRO_KEEP_CLUSTER=1.
  const stopped = await stopCluster(process.argv[3] ?? clusterDir);
  console.log(stopped ? "Local control plane stopped." : "No local control plane was running.");
} else {
  console.error("usage: node test/cluster/cli.ts up|down");
  process.exit(2);
}
