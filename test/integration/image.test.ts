// The container image that the Helm chart installs, built from the repository's Dockerfile
// by hack/build-image.sh (buildah; on a local stand-in for node:24-slim where no registry
// is reachable) and run for real: what it holds, who its process is, what it may write,
// and the operator from it, run as the chart's pod runs it (user 65532, read-only root, a
// tmpfs /tmp; see test/support/image.ts for what is and is not like a pod), against the
// real control plane with the in-cluster configuration of a pod (a ServiceAccount token):
// the compiled operator (node dist/main.js) under 100 MiB of RSS with no ModelDeployment,
// ready, leader, a canary rolled out, a clean SIGTERM.
//   bash hack/run.sh test-e2e test/integration/image.test.ts
// The first build takes minutes (debootstrap, npm ci, vfs copies) and is cached: later runs
// reuse the image while the files it is built from are unchanged.
import { expect } from "chai";
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import {
  chownSync,
  existsSync,
  lstatSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { parse } from "yaml";
import { createNamespace, kubectl, kubectlJson, waitFor } from "../support/kube.ts";
import { applyMd, isReady, mdEvents, modelDeployment, waitForMd } from "../support/md.ts";
import { FakeModelServer } from "../support/model-server.ts";
import {
  buildImage,
  containerPid,
  execInImage,
  ImageFiles,
  inspectImage,
  runInImage,
  signalContainer,
  type BuiltImage,
  type ImageInfo,
} from "../support/image.ts";
import { startOperator, type OperatorLauncher, type OperatorProcess } from "../support/operator.ts";

const ROOT = join(import.meta.dirname, "..", "..");
const CHART = join(ROOT, "charts", "model-rollout-operator");
/**
 * Where a pod's ServiceAccount token is: /var/run/secrets/kubernetes.io/serviceaccount, and
 * /var/run is a symlink to /run in Debian, so the mount goes to the folder it leads to.
 */
const SA_DIR = "/run/secrets/kubernetes.io/serviceaccount";

/** Every file and folder under `dir`, as paths relative to it. */
function walk(dir: string, base = dir): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    const rel = relative(base, path);
    return e.isDirectory() ? [rel, ...walk(path, base)] : [rel];
  });
}

const sha = (file: string) => createHash("sha256").update(readFileSync(file)).digest("hex");

/** The issue's bound for the operator's resident memory with no ModelDeployment. */
const RSS_LIMIT_MIB = 100;

/**
 * This checkout's src/ compiled as the Dockerfile's build stage compiles it (tsc of the
 * lock file, tsconfig.build.json, no source maps), into a temporary folder.
 */
async function compileLikeTheImage(): Promise<string> {
  const out = mkdtempSync(join(tmpdir(), "mro-image-dist-"));
  const tsc = join(ROOT, "node_modules", "typescript", "bin", "tsc");
  const args = [tsc, "-p", "tsconfig.build.json", "--sourceMap", "false", "--outDir", out];
  const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout.on("data", (d: Buffer) => (output += d.toString()));
  child.stderr.on("data", (d: Buffer) => (output += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
  if (code !== 0) throw new Error(`tsc failed (${code}):\n${output}`);
  return out;
}

/** Installed packages under node_modules, as package-lock.json names them (node_modules/a/node_modules/@s/b). */
function installedPackages(app: string): string[] {
  const found: string[] = [];
  const scan = (rel: string) => {
    for (const e of readdirSync(join(app, rel), { withFileTypes: true })) {
      if (!e.isDirectory() || e.name.startsWith(".")) continue;
      if (e.name.startsWith("@")) {
        for (const s of readdirSync(join(app, rel, e.name), { withFileTypes: true })) {
          if (s.isDirectory()) visit(`${rel}/${e.name}/${s.name}`);
        }
      } else visit(`${rel}/${e.name}`);
    }
  };
  const visit = (pkg: string) => {
    found.push(pkg);
    if (existsSync(join(app, pkg, "node_modules"))) scan(`${pkg}/node_modules`);
  };
  scan("node_modules");
  return found.sort();
}

describe("the container image, built from the Dockerfile and run as the chart runs it", function () {
  this.timeout(180_000);
  let image: BuiltImage;
  let info: ImageInfo;
  let files: ImageFiles | undefined;

  before(async function () {
    // A cold build: the stand-in base (debootstrap) and every layer, on vfs storage.
    this.timeout(30 * 60_000);
    image = await buildImage();
    console.log(
      `      hack/build-image.sh in ${image.seconds.toFixed(1)} s:\n${image.log
        .split("\n")
        .filter((l) => !l.includes("cannot be pulled") && l.trim() !== "")
        .map((l) => `        ${l}`)
        .join("\n")}`,
    );
    info = await inspectImage(image.id);
    files = await ImageFiles.create(image.id);
  });
  after(async () => {
    await files?.remove();
  });

  it("holds only the compiled operator, its CRD, the package files and the production dependencies", async () => {
    const app = join(files!.rootfs, "app");
    expect(readdirSync(app).sort()).to.deep.equal([
      "crds",
      "dist",
      "node_modules",
      "package-lock.json",
      "package.json",
    ]);
    // dist/ is this checkout's src/ compiled, file for file and byte for byte, and the CRD
    // is this checkout's (a stale cached image fails here). No TypeScript source, no source map.
    const compiled = await compileLikeTheImage();
    try {
      for (const [dir, expected] of [
        ["dist", compiled],
        ["crds", join(ROOT, "crds")],
      ] as const) {
        const inImage = walk(join(app, dir)).sort();
        expect(inImage, `${dir}/ in the image`).to.deep.equal(walk(expected).sort());
        for (const f of inImage.filter((p) => lstatSync(join(app, dir, p)).isFile())) {
          expect(sha(join(app, dir, f)), `${dir}/${f}`).to.equal(sha(join(expected, f)));
        }
      }
    } finally {
      rmSync(compiled, { recursive: true, force: true });
    }
    const distFiles = walk(join(app, "dist"));
    expect(distFiles, "the entry point and the condition worker").to.include.members([
      "main.js",
      "health/condition-worker.js",
    ]);
    expect(
      distFiles.filter((f) => /\.(ts|map)$/.test(f)),
      "TypeScript or source maps in dist/",
    ).to.deep.equal([]);
    for (const f of ["package.json", "package-lock.json"])
      expect(sha(join(app, f)), f).to.equal(sha(join(ROOT, f)));

    // node_modules: exactly the packages package-lock.json lists as not dev.
    const lock = JSON.parse(readFileSync(join(ROOT, "package-lock.json"), "utf8")) as {
      packages: Record<string, { dev?: boolean }>;
    };
    const production = Object.entries(lock.packages)
      .filter(([path, p]) => path !== "" && !p.dev)
      .map(([path]) => path)
      .sort();
    const installed = installedPackages(app);
    expect(installed, "node_modules = the production dependencies").to.deep.equal(production);
    for (const dev of ["mocha", "chai", "typescript", "eslint", "prettier", "@types/mocha", "fast-check"]) {
      expect(existsSync(join(app, "node_modules", dev)), `dev dependency ${dev}`).to.equal(false);
    }

    // No repository, cache or npm leftovers anywhere in the image, and none of the
    // repository's other folders (tests, tools, docs, chart) in /app.
    const all = walk(files!.rootfs);
    const unwanted = all.filter((p) => /(^|\/)(\.git|\.cache|_cacache|\.npm|\.mro-installed)$/.test(p));
    expect(unwanted, "caches, tests, .git").to.deep.equal([]);

    const size = info.layerSizes.reduce((a, b) => a + b, 0);
    const top = info.layerSizes.slice(-4).reduce((a, b) => a + b, 0);
    console.log(
      `      image: ${(size / 1048576).toFixed(1)} MiB in ${info.layerSizes.length} layers ` +
        `(the operator's own: ${(top / 1048576).toFixed(1)} MiB); ${all.length} files and folders, ` +
        `${walk(app).length} of them in /app (${installed.length} packages)`,
    );
  });

  it("runs node dist/main.js in /app as user 65532, the user the chart's pod asks for", () => {
    const values = parse(readFileSync(join(CHART, "values.yaml"), "utf8")) as {
      podSecurityContext: { runAsUser: number; runAsGroup: number; runAsNonRoot: boolean };
      securityContext: { readOnlyRootFilesystem: boolean; allowPrivilegeEscalation: boolean };
    };
    const { config } = info;
    expect(config.User).to.equal(
      `${values.podSecurityContext.runAsUser}:${values.podSecurityContext.runAsGroup}`,
    );
    expect(config.User).to.equal("65532:65532");
    expect(values.securityContext).to.include({
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
    });
    expect(config.Entrypoint).to.deep.equal(["node", "dist/main.js"]);
    // The base's CMD ["node"] must not become an argument of the operator.
    expect(config.Cmd ?? []).to.deep.equal([]);
    expect(config.WorkingDir).to.equal("/app");
    expect(config.Env).to.include("NODE_ENV=production");
    expect(Object.keys(config.ExposedPorts ?? {}).sort()).to.deep.equal(["8080/tcp", "8081/tcp"]);
    // The chart mounts a writable /tmp into the read-only root.
    const deployment = readFileSync(join(CHART, "templates", "deployment.yaml"), "utf8");
    expect(deployment).to.match(/mountPath: \/tmp/);
  });

  it("its user cannot write anywhere under /app or in /, read-only root or not; /tmp is writable", async () => {
    const probe = String.raw`
      const fs = require("node:fs");
      const out = {};
      for (const p of ["/app/x", "/app/dist/x", "/app/dist/main.js", "/app/node_modules/x", "/app/node_modules/yaml/package.json", "/x", "/tmp/x"]) {
        try { fs.writeFileSync(p, "x"); out[p] = "written"; } catch (e) { out[p] = e.code; }
      }
      try { fs.mkdirSync("/app/y"); out["mkdir /app/y"] = "made"; } catch (e) { out["mkdir /app/y"] = e.code; }
      console.log(JSON.stringify({ out, uid: process.getuid(), gid: process.getgid(), groups: process.getgroups(), cwd: process.cwd() }));
    `;
    const write = async (readOnlyRoot: boolean) => {
      const res = await execInImage(files!, info.config, {
        command: ["node", "-e", probe],
        args: [],
        readOnlyRoot,
      });
      expect(res.code, res.stderr).to.equal(0);
      return JSON.parse(res.stdout) as {
        out: Record<string, string>;
        uid: number;
        gid: number;
        groups: number[];
      };
    };
    const paths = [
      "/app/x",
      "/app/dist/x",
      "/app/dist/main.js",
      "/app/node_modules/x",
      "/app/node_modules/yaml/package.json",
    ];
    // As the chart runs it: the root file system is read-only.
    const ro = await write(true);
    // Node lists the effective group among the groups: 65532 is the only one.
    expect(ro).to.deep.include({ uid: 65532, gid: 65532, groups: [65532] });
    for (const p of [...paths, "/x"]) expect(ro.out[p], p).to.equal("EROFS");
    expect(ro.out["mkdir /app/y"]).to.equal("EROFS");
    expect(ro.out["/tmp/x"]).to.equal("written");
    // Even on a writable root (a pod without readOnlyRootFilesystem), /app is root's.
    const rw = await write(false);
    for (const p of [...paths, "/x"]) expect(rw.out[p], p).to.equal("EACCES");
    expect(rw.out["mkdir /app/y"]).to.equal("EACCES");
    expect(rw.out["/tmp/x"]).to.equal("written");
  });

  describe("the operator from the image, against the real control plane", () => {
    let models: FakeModelServer;
    let ns: string;
    let cleanup: (() => Promise<void>) | undefined;
    let saDir: string;
    let api: URL;
    let op: OperatorProcess | undefined;
    let launcher: OperatorLauncher;

    before(async () => {
      models = await FakeModelServer.start();
      ({ name: ns, cleanup } = await createNamespace("image"));
      // In-cluster configuration, as the chart's pod gets it: a ServiceAccount token, the
      // cluster's CA and the namespace in a read-only folder at the ServiceAccount path,
      // and KUBERNETES_SERVICE_HOST/PORT (here the API server on 127.0.0.1). The account
      // may do anything in the test's namespace only; the chart's RBAC has its own test.
      await kubectl(["-n", ns, "create", "serviceaccount", "operator"]);
      await kubectl([
        "-n",
        ns,
        "create",
        "rolebinding",
        "operator",
        "--clusterrole=cluster-admin",
        `--serviceaccount=${ns}:operator`,
      ]);
      const token = (await kubectl(["-n", ns, "create", "token", "operator", "--duration=1h"])).trim();
      const kubeconfig = parse(readFileSync(process.env.KUBECONFIG!, "utf8")) as {
        clusters: { cluster: { server: string; "certificate-authority-data": string } }[];
      };
      const { server, "certificate-authority-data": ca } = kubeconfig.clusters[0]!.cluster;
      api = new URL(server);
      saDir = mkdtempSync(join(tmpdir(), "mro-image-sa-"));
      writeFileSync(join(saDir, "token"), token);
      writeFileSync(join(saDir, "ca.crt"), Buffer.from(ca, "base64"));
      writeFileSync(join(saDir, "namespace"), ns);
      // Owned by the pod's user, as the kubelet does with a projected ServiceAccount token.
      for (const f of ["", "token", "ca.crt", "namespace"]) chownSync(join(saDir, f), 65532, 65532);
      launcher = {
        spawn: (flags, env) =>
          runInImage(files!, info.config, {
            args: flags,
            env: { ...env, KUBERNETES_SERVICE_HOST: api.hostname, KUBERNETES_SERVICE_PORT: api.port },
            mounts: { [SA_DIR]: saDir },
          }),
        signal: signalContainer,
      };
    });
    after(async () => {
      await op?.stop("SIGKILL");
      await models.stop();
      await cleanup?.();
      rmSync(saDir, { recursive: true, force: true });
    });

    it("becomes ready, takes the Lease, rolls out a canary, and exits 0 on SIGTERM, releasing the Lease", async () => {
      const lease = "model-rollout-operator";
      op = await startOperator({
        namespace: ns,
        launcher,
        args: ["--leader-elect", `--leader-election-namespace=${ns}`],
        env: { POD_NAME: "operator-from-image", POD_NAMESPACE: ns },
      });
      // startOperator returned once /readyz answered 200.
      expect((await fetch(`${op.healthUrl}/readyz`)).status).to.equal(200);

      // Who and where the process is: the image's Node as 65532, without privileges, in a
      // read-only root with a tmpfs /tmp and the ServiceAccount folder read-only.
      const pid = await waitFor("the image's process", async () => containerPid(op!.pid));
      const status = readFileSync(`/proc/${pid}/status`, "utf8");
      const field = (name: string) =>
        status
          .match(new RegExp(`^${name}:(.*)$`, "m"))?.[1]
          ?.trim()
          .split(/\s+/);
      expect(field("Uid"), "real, effective, saved, fs uid").to.deep.equal([
        "65532",
        "65532",
        "65532",
        "65532",
      ]);
      expect(field("Gid")).to.deep.equal(["65532", "65532", "65532", "65532"]);
      expect(field("Groups"), "no supplementary groups").to.deep.equal([""]);
      expect(field("NoNewPrivs"), "allowPrivilegeEscalation: false").to.deep.equal(["1"]);
      expect(field("CapEff")).to.deep.equal(["0000000000000000"]);
      expect(field("CapPrm")).to.deep.equal(["0000000000000000"]);
      expect(readlinkSync(`/proc/${pid}/exe`), "the image's node").to.equal(
        join(files!.rootfs, "usr/local/bin/node"),
      );
      expect(readlinkSync(`/proc/${pid}/cwd`)).to.equal(join(files!.rootfs, "app"));
      // The compiled operator, not the TypeScript sources through Node's type stripper.
      const argv = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
      expect(argv.slice(0, 2), "the process's command line").to.deep.equal(["node", "dist/main.js"]);
      expect(argv).to.include("--leader-elect");
      // Its memory with no ModelDeployment yet (ready, the CRD's schema compiled, the
      // watches open): what a user's pod holds at rest, under the issue's bound.
      expect(await kubectlJson<{ items: unknown[] }>(["get", "modeldeployments", "-A"])).to.deep.include({
        items: [],
      });
      const rssKiB = Number(field("VmRSS")?.[0]);
      console.log(
        `      RSS of node dist/main.js in the image, no ModelDeployment: ${(rssKiB / 1024).toFixed(1)} MiB`,
      );
      expect(rssKiB / 1024, "VmRSS in MiB").to.be.below(RSS_LIMIT_MIB);
      const mounts = new Map(
        readFileSync(`/proc/${pid}/mountinfo`, "utf8")
          .trim()
          .split("\n")
          .map((line) => {
            const [before, after] = line.split(" - ");
            const f = before!.split(" ");
            return [f[4]!, { options: f[5]!.split(","), type: after!.split(" ")[0]! }] as const;
          }),
      );
      expect(mounts.get("/")?.options, "read-only root").to.include("ro");
      expect(mounts.get("/tmp")).to.deep.include({ type: "tmpfs" });
      expect(mounts.get("/tmp")?.options).to.include("rw");
      expect(mounts.get(SA_DIR)?.options).to.include("ro");
      const nodeVersion = info.config.Env?.find((e) => e.startsWith("NODE_VERSION="))?.slice(
        "NODE_VERSION=".length,
      );
      const starting = op.logLines().find((l) => l.msg === "starting");
      expect(starting?.node, "the Node of the image").to.equal(`v${nodeVersion}`);

      // The Lease.
      await waitFor("the Lease held by the operator from the image", async () => {
        const l = await kubectlJson<{ spec?: { holderIdentity?: string } }>([
          "-n",
          ns,
          "get",
          "lease",
          lease,
        ]).catch(() => undefined);
        return l?.spec?.holderIdentity === "operator-from-image";
      });

      // A canary rollout with an HTTP health check that the operator makes from the image.
      const spec = (version: string) =>
        modelDeployment("fraud", {
          version,
          replicas: 2,
          strategy: { canary: { steps: [{ setWeight: 50 }, { pause: { duration: "1s" } }] } },
          healthChecks: {
            interval: "1s",
            checks: [{ name: "ready", http: { url: `${models.url}/{{version}}/ready` } }],
          },
        });
      await applyMd(ns, spec("1.0.0"));
      await waitForMd(ns, "fraud", "1.0.0 Ready", isReady, 90_000);
      await applyMd(ns, spec("2.0.0"));
      const done = await waitForMd(
        ns,
        "fraud",
        "2.0.0 promoted",
        (m) => isReady(m) && m.status?.stableVersion === "2.0.0",
        120_000,
      );
      expect(done.status?.history?.[0]).to.include({ version: "2.0.0", outcome: "Promoted" });
      const reasons = (await mdEvents(ns, "fraud")).map((e) => e.reason);
      expect(reasons).to.include.members(["RolloutStarted", "StepCompleted", "Promoted"]);
      expect(
        models.requests.some((r) => r.path === "/2.0.0/ready"),
        "the canary's health check",
      ).to.equal(true);
      expect(op.logs(), "no write to the read-only root was attempted").to.not.match(/EROFS|EACCES/);
      // It wrote as the ServiceAccount, through the in-cluster configuration.
      const writesAs = readFileSync(process.env.MRO_AUDIT_LOG!, "utf8")
        .split("\n")
        .filter((l) => l.startsWith("{"))
        .map(
          (l) =>
            JSON.parse(l) as { verb: string; user: { username: string }; objectRef?: { resource?: string } },
        )
        .filter((e) => e.user.username === `system:serviceaccount:${ns}:operator`)
        .map((e) => `${e.verb} ${e.objectRef?.resource}`);
      // (The audit policy leaves Leases out.)
      expect(writesAs).to.include.members([
        "patch deployments",
        "patch services",
        "update modeldeployments",
        "create events",
      ]);

      // SIGTERM to the container's process, as the kubelet sends it: a clean exit, Lease released.
      expect(await op.stop("SIGTERM")).to.equal(0);
      expect(op.logLines().map((l) => l.msg)).to.include("released the Lease");
    });
  });
});
