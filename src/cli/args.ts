// Command-line parsing of kubectl-modeldeploy: the commands, their flags and their help.
// Pure: no I/O. main.ts turns a UsageError into a message on stderr and exit code 3.
import { parseArgs } from "node:util";
import { parseDuration } from "../plan/index.ts";

export class UsageError extends Error {
  /** The command whose help to point at, when one was recognised. */
  readonly command: string | undefined;
  constructor(message: string, command?: string) {
    super(message);
    this.name = "UsageError";
    this.command = command;
  }
}

/** The actions of the ModelDeployment API (mlops.dev/action) that the plugin has a command for. */
export const ACTION_COMMANDS = ["promote", "abort", "retry", "pause", "resume", "rollback"] as const;
export type ActionCommand = (typeof ACTION_COMMANDS)[number];

export const COMMANDS = ["get", "list", "status", ...ACTION_COMMANDS, "validate", "plan", "help"] as const;
export type Command = (typeof COMMANDS)[number];

/** Exit codes, the same for every command. */
export const EXIT = {
  /** Ready (status), accepted (actions), no problems (validate). */
  ok: 0,
  /** Stalled or rolled back (status), refused (actions), problems found (validate). */
  failed: 1,
  /** The timeout passed first (status, actions). */
  timeout: 2,
  /** Wrong usage, no cluster, no such ModelDeployment, CRD not installed, unreadable file. */
  error: 3,
} as const;

export interface CliArgs {
  command: Command;
  /** Positional arguments after the command. */
  args: string[];
  help: boolean;
  namespace: string | undefined;
  allNamespaces: boolean;
  context: string | undefined;
  kubeconfig: string | undefined;
  watch: boolean;
  /** --timeout in ms (status, actions). */
  timeoutMs: number;
  /** promote --full. */
  full: boolean;
  /** actions: do not wait for the operator. */
  noWait: boolean;
  /** plan: text or yaml. */
  output: "text" | "yaml";
}

interface FlagHelp {
  flag: string;
  help: string;
}

const COMMON_FLAGS: FlagHelp[] = [
  { flag: "-n, --namespace NAME", help: "namespace (default: the kubeconfig context's, else default)" },
  { flag: "    --context NAME", help: "kubeconfig context to use" },
  { flag: "    --kubeconfig FILE", help: "kubeconfig file (default: $KUBECONFIG, else ~/.kube/config)" },
  { flag: "-h, --help", help: "help for this command" },
];

const ACTION_FLAGS: FlagHelp[] = [
  { flag: "    --no-wait", help: "annotate and return without waiting for the operator" },
  { flag: "    --timeout DURATION", help: "how long to wait for the operator to act (default 1m)" },
];

interface CommandHelp {
  usage: string;
  summary: string;
  description: string;
  flags: FlagHelp[];
  /** Which common flags apply: cluster commands take all, offline ones only --help. */
  cluster: boolean;
  examples: string[];
  /** Allowed flag names (long names) besides the common ones. */
  allowed: string[];
  minArgs: number;
  maxArgs: number;
}

const ACTION_DESCRIPTIONS: Record<ActionCommand, string> = {
  promote:
    "Ends the current pause or waiting step of a canary, or promotes a blue/green preview (--full: skip the remaining steps and checks).",
  abort: "Moves all traffic back to the stable version; the spec stays as it is.",
  retry: "Starts an aborted or rolled-back rollout again.",
  pause: "Holds the rollout where it is.",
  resume: "Carries on with a paused rollout.",
  rollback: "Routes all traffic to the previous promoted version.",
};

function actionHelp(action: ActionCommand): CommandHelp {
  return {
    usage: `kubectl modeldeploy ${action} NAME${action === "promote" ? " [--full]" : ""} [flags]`,
    summary: ACTION_DESCRIPTIONS[action].split(/[.(]/)[0]!.trim().toLowerCase(),
    description:
      `${ACTION_DESCRIPTIONS[action]}\n\n` +
      `Annotates the ModelDeployment with mlops.dev/action=${action === "promote" ? "promote (or promote-full)" : action}, ` +
      "as `kubectl annotate` would, waits until the operator has acted on it (it removes the annotation), " +
      "and prints the Event it recorded: ActionAccepted, or ActionRefused with the reason.\n" +
      "Exit code 0 when accepted, 1 when refused, 2 when the operator did not act before the timeout.",
    flags: [
      ...(action === "promote"
        ? [{ flag: "    --full", help: "skip the remaining steps and health checks" }]
        : []),
      ...ACTION_FLAGS,
    ],
    cluster: true,
    examples: [
      `kubectl modeldeploy ${action} fraud-detector -n models`,
      ...(action === "promote" ? ["kubectl modeldeploy promote fraud-detector --full"] : []),
    ],
    allowed: [...(action === "promote" ? ["full"] : []), "no-wait", "timeout"],
    minArgs: 1,
    maxArgs: 1,
  };
}

export const HELP: Record<Command, CommandHelp> = {
  get: {
    usage: "kubectl modeldeploy get NAME [--watch] [flags]",
    summary: "show one ModelDeployment: versions, replicas, traffic, steps, checks, conditions, events",
    description:
      "Shows one ModelDeployment: its versions with ready/desired replicas (from the version Deployments), " +
      "the traffic weights the clients' Service sees, the steps of the rollout with the current one marked, " +
      "each health check with its last value and failures, the conditions and the recent Events.\n" +
      "With --watch it redraws in place in a terminal, and prints a new view on every change when piped.",
    flags: [{ flag: "-w, --watch", help: "keep watching until interrupted" }],
    cluster: true,
    examples: [
      "kubectl modeldeploy get fraud-detector -n models",
      "kubectl modeldeploy get fraud-detector --watch",
    ],
    allowed: ["watch"],
    minArgs: 1,
    maxArgs: 1,
  },
  list: {
    usage: "kubectl modeldeploy list [-A] [flags]",
    summary: "one line per ModelDeployment",
    description: "Lists the ModelDeployments of a namespace (or of all namespaces with -A), one line each.",
    flags: [{ flag: "-A, --all-namespaces", help: "list across all namespaces" }],
    cluster: true,
    examples: ["kubectl modeldeploy list -n models", "kubectl modeldeploy list -A"],
    allowed: ["all-namespaces"],
    minArgs: 0,
    maxArgs: 0,
  },
  status: {
    usage: "kubectl modeldeploy status NAME [--timeout 10m] [flags]",
    summary: "wait until a rollout is Ready (exit 0), Stalled (1) or the timeout passes (2)",
    description:
      "Waits for a ModelDeployment to settle, printing one line each time its state changes; for CI pipelines.\n" +
      "Only conditions written for the current generation (metadata.generation) count, so it is safe to run " +
      "right after `kubectl apply`.\n" +
      "Exit code 0 when Ready, 1 when Stalled (rolled back, aborted, invalid spec), 2 when the timeout passed first.",
    flags: [{ flag: "    --timeout DURATION", help: "how long to wait, e.g. 90s, 10m, 1h (default 10m)" }],
    cluster: true,
    examples: [
      "kubectl apply -f fraud-detector.yaml && kubectl modeldeploy status fraud-detector --timeout 15m",
    ],
    allowed: ["timeout"],
    minArgs: 1,
    maxArgs: 1,
  },
  promote: actionHelp("promote"),
  abort: actionHelp("abort"),
  retry: actionHelp("retry"),
  pause: actionHelp("pause"),
  resume: actionHelp("resume"),
  rollback: actionHelp("rollback"),
  validate: {
    usage: "kubectl modeldeploy validate FILE|DIR|- ... [flags]",
    summary: "check manifests offline against the CRD schema and the operator's rules",
    description:
      "Checks every YAML document of kind ModelDeployment in the given files (a directory: every .yaml, .yml " +
      "and .json file in it and below it; -: standard input) against the CRD schema and the operator's own " +
      "semantic rules, without a cluster. Other kinds are skipped.\n" +
      "Prints one line per problem, FILE:DOCUMENT: FIELD: MESSAGE (documents count from 0), and exits 1 " +
      "when there is any problem, 0 with a summary otherwise.",
    flags: [],
    cluster: false,
    examples: [
      "kubectl modeldeploy validate deploy/",
      "helm template charts/app | kubectl modeldeploy validate -",
    ],
    allowed: [],
    minArgs: 1,
    maxArgs: Infinity,
  },
  plan: {
    usage: "kubectl modeldeploy plan FILE|- [-o text|yaml] [flags]",
    summary: "print, offline, the children and the rollout the operator would create",
    description:
      "Prints what the operator would do for a ModelDeployment manifest, without a cluster: the Deployment " +
      "and Service of its version, the clients' Service (and the blue/green preview Service), and the " +
      "rollout a change of version would run: each canary step with its weight and the replicas of the " +
      "new and the stable version, or the blue/green preview and switch; and the health checks that gate it.\n" +
      "-o yaml prints the children as YAML documents, ready for a diff.",
    flags: [
      { flag: "-o, --output FORMAT", help: "text (default) or yaml" },
      {
        flag: "-n, --namespace NAME",
        help: "namespace written into the children (default: the manifest's, else default)",
      },
    ],
    cluster: false,
    examples: [
      "kubectl modeldeploy plan examples/canary.yaml",
      "kubectl modeldeploy plan model.yaml -o yaml",
    ],
    allowed: ["output", "namespace"],
    minArgs: 1,
    maxArgs: 1,
  },
  help: {
    usage: "kubectl modeldeploy help [COMMAND]",
    summary: "help about any command",
    description: "Prints the help of a command.",
    flags: [],
    cluster: false,
    examples: ["kubectl modeldeploy help status"],
    allowed: [],
    minArgs: 0,
    maxArgs: 1,
  },
};

const OPTIONS = {
  help: { type: "boolean", short: "h" },
  namespace: { type: "string", short: "n" },
  "all-namespaces": { type: "boolean", short: "A" },
  context: { type: "string" },
  kubeconfig: { type: "string" },
  watch: { type: "boolean", short: "w" },
  timeout: { type: "string" },
  full: { type: "boolean" },
  "no-wait": { type: "boolean" },
  output: { type: "string", short: "o" },
} as const;

const COMMON = ["help", "namespace", "context", "kubeconfig"];

export const DEFAULT_STATUS_TIMEOUT_MS = 10 * 60_000;
export const DEFAULT_ACTION_TIMEOUT_MS = 60_000;

function isCommand(s: string): s is Command {
  return (COMMANDS as readonly string[]).includes(s);
}

/** Parses argv (without node and the script). Throws UsageError with a message that says what to do. */
export function parseCliArgs(argv: readonly string[]): CliArgs {
  let parsed;
  try {
    parsed = parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: true, strict: true });
  } catch (err) {
    const first = argv.find((a) => !a.startsWith("-"));
    throw new UsageError(cleanParseError(err), first !== undefined && isCommand(first) ? first : undefined);
  }
  const { values, positionals } = parsed;
  const [name, ...rest] = positionals;
  if (name === undefined) {
    if (values.help) return defaults("help", []);
    throw new UsageError("no command given");
  }
  if (!isCommand(name)) {
    const hint = ACTION_ALIASES[name];
    throw new UsageError(`unknown command "${name}"${hint ? `; did you mean "${hint}"?` : ""}`);
  }
  const spec = HELP[name];
  const args = defaults(name, rest);
  args.help = values.help ?? false;
  if (args.help) return args;

  const allowed = new Set([...(spec.cluster ? COMMON : ["help"]), ...spec.allowed]);
  for (const [key, value] of Object.entries(values)) {
    if (value !== undefined && !allowed.has(key)) {
      throw new UsageError(`the ${name} command does not take --${key}`, name);
    }
  }
  if (rest.length < spec.minArgs) {
    throw new UsageError(
      `${name} needs ${spec.minArgs === 1 ? "an argument" : "arguments"}: ${spec.usage}`,
      name,
    );
  }
  if (rest.length > spec.maxArgs) {
    throw new UsageError(
      `${name} takes ${spec.maxArgs === 0 ? "no arguments" : `at most ${spec.maxArgs}`}, got: ${rest.join(" ")}`,
      name,
    );
  }
  if (values.namespace !== undefined && values.namespace === "")
    throw new UsageError("--namespace must not be empty", name);
  args.namespace = values.namespace;
  args.allNamespaces = values["all-namespaces"] ?? false;
  args.context = values.context;
  args.kubeconfig = values.kubeconfig;
  args.watch = values.watch ?? false;
  args.full = values.full ?? false;
  args.noWait = values["no-wait"] ?? false;
  if (values.timeout !== undefined) {
    let ms: number;
    try {
      ms = parseDuration(values.timeout);
    } catch {
      ms = NaN;
    }
    if (!Number.isFinite(ms) || ms <= 0) {
      throw new UsageError(`--timeout "${values.timeout}" is not a duration such as 90s, 10m or 1h30m`, name);
    }
    args.timeoutMs = ms;
  }
  if (values.output !== undefined) {
    if (values.output !== "text" && values.output !== "yaml") {
      throw new UsageError(`--output must be text or yaml, got "${values.output}"`, name);
    }
    args.output = values.output;
  }
  return args;
}

/** Names users may try, from Argo Rollouts' plugin and kubectl. */
const ACTION_ALIASES: Record<string, string> = {
  undo: "rollback",
  lint: "validate",
  ls: "list",
  describe: "get",
  wait: "status",
};

function defaults(command: Command, args: string[]): CliArgs {
  return {
    command,
    args,
    help: command === "help",
    namespace: undefined,
    allNamespaces: false,
    context: undefined,
    kubeconfig: undefined,
    watch: false,
    timeoutMs: command === "status" ? DEFAULT_STATUS_TIMEOUT_MS : DEFAULT_ACTION_TIMEOUT_MS,
    full: false,
    noWait: false,
    output: "text",
  };
}

function cleanParseError(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  // node:util's messages end with advice for JavaScript callers; keep the first sentence.
  return msg
    .replace(/\. To specify a positional argument.*$/s, "")
    .replace(/^Unknown option/, "unknown flag");
}

function table(rows: FlagHelp[]): string {
  const width = Math.max(0, ...rows.map((r) => r.flag.length));
  return rows.map((r) => `  ${r.flag.padEnd(width)}   ${r.help}`).join("\n");
}

/** The help of one command. */
export function commandHelp(command: Command): string {
  const spec = HELP[command];
  const flags = [...spec.flags, ...(spec.cluster ? COMMON_FLAGS : COMMON_FLAGS.slice(-1))];
  return [
    `${spec.description}`,
    "",
    "Usage:",
    `  ${spec.usage}`,
    "",
    "Flags:",
    table(flags),
    ...(spec.examples.length > 0 ? ["", "Examples:", ...spec.examples.map((e) => `  ${e}`)] : []),
    "",
  ].join("\n");
}

/** The overall help: every command. */
export function mainHelp(): string {
  const names = COMMANDS.filter((c) => c !== "help");
  const width = Math.max(...names.map((c) => c.length));
  return [
    "kubectl modeldeploy: inspect, drive and check ModelDeployment rollouts (mlops.dev/v1alpha1).",
    "",
    "Usage:",
    "  kubectl modeldeploy COMMAND [ARGS] [flags]",
    "",
    "Commands:",
    ...names.map((c) => `  ${c.padEnd(width)}   ${HELP[c].summary}`),
    "",
    "Flags of the commands that talk to a cluster:",
    table(COMMON_FLAGS),
    "",
    "Exit codes: 0 success, 1 failed (Stalled, refused, problems found), 2 timeout, 3 usage or cluster error.",
    'Run "kubectl modeldeploy COMMAND --help" for more about a command.',
    "",
  ].join("\n");
}
