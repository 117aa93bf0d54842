// Stopping and starting the test control plane's kube-apiserver, for fault tests: the
// API server goes away (SIGTERM, as in a rolling upgrade of the control plane) and
// comes back on the same address with the same flags, certificates and etcd.
//
// The cluster's folder is the one of $KUBECONFIG (the global fixture puts it there);
// its state.json names the kube-apiserver's pid. The restarted process is recorded in
// state.json too, where the cluster's stop() and a later run's clean-up find it. It is
// killed when this process exits, unless the control plane outlives this process: under
// the parallel runner (MRO_E2E_WORKER), the worker's next files use the same one.
import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { alive, apiGet, readState, type ClusterState } from "./cluster.ts";

function clusterDir(): string {
  const kubeconfig = process.env.KUBECONFIG;
  if (!kubeconfig) throw new Error("KUBECONFIG is not set: run under the e2e global fixture");
  return dirname(kubeconfig);
}

export interface StoppedApiServer {
  /** When the API server stopped answering. */
  readonly stoppedAt: number;
  /** Starts it again with the same command line; resolves when /readyz answers 200. */
  start(timeoutMs?: number): Promise<void>;
}

const restarted = new Set<ChildProcess>();
const controlPlaneOutlivesThisProcess = () => Boolean(process.env.MRO_E2E_WORKER);
process.on("exit", () => {
  if (controlPlaneOutlivesThisProcess()) return;
  for (const c of restarted) if (c.exitCode === null) c.kill("SIGKILL");
});

/** Stops the control plane's kube-apiserver (SIGTERM, then SIGKILL after 10 s); resolves when it is gone. */
export async function stopApiServer(): Promise<StoppedApiServer> {
  const dir = clusterDir();
  const state = readState(dir);
  const pid = state?.pids["kube-apiserver"];
  if (!state || !pid || !alive(pid)) throw new Error(`no running kube-apiserver in ${dir}/state.json`);
  // The exact command line, to start it again the same way.
  const argv = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean);
  const [binary, ...args] = argv;
  if (!binary) throw new Error(`cannot read the command line of kube-apiserver (pid ${pid})`);

  process.kill(pid, "SIGTERM");
  const deadline = Date.now() + 10_000;
  while (alive(pid)) {
    if (Date.now() > deadline) process.kill(pid, "SIGKILL");
    await new Promise((r) => setTimeout(r, 50));
  }
  const stoppedAt = Date.now();

  return {
    stoppedAt,
    async start(timeoutMs = 60_000) {
      const fd = openSync(join(dir, "logs", "kube-apiserver.log"), "a");
      const child = spawn(binary, args, { stdio: ["ignore", fd, fd] });
      closeSync(fd);
      child.unref(); // the test run may end with it running; the exit hook above kills it
      restarted.add(child);
      const next: ClusterState = { ...state, pids: { ...state.pids, "kube-apiserver": child.pid ?? 0 } };
      writeFileSync(join(dir, "state.json"), JSON.stringify(next, null, 2));
      const until = Date.now() + timeoutMs;
      for (;;) {
        if (child.exitCode !== null)
          throw new Error(`kube-apiserver exited with ${child.exitCode} on restart`);
        const ready = await apiGet(dir, state.server, "/readyz").then(
          (r) => r.status === 200,
          () => false,
        );
        if (ready) return;
        if (Date.now() > until) throw new Error(`kube-apiserver not ready ${timeoutMs} ms after restart`);
        await new Promise((r) => setTimeout(r, 200));
      }
    },
  };
}
