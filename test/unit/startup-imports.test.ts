import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { expect } from "chai";

const SRC = join(import.meta.dirname, "../../src");

/**
 * The files under node_modules/ that loading `modules` (in a fresh process) loads, and
 * Node's own modules that it loaded (process.moduleLoadList).
 */
function loadedBy(modules: string[]): { files: string[]; builtins: string[] } {
  const urls = modules.map((m) => pathToFileURL(join(SRC, m)).href);
  const script = `
    import { registerHooks } from "node:module";
    const seen = new Set();
    registerHooks({
      resolve(specifier, context, next) {
        const resolved = next(specifier, context);
        const at = resolved.url.lastIndexOf("/node_modules/");
        if (at >= 0) seen.add(resolved.url.slice(at + "/node_modules/".length));
        return resolved;
      },
    });
    for (const url of ${JSON.stringify(urls)}) await import(url);
    process.stdout.write(JSON.stringify({ files: [...seen].sort(), builtins: process.moduleLoadList }));
  `;
  return JSON.parse(
    execFileSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8" }),
  ) as { files: string[]; builtins: string[] };
}

/** The npm packages of those files, by name. */
const packagesOf = (files: string[]) => [
  ...new Set(
    files.map((f) =>
      f
        .split("/")
        .slice(0, f.startsWith("@") ? 2 : 1)
        .join("/"),
    ),
  ),
];

/** What main.ts imports: the operator is assembled from these. */
const MAIN_IMPORTS = [
  "observability/young-generation.ts",
  "config.ts",
  "observability/log.ts",
  "operator.ts",
];

describe("what the operator loads at start (docs/benchmarks.md, issue 20)", () => {
  // Each of these cost the operator's process memory for the whole of its life while the
  // controller path does not need them: @kubernetes/client-node's generated API (about
  // 80 MiB of RSS; the operator reads kubeconfigs and watches with its own code and loads
  // client-node only for the kubeconfig features it does not implement), undici (imported
  // with the first health check) and yaml (credentials files, the kubectl plugin); and
  // Node's internal undici (about 13 MiB), loaded by any ES import of node:http.
  it("loads neither client-node, undici nor yaml before the first ModelDeployment", function () {
    this.timeout(30_000);
    const { files, builtins } = loadedBy(MAIN_IMPORTS);
    const loaded = packagesOf(files);
    expect(
      loaded,
      "the hook sees the packages that are loaded (else this test proves nothing)",
    ).to.include.members(["prom-client", "winston", "ajv"]);
    expect(loaded).to.not.include("@kubernetes/client-node");
    expect(loaded).to.not.include("undici");
    expect(loaded).to.not.include("yaml");
    // Nor Node's own copy of undici (fetch, WebSocket), which an ES import of node:http loads.
    expect(builtins.filter((m) => m.includes("undici"))).to.deep.equal([]);
    expect(builtins, "the builtins are listed (else this test proves nothing)").to.include(
      "NativeModule http",
    );
  });

  // The schema's validator is generated code (src/api/generated/validate-schema.ts) that needs
  // two of ajv's helpers, not ajv's compiler and code generator (about 10 MiB at start).
  it("loads ajv's run-time helpers only, not its schema compiler", function () {
    this.timeout(30_000);
    const { files } = loadedBy(MAIN_IMPORTS);
    expect(files).to.include.members(["ajv/dist/runtime/ucs2length.js", "ajv-formats/dist/formats.js"]);
    expect(files.filter((f) => f.startsWith("ajv/dist/compile/") || f === "ajv/dist/ajv.js")).to.deep.equal(
      [],
    );
  });
});
