// Helpers for tests against the real control plane started by test/cluster/global-fixture.ts.
import { execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { promisify } from "node:util";
import * as k8s from "@kubernetes/client-node";

const run = promisify(execFile);

export function kubeConfig(): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  kc.loadFromDefault();
  return kc;
}

export const toolsBin = (): string => {
  const dir = process.env.MRO_TOOLS_BIN;
  if (!dir) throw new Error("MRO_TOOLS_BIN is not set: run the tests with `npm test`");
  return dir;
};

export interface CommandResult {
  stdout: string;
  stderr: string;
  code: number;
}

/** Runs a real binary from the tools folder (kubectl, helm); never throws on exit code. */
export function tool(name: string, args: string[], input?: string): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(join(toolsBin(), name), args, { stdio: ["pipe", "pipe", "pipe"], env: process.env });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (c: string) => (stdout += c));
    child.stderr.setEncoding("utf8").on("data", (c: string) => (stderr += c));
    child.on("error", reject);
    // A command that exits before reading its input must not crash the test run (EPIPE).
    child.stdin.on("error", () => {});
    child.on("close", (code) => resolve({ stdout, stderr, code: code ?? -1 }));
    child.stdin.end(input ?? "");
  });
}

/** kubectl that must succeed; returns stdout. */
export async function kubectl(args: string[], input?: string): Promise<string> {
  const res = await tool("kubectl", args, input);
  if (res.code !== 0) throw new Error(`kubectl ${args.join(" ")} failed (${res.code}): ${res.stderr}`);
  return res.stdout;
}

export async function kubectlJson<T = unknown>(args: string[]): Promise<T> {
  return JSON.parse(await kubectl([...args, "-o", "json"])) as T;
}

/** A fresh namespace for one test; deleted (without waiting) by the returned cleanup. */
export async function createNamespace(prefix = "t"): Promise<{ name: string; cleanup: () => Promise<void> }> {
  const slug = prefix
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, "-")
    .slice(0, 40)
    .replace(/-+$/, "");
  const name = `${slug}-${randomBytes(3).toString("hex")}`;
  await kubectl(["create", "namespace", name]);
  return {
    name,
    cleanup: async () => {
      await run(join(toolsBin(), "kubectl"), ["delete", "namespace", name, "--wait=false"]).catch(() => {});
    },
  };
}

/** Polls `probe` until it returns a value that is not undefined/false, or fails with the last state seen. */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined | false>,
  { timeoutMs = 60_000, intervalMs = 250 }: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined && v !== false) return v;
      last = v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}; last: ${last instanceof Error ? last.message : JSON.stringify(last)}`,
      );
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
