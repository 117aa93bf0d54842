// Mocha global fixture of the tests against the real control plane: one control plane per
// test run with its cluster DNS, the CRD installed, KUBECONFIG pointing at it and
// MRO_TEST_DNS_SERVER at the DNS (test/support/operator.ts gives it to the operators). Everything is stopped when the
// run ends, fails or is interrupted (Ctrl-C, SIGTERM); a run that was killed outright
// leaves a state.json whose processes the next run kills first.
//   MRO_KEEP_CLUSTER=1   leave the control plane running and print its kubeconfig
// Under the parallel runner (run-e2e.ts, which sets MRO_E2E_WORKER) the control plane is
// the worker's, started and stopped by the runner: the fixture only uses it.
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

/** The variables that point a test process at a running test control plane. */
export function testClusterEnv(c: Cluster): Record<string, string> {
  return {
    MRO_TEST_CLUSTER_DIR: c.dir,
    KUBECONFIG: c.kubeconfig,
    MRO_AUDIT_LOG: c.auditLog,
    ...(c.dnsServer ? { MRO_TEST_DNS_SERVER: c.dnsServer } : {}),
  };
}

/** Starts a test control plane in `dir` with its cluster DNS and the CRD installed and established. */
export async function startTestCluster(
  dir: string,
  log: (m: string) => void,
  detached = false,
): Promise<Cluster> {
  const binDir = process.env.MRO_TOOLS_BIN;
  if (!binDir) throw new Error("MRO_TOOLS_BIN is not set: run the tests with `npm test`");
  const corednsBinDir = process.env.MRO_COREDNS_BIN;
  if (!corednsBinDir) throw new Error("MRO_COREDNS_BIN is not set: run the tests with `npm test`");
  const t0 = Date.now();
  const c = await startCluster({ dir, binDir, corednsBinDir, detached, log });
  try {
    const kubectl = (args: string[]) => run(join(binDir, "kubectl"), ["--kubeconfig", c.kubeconfig, ...args]);
    await kubectl(["apply", "--server-side", "-f", join(root, "crds")]);
    await kubectl(["wait", "--for=condition=Established", "--timeout=60s", "crd/modeldeployments.mlops.dev"]);
  } catch (err) {
    await c.stop();
    throw err;
  }
  log(`ready with the CRD in ${((Date.now() - t0) / 1000).toFixed(1)}s; KUBECONFIG=${c.kubeconfig}`);
  return c;
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
  // Interrupted: stop what this process started (its own control plane; the operators and
  // data planes of the tests, through their "exit" handlers), then end.
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.once(sig, () => {
      void teardown().finally(() => process.exit(130));
    });
  }
  if (process.env.MRO_E2E_WORKER) {
    if (!process.env.KUBECONFIG || !process.env.MRO_AUDIT_LOG)
      throw new Error(
        "MRO_E2E_WORKER is set without KUBECONFIG and MRO_AUDIT_LOG of the worker's control plane",
      );
    return;
  }
  cluster = await startTestCluster(
    testClusterDir(),
    (m) => console.log(`  [cluster] ${m}`),
    process.env.MRO_KEEP_CLUSTER === "1",
  );
  Object.assign(process.env, testClusterEnv(cluster));
}

export async function mochaGlobalTeardown(): Promise<void> {
  await teardown();
}
