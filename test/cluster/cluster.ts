// A real local Kubernetes control plane for tests and for people: etcd, kube-apiserver
// (TLS, client-certificate authentication, RBAC, service-account signing keys, an audit
// log of writes), kube-controller-manager, kube-scheduler, kwok (fake nodes whose pods
// become Running and Ready, see kwok.yaml) and, when its folder is given, CoreDNS as the
// cluster DNS (coredns.ts), all on 127.0.0.1 with free ports.
//
// Service ClusterIPs come from a loopback range (SERVICE_CIDR), so a test can serve a
// Service for real: bind an HTTP server to its ClusterIP and port (every address of
// 127.0.0.0/8 reaches the loopback interface). Pods keep kwok's 10.244.0.0/16 addresses
// (EndpointSlices refuse loopback ones); nothing may ever connect to those.
//
// startCluster() starts everything and returns when pods can be scheduled and become
// Ready. Processes are children of the caller unless `detached` is set (cluster:up), in
// which case they outlive it and `stopCluster(dir)` stops them through dir/state.json.
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:https";
import { createServer } from "node:net";
import { join } from "node:path";
import { promisify } from "node:util";
import { assertLoopbackUrl } from "../support/loopback-guard.ts";
import { CLUSTER_DOMAIN, COREDNS_USER, corednsAnswers, corednsRbac, corefile } from "./coredns.ts";

const run = promisify(execFile);
const here = import.meta.dirname;

export const KWOK_NEVER_READY_LABEL = "kwok.mlops.dev/never-ready";

/** --service-cluster-ip-range: loopback, so that tests can bind a Service's ClusterIP. */
export const SERVICE_CIDR = "127.96.0.0/16";
/** The first address of SERVICE_CIDR: the ClusterIP of the API server's own Service, `kubernetes`. */
export const KUBERNETES_SERVICE_IP = "127.96.0.1";

export interface ClusterOptions {
  /** Working folder: certificates, etcd data, logs, kubeconfig, state.json. Emptied first. */
  dir: string;
  /** Folder with kube-apiserver, kube-controller-manager, kube-scheduler, etcd, kwok. */
  binDir: string;
  /** Processes outlive this one (npm run cluster:up). */
  detached?: boolean;
  /**
   * Folder with coredns (`hack/build-tools.sh coredns`): start it as the cluster DNS on
   * 127.0.0.1. Omitted: no cluster DNS.
   */
  corednsBinDir?: string;
  /** Number of fake nodes (default 2). */
  nodes?: number;
  log?: (message: string) => void;
  /**
   * Also audit the reads (get, list, watch) of the admin user: the operator started with
   * the admin kubeconfig, kubectl and the benchmarks (npm run bench counts the operator's
   * requests by user agent). Off by default: reads make the audit log large.
   */
  auditReads?: boolean;
  /**
   * Tune the control plane for thousands of objects (npm run bench): kube-controller-manager
   * and kube-scheduler talk to the API server at 200 requests a second instead of 20 and 50,
   * with 20 Deployments, ReplicaSets and Services synced at once instead of 5, and the audit
   * log is rotated at 4 GB instead of 200 MB. Without it, at 1000 ModelDeployments the
   * Deployment and ReplicaSet controllers' 20 requests a second made a Deployment's status
   * say Available 35 to 91 s after its pod was Ready (docs/benchmarks.md). The components
   * of GC_TRACED also log each garbage collection (GODEBUG=gctrace=1, one line per cycle in
   * logs/NAME.log): the benchmark reads whether they were collecting while it measured
   * (bench/gctrace.ts). And the API server collects less often (TUNED_API_SERVER_GC).
   */
  tuned?: boolean;
}

/**
 * The components a tuned cluster runs with Go's gctrace, and whose collections the benchmark
 * reads: the API server (every object in its watch cache) and etcd. The other components are
 * Go too; nothing reads their cycles.
 */
export const GC_TRACED: readonly string[] = ["kube-apiserver", "etcd"];

/**
 * The Go collector's settings of a tuned cluster's API server. At 10,000 ModelDeployments it
 * holds 1.2 to 1.7 GB of live heap, and with Go's default (GOGC=100: collect when the heap
 * has doubled) it collected every 15 to 30 s, each collection 4 to 13 s of concurrent mark on
 * the 2 shared cores, with seconds of mutator assists that slowed every request of those
 * seconds (docs/benchmarks.md). GOGC=400 lets the heap grow to five times the live heap
 * before the next collection: a quarter of the collections, and more room before the
 * allocating goroutines are made to help mark. GOMEMLIMIT caps what that costs in memory
 * (the collector works harder near it instead of growing past it); 8 GiB of the machine's
 * 24. The benchmark only: the tests' clusters keep Go's defaults.
 */
export const TUNED_API_SERVER_GC: Readonly<Record<string, string>> = { GOGC: "400", GOMEMLIMIT: "8GiB" };

/**
 * The environment of a control plane component: the caller's, and in a tuned cluster the
 * gctrace of GC_TRACED's components and the API server's collector settings.
 */
export function componentEnv(
  name: string,
  tuned: boolean,
  base: NodeJS.ProcessEnv = process.env,
): NodeJS.ProcessEnv {
  if (!tuned) return base;
  return {
    ...base,
    ...(GC_TRACED.includes(name) ? { GODEBUG: "gctrace=1" } : {}),
    ...(name === "kube-apiserver" ? TUNED_API_SERVER_GC : {}),
  };
}

export interface ClusterState {
  dir: string;
  kubeconfig: string;
  server: string;
  auditLog: string;
  /** 127.0.0.1:PORT of the cluster DNS (UDP and TCP), when it runs. */
  dnsServer?: string;
  pids: Record<string, number>;
}

export interface Cluster extends ClusterState {
  stop(): Promise<void>;
}

interface Component {
  name: string;
  child: ChildProcess;
  logFile: string;
}

/**
 * Ports freePort() handed out in this process. The kernel may offer a port again as soon as
 * the probe closes it, and two ports asked for one after the other (an operator's metrics
 * and health ports) must differ.
 */
const handedOut = new Set<number>();

export async function freePort(): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((resolve, reject) => {
      const srv = createServer();
      srv.unref();
      srv.on("error", reject);
      srv.listen(0, "127.0.0.1", () => {
        const addr = srv.address();
        const p = typeof addr === "object" && addr ? addr.port : 0;
        srv.close(() => resolve(p));
      });
    });
    if (!handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
}

async function openssl(dir: string, ...args: string[]): Promise<void> {
  await run("openssl", args, { cwd: dir });
}

/** A CA, the API server's serving certificate, and client certificates per user. */
async function writeCertificates(dir: string): Promise<void> {
  await openssl(dir, "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "ca.key");
  await openssl(
    dir,
    "req",
    "-x509",
    "-new",
    "-key",
    "ca.key",
    "-out",
    "ca.crt",
    "-days",
    "3650",
    "-subj",
    "/CN=model-rollout-operator-local-ca",
  );
  const sign = async (name: string, subject: string, ext: string) => {
    await openssl(dir, "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", `${name}.key`);
    await openssl(dir, "req", "-new", "-key", `${name}.key`, "-out", `${name}.csr`, "-subj", subject);
    writeFileSync(join(dir, `${name}.ext`), ext);
    await openssl(
      dir,
      "x509",
      "-req",
      "-in",
      `${name}.csr`,
      "-CA",
      "ca.crt",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-out",
      `${name}.crt`,
      "-days",
      "3650",
      "-extfile",
      `${name}.ext`,
    );
  };
  await sign(
    "apiserver",
    "/CN=kube-apiserver",
    `subjectAltName=IP:127.0.0.1,IP:${KUBERNETES_SERVICE_IP},DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.${CLUSTER_DOMAIN}\nextendedKeyUsage=serverAuth\n`,
  );
  const client = "extendedKeyUsage=clientAuth\n";
  await sign("admin", "/O=system:masters/CN=kubernetes-admin", client);
  await sign("controller-manager", "/CN=system:kube-controller-manager", client);
  await sign("scheduler", "/CN=system:kube-scheduler", client);
  await sign("coredns", `/CN=${COREDNS_USER}`, client);
  await openssl(dir, "genrsa", "-out", "service-account.key", "2048");
}

function kubeconfigFor(dir: string, server: string, user: string): string {
  const b64 = (f: string) => readFileSync(join(dir, f)).toString("base64");
  return [
    "apiVersion: v1",
    "kind: Config",
    "clusters:",
    "- name: mro-local",
    "  cluster:",
    `    server: ${server}`,
    `    certificate-authority-data: ${b64("ca.crt")}`,
    "users:",
    `- name: ${user}`,
    "  user:",
    `    client-certificate-data: ${b64(`${user}.crt`)}`,
    `    client-key-data: ${b64(`${user}.key`)}`,
    "contexts:",
    "- name: mro-local",
    "  context:",
    "    cluster: mro-local",
    `    user: ${user}`,
    "    namespace: default",
    "current-context: mro-local",
    "",
  ].join("\n");
}

function auditPolicy(auditReads: boolean): string {
  return `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
  - level: None
    users: ["system:kube-controller-manager", "system:kube-scheduler", "system:apiserver"]
  - level: None
    userGroups: ["system:nodes"]
  - level: None
    resources: [{group: "coordination.k8s.io", resources: ["leases"]}]
  - level: Metadata
    verbs: ["create", "update", "patch", "delete", "deletecollection"]
${auditReads ? '  - level: Metadata\n    users: ["kubernetes-admin"]\n    verbs: ["get", "list", "watch"]\n' : ""}  - level: None
`;
}

/** GET an HTTPS path of the API server as admin; resolves with status and body. */
export function apiGet(dir: string, server: string, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      new URL(path, server),
      {
        ca: readFileSync(join(dir, "ca.crt")),
        cert: readFileSync(join(dir, "admin.crt")),
        key: readFileSync(join(dir, "admin.key")),
        timeout: 5000,
      },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => (body += c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", reject);
    req.end();
  });
}

function tail(file: string, lines = 25): string {
  try {
    return readFileSync(file, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}

export async function startCluster(opts: ClusterOptions): Promise<Cluster> {
  const log = opts.log ?? (() => {});
  const dir = opts.dir;
  stopStale(dir);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(dir, "logs"), { recursive: true });
  const components: Component[] = [];
  const bin = (name: string) => join(opts.binDir, name);
  for (const b of ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"]) {
    if (!existsSync(bin(b))) throw new Error(`cluster: ${bin(b)} is missing; run hack/build-tools.sh`);
  }
  const coredns = opts.corednsBinDir ? join(opts.corednsBinDir, "coredns") : undefined;
  if (coredns && !existsSync(coredns))
    throw new Error(`cluster: ${coredns} is missing; run hack/build-tools.sh coredns`);

  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await stopComponents(components, readState(dir)?.pids ?? {});
    rmSync(join(dir, "state.json"), { force: true });
  };
  const killSync = () => {
    for (const c of components) if (c.child.exitCode === null) c.child.kill("SIGKILL");
  };
  if (!opts.detached) process.once("exit", killSync);

  const start = (name: string, args: string[], binary = bin(name)) => {
    const logFile = join(dir, "logs", `${name}.log`);
    const fd = openSync(logFile, "a");
    const env = componentEnv(name, opts.tuned ?? false);
    const child = spawn(binary, args, { stdio: ["ignore", fd, fd], detached: opts.detached ?? false, env });
    closeSync(fd);
    if (opts.detached) child.unref();
    components.push({ name, child, logFile });
    writeState();
    return child;
  };
  const state = (): ClusterState => ({
    dir,
    kubeconfig: join(dir, "kubeconfig"),
    server,
    auditLog: join(dir, "audit.log"),
    ...(dnsServer ? { dnsServer } : {}),
    pids: Object.fromEntries(components.map((c) => [c.name, c.child.pid ?? 0])),
  });
  const writeState = () => writeFileSync(join(dir, "state.json"), JSON.stringify(state(), null, 2));
  const assertRunning = () => {
    for (const c of components) {
      if (c.child.exitCode !== null || c.child.signalCode !== null) {
        throw new Error(
          `cluster: ${c.name} exited (${c.child.exitCode ?? c.child.signalCode}); last log lines:\n${tail(c.logFile)}`,
        );
      }
    }
  };
  const waitFor = async (what: string, ok: () => Promise<boolean>, timeoutMs = 90_000) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      assertRunning();
      if (await ok().catch(() => false)) return;
      if (Date.now() > deadline) throw new Error(`cluster: timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  };

  let server = "";
  let dnsServer = "";
  let dnsStartedAt = 0;
  try {
    const t0 = Date.now();
    log("generating certificates");
    await writeCertificates(dir);

    const [etcdPort, peerPort, apiPort] = [await freePort(), await freePort(), await freePort()];
    server = `https://127.0.0.1:${apiPort}`;
    const etcdUrl = `http://127.0.0.1:${etcdPort}`;
    assertLoopbackUrl(server, "kube-apiserver");
    assertLoopbackUrl(etcdUrl, "etcd");
    log(`starting etcd on ${etcdUrl}`);
    start("etcd", [
      "--name=default",
      `--data-dir=${join(dir, "etcd")}`,
      `--listen-client-urls=${etcdUrl}`,
      `--advertise-client-urls=${etcdUrl}`,
      `--listen-peer-urls=http://127.0.0.1:${peerPort}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${peerPort}`,
      `--initial-cluster=default=http://127.0.0.1:${peerPort}`,
      "--unsafe-no-fsync=true",
      "--quota-backend-bytes=4294967296",
      "--log-level=warn",
    ]);
    await waitFor("etcd", async () => {
      const res = await fetch(`${etcdUrl}/health`);
      return res.ok && ((await res.json()) as { health?: string }).health === "true";
    });

    writeFileSync(join(dir, "audit-policy.yaml"), auditPolicy(opts.auditReads ?? false));
    log(`starting kube-apiserver on ${server}`);
    start("kube-apiserver", [
      `--etcd-servers=${etcdUrl}`,
      "--bind-address=127.0.0.1",
      "--advertise-address=127.0.0.1",
      // The endpoint reconciler refuses loopback addresses; nothing here needs the
      // in-cluster "kubernetes" Service endpoints.
      "--endpoint-reconciler-type=none",
      `--secure-port=${apiPort}`,
      `--cert-dir=${join(dir, "apiserver-certs")}`,
      `--tls-cert-file=${join(dir, "apiserver.crt")}`,
      `--tls-private-key-file=${join(dir, "apiserver.key")}`,
      `--client-ca-file=${join(dir, "ca.crt")}`,
      "--authorization-mode=Node,RBAC",
      `--service-account-issuer=https://kubernetes.default.svc.cluster.local`,
      `--service-account-key-file=${join(dir, "service-account.key")}`,
      `--service-account-signing-key-file=${join(dir, "service-account.key")}`,
      `--service-cluster-ip-range=${SERVICE_CIDR}`,
      "--allow-privileged=true",
      `--audit-policy-file=${join(dir, "audit-policy.yaml")}`,
      `--audit-log-path=${join(dir, "audit.log")}`,
      "--audit-log-format=json",
      `--audit-log-maxsize=${opts.tuned ? 4000 : 200}`,
      "--profiling=false",
      "--v=0",
    ]);
    await waitFor(
      "kube-apiserver /readyz",
      async () => (await apiGet(dir, server, "/readyz")).status === 200,
    );

    writeFileSync(join(dir, "kubeconfig"), kubeconfigFor(dir, server, "admin"));
    writeFileSync(
      join(dir, "controller-manager.kubeconfig"),
      kubeconfigFor(dir, server, "controller-manager"),
    );
    writeFileSync(join(dir, "scheduler.kubeconfig"), kubeconfigFor(dir, server, "scheduler"));
    writeFileSync(join(dir, "coredns.kubeconfig"), kubeconfigFor(dir, server, "coredns"));
    writeState();

    // Nodes and CoreDNS first: CoreDNS takes a few seconds to sync and serve, which then
    // overlaps with the controllers and kwok starting.
    const nodes = opts.nodes ?? 2;
    const nodeDocs = Array.from({ length: nodes }, (_, i) =>
      JSON.stringify({
        apiVersion: "v1",
        kind: "Node",
        metadata: {
          name: `kwok-node-${i}`,
          annotations: { "kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0" },
          labels: {
            "kubernetes.io/hostname": `kwok-node-${i}`,
            "kubernetes.io/os": "linux",
            "kubernetes.io/arch": "amd64",
            type: "kwok",
          },
        },
        status: {
          allocatable: { cpu: "64", memory: "256Gi", pods: "2000" },
          capacity: { cpu: "64", memory: "256Gi", pods: "2000" },
        },
      }),
    );
    // The nodes, and CoreDNS's rights, in one kubectl call.
    const rbac = coredns ? corednsRbac() : [];
    writeFileSync(
      join(dir, "nodes.json"),
      JSON.stringify({
        apiVersion: "v1",
        kind: "List",
        items: [...nodeDocs.map((d) => JSON.parse(d)), ...rbac],
      }),
    );
    await kubectl(opts.binDir, dir, ["apply", "-f", join(dir, "nodes.json")]);

    if (coredns) {
      // CoreDNS binds UDP and TCP; freePort() checked TCP only, so a rare UDP clash
      // shows as CoreDNS exiting with its log.
      const dnsPort = await freePort();
      dnsServer = `127.0.0.1:${dnsPort}`;
      writeFileSync(join(dir, "Corefile"), corefile(dnsPort, join(dir, "coredns.kubeconfig")));
      log(`starting CoreDNS on ${dnsServer}`);
      dnsStartedAt = Date.now();
      start("coredns", ["-conf", join(dir, "Corefile")], coredns);
    }

    log("starting kube-controller-manager, kube-scheduler and kwok");
    start("kube-controller-manager", [
      `--kubeconfig=${join(dir, "controller-manager.kubeconfig")}`,
      "--secure-port=0",
      "--leader-elect=false",
      "--use-service-account-credentials=true",
      `--service-account-private-key-file=${join(dir, "service-account.key")}`,
      `--root-ca-file=${join(dir, "ca.crt")}`,
      "--controllers=*,-nodeipam,-csrsigning,-csrapproving,-csrcleaner,-bootstrapsigner,-tokencleaner",
      ...(opts.tuned
        ? [
            "--kube-api-qps=200",
            "--kube-api-burst=400",
            "--concurrent-deployment-syncs=20",
            "--concurrent-replicaset-syncs=20",
            "--concurrent-service-endpoint-syncs=20",
          ]
        : []),
      "--v=0",
    ]);
    start("kube-scheduler", [
      `--kubeconfig=${join(dir, "scheduler.kubeconfig")}`,
      "--secure-port=0",
      "--leader-elect=false",
      // (Deprecated flags, still honoured without a configuration file.)
      ...(opts.tuned ? ["--kube-api-qps=200", "--kube-api-burst=400"] : []),
      "--v=0",
    ]);
    // Pods get kwok's addresses: configuration only, which no test, tool or operator
    // ever connects to (the loopback guard refuses them).
    start("kwok", [
      `--kubeconfig=${join(dir, "kubeconfig")}`,
      `--config=${join(here, "kwok.yaml")}`,
      "--manage-all-nodes=false",
      "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
      "--node-ip=10.240.0.1",
      "--cidr=10.244.0.1/16",
      "--node-lease-duration-seconds=40",
      "--server-address=127.0.0.1:0",
      "--v=WARN",
    ]);

    await waitFor(`${nodes} Ready nodes`, async () => {
      const res = await apiGet(dir, server, "/api/v1/nodes");
      const items = (
        JSON.parse(res.body) as { items: { status?: { conditions?: { type: string; status: string }[] } }[] }
      ).items;
      return (
        items.filter((n) => n.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True"))
          .length === nodes
      );
    });
    await waitFor("the default ServiceAccount (kube-controller-manager)", async () => {
      return (await apiGet(dir, server, "/api/v1/namespaces/default/serviceaccounts/default")).status === 200;
    });
    if (dnsServer) {
      await waitFor(`CoreDNS on ${dnsServer} to answer kubernetes.default.svc`, () =>
        corednsAnswers(dnsServer, KUBERNETES_SERVICE_IP),
      );
      log(`CoreDNS answered ${((Date.now() - dnsStartedAt) / 1000).toFixed(1)}s after its start`);
    }
    log(`control plane ready in ${((Date.now() - t0) / 1000).toFixed(1)}s`);
    writeState();
    return { ...state(), stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

function kubectl(binDir: string, dir: string, args: string[]) {
  return run(join(binDir, "kubectl"), ["--kubeconfig", join(dir, "kubeconfig"), ...args]);
}

/**
 * Stops the components in reverse order: kwok and controllers first, etcd last. A component
 * that another process restarted (apiserver.ts, for fault tests) is stopped in its place:
 * `recorded` holds state.json's pids, where the replacement's is written.
 */
async function stopComponents(components: Component[], recorded: Record<string, number>): Promise<void> {
  for (const c of [...components].reverse()) {
    const replacement = recorded[c.name];
    if (replacement && replacement !== c.child.pid && alive(replacement)) await stopPid(replacement);
    if (c.child.exitCode !== null || c.child.signalCode !== null) continue;
    const exited = new Promise<void>((r) => c.child.once("exit", () => r()));
    c.child.kill("SIGTERM");
    const timer = setTimeout(() => c.child.kill("SIGKILL"), 5000);
    await exited;
    clearTimeout(timer);
  }
}

/** SIGTERM, then SIGKILL after 5 s, to a process that is not our child; resolves when it is gone. */
async function stopPid(pid: number): Promise<void> {
  // Not our child: once it exits it is a zombie until its new parent reaps it, so "gone"
  // means gone or a zombie.
  const running = () => {
    try {
      return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
    } catch {
      return false;
    }
  };
  const signal = (sig: NodeJS.Signals) => {
    try {
      process.kill(pid, sig);
    } catch {
      // already gone
    }
  };
  signal("SIGTERM");
  const killAt = Date.now() + 5000;
  const giveUpAt = killAt + 5000;
  while (running() && Date.now() < giveUpAt) {
    if (Date.now() > killAt) signal("SIGKILL");
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** True while a process with this pid exists. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Reads dir/state.json of a cluster started by another process. */
export function readState(dir: string): ClusterState | undefined {
  try {
    return JSON.parse(readFileSync(join(dir, "state.json"), "utf8")) as ClusterState;
  } catch {
    return undefined;
  }
}

/** Kills processes left by an earlier cluster in dir (a crashed run); returns how many. */
function stopStale(dir: string): number {
  const st = readState(dir);
  if (!st) return 0;
  const pids = Object.values(st.pids).filter((p) => p > 0 && alive(p));
  for (const p of pids) process.kill(p, "SIGKILL");
  return pids.length;
}

/** Stops a cluster started by another process (cluster:down). */
export async function stopCluster(dir: string): Promise<boolean> {
  const st = readState(dir);
  if (!st) return false;
  const pids = Object.entries(st.pids).reverse();
  for (const [, pid] of pids) if (pid > 0 && alive(pid)) process.kill(pid, "SIGTERM");
  const deadline = Date.now() + 10_000;
  while (pids.some(([, p]) => p > 0 && alive(p)) && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 100));
  for (const [, pid] of pids) if (pid > 0 && alive(pid)) process.kill(pid, "SIGKILL");
  rmSync(join(dir, "state.json"), { force: true });
  return true;
}
