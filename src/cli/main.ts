// kubectl-modeldeploy: the kubectl plugin of model-rollout-operator (`kubectl modeldeploy ...`).
// Wiring only: parse the arguments, connect when the command needs a cluster, run it, exit
// with its code. bin/kubectl-modeldeploy starts this file with the project's Node.
import { readFileSync } from "node:fs";
import {
  EXIT,
  UsageError,
  commandHelp,
  mainHelp,
  parseCliArgs,
  type ActionCommand,
  ACTION_COMMANDS,
  COMMANDS,
  type Command,
} from "./args.ts";
import { runAction, runGet, runList, runPlan, runStatus, runValidate, type Io } from "./commands.ts";
import { CliError, Cluster, connect } from "./kube.ts";

export async function run(argv: readonly string[], io: Io): Promise<number> {
  let args;
  try {
    args = parseCliArgs(argv);
  } catch (err) {
    if (err instanceof UsageError) {
      io.err(`error: ${err.message}\n`);
      io.err(`Run "kubectl modeldeploy ${err.command ? `${err.command} ` : ""}--help" for usage.\n`);
      return EXIT.error;
    }
    throw err;
  }
  if (args.command === "help" || args.help) {
    const topic = args.command === "help" ? args.args[0] : args.command;
    if (topic === undefined) {
      io.out(mainHelp());
    } else if ((COMMANDS as readonly string[]).includes(topic)) {
      io.out(commandHelp(topic as Command));
    } else {
      io.err(`error: unknown command "${topic}"\n`);
      return EXIT.error;
    }
    return EXIT.ok;
  }
  try {
    switch (args.command) {
      case "validate":
        return runValidate(args, io);
      case "plan":
        return runPlan(args, io);
      default: {
        const cluster = new Cluster(connect(args));
        if (args.command === "get") return await runGet(cluster, args, io);
        if (args.command === "list") return await runList(cluster, args, io);
        if (args.command === "status") return await runStatus(cluster, args, io);
        if ((ACTION_COMMANDS as readonly string[]).includes(args.command)) {
          return await runAction(cluster, { ...args, command: args.command as ActionCommand }, io);
        }
        throw new UsageError(`unknown command "${args.command}"`);
      }
    }
  } catch (err) {
    if (err instanceof CliError) {
      io.err(`error: ${err.message}\n`);
      return err.exitCode;
    }
    throw err;
  }
}

function processIo(): Io {
  let onInterrupt: () => void = () => {};
  const interrupted = new Promise<void>((resolve) => (onInterrupt = resolve));
  let watching = false;
  process.on("SIGINT", () => {
    if (watching) onInterrupt();
    else process.exit(130);
  });
  return {
    out: (text) => void process.stdout.write(text),
    err: (text) => void process.stderr.write(text),
    isTTY: process.stdout.isTTY === true,
    now: () => new Date(),
    stdin: () => readFileSync(0, "utf8"),
    get interrupted() {
      watching = true;
      return interrupted;
    },
  };
}

if (import.meta.main) {
  // Piped into `head`: stop quietly when the reader goes away.
  process.stdout.on("error", (err: NodeJS.ErrnoException) => {
    if (err.code === "EPIPE") process.exit(EXIT.ok);
    throw err;
  });
  const io = processIo();
  run(process.argv.slice(2), io).then(
    (code) => {
      process.exitCode = code;
      // Watches and sockets may linger; the answer is given.
      process.stdout.write("", () => process.exit(code));
    },
    (err: unknown) => {
      process.stderr.write(`error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exit(EXIT.error);
    },
  );
}
