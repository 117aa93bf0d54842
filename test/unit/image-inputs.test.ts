// hack/image-inputs.ts: the hash that lets hack/build-image.sh reuse the image built last
// time. It must change with every file the build reads and with nothing else, and it reads
// .dockerignore the way Docker and buildah do.
import { expect } from "chai";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { contextFiles, inputsHash, isExcluded, parseDockerignore } from "../../hack/image-inputs.ts";

const ROOT = join(import.meta.dirname, "..", "..");

describe("image inputs", () => {
  let dir: string;
  const write = (path: string, content: string) => {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), content);
  };
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "mro-image-inputs-"));
    write("Dockerfile", "FROM scratch\nCOPY src/ /src/\n");
    write(".dockerignore", readFileSync(join(ROOT, ".dockerignore"), "utf8"));
    write("package.json", "{}");
    write("package-lock.json", "{}");
    write("crds/a.yaml", "kind: CustomResourceDefinition\n");
    write("src/main.ts", "console.log(1);\n");
    write("src/plan/plan.ts", "export {};\n");
    write("test/unit/x.test.ts", "");
    write("node_modules/mocha/index.js", "");
    write(".git/HEAD", "ref: refs/heads/main\n");
    write("README.md", "# readme\n");
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("lets in exactly what the project's .dockerignore allows", () => {
    const rules = parseDockerignore(readFileSync(join(dir, ".dockerignore"), "utf8"));
    expect(contextFiles(dir, rules)).to.deep.equal([
      "crds/a.yaml",
      "package-lock.json",
      "package.json",
      "src/main.ts",
      "src/plan/plan.ts",
    ]);
  });

  it("reads .dockerignore as Docker does: the last matching rule wins, a rule covers what is below it", () => {
    const rules = parseDockerignore("# comment\n**/*.md\n!docs/keep.md\nbuild/\n/tmp\n*.lo?\n[ab].txt\n");
    expect(isExcluded(rules, "README.md")).to.equal(true);
    expect(isExcluded(rules, "docs/deep/x.md")).to.equal(true);
    expect(isExcluded(rules, "docs/keep.md")).to.equal(false);
    expect(isExcluded(rules, "build/out/x.js")).to.equal(true);
    expect(isExcluded(rules, "tmp/x")).to.equal(true);
    expect(isExcluded(rules, "src/tmp/x")).to.equal(false);
    expect(isExcluded(rules, "a.log")).to.equal(true);
    expect(isExcluded(rules, "a.logs")).to.equal(false);
    expect(isExcluded(rules, "b.txt")).to.equal(true);
    expect(isExcluded(rules, "c.txt")).to.equal(false);
  });

  it("changes with a source file, its mode, the Dockerfile, .dockerignore or a setting, and with nothing else", () => {
    const base = inputsHash(dir, ["NODE_IMAGE=a@1"]);
    expect(inputsHash(dir, ["NODE_IMAGE=a@1"]), "the same inputs").to.equal(base);
    expect(inputsHash(dir, ["NODE_IMAGE=a@2"]), "another base image").to.not.equal(base);

    write("test/unit/x.test.ts", "changed");
    write("node_modules/mocha/index.js", "changed");
    write("README.md", "changed");
    write(".git/HEAD", "changed");
    expect(inputsHash(dir, ["NODE_IMAGE=a@1"]), "files the build never sees").to.equal(base);

    const changes: [string, () => void][] = [
      ["src/main.ts", () => write("src/main.ts", "console.log(2);\n")],
      ["a new source file", () => write("src/new.ts", "")],
      ["a mode", () => chmodSync(join(dir, "src/plan/plan.ts"), 0o755)],
      ["package-lock.json", () => write("package-lock.json", '{"x":1}')],
      ["Dockerfile", () => write("Dockerfile", "FROM scratch\n")],
      [".dockerignore", () => write(".dockerignore", "*\n!src/\n!README.md\n")],
    ];
    let previous = base;
    for (const [what, change] of changes) {
      change();
      const next = inputsHash(dir, ["NODE_IMAGE=a@1"]);
      expect(next, what).to.not.equal(previous);
      previous = next;
    }
  });
});
