// Mocha global fixture of the tests against the real control plane: one control plane per
// test run with its cluster DNS, the CRD installed, KUBECONFIG pointing at it and
// MRO_TEST_DNS_SERVER at the DNS (test/support/operator.ts gives it to the operators). Everything is stopped when the
// run ends, fails or is interrupted (Ctrl-C, SIGTERM); a run that was killed outright
// leaves a state.json whose processes the next run kills first.
//   MRO_KEEP_CLUSTER=1   leave the control plane running and print its kubeconfig
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { startCluster, type Cluster } from "./cluster.ts";

const run = promisify(execFile);
const root = join(import.meta.dirname, "..", "..");
let cluster: Cluster | undefined;

/**
 * The test control plane's folder: MRO_TEST_CLUSTER_DIR, or .cache/test-cluster of this
 * checkout. Never under MRO_CACHE_DIR, which several checkouts share for the built tools: a
 * run starting there would kill another checkout's running control plane as stale.
 */
export function testClusterDir(): string {
  return process.env.MRO_TEST_CLUSTER_DIR ?? join(root, ".cache", "test-cluster");
}

async function teardown(): Promise<void> {
  const c = cluster;
  cluster = undefined;
  if (!c) return;
  if (process.env.MRO_KEEP_CLUSTER === "1") {
    console.log(
      `\nMRO_KEEP_CLUSTER=1: the control plane keeps running.\n  export KUBECONFIG=${c.kubeconfig}\n  stop it: npm run cluster:down -- ${c.dir}`,
    );
    return;
  }
  await c.stop();
}

export async function mochaGlobalSetup(): Promise<void> {
  const binDir = process.env.MRO_TOOLS_BIN;
  if (!binDir) throw new Error("MRO_TOOLS_BIN is not set: run the tests with `npm test`");
  const corednsBinDir = process.env.MRO_COREDNS_BIN;
  if (!corednsBinDir) throw new Error("MRO_COREDNS_BIN is not set: run the tests with `npm test`");
  const t0 = Date.now();
  cluster = await startCluster({
    dir: testClusterDir(),
    binDir,
    corednsBinDir,
    detached: process.env.MRO_KEEP_CLUSTER === "1",
    log: (m) => console.log(`  [cluster] ${m}`),
  });
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.once(sig, () => {
      void teardown().finally(() => process.exit(130));
    });
  }
  process.env.KUBECONFIG = cluster.kubeconfig;
  process.env.MRO_AUDIT_LOG = cluster.auditLog;
  if (cluster.dnsServer) process.env.MRO_TEST_DNS_SERVER = cluster.dnsServer;
  await run(join(binDir, "kubectl"), ["apply", "--server-side", "-f", join(root, "crds")]);
  await run(join(binDir, "kubectl"), [
    "wait",
    "--for=condition=Established",
    "--timeout=60s",
    "crd/modeldeployments.mlops.dev",
  ]);
  console.log(
    `  [cluster] ready with the CRD in ${((Date.now() - t0) / 1000).toFixed(1)}s; KUBECONFIG=${cluster.kubeconfig}`,
  );
}

export async function mochaGlobalTeardown(): Promise<void> {
  await teardown();
}
