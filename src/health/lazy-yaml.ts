// yaml, loaded on first use instead of with the operator: the flags' files (check
// credentials, notification destinations) are the only YAML the operator parses, most
// installations have none, and the package would hold several MiB for nothing. Through the
// package's own entry point for Node.js (its "exports", CommonJS), synchronously, because
// the flags' parsers are synchronous.
import { createRequire } from "node:module";
import type * as Yaml from "yaml";

let yamlModule: typeof Yaml | undefined;

/** The yaml package, required the first time it is asked for. */
export function lazyYaml(): typeof Yaml {
  return (yamlModule ??= createRequire(import.meta.url)("yaml") as typeof Yaml);
}
