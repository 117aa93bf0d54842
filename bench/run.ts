// npm run bench [-- options]: the benchmarks of issue 7 on a local control plane with
// kwok nodes. Prints Markdown tables and writes bench-results/<timestamp>.json.
import { mkdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { installLoopbackGuard } from "../test/support/loopback-guard.ts";
import { DEFAULT_OPTIONS, runBench, type BenchOptions } from "./harness.ts";
import { markdownReport } from "./report.ts";

// Every connection of the benchmark stays on loopback (test/support/loopback-guard.ts).
installLoopbackGuard();

const ROOT = join(import.meta.dirname, "..");

const USAGE = `Usage: npm run bench -- [options]

  --sizes LIST            ModelDeployments per run, e.g. 100,1000,5000 (default ${DEFAULT_OPTIONS.sizes.join(",")})
  --rest-seconds S        the at-rest window (default ${DEFAULT_OPTIONS.restSeconds})
  --changes N             spec changes in the reaction-time stream (default ${DEFAULT_OPTIONS.changes})
  --change-rate R         spec changes per second (default ${DEFAULT_OPTIONS.changeRate})
  --promotions N          blue/green promotions (default ${DEFAULT_OPTIONS.promotions})
  --promotion-rate R      version changes per second for them (default ${DEFAULT_OPTIONS.promotionRate})
  --converge-timeout S    how long N ModelDeployments may take to become Ready (default max(300, 1.8 N))
  --planner-seconds S     seconds of plan() per planner scenario (default ${DEFAULT_OPTIONS.plannerSeconds})
  --route-rollouts N      ModelDeployments rolled out by replica ratio and through a managed
                          HTTPRoute, to compare their API requests (default ${DEFAULT_OPTIONS.routeRollouts}; 0: skip)
  --slow-checks N         rollouts at once whose canary step waits for an HTTP check that
                          answers slowly, measured against a stream of unrelated spec changes
                          (default ${DEFAULT_OPTIONS.slowChecks?.rollouts}; 0: skip)
  --slow-check-ms MS      how long those checks' test servers take to answer (default ${DEFAULT_OPTIONS.slowChecks?.checkDelayMs})
  --slow-check-interval D spec.healthChecks.interval of those rollouts (default: unset, the
                          API's 10s; e.g. 1s to measure each check again every second)
  --slow-checks-entry FILE
                          the operator of that case only (default: --operator-entry); an
                          absolute path runs another checkout's, e.g. an older version
  --slow-checks-without-check-flags
                          start that operator without the check-destination flags (one from
                          before the destination policy refuses them)
  --operator-arg FLAG     extra operator flag, repeatable (e.g. --operator-arg=--workers=8)
  --operator-entry FILE   the operator's entry point (default src/main.ts, as the tests run
                          it; dist/main.js after npm run build, as the image runs it: without
                          Node's TypeScript stripper)
  --baseline-entries LIST entry points whose memory with no ModelDeployment is measured
                          (default: the operator's entry, then dist/main.js, built first)
  --node-arg FLAG         extra Node.js flag of the operator process, repeatable
                          (e.g. --node-arg=--cpu-prof --node-arg=--cpu-prof-dir=/tmp/prof)
  --cluster-dir DIR       the control plane's folder (default: a new folder under ${tmpdir()})
  --out DIR               where the JSON result goes (default bench-results/)
  --keep-cluster          leave the control plane running at the end
  --default-control-plane the control plane as Kubernetes and Go ship it: kube-controller-manager
                          and kube-scheduler at their default client rates, the API server's
                          collector at GOGC=100 (default: tuned for thousands of objects, see
                          docs/benchmarks.md)
  -h, --help

Needs MRO_TOOLS_BIN (npm run bench sets it: hack/run.sh bench).`;

function positiveNumber(flag: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!(n > 0)) throw new Error(`${flag}: want a positive number, got ${JSON.stringify(value)}`);
  return n;
}

export function parseBenchArgs(
  argv: string[],
  env: NodeJS.ProcessEnv,
): BenchOptions & { out: string; help: boolean } {
  const { values } = parseArgs({
    args: argv,
    options: {
      sizes: { type: "string" },
      "rest-seconds": { type: "string" },
      changes: { type: "string" },
      "change-rate": { type: "string" },
      promotions: { type: "string" },
      "promotion-rate": { type: "string" },
      "planner-seconds": { type: "string" },
      "route-rollouts": { type: "string" },
      "slow-checks": { type: "string" },
      "slow-check-ms": { type: "string" },
      "slow-check-interval": { type: "string" },
      "slow-checks-entry": { type: "string" },
      "slow-checks-without-check-flags": { type: "boolean" },
      "converge-timeout": { type: "string" },
      "operator-arg": { type: "string", multiple: true },
      "node-arg": { type: "string", multiple: true },
      "operator-entry": { type: "string" },
      "baseline-entries": { type: "string" },
      "cluster-dir": { type: "string" },
      out: { type: "string" },
      "keep-cluster": { type: "boolean" },
      "default-control-plane": { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
  });
  const sizes = values.sizes
    ? values.sizes.split(",").map((s) => Math.round(positiveNumber("--sizes", s.trim(), 0)))
    : DEFAULT_OPTIONS.sizes;
  return {
    help: values.help ?? false,
    sizes,
    restSeconds: positiveNumber("--rest-seconds", values["rest-seconds"], DEFAULT_OPTIONS.restSeconds),
    changes: Math.round(positiveNumber("--changes", values.changes, DEFAULT_OPTIONS.changes)),
    changeRate: positiveNumber("--change-rate", values["change-rate"], DEFAULT_OPTIONS.changeRate),
    promotions: Math.round(positiveNumber("--promotions", values.promotions, DEFAULT_OPTIONS.promotions)),
    promotionRate: positiveNumber(
      "--promotion-rate",
      values["promotion-rate"],
      DEFAULT_OPTIONS.promotionRate,
    ),
    plannerSeconds: positiveNumber(
      "--planner-seconds",
      values["planner-seconds"],
      DEFAULT_OPTIONS.plannerSeconds,
    ),
    routeRollouts:
      values["route-rollouts"] === "0"
        ? 0
        : Math.round(
            positiveNumber("--route-rollouts", values["route-rollouts"], DEFAULT_OPTIONS.routeRollouts ?? 0),
          ),
    slowChecks: {
      rollouts:
        values["slow-checks"] === "0"
          ? 0
          : Math.round(
              positiveNumber(
                "--slow-checks",
                values["slow-checks"],
                DEFAULT_OPTIONS.slowChecks?.rollouts ?? 0,
              ),
            ),
      checkDelayMs: positiveNumber(
        "--slow-check-ms",
        values["slow-check-ms"],
        DEFAULT_OPTIONS.slowChecks?.checkDelayMs ?? 2000,
      ),
      ...(values["slow-check-interval"] ? { checkInterval: values["slow-check-interval"] } : {}),
      ...(values["slow-checks-entry"] ? { entry: values["slow-checks-entry"] } : {}),
      ...(values["slow-checks-without-check-flags"] ? { withoutCheckFlags: true } : {}),
    },
    ...(values["converge-timeout"]
      ? { convergeTimeoutSeconds: positiveNumber("--converge-timeout", values["converge-timeout"], 0) }
      : {}),
    operatorArgs: values["operator-arg"] ?? [],
    nodeArgs: values["node-arg"] ?? [],
    ...(values["operator-entry"] ? { operatorEntry: values["operator-entry"] } : {}),
    ...(values["baseline-entries"]
      ? { baselineEntries: values["baseline-entries"].split(",").map((e) => e.trim()) }
      : {}),
    clusterDir: values["cluster-dir"] ?? join(tmpdir(), `mro-bench-${process.pid}`),
    binDir: env.MRO_TOOLS_BIN ?? "",
    keepCluster: values["keep-cluster"] ?? false,
    tuneControlPlane: !(values["default-control-plane"] ?? false),
    out: values.out ?? join(ROOT, "bench-results"),
  };
}

if (import.meta.main) {
  let opts;
  try {
    opts = parseBenchArgs(process.argv.slice(2), process.env);
  } catch (err) {
    process.stderr.write(`bench: ${(err as Error).message}\n\n${USAGE}\n`);
    process.exit(2);
  }
  if (opts.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  if (!opts.binDir) {
    process.stderr.write("bench: MRO_TOOLS_BIN is not set: run it with `npm run bench`\n");
    process.exit(2);
  }
  const { out, help: _help, ...options } = opts;
  const result = await runBench({ ...options, log: (m) => process.stderr.write(`[bench] ${m}\n`) });
  mkdirSync(out, { recursive: true });
  const file = join(out, `${result.startedAt.replace(/[:.]/g, "-")}.json`);
  writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
  process.stdout.write(`${markdownReport(result)}\nJSON: ${file}\n`);
  process.exit(0);
}
