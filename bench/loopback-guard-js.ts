// The loopback guard's preload (test/support/loopback-guard-preload.ts and the modules it
// imports) as plain JavaScript, for an operator run from its compiled JavaScript
// (--operator-entry dist/main.js). Preloading the TypeScript file would load Node's
// TypeScript stripper into that process (about 17 MiB of RSS measured here) and so measure
// a process that users do not run; without the guard the benchmark's operator would not be
// held to loopback. TypeScript's transpiler (a dev dependency) writes the copies, with the
// relative `.ts` imports rewritten to `.js`, the way `npm run build` compiles src/.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import ts from "typescript";

const ROOT = join(import.meta.dirname, "..");
const PRELOAD = join(ROOT, "test", "support", "loopback-guard-preload.ts");

/** Relative imports (static, side-effect and re-exports) of a module's source. */
function relativeImports(source: string): string[] {
  const out: string[] = [];
  for (const m of source.matchAll(/(?:from|import)\s*["'](\.{1,2}\/[^"']+\.ts)["']/g)) out.push(m[1]!);
  return out;
}

/**
 * Writes the JavaScript copies under `dir` (keeping the checkout's layout, so relative
 * imports still resolve) and returns the `--import` URL of the preload.
 */
export function writeLoopbackGuardJs(dir: string): string {
  mkdirSync(dir, { recursive: true });
  // ES modules, whatever package.json is above `dir`.
  writeFileSync(join(dir, "package.json"), '{ "type": "module" }\n');
  const seen = new Set<string>();
  const pending = [PRELOAD];
  while (pending.length > 0) {
    const file = pending.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    const source = readFileSync(file, "utf8");
    const { outputText } = ts.transpileModule(source, {
      fileName: file,
      compilerOptions: {
        module: ts.ModuleKind.ESNext,
        target: ts.ScriptTarget.ES2023,
        rewriteRelativeImportExtensions: true,
        verbatimModuleSyntax: true,
      },
    });
    const out = join(dir, relative(ROOT, file)).replace(/\.ts$/, ".js");
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, outputText);
    for (const spec of relativeImports(source)) pending.push(resolve(dirname(file), spec));
  }
  return pathToFileURL(join(dir, relative(ROOT, PRELOAD)).replace(/\.ts$/, ".js")).href;
}
