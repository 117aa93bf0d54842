// The commands of kubectl-modeldeploy. Each returns its exit code; output goes through Io
// so that tests can run them in-process as well as through the executable.
import { ANNOTATION_ACTION, type Action } from "../api/constants.ts";
import type { ModelDeployment } from "../api/types.ts";
import { Reasons } from "../api/reasons.ts";
import { computeCanaryStepPlan, formatDuration, type StepPreview } from "../plan/index.ts";
import { EXIT, type ActionCommand, type CliArgs } from "./args.ts";
import {
  assessOutcome,
  formatGet,
  formatList,
  statusLine,
  statusVerdict,
  type EventRow,
  type GetView,
} from "./format.ts";
import { CliError, Cluster } from "./kube.ts";
import { readSources, validateSources, validationSummary } from "./manifests.ts";
import { planSources } from "./plan.ts";

export interface Io {
  out(text: string): void;
  err(text: string): void;
  /** stdout is a terminal: redraw in place, Unicode bars. */
  isTTY: boolean;
  now(): Date;
  /** The whole of standard input (validate -, plan -). */
  stdin(): string;
  /** Resolves when the user interrupts (Ctrl-C); get --watch stops then. */
  interrupted: Promise<void>;
}

/** The clock prefix of `status` lines. */
function clock(d: Date): string {
  return d.toISOString().slice(11, 19);
}

/** A promise that resolves after ms, or earlier when poke() is called. */
class Wakeup {
  #resolve: (() => void) | undefined;
  #pending = false;
  poke = (): void => {
    if (this.#resolve) this.#resolve();
    else this.#pending = true;
  };
  wait(ms: number): Promise<void> {
    if (this.#pending) {
      this.#pending = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#resolve = undefined;
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, ms));
      this.#resolve = done;
    });
  }
}

export async function fetchView(cluster: Cluster, name: string): Promise<GetView> {
  const md = await cluster.getModelDeployment(name);
  const uid = md.metadata?.uid;
  const [deployments, events] = await Promise.all([
    cluster.listVersionDeployments(name, uid),
    cluster.listEvents(name, uid),
  ]);
  return { md, deployments, events, steps: safeStepPlan(md) };
}

/** The canary steps with replica counts; none when the spec is too broken to compute them. */
function safeStepPlan(md: ModelDeployment): StepPreview[] {
  try {
    return computeCanaryStepPlan(md)?.steps ?? [];
  } catch {
    return [];
  }
}

function viewKey(v: GetView): string {
  return JSON.stringify([
    v.md.metadata?.resourceVersion,
    v.deployments.map((d) => d.metadata?.resourceVersion),
    v.events.map((e) => [e.reason, e.count, e.time]),
  ]);
}

export async function runGet(cluster: Cluster, args: CliArgs, io: Io): Promise<number> {
  const name = args.args[0]!;
  const render = (v: GetView) => formatGet(v, { now: io.now(), unicode: io.isTTY });
  if (!args.watch) {
    io.out(render(await fetchView(cluster, name)));
    return EXIT.ok;
  }
  const wake = new Wakeup();
  const stop = cluster.watchChanges(name, wake.poke);
  let interrupted = false;
  void io.interrupted.then(() => {
    interrupted = true;
    wake.poke();
  });
  let lastKey = "";
  let first = true;
  try {
    while (!interrupted) {
      let view: GetView;
      try {
        view = await fetchView(cluster, name);
      } catch (err) {
        // The object went away or the server hiccuped: say so and keep watching.
        if (first) throw err;
        io.err(`${clock(io.now())} ${(err as Error).message}\n`);
        await wake.wait(2000);
        continue;
      }
      if (io.isTTY) {
        const lines = render(view).split("\n");
        io.out((first ? "\x1b[2J" : "") + "\x1b[H" + lines.map((l) => l + "\x1b[K").join("\n") + "\x1b[J");
      } else {
        const key = viewKey(view);
        if (key !== lastKey) {
          io.out(`${first ? "" : "\n"}--- ${io.now().toISOString()}\n${render(view)}`);
          lastKey = key;
        }
      }
      first = false;
      // A change comes through the watches at once; the tick keeps ages current.
      await wake.wait(io.isTTY ? 1000 : 5000);
      if (!interrupted) await new Promise((r) => setTimeout(r, 100)); // let a burst of changes settle
    }
  } finally {
    stop();
  }
  return EXIT.ok;
}

export async function runList(cluster: Cluster, args: CliArgs, io: Io): Promise<number> {
  const items = await cluster.listModelDeployments(args.allNamespaces);
  if (items.length === 0) {
    io.err(
      args.allNamespaces
        ? "No ModelDeployments found.\n"
        : `No ModelDeployments found in namespace ${cluster.namespace}.\n`,
    );
    return EXIT.ok;
  }
  items.sort(
    (a, b) =>
      (a.metadata?.namespace ?? "").localeCompare(b.metadata?.namespace ?? "") ||
      (a.metadata?.name ?? "").localeCompare(b.metadata?.name ?? ""),
  );
  io.out(formatList(items, { now: io.now(), allNamespaces: args.allNamespaces }) + "\n");
  return EXIT.ok;
}

export async function runStatus(cluster: Cluster, args: CliArgs, io: Io): Promise<number> {
  const name = args.args[0]!;
  const deadline = io.now().getTime() + args.timeoutMs;
  const wake = new Wakeup();
  const stop = cluster.watchChanges(name, wake.poke);
  let last = "";
  try {
    let md = await cluster.getModelDeployment(name);
    for (;;) {
      const line = statusLine(md);
      if (line !== last) {
        io.out(`${clock(io.now())} ${name}: ${line}\n`);
        last = line;
      }
      const outcome = assessOutcome(md);
      if (outcome === "Ready") {
        io.out(statusVerdict(md, "Ready") + "\n");
        return EXIT.ok;
      }
      if (outcome === "Stalled") {
        io.out(statusVerdict(md, "Stalled") + "\n");
        return EXIT.failed;
      }
      const left = deadline - io.now().getTime();
      if (left <= 0) {
        io.out(statusVerdict(md, "Timeout", formatDuration(args.timeoutMs)) + "\n");
        return EXIT.timeout;
      }
      await wake.wait(Math.min(left, 2000));
      try {
        md = await cluster.getModelDeployment(name);
      } catch (err) {
        // Deleted or gone is final; a network blip is not.
        if (err instanceof CliError && /not found|not installed/.test(err.message)) throw err;
        io.err(`${clock(io.now())} ${(err as Error).message}\n`);
      }
    }
  } finally {
    stop();
  }
}

/** What an action command annotates. */
export function actionOf(command: ActionCommand, full: boolean): Action {
  return command === "promote" && full ? "promote-full" : command;
}

const ACTION_REASONS: readonly string[] = [Reasons.ActionAccepted, Reasons.ActionRefused];

export async function runAction(cluster: Cluster, args: CliArgs, io: Io): Promise<number> {
  const name = args.args[0]!;
  const action = actionOf(args.command as ActionCommand, args.full);
  const before = await cluster.getModelDeployment(name);
  const uid = before.metadata?.uid;
  const pending = before.metadata?.annotations?.[ANNOTATION_ACTION];
  if (pending !== undefined && pending !== action) {
    io.err(`note: replacing the pending action "${pending}" that the operator has not acted on yet\n`);
  }
  const seen = new Set((await cluster.listEvents(name, uid)).map((e) => e.name));
  await cluster.annotateAction(name, action);
  if (args.noWait) {
    io.out(
      `${name}: annotated ${ANNOTATION_ACTION}=${action}; the operator acts on it at its next reconcile\n`,
    );
    return EXIT.ok;
  }

  const deadline = io.now().getTime() + args.timeoutMs;
  const wake = new Wakeup();
  const stop = cluster.watchChanges(name, wake.poke);
  try {
    // 1. The operator removes the annotation once it has acted (or refused).
    let md: ModelDeployment = before;
    for (;;) {
      md = await cluster.getModelDeployment(name);
      if (md.metadata?.annotations?.[ANNOTATION_ACTION] === undefined) break;
      const left = deadline - io.now().getTime();
      if (left <= 0) {
        io.err(
          `${name}: the operator did not act on ${ANNOTATION_ACTION}=${action} within ${formatDuration(args.timeoutMs)}; ` +
            "is model-rollout-operator running and watching this namespace? The annotation stays, so it acts when it comes.\n",
        );
        return EXIT.timeout;
      }
      await wake.wait(Math.min(left, 1000));
    }
    // 2. Its Event (recorded right after) says what happened.
    const eventDeadline = Math.min(deadline, io.now().getTime() + 10_000);
    for (;;) {
      const fresh = (await cluster.listEvents(name, uid)).filter(
        (e) => !seen.has(e.name) && ACTION_REASONS.includes(e.reason),
      );
      const event = pickActionEvent(fresh, action);
      if (event) {
        const refused = event.reason === Reasons.ActionRefused;
        const text = `${name}: ${event.reason}: ${event.message}\n`;
        if (refused) io.err(text);
        else io.out(text);
        if (!refused) io.out(`${name}: ${statusLine(md)}\n`);
        return refused ? EXIT.failed : EXIT.ok;
      }
      const left = eventDeadline - io.now().getTime();
      if (left <= 0) break;
      await wake.wait(Math.min(left, 500));
      md = await cluster.getModelDeployment(name);
    }
    io.out(
      `${name}: the operator acted on ${action} (the annotation is gone) but recorded no Event about it; ${statusLine(md)}\n`,
    );
    return EXIT.ok;
  } finally {
    stop();
  }
}

/** The Event about our action among new ones: one that names it, else the newest. */
export function pickActionEvent(events: readonly EventRow[], action: string): EventRow | undefined {
  if (events.length === 0) return undefined;
  const time = (e: EventRow) => (e.time ? Date.parse(e.time) : 0);
  const sorted = [...events].sort((a, b) => time(b) - time(a));
  const mentions = new RegExp(`(^|[^a-z-])${action.replace(/[-]/g, "\\-")}([^a-z-]|$)`);
  return sorted.find((e) => mentions.test(e.message)) ?? sorted[0];
}

export function runValidate(args: CliArgs, io: Io): number {
  const sources = readSources(args.args, io.stdin);
  const report = validateSources(sources);
  for (const p of report.problems) io.out(p + "\n");
  // Warnings do not fail validation: the spec works, adjusted as they say.
  for (const w of report.warnings) io.err(w + "\n");
  const summary = validationSummary(report);
  if (report.problems.length > 0) {
    io.err(summary + "\n");
    return EXIT.failed;
  }
  io.out(summary + "\n");
  return EXIT.ok;
}

export function runPlan(args: CliArgs, io: Io): number {
  const sources = readSources(args.args, io.stdin);
  const result = planSources(sources, { output: args.output, namespace: args.namespace });
  if (result.problems.length > 0) {
    for (const p of result.problems) io.err(p + "\n");
    io.err("fix these problems first (kubectl modeldeploy validate shows the same)\n");
    return EXIT.failed;
  }
  io.out(result.text);
  return EXIT.ok;
}
