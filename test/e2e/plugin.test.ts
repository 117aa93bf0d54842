// The kubectl plugin as users run it: real processes (bin/kubectl-modeldeploy, and through
// the real kubectl as `kubectl modeldeploy`) against the real control plane and operator.
import { expect } from "chai";
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { delimiter, join } from "node:path";
import { parse, stringify } from "yaml";
import type { ModelDeployment } from "../../src/api/types.ts";
import {
  createNamespace,
  kubectl,
  kubectlJson,
  toolsBin,
  waitFor,
  type CommandResult,
} from "../support/kube.ts";
import { startOperator, type OperatorProcess } from "../support/operator.ts";

const ROOT = join(import.meta.dirname, "..", "..");
const BIN = join(ROOT, "bin");

function env(): NodeJS.ProcessEnv {
  return { ...process.env, PATH: [BIN, toolsBin(), process.env.PATH ?? ""].join(delimiter) };
}

interface Running {
  /** Output so far. */
  stdout(): string;
  done: Promise<CommandResult>;
  signal(sig: NodeJS.Signals): void;
}

function start(file: string, args: string[], input = ""): Running {
  const child = spawn(file, args, { cwd: ROOT, env: env(), stdio: ["pipe", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (c: string) => (stdout += c));
  child.stderr.setEncoding("utf8").on("data", (c: string) => (stderr += c));
  const done = new Promise<CommandResult>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code) => resolve({ stdout, stderr, code: code ?? -1 }));
  });
  // A process that exits without reading its input must not fail the test with EPIPE.
  child.stdin.on("error", () => {});
  child.stdin.end(input);
  return { stdout: () => stdout, done, signal: (s) => child.kill(s) };
}

/** bin/kubectl-modeldeploy ARGS */
const plugin = (args: string[], input?: string) => start(join(BIN, "kubectl-modeldeploy"), args, input).done;
/** kubectl modeldeploy ARGS, found by the real kubectl on PATH. */
const viaKubectl = (args: string[]) => start(join(toolsBin(), "kubectl"), ["modeldeploy", ...args]).done;

function example(file: string): ModelDeployment {
  return parse(readFileSync(join(ROOT, "examples", file), "utf8")) as ModelDeployment;
}

/** The example at another version (and image), optionally with pods that never become Ready. */
function atVersion(
  md: ModelDeployment,
  version: string,
  opts: { neverReady?: boolean; progressDeadlineSeconds?: number } = {},
) {
  const next = structuredClone(md);
  next.spec.model.version = version;
  next.spec.template.spec!.containers[0]!.image = `registry.example/model-server:${version}`;
  if (opts.neverReady) next.spec.template.metadata = { labels: { "kwok.mlops.dev/never-ready": "true" } };
  if (opts.progressDeadlineSeconds) next.spec.progressDeadlineSeconds = opts.progressDeadlineSeconds;
  return next;
}

const apply = (ns: string, md: ModelDeployment) => kubectl(["-n", ns, "apply", "-f", "-"], stringify(md));

interface Deploy {
  metadata: { name: string; labels: Record<string, string> };
  spec: { replicas: number };
}

/** kubectl ARGS -o json, polled often: run through start(), which tolerates a closed stdin. */
async function getJson<T>(args: string[]): Promise<T> {
  const res = await start(join(toolsBin(), "kubectl"), [...args, "-o", "json"]).done;
  if (res.code !== 0) throw new Error(`kubectl ${args.join(" ")}: ${res.stderr}`);
  return JSON.parse(res.stdout) as T;
}

async function versionReplicas(ns: string, model: string): Promise<Map<string, number>> {
  const list = await getJson<{ items: Deploy[] }>([
    "-n",
    ns,
    "get",
    "deployments",
    "-l",
    `mlops.dev/model=${model}`,
  ]);
  return new Map(list.items.map((d) => [d.metadata.labels["mlops.dev/version"] ?? "", d.spec.replicas]));
}

function expectResult(res: CommandResult, code: number): void {
  expect(res.code, `exit code; stdout:\n${res.stdout}\nstderr:\n${res.stderr}`).to.equal(code);
}

describe("kubectl modeldeploy", function () {
  this.timeout(240_000);
  let ns: string;
  let cleanup: () => Promise<void>;
  let operator: OperatorProcess;

  before(async () => {
    ({ name: ns, cleanup } = await createNamespace("plugin"));
    operator = await startOperator({ namespace: ns });
  });
  after(async () => {
    await operator?.stop();
    await cleanup?.();
  });
  afterEach(function () {
    if (this.currentTest?.state === "failed") console.log(operator.logs().split("\n").slice(-40).join("\n"));
  });

  it("is found by kubectl on PATH and answers --help for each command", async () => {
    const res = await viaKubectl(["--help"]);
    expectResult(res, 0);
    expect(res.stdout).to.contain("kubectl modeldeploy COMMAND");
    const status = await viaKubectl(["status", "--help"]);
    expectResult(status, 0);
    expect(status.stdout).to.contain("Exit code 0 when Ready, 1 when Stalled");
  });

  it("says when a ModelDeployment does not exist, naming the namespace", async () => {
    const res = await plugin(["get", "no-such-model", "-n", ns]);
    expectResult(res, 3);
    expect(res.stderr).to.equal(`error: ModelDeployment "no-such-model" not found in namespace "${ns}"\n`);
  });

  it("plans a canary offline exactly as the operator then rolls it out, and status follows it to Ready", async () => {
    const v1 = example("canary.yaml");
    await apply(ns, v1);
    const first = await plugin(["status", "fraud-detector", "-n", ns, "--timeout", "2m"]);
    expectResult(first, 0);
    expect(first.stdout.trimEnd().split("\n").at(-1)).to.match(/^fraud-detector is Ready/);

    // The plan of version 1.1.0, offline.
    const v2 = atVersion(v1, "1.1.0");
    const planned = await plugin(["plan", "-", "-n", ns, "-o", "yaml"], stringify(v2));
    expectResult(planned, 0);
    const plan = parse(planned.stdout) as {
      children: { kind: string; metadata: { name: string } }[];
      rollout: { steps: { kind: string; candidateReplicas: number; stableReplicas: number }[] };
    };

    // Roll it out while watching the replicas of both versions and running `status`.
    await apply(ns, v2);
    const status = start(join(BIN, "kubectl-modeldeploy"), [
      "status",
      "fraud-detector",
      "-n",
      ns,
      "--timeout",
      "3m",
    ]);
    const seen: [number, number][] = [];
    let duringPause: CommandResult | undefined;
    await waitFor(
      "the rollout of 1.1.0 to finish",
      async () => {
        const r = await versionReplicas(ns, "fraud-detector");
        const pair: [number, number] = [r.get("1.1.0") ?? 0, r.get("1.0.0") ?? 0];
        const last = seen.at(-1);
        if (!last || last[0] !== pair[0] || last[1] !== pair[1]) seen.push(pair);
        if (!duringPause && pair[0] === 2 && pair[1] === 2)
          duringPause = await plugin(["get", "fraud-detector", "-n", ns]);
        return pair[0] === 4 && pair[1] === 0;
      },
      { timeoutMs: 150_000, intervalMs: 200 },
    );
    const res = await status.done;
    expectResult(res, 0);

    // Every step's replica counts of the plan were what the operator set, in order.
    const expected = [
      ...plan.rollout.steps
        .filter((s) => s.kind === "setWeight")
        .map((s): [number, number] => [s.candidateReplicas, s.stableReplicas]),
      [4, 0] as [number, number],
    ];
    let at = 0;
    for (const pair of seen)
      if (at < expected.length && pair[0] === expected[at]![0] && pair[1] === expected[at]![1]) at++;
    expect(at, `expected ${JSON.stringify(expected)} in order within ${JSON.stringify(seen)}`).to.equal(
      expected.length,
    );

    // The children the plan named are the ones that exist.
    const names = async (kind: string) =>
      (
        await kubectlJson<{ items: Deploy[] }>([
          "-n",
          ns,
          "get",
          kind,
          "-l",
          "mlops.dev/model=fraud-detector",
        ])
      ).items.map((d) => d.metadata.name);
    expect(await names("deployments")).to.include.members(
      plan.children.filter((c) => c.kind === "Deployment").map((c) => c.metadata.name),
    );
    expect(await names("services")).to.include.members(
      plan.children.filter((c) => c.kind === "Service").map((c) => c.metadata.name),
    );

    // status printed one line per change, through the steps, and ended Ready.
    const lines = res.stdout.trimEnd().split("\n");
    expect(lines.length).to.be.greaterThan(2);
    expect(new Set(lines).size).to.equal(lines.length);
    expect(res.stdout).to.match(/1\.1\.0 at 50% \(stable 1\.0\.0\), step \d\/4/);
    expect(lines.at(-1)).to.match(/^fraud-detector is Ready/);

    // get, in the middle of the rollout: both versions, bars, the current step marked.
    expect(duringPause, "get ran while 2+2 replicas served").not.to.equal(undefined);
    expectResult(duringPause!, 0);
    expect(duringPause!.stdout).to.match(/^ {2}1\.1\.0 +#+\.* +\d+%/m);
    expect(duringPause!.stdout).to.match(/^ {2}> +\d +(pause 10s|setWeight 50%)/m);
    expect(duringPause!.stdout).to.match(/^ {2}1\.0\.0 +stable +fraud-detector-1-0-0 +2\/2/m);
  });

  it("lists ModelDeployments through kubectl, in one namespace and across all", async () => {
    const res = await viaKubectl(["list", "-n", ns]);
    expectResult(res, 0);
    const rows = res.stdout.trimEnd().split("\n");
    expect(rows[0]).to.match(/^NAME +STRATEGY +STABLE/);
    expect(
      rows
        .find((r) => r.startsWith("fraud-detector "))
        ?.split(/\s+/)
        .slice(0, 4),
    ).to.deep.equal(["fraud-detector", "Canary", "1.1.0", "-"]);
    const all = await viaKubectl(["list", "-A"]);
    expectResult(all, 0);
    expect(all.stdout).to.match(new RegExp(`^${ns} +fraud-detector +Canary`, "m"));
  });

  it("exits 1 from status when a blue/green rollout is rolled back", async () => {
    const v1 = example("blue-green.yaml");
    await apply(ns, v1);
    expectResult(await plugin(["status", "sentiment-classifier", "-n", ns, "--timeout", "2m"]), 0);

    // 20 s, not less: the next test's retry starts this deadline again, and its `status`
    // (a new process, seconds to start on a busy machine) must find the rollout still going.
    await apply(ns, atVersion(v1, "2.0.0", { neverReady: true, progressDeadlineSeconds: 20 }));
    const res = await plugin(["status", "sentiment-classifier", "-n", ns, "--timeout", "2m"]);
    expectResult(res, 1);
    expect(res.stdout.trimEnd().split("\n").at(-1)).to.match(
      /^sentiment-classifier is Stalled \(ProgressDeadlineExceeded\)/,
    );
    // Traffic is back on the stable version.
    const r = await versionReplicas(ns, "sentiment-classifier");
    expect(r.get("2.0.0")).to.equal(0);
    expect(r.get("1.0.0")).to.equal(3);

    // get shows why, and the Event.
    const get = await plugin(["get", "sentiment-classifier", "-n", ns]);
    expectResult(get, 0);
    expect(get.stdout).to.match(/^ {2}Stalled +True +ProgressDeadlineExceeded/m);
    expect(get.stdout).to.match(/^Events:\n(.*\n)*.*Warning/m);
  });

  it("times out status with exit code 2", async () => {
    // Still stalled: retry starts it again, and it cannot become Ready within 1s.
    const retry = await plugin(["retry", "sentiment-classifier", "-n", ns]);
    expectResult(retry, 0);
    expect(retry.stdout).to.match(/^sentiment-classifier: ActionAccepted: /);
    const res = await plugin(["status", "sentiment-classifier", "-n", ns, "--timeout", "1s"]);
    expectResult(res, 2);
    expect(res.stdout).to.match(/sentiment-classifier is not Ready after 1s/);
  });

  it("drives a rollout with every action and reports refusals", async () => {
    const v1: ModelDeployment = { ...example("canary.yaml"), metadata: { name: "actions" } };
    v1.spec.strategy = { canary: { steps: [{ setWeight: 50 }, { pause: {} }] } };
    await apply(ns, v1);
    expectResult(await plugin(["status", "actions", "-n", ns, "--timeout", "2m"]), 0);

    // Nothing rolls out: promote is refused with the operator's reason.
    const refused = await plugin(["promote", "actions", "-n", ns]);
    expectResult(refused, 1);
    expect(refused.stderr).to.match(/^actions: ActionRefused: .+/);

    await apply(ns, atVersion(v1, "2.0.0"));
    const atPause = async () => {
      const md = await getJson<{ status?: { currentStep?: number; candidateVersion?: string } }>([
        "-n",
        ns,
        "get",
        "md",
        "actions",
      ]);
      return md.status?.candidateVersion === "2.0.0" && md.status.currentStep === 1;
    };
    await waitFor("the rollout to reach the pause", atPause, { timeoutMs: 60_000 });

    for (const action of ["pause", "resume"]) {
      const res = await plugin([action, "actions", "-n", ns]);
      expectResult(res, 0);
      expect(res.stdout).to.match(/^actions: ActionAccepted: /);
    }
    const abort = await plugin(["abort", "actions", "-n", ns]);
    expectResult(abort, 0);
    expectResult(await plugin(["status", "actions", "-n", ns, "--timeout", "1m"]), 1);

    expectResult(await plugin(["retry", "actions", "-n", ns]), 0);
    await waitFor("the retried rollout to reach the pause", atPause, { timeoutMs: 60_000 });
    // Through the real kubectl, too.
    const full = await viaKubectl(["promote", "actions", "--full", "-n", ns]);
    expectResult(full, 0);
    expect(full.stdout).to.match(/^actions: ActionAccepted: /);
    expectResult(await plugin(["status", "actions", "-n", ns, "--timeout", "1m"]), 0);

    const rollback = await plugin(["rollback", "actions", "-n", ns]);
    expectResult(rollback, 0);
    await waitFor(
      "1.0.0 to serve again",
      async () => (await versionReplicas(ns, "actions")).get("1.0.0") === 4,
      { timeoutMs: 60_000 },
    );
  });

  it("annotates without waiting with --no-wait, as kubectl annotate would", async () => {
    const res = await plugin(["pause", "actions", "-n", ns, "--no-wait"]);
    expectResult(res, 0);
    expect(res.stdout).to.equal(
      "actions: annotated mlops.dev/action=pause; the operator acts on it at its next reconcile\n",
    );
    await waitFor(
      "the operator to remove the annotation",
      async () => {
        const md = await getJson<{ metadata: { annotations?: Record<string, string> } }>([
          "-n",
          ns,
          "get",
          "md",
          "actions",
        ]);
        return md.metadata.annotations?.["mlops.dev/action"] === undefined;
      },
      { timeoutMs: 30_000 },
    );
  });

  it("watches with get --watch, printing a new view on each change when piped", async () => {
    const watch = start(join(BIN, "kubectl-modeldeploy"), ["get", "fraud-detector", "-n", ns, "--watch"]);
    await waitFor("the first view", async () => watch.stdout().includes("Events:"), { timeoutMs: 30_000 });
    expect(watch.stdout()).not.to.contain("\x1b[");
    await kubectl(["-n", ns, "scale", "md", "fraud-detector", "--replicas=2"]);
    await waitFor(
      "a second view with 2 replicas",
      async () => /---[\s\S]*Spec: +1\.1\.0, 2 replicas/.test(watch.stdout()),
      {
        timeoutMs: 30_000,
      },
    );
    watch.signal("SIGINT");
    expectResult(await watch.done, 0);
  });

  it("validates a directory of manifests through kubectl, offline", async () => {
    const res = await viaKubectl(["validate", "test/fixtures/manifests"]);
    expectResult(res, 1);
    expect(res.stdout).to.contain(
      "test/fixtures/manifests/bad/two-strategies.yaml:0: spec.strategy: exactly one of",
    );
    expect(res.stderr).to.match(/^9 problems in 7 of 10 ModelDeployments in 9 files\n$/);
    const good = await plugin(["validate", "examples"]);
    expectResult(good, 0);
    expect(good.stdout).to.equal("7 ModelDeployments in 7 files: valid\n");
  });
});
