// The operator's container image, built by hack/build-image.sh into buildah's vfs store in
// the cache, and a way to run processes from it the way a Kubernetes node runs the chart's
// pod (charts/model-rollout-operator: runAsUser/runAsGroup 65532, readOnlyRootFilesystem,
// allowPrivilegeEscalation: false, capabilities drop ALL, an emptyDir at /tmp).
//
// No container runtime starts containers on these machines (podman's crun cannot set
// rlimits here), and `buildah run` cannot make the root read-only, so runInImage() does
// what runc would, with util-linux and the image's own config: a mount, PID, IPC and UTS
// namespace; the image's files (a buildah working container) bind-mounted read-only as the
// root; fresh /proc, a minimal /dev, /sys read-only, a size-limited tmpfs on /tmp, and the
// test's folders bind-mounted read-only; then no_new_privs, chroot, the image's WorkingDir,
// its User (uid and gid, no supplementary groups, so no capabilities), its Env only, and
// its Entrypoint with the given arguments. Not like a pod: the network namespace is the
// machine's (the operator must reach the API server on 127.0.0.1, and the tests its ports),
// there is no seccomp profile and no cgroup limit, and the bounding set keeps the three
// capabilities the chroot needs (none is effective or permitted, and no_new_privs stops any
// exec from gaining them).
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, "..", "..");

/** The image store of hack/build-image.sh (same default). */
export const IMAGE_DIR =
  process.env.MRO_IMAGE_DIR ?? join(process.env.MRO_CACHE_DIR ?? join(ROOT, ".cache"), "image");

/** buildah on the project's store; resolves with stdout. */
export async function buildah(args: string[]): Promise<string> {
  const { stdout } = await run(
    "buildah",
    [
      "--root",
      join(IMAGE_DIR, "storage"),
      "--runroot",
      join(IMAGE_DIR, "run"),
      "--storage-driver",
      "vfs",
      ...args,
    ],
    { maxBuffer: 64 * 1024 * 1024, env: { ...process.env, BUILDAH_ISOLATION: "chroot" } },
  );
  return stdout;
}

export interface BuiltImage {
  id: string;
  /** What hack/build-image.sh printed on stderr: size, layers, whether it was cached. */
  log: string;
  seconds: number;
}

/** Runs hack/build-image.sh (cached: only what changed is built). */
export function buildImage(): Promise<BuiltImage> {
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn("bash", [join(ROOT, "hack", "build-image.sh")], {
      cwd: ROOT,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (c: string) => (stdout += c));
    child.stderr.setEncoding("utf8").on("data", (c: string) => (stderr += c));
    child.on("error", reject);
    child.on("close", (code) => {
      const id = stdout.trim().split("\n").at(-1) ?? "";
      if (code !== 0 || !/^[0-9a-f]{64}$/.test(id)) {
        reject(new Error(`hack/build-image.sh failed (${code}):\n${stderr}`));
        return;
      }
      resolve({ id, log: stderr, seconds: (Date.now() - t0) / 1000 });
    });
  });
}

/** The image's runtime config (OCI image config). */
export interface ImageConfig {
  User?: string;
  Env?: string[];
  Entrypoint?: string[];
  Cmd?: string[];
  WorkingDir?: string;
  ExposedPorts?: Record<string, unknown>;
  Labels?: Record<string, string>;
}

export interface ImageInfo {
  config: ImageConfig;
  /** Uncompressed layer sizes, bottom first. */
  layerSizes: number[];
}

export async function inspectImage(id: string): Promise<ImageInfo> {
  const img = JSON.parse(await buildah(["inspect", "--type", "image", id])) as {
    OCIv1: { config: ImageConfig };
    Manifest: string;
  };
  const manifest = JSON.parse(img.Manifest) as { layers: { size: number }[] };
  return { config: img.OCIv1.config, layerSizes: manifest.layers.map((l) => l.size) };
}

/** The image's files, in a buildah working container of its own (vfs: a full copy). */
export class ImageFiles {
  readonly container: string;
  /** Where the files are on this machine. */
  readonly rootfs: string;

  private constructor(container: string, rootfs: string) {
    this.container = container;
    this.rootfs = rootfs;
  }

  static async create(imageId: string): Promise<ImageFiles> {
    // A test run that was killed left its copy behind (hundreds of MiB): remove those of
    // processes that are gone.
    const names = (await buildah(["containers", "--noheading", "--format", "{{.ContainerName}}"])).split(
      "\n",
    );
    for (const name of names) {
      const pid = /^mro-image-test-(\d+)$/.exec(name.trim())?.[1];
      if (pid && !existsSync(`/proc/${pid}`)) await buildah(["rm", name.trim()]).catch(() => {});
    }
    const container = (
      await buildah(["from", "--pull=never", "--name", `mro-image-test-${process.pid}`, imageId])
    )
      .trim()
      .split("\n")
      .at(-1)!;
    const rootfs = (await buildah(["mount", container])).trim();
    return new ImageFiles(container, rootfs);
  }

  async remove(): Promise<void> {
    await buildah(["rm", this.container]);
  }
}

export interface RunOptions {
  /** Replaces the image's Cmd (as a pod's `args` do). */
  args?: string[];
  /** Replaces the image's Entrypoint (as a pod's `command` does). */
  command?: string[];
  /** Added to the image's Env. */
  env?: Record<string, string>;
  /** Host folders mounted read-only: container path -> host path. */
  mounts?: Record<string, string>;
  /** readOnlyRootFilesystem (default true). */
  readOnlyRoot?: boolean;
  /** Size of the /tmp tmpfs in MiB (the chart's emptyDir sizeLimit: 64Mi). */
  tmpMiB?: number;
}

// Runs in the new mount namespace as root, with the machine's tools, before the chroot.
const SETUP = String.raw`
set -eu
root=$1 ro=$2 tmp=$3 wd=$4 user=$5 group=$6 nmounts=$7
shift 7
mount --bind "$root" "$root"
mount -t proc -o nosuid,nodev,noexec proc "$root/proc"
mount -t tmpfs -o nosuid,mode=755,size=64k tmpfs "$root/dev"
for d in null zero full random urandom tty; do
  touch "$root/dev/$d"
  mount --bind "/dev/$d" "$root/dev/$d"
done
mkdir "$root/dev/shm" "$root/dev/pts"
mount -t tmpfs -o nosuid,nodev,noexec,mode=1777,size=64m shm "$root/dev/shm"
ln -s /proc/self/fd "$root/dev/fd"
mount --rbind /sys "$root/sys"
mount -o remount,bind,ro "$root/sys"
mount -t tmpfs -o "nosuid,nodev,mode=1777,size=$tmp" tmpfs "$root/tmp"
i=0
while [ "$i" -lt "$nmounts" ]; do
  target=$1 source=$2
  shift 2
  i=$((i + 1))
  # The mount point is made folder by folder inside the image; a symlink on the way (one
  # to an absolute path leads out of the image, onto this machine) is refused.
  p=$root
  for part in $(echo "$target" | tr / ' '); do
    p=$p/$part
    [ ! -L "$p" ] || { echo "mount point $target: $p is a symlink" >&2; exit 1; }
    [ -d "$p" ] || mkdir "$p"
  done
  mount --bind -o ro "$source" "$root$target"
done
[ "$ro" = 0 ] || mount -o remount,bind,ro "$root"
exec setpriv --no-new-privs --bounding-set=-all,+sys_chroot,+setuid,+setgid -- \
  unshare --root="$root" --wd="$wd" --setgid="$group" --setuid="$user" -- "$@"
`;

/**
 * Starts a process from the image's files as its config says. The spawned process is the
 * namespace's parent (util-linux unshare); the image's process is its child, PID 1 inside:
 * use containerPid() and signalContainer() to reach it.
 */
export function runInImage(files: ImageFiles, config: ImageConfig, options: RunOptions = {}): ChildProcess {
  const [user, group = user] = (config.User ?? "0").split(":");
  if (!/^\d+$/.test(user!) || !/^\d+$/.test(group!))
    throw new Error(`image user ${config.User} is not numeric`);
  const argv = [...(options.command ?? config.Entrypoint ?? []), ...(options.args ?? config.Cmd ?? [])];
  if (argv.length === 0) throw new Error("nothing to run: the image has no Entrypoint or Cmd");
  // The image's Env, and HOME as runc sets it for a user without a passwd entry.
  const env: Record<string, string> = {
    HOME: "/",
    ...Object.fromEntries(
      (config.Env ?? []).map((e) => [e.slice(0, e.indexOf("=")), e.slice(e.indexOf("=") + 1)]),
    ),
  };
  const mounts = Object.entries(options.mounts ?? {});
  return spawn(
    "unshare",
    [
      "--mount",
      "--pid",
      "--ipc",
      "--uts",
      "--kill-child",
      "--propagation=private",
      "--",
      "sh",
      "-c",
      SETUP,
      "sh",
      files.rootfs,
      options.readOnlyRoot === false ? "0" : "1",
      `${options.tmpMiB ?? 64}m`,
      config.WorkingDir || "/",
      user!,
      group!,
      String(mounts.length),
      ...mounts.flat(),
      ...argv,
    ],
    {
      // The image's environment and the test's, none of this machine's; PATH from the
      // image also finds the machine's mount, setpriv and unshare before the chroot.
      env: { ...env, ...options.env },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
}

/** The host PID of the image's process: the child of the namespace's parent `parentPid`. */
export function containerPid(parentPid: number): number | undefined {
  try {
    const children = readFileSync(`/proc/${parentPid}/task/${parentPid}/children`, "utf8").trim();
    if (children) return Number(children.split(/\s+/)[0]);
  } catch {
    // gone, or a kernel without the children file: scan
  }
  for (const name of readdirSync("/proc").filter((n) => /^\d+$/.test(n))) {
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      if (Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]) === parentPid) return Number(name);
    } catch {
      // ended meanwhile
    }
  }
  return undefined;
}

/** A signal for the image's process, as the kubelet sends it to a container's PID 1. */
export function signalContainer(child: ChildProcess, signal: NodeJS.Signals): void {
  const pid = child.pid === undefined ? undefined : containerPid(child.pid);
  if (pid !== undefined && signal !== "SIGKILL") process.kill(pid, signal);
  else child.kill("SIGKILL"); // --kill-child takes the image's process along
}

/** Runs a command in the image to its end; resolves with its exit code and output. */
export function execInImage(
  files: ImageFiles,
  config: ImageConfig,
  options: RunOptions,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = runInImage(files, config, options);
    let stdout = "";
    let stderr = "";
    child.stdout!.setEncoding("utf8").on("data", (c: string) => (stdout += c));
    child.stderr!.setEncoding("utf8").on("data", (c: string) => (stderr += c));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}
