// Prints one SHA-256 over everything a `buildah build` of the Dockerfile reads: the
// Dockerfile, .dockerignore, the given build settings (the base image's ID among them), and
// every file of the build context that .dockerignore lets in (path, mode, content). Two
// builds with the same hash make the same image, so hack/build-image.sh reuses the image
// built last time instead of asking buildah, whose layer-cache check alone takes minutes
// on vfs storage.
//
//   node hack/image-inputs.ts CONTEXT_DIR [SETTING ...]
import { createHash } from "node:crypto";
import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync } from "node:fs";
import { join, posix } from "node:path";

interface Rule {
  exclude: boolean;
  glob: string;
  pattern: RegExp;
}

/** A .dockerignore glob as a regular expression: `**` any folders, `*` and `?` within one. */
function globToRegExp(glob: string): RegExp {
  let re = "";
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === "*" && glob[i + 1] === "*") {
      re += ".*";
      i++;
      if (glob[i + 1] === "/") i++;
    } else if (c === "*") re += "[^/]*";
    else if (c === "?") re += "[^/]";
    else if (c === "[") {
      const end = glob.indexOf("]", i);
      if (end < 0) re += "\\[";
      else {
        re += `[${glob.slice(i + 1, end).replace(/^!/, "^")}]`;
        i = end;
      }
    } else if (c === "\\" && i + 1 < glob.length) re += `\\${glob[++i]}`;
    else re += c.replace(/[.+^${}()|\\/]/g, "\\$&");
  }
  return new RegExp(`^${re}$`);
}

/** The rules of a .dockerignore, as Docker reads them: cleaned paths, `!` re-includes. */
export function parseDockerignore(text: string): Rule[] {
  return text
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "" && !l.startsWith("#"))
    .map((l) => {
      const exclude = !l.startsWith("!");
      const glob = posix.normalize((exclude ? l : l.slice(1)).trim()).replace(/^\/+|\/+$/g, "");
      return { exclude, glob, pattern: globToRegExp(glob) };
    });
}

/** Last matching rule wins; a rule matches a path or any folder above it. */
export function isExcluded(rules: Rule[], path: string): boolean {
  const parts = path.split("/");
  const prefixes = parts.map((_, i) => parts.slice(0, i + 1).join("/"));
  let excluded = false;
  for (const rule of rules) if (prefixes.some((p) => rule.pattern.test(p))) excluded = rule.exclude;
  return excluded;
}

/**
 * Could a `!` rule re-include something inside this excluded folder? Only then is it worth
 * entering (node_modules, .git and the cache are skipped). Errs on the side of entering.
 */
function mayReinclude(rules: Rule[], dir: string): boolean {
  const parts = dir.split("/");
  return rules.some((rule) => {
    if (rule.exclude) return false;
    const globParts = rule.glob.split("/");
    for (let i = 0; i < Math.min(parts.length, globParts.length); i++) {
      if (globParts[i]!.includes("**")) return true;
      if (!globToRegExp(globParts[i]!).test(parts[i]!)) return false;
    }
    return true;
  });
}

/** The context's files that reach the build, sorted. */
export function contextFiles(dir: string, rules: Rule[]): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    for (const entry of readdirSync(join(dir, rel), { withFileTypes: true })) {
      const path = rel ? `${rel}/${entry.name}` : entry.name;
      if (entry.isDirectory()) {
        if (!isExcluded(rules, path) || mayReinclude(rules, path)) walk(path);
      } else if (!isExcluded(rules, path)) out.push(path);
    }
  };
  walk("");
  return out.sort();
}

/** The hash of a build of `dir`'s Dockerfile with these settings (build args, base image ID). */
export function inputsHash(dir: string, settings: string[]): string {
  const ignore = join(dir, ".dockerignore");
  const ignoreText = existsSync(ignore) ? readFileSync(ignore, "utf8") : "";
  const hash = createHash("sha256");
  const add = (label: string, data: string | Buffer) => {
    hash.update(`${label}\0${data.length}\0`);
    hash.update(data);
  };
  settings.forEach((s, i) => add(`setting ${i}`, s));
  add("Dockerfile", readFileSync(join(dir, "Dockerfile")));
  add(".dockerignore", ignoreText);
  for (const path of contextFiles(dir, parseDockerignore(ignoreText))) {
    const st = lstatSync(join(dir, path));
    const content = st.isSymbolicLink() ? readlinkSync(join(dir, path)) : readFileSync(join(dir, path));
    add(`file ${path} ${(st.mode & 0o7777).toString(8)}`, content);
  }
  return hash.digest("hex");
}

function main(): void {
  const [dir, ...settings] = process.argv.slice(2);
  if (!dir) throw new Error("usage: node hack/image-inputs.ts CONTEXT_DIR [SETTING ...]");
  console.log(inputsHash(dir, settings));
}

if (import.meta.main) main();
