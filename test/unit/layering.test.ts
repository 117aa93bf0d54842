// The import direction of src/, over the whole import graph (docs/architecture.md, "Layout"):
// the planner stays pure (nothing it reaches at run time does I/O), kube/ reaches nothing in
// controller/, and each folder imports only the folders the docs allow it.
import { expect } from "chai";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), "../../src");

interface Edge {
  /** A file under src/ (relative, "plan/plan.ts") or a package ("ajv", "node:http"). */
  to: string;
  /** Erased at compile time: `import type`, `export type`, or only type bindings. */
  typeOnly: boolean;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return path.endsWith(".ts") ? [path] : [];
  });
}

function isTypeOnly(node: ts.ImportDeclaration | ts.ExportDeclaration): boolean {
  if (ts.isExportDeclaration(node)) {
    if (node.isTypeOnly) return true;
    const e = node.exportClause;
    return (
      e !== undefined &&
      ts.isNamedExports(e) &&
      e.elements.length > 0 &&
      e.elements.every((x) => x.isTypeOnly)
    );
  }
  const clause = node.importClause;
  if (!clause) return false; // a side-effect import runs the module
  if (clause.isTypeOnly) return true;
  if (clause.name) return false;
  const b = clause.namedBindings;
  return (
    b !== undefined && ts.isNamedImports(b) && b.elements.length > 0 && b.elements.every((x) => x.isTypeOnly)
  );
}

/** Every file of src/ with the modules it imports or re-exports. */
function importGraph(): Map<string, Edge[]> {
  const graph = new Map<string, Edge[]>();
  for (const file of sourceFiles(SRC)) {
    const text = readFileSync(file, "utf8");
    const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, false, ts.ScriptKind.TS);
    const edges: Edge[] = [];
    const add = (spec: string, typeOnly: boolean) =>
      edges.push({ to: spec.startsWith(".") ? relative(SRC, resolve(dirname(file), spec)) : spec, typeOnly });
    const visit = (node: ts.Node) => {
      if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier) {
        if (ts.isStringLiteral(node.moduleSpecifier)) add(node.moduleSpecifier.text, isTypeOnly(node));
      } else if (
        ts.isCallExpression(node) &&
        node.expression.kind === ts.SyntaxKind.ImportKeyword &&
        node.arguments[0] !== undefined &&
        ts.isStringLiteral(node.arguments[0])
      ) {
        add(node.arguments[0].text, false);
      }
      ts.forEachChild(node, visit);
    };
    visit(sf);
    graph.set(relative(SRC, file), edges);
  }
  return graph;
}

/** Every module reachable from `starts` (themselves included), with one path to each, through edges `follow` keeps. */
function reachable(
  graph: Map<string, Edge[]>,
  starts: readonly string[],
  follow: (e: Edge) => boolean,
): Map<string, string[]> {
  const paths = new Map<string, string[]>(starts.map((s) => [s, [s]]));
  const todo = [...starts];
  while (todo.length > 0) {
    const from = todo.pop() as string;
    for (const e of graph.get(from) ?? []) {
      if (!follow(e) || paths.has(e.to)) continue;
      paths.set(e.to, [...(paths.get(from) ?? []), e.to]);
      if (graph.has(e.to)) todo.push(e.to);
    }
  }
  return paths;
}

/** "plan/" for src/plan/x.ts, "config.ts" for src/config.ts, the package name for a package. */
function area(module: string): string {
  if (!module.endsWith(".ts")) return module;
  return module.includes("/") ? `${module.split("/")[0]}/` : module;
}

const graph = importGraph();
const filesIn = (folder: string) => [...graph.keys()].filter((f) => f.startsWith(folder));

/**
 * What each part of src/ may import directly (besides itself and npm packages), as
 * docs/architecture.md says. health/condition.ts is the pure CEL evaluator the planner's
 * validation uses; config/ (the parts of config.ts) takes the names of its settings from the
 * pure health/ modules that define them (addresses, the destination policy's modes, whose
 * responses may be quoted, the PromQL namespace rule, the check credentials file).
 */
const MAY_IMPORT: Record<string, readonly string[]> = {
  "api/": [],
  "plan/": ["api/", "health/condition.ts"],
  "health/": ["api/", "plan/"],
  "kube/": ["api/", "plan/", "clock.ts", "observability/log.ts"],
  "controller/": ["api/", "plan/", "health/", "kube/", "observability/", "clock.ts"],
  "observability/": ["api/", "plan/", "config.ts", "controller/"],
  "cli/": ["api/", "plan/"],
  "clock.ts": [],
  "config.ts": ["config/"],
  "config/": [
    "api/",
    "plan/",
    "observability/",
    "health/addresses.ts",
    "health/destination-policy.ts",
    "health/reveal.ts",
    "health/promql-rule.ts",
    "health/credentials.ts",
  ],
  "operator.ts": [
    "api/",
    "plan/",
    "health/",
    "kube/",
    "controller/",
    "observability/",
    "operator/",
    "config.ts",
    "clock.ts",
  ],
  "operator/": [
    "api/",
    "plan/",
    "health/",
    "kube/",
    "controller/",
    "observability/",
    "config.ts",
    "clock.ts",
  ],
  "main.ts": ["config.ts", "observability/", "operator.ts"],
};

/**
 * npm packages and Node modules the planner may run: none of them does I/O. The two deep
 * imports are the run-time helpers of the generated schema validator (ajv's standalone code).
 */
const PURE_PACKAGES = new Set([
  "ajv",
  "ajv-formats",
  "ajv/dist/runtime/ucs2length.js",
  "ajv-formats/dist/formats.js",
  "@marcbachmann/cel-js",
  "node:crypto",
]);

describe("layering: the import graph of src/", () => {
  it("reads the whole graph (every file of src/ is in it)", () => {
    expect(filesIn("plan/").length).to.be.greaterThan(10);
    expect(filesIn("kube/").length).to.be.greaterThan(3);
  });

  it("nothing the planner reaches at run time does I/O: only plan/, api/, health/condition.ts and pure packages", () => {
    const reached = reachable(graph, filesIn("plan/"), (e) => !e.typeOnly);
    const bad = [...reached]
      .filter(([m]) => {
        if (graph.has(m))
          return !(m.startsWith("plan/") || m.startsWith("api/") || m === "health/condition.ts");
        return !PURE_PACKAGES.has(m);
      })
      .map(([, path]) => path.join(" -> "));
    expect(bad).to.deep.equal([]);
  });

  it("kube/ reaches nothing in controller/, not even types", () => {
    const reached = reachable(graph, filesIn("kube/"), () => true);
    const bad = [...reached]
      .filter(([m]) => m.startsWith("controller/"))
      .map(([, path]) => path.join(" -> "));
    expect(bad).to.deep.equal([]);
  });

  it("each part imports only what docs/architecture.md allows it", () => {
    const bad: string[] = [];
    for (const [file, edges] of graph) {
      const own = area(file);
      const allowed = MAY_IMPORT[own];
      if (allowed === undefined) {
        bad.push(`${file}: ${own} is not in the documented layout`);
        continue;
      }
      for (const e of edges) {
        if (!graph.has(e.to)) continue; // a package
        const to = area(e.to);
        if (to === own || allowed.includes(to) || allowed.includes(e.to)) continue;
        bad.push(`${file} imports ${e.to}`);
      }
    }
    expect(bad).to.deep.equal([]);
  });

  it("catches what it is for: a planner module that reached node:http would be reported", () => {
    const fake = new Map(graph);
    fake.set("plan/extra.ts", [{ to: "node:http", typeOnly: false }]);
    const reached = reachable(fake, ["plan/extra.ts"], (e) => !e.typeOnly);
    expect([...reached.keys()]).to.include("node:http");
  });
});
