import { expect } from "chai";
import {
  COMMANDS,
  DEFAULT_ACTION_TIMEOUT_MS,
  DEFAULT_STATUS_TIMEOUT_MS,
  UsageError,
  commandHelp,
  mainHelp,
  parseCliArgs,
  type Command,
} from "../../src/cli/args.ts";
import { actionOf } from "../../src/cli/commands.ts";

function usageError(argv: string[]): UsageError {
  try {
    parseCliArgs(argv);
  } catch (err) {
    expect(err).to.be.instanceOf(UsageError);
    return err as UsageError;
  }
  throw new Error(`expected ${argv.join(" ")} to be refused`);
}

describe("cli arguments", () => {
  it("reads kubectl's flags in any position, short and long", () => {
    const a = parseCliArgs([
      "get",
      "-n",
      "models",
      "fraud-detector",
      "--context=prod",
      "--kubeconfig",
      "/k",
      "-w",
    ]);
    expect(a).to.include({
      command: "get",
      namespace: "models",
      context: "prod",
      kubeconfig: "/k",
      watch: true,
      help: false,
    });
    expect(a.args).to.deep.equal(["fraud-detector"]);
    expect(parseCliArgs(["list", "--all-namespaces"]).allNamespaces).to.equal(true);
    expect(parseCliArgs(["list", "-A"]).allNamespaces).to.equal(true);
    expect(parseCliArgs(["get", "x", "--namespace=ml"]).namespace).to.equal("ml");
  });

  it("parses --timeout as a duration, with a default per command", () => {
    expect(parseCliArgs(["status", "x"]).timeoutMs).to.equal(DEFAULT_STATUS_TIMEOUT_MS);
    expect(parseCliArgs(["status", "x", "--timeout", "1m30s"]).timeoutMs).to.equal(90_000);
    expect(parseCliArgs(["abort", "x"]).timeoutMs).to.equal(DEFAULT_ACTION_TIMEOUT_MS);
    expect(usageError(["status", "x", "--timeout", "10"]).message).to.equal(
      '--timeout "10" is not a duration such as 90s, 10m or 1h30m',
    );
  });

  it("maps promote --full to the promote-full action and every other action to itself", () => {
    const a = parseCliArgs(["promote", "x", "--full"]);
    expect(a.full).to.equal(true);
    expect(actionOf("promote", a.full)).to.equal("promote-full");
    expect(actionOf("promote", false)).to.equal("promote");
    for (const c of ["abort", "retry", "pause", "resume", "rollback"] as const)
      expect(actionOf(c, false)).to.equal(c);
    expect(parseCliArgs(["abort", "x", "--no-wait"]).noWait).to.equal(true);
  });

  it("accepts - (standard input) and several paths for validate, and -o yaml for plan", () => {
    expect(parseCliArgs(["validate", "-", "a.yaml", "dir/"]).args).to.deep.equal(["-", "a.yaml", "dir/"]);
    expect(parseCliArgs(["plan", "m.yaml", "-o", "yaml"]).output).to.equal("yaml");
    expect(parseCliArgs(["plan", "m.yaml"]).output).to.equal("text");
  });

  it("refuses what does not fit, saying what to do", () => {
    expect(usageError([]).message).to.equal("no command given");
    expect(usageError(["undo", "x"]).message).to.equal('unknown command "undo"; did you mean "rollback"?');
    expect(usageError(["get"]).message).to.match(/^get needs an argument: kubectl modeldeploy get NAME/);
    expect(usageError(["get", "a", "b"]).message).to.equal("get takes at most 1, got: a b");
    expect(usageError(["list", "x"]).message).to.equal("list takes no arguments, got: x");
    const watch = usageError(["status", "x", "--watch"]);
    expect(watch.message).to.equal("the status command does not take --watch");
    expect(watch.command).to.equal("status");
    expect(usageError(["validate", "f.yaml", "-n", "ns"]).message).to.equal(
      "the validate command does not take --namespace",
    );
    expect(usageError(["plan", "f.yaml", "-o", "json"]).message).to.equal(
      '--output must be text or yaml, got "json"',
    );
    expect(usageError(["get", "x", "--bogus"]).message).to.equal("unknown flag '--bogus'");
  });

  it("has --help for every command, even with missing arguments", () => {
    for (const c of COMMANDS) {
      const a = parseCliArgs([c, "--help"]);
      expect(a.help, c).to.equal(true);
      expect(a.command).to.equal(c);
    }
    expect(parseCliArgs(["--help"]).command).to.equal("help");
    expect(parseCliArgs(["status", "-h"]).help).to.equal(true);
  });

  it("documents each command's usage, flags and examples", () => {
    const help = commandHelp("status");
    expect(help).to.contain("kubectl modeldeploy status NAME [--timeout 10m]");
    expect(help).to.contain("--timeout DURATION");
    expect(help).to.contain("--kubeconfig FILE");
    expect(help).to.match(/Exit code 0 when Ready, 1 when Stalled .*2 when the timeout passed first/);
    // Offline commands do not offer the cluster flags.
    expect(commandHelp("validate")).not.to.contain("--context");
    expect(commandHelp("promote")).to.contain("--full");
    const main = mainHelp();
    for (const c of COMMANDS.filter((c): c is Exclude<Command, "help"> => c !== "help")) {
      expect(main).to.match(new RegExp(`^  ${c} `, "m"));
    }
  });
});
