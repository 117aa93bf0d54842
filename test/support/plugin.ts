// Runs the kubectl plugin in-process from the repository root, for unit tests: what it
// printed and its exit code.
import { join } from "node:path";
import type { Io } from "../../src/cli/commands.ts";
import { run } from "../../src/cli/main.ts";

const ROOT = join(import.meta.dirname, "..", "..");

export async function plugin(
  argv: string[],
  stdin = "",
): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = "";
  let stderr = "";
  const io: Io = {
    out: (t) => void (stdout += t),
    err: (t) => void (stderr += t),
    isTTY: false,
    now: () => new Date("2026-03-01T12:00:00Z"),
    stdin: () => stdin,
    interrupted: new Promise(() => {}),
  };
  const cwd = process.cwd();
  process.chdir(ROOT);
  try {
    return { code: await run(argv, io), stdout, stderr };
  } finally {
    process.chdir(cwd);
  }
}
