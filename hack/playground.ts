// npm run playground / playground:down: a local control plane, the CRD, the operator
// and a sample ModelDeployment rolling out, left running for people to look at.
//   up     start everything (or report what already runs) and print what to try
//   down   stop the operator and the control plane
// State lives in .playground/ (cluster/, operator.log, operator.pid).
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { apiGet, freePort, readState, startCluster, stopCluster } from "../test/cluster/cluster.ts";

const ROOT = join(import.meta.dirname, "..");
const DIR = join(ROOT, ".playground");
const CLUSTER = join(DIR, "cluster");
const PID_FILE = join(DIR, "operator.pid");
const LOG_FILE = join(DIR, "operator.log");
const SAMPLE = join(ROOT, "examples", "canary.yaml");

const log = (m: string) => console.log(`[playground] ${m}`);

function kubectl(kubeconfig: string, args: string[], input?: string): string {
  const bin = join(process.env.MRO_TOOLS_BIN ?? "", "kubectl");
  const r = spawnSync(bin, args, {
    input,
    encoding: "utf8",
    env: { ...process.env, KUBECONFIG: kubeconfig },
  });
  if (r.status !== 0) throw new Error(`kubectl ${args.join(" ")}: ${r.stderr || r.error?.message}`);
  return r.stdout;
}

function operatorRunning(): boolean {
  if (!existsSync(PID_FILE)) return false;
  const pid = Number(readFileSync(PID_FILE, "utf8"));
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function waitUntil(what: string, probe: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

async function up(): Promise<void> {
  if (!process.env.MRO_TOOLS_BIN)
    throw new Error("MRO_TOOLS_BIN is not set: run through `npm run playground`");
  mkdirSync(DIR, { recursive: true });
  const st = readState(CLUSTER);
  const alive =
    st && (await apiGet(CLUSTER, st.server, "/readyz").catch(() => ({ status: 0 }))).status === 200;
  let kubeconfig: string;
  if (st && alive) {
    log("the control plane is already running");
    kubeconfig = st.kubeconfig;
  } else {
    log("starting the control plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok)");
    const c = await startCluster({ dir: CLUSTER, binDir: process.env.MRO_TOOLS_BIN, detached: true, log });
    kubeconfig = c.kubeconfig;
  }

  log("installing the CRD");
  kubectl(kubeconfig, ["apply", "--server-side", "-f", join(ROOT, "crds")]);
  kubectl(kubeconfig, [
    "wait",
    "--for=condition=Established",
    "--timeout=60s",
    "crd/modeldeployments.mlops.dev",
  ]);

  if (operatorRunning()) {
    log("the operator is already running");
  } else {
    log(`starting the operator (logs: ${LOG_FILE})`);
    const out = openSync(LOG_FILE, "a");
    const child = spawn(
      process.execPath,
      [
        join(ROOT, "src", "main.ts"),
        `--kubeconfig=${kubeconfig}`,
        `--metrics-bind-address=127.0.0.1:${await freePort()}`,
        `--health-probe-bind-address=127.0.0.1:${await freePort()}`,
        "--log-format=text",
        // The playground's model servers and Prometheus listen on 127.0.0.0/8, which the
        // default destination policy denies to health checks.
        "--check-allow-cidrs=127.0.0.0/8",
      ],
      { cwd: ROOT, detached: true, stdio: ["ignore", out, out] },
    );
    child.unref();
    writeFileSync(PID_FILE, String(child.pid));
  }

  log("applying the sample ModelDeployment (examples/canary.yaml), version 1.0.0");
  const sample = readFileSync(SAMPLE, "utf8");
  kubectl(kubeconfig, ["apply", "-n", "default", "-f", "-"], sample);
  await waitUntil(
    "fraud-detector to become Ready",
    () => {
      const md = JSON.parse(
        kubectl(kubeconfig, ["get", "md", "fraud-detector", "-n", "default", "-o", "json"]),
      ) as {
        status?: { stableVersion?: string; conditions?: { type: string; status: string }[] };
      };
      return md.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") === true;
    },
    90_000,
  );
  log("version 1.0.0 is serving; starting a canary rollout to 1.1.0");
  const next = sample.replaceAll("1.0.0", "1.1.0").replace("model-server:1.0", "model-server:1.1");
  kubectl(kubeconfig, ["apply", "-n", "default", "-f", "-"], next);

  console.log(`
The playground is running: a local control plane, the CRD, the operator, and the
ModelDeployment fraud-detector rolling out from 1.0.0 to 1.1.0 (25%, 10s, 50%, 10s, 100%).

  export KUBECONFIG=${kubeconfig}
  export PATH=${process.env.MRO_TOOLS_BIN}:${join(ROOT, "bin")}:$PATH
  kubectl get modeldeployments -w                  # short name: md; -o wide for more
  kubectl get deploy,svc -l mlops.dev/model=fraud-detector
  kubectl describe md fraud-detector               # conditions, Events
  kubectl modeldeploy get fraud-detector --watch   # the kubectl plugin
  kubectl annotate md fraud-detector mlops.dev/action=abort --overwrite

Operator logs: ${LOG_FILE}
Stop it all:   npm run playground:down`);
}

async function down(): Promise<void> {
  if (operatorRunning()) {
    const pid = Number(readFileSync(PID_FILE, "utf8"));
    process.kill(pid, "SIGTERM");
    await waitUntil("the operator to stop", () => !operatorRunning(), 30_000).catch(() =>
      process.kill(pid, "SIGKILL"),
    );
    log("operator stopped");
  }
  rmSync(PID_FILE, { force: true });
  if (await stopCluster(CLUSTER)) log("control plane stopped");
  else log("no control plane was running");
}

const cmd = process.argv[2];
if (cmd === "up") await up();
else if (cmd === "down") await down();
else {
  console.error("usage: node hack/playground.ts up|down");
  process.exit(2);
}
