// The platform's own files, given by flags and mounted into the operator's pod (check
// credentials, notification destinations): a YAML mapping with one key that holds a list of
// named entries, each allowed in the namespaces it lists. One reader for both, so that they
// refuse the same mistakes with the same words. Pure, but for yaml, which is loaded on first
// use instead of with the operator: most installations have neither file, and the package
// would hold several MiB for nothing. Through its own entry point for Node.js (its
// "exports", CommonJS), synchronously, because the flags' parsers are synchronous.
import { createRequire } from "node:module";
import type * as Yaml from "yaml";

let yamlModule: typeof Yaml | undefined;

/** The yaml package, required the first time it is asked for. */
export function lazyYaml(): typeof Yaml {
  return (yamlModule ??= createRequire(import.meta.url)("yaml") as typeof Yaml);
}

const NAME = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

export function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** A list of non-empty strings, trimmed. */
export function nameList(value: unknown, at: string): string[] {
  if (!Array.isArray(value) || value.some((v) => typeof v !== "string" || v.trim() === ""))
    throw new Error(`${at} must be a list of names`);
  return (value as string[]).map((v) => v.trim());
}

/** A field that must hold an absolute file path, or be absent. */
export function absolutePath(value: unknown, at: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "string" || !value.startsWith("/"))
    throw new Error(`${at} must be an absolute file path`);
  return value;
}

/** An entry's namespaces: at least one, each a namespace name or "*"; `use` says what they may do. */
export function entryNamespaces(entry: Record<string, unknown>, at: string, use: string): string[] {
  const namespaces = entry.namespaces === undefined ? [] : nameList(entry.namespaces, `${at}.namespaces`);
  if (namespaces.length === 0)
    throw new Error(`${at}.namespaces must list the namespaces that ${use} ("*" for every namespace)`);
  for (const ns of namespaces)
    if (ns !== "*" && !DNS_LABEL.test(ns))
      throw new Error(`${at}.namespaces: "${ns}" is not a namespace name`);
  return namespaces;
}

/**
 * Parses `key: [ {name, ...}, ... ]`: YAML, a mapping with that one key, a list of mappings
 * with only `known` fields and unique names; `each` reads the rest of an entry (`at` names it
 * in errors). An empty file is an empty list. Throws an Error naming the entry and field.
 */
export function parseNamedEntries<T>(
  text: string,
  key: string,
  noun: string,
  known: ReadonlySet<string>,
  each: (entry: Record<string, unknown>, at: string, name: string) => T,
): T[] {
  let doc: unknown;
  try {
    doc = lazyYaml().parse(text);
  } catch (err) {
    throw new Error(`not YAML: ${(err as Error).message.split("\n")[0]}`, { cause: err });
  }
  if (doc === null || doc === undefined) return [];
  if (!isObj(doc) || Object.keys(doc).some((k) => k !== key))
    throw new Error(`expected a mapping with one key, ${key}: a list`);
  const list = doc[key] ?? [];
  if (!Array.isArray(list)) throw new Error(`${key} must be a list`);
  const seen = new Set<string>();
  return list.map((entry, i) => {
    const at = `${key}[${i}]`;
    if (!isObj(entry)) throw new Error(`${at} must be a mapping`);
    const unknown = Object.keys(entry).find((k) => !known.has(k));
    if (unknown) throw new Error(`${at}: unknown field ${unknown} (known: ${[...known].join(", ")})`);
    const name = entry.name;
    if (typeof name !== "string" || name.length > 253 || !NAME.test(name))
      throw new Error(`${at}.name must be a name of lower-case letters, digits, '-' and '.'`);
    if (seen.has(name)) throw new Error(`${at}: ${noun} ${name} is declared twice`);
    seen.add(name);
    return each(entry, at, name);
  });
}
