// Reading manifests offline for `validate` and `plan`: files, directories and stdin,
// every YAML document in them, and the ModelDeployments among those.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";
import { GROUP, KIND } from "../api/constants.ts";
import { ModelDeployment } from "../api/model.ts";
import { validateModelDeployment } from "../plan/index.ts";
import { computeConditionWarnings } from "../plan/warnings.ts";
import { applyCheckBudget, DEFAULT_CHECK_BUDGET } from "../plan/budget.ts";
import type { ModelDeployment as ModelDeploymentObject } from "../api/types.ts";
import { CliError } from "./kube.ts";
import { formatProblem } from "./format.ts";

export interface Source {
  /** The name to print: the path as given, or "-" for stdin. */
  file: string;
  text: string;
}

const MANIFEST = /\.(ya?ml|json)$/i;

/** The files behind FILE|DIR|- arguments: a directory gives every .yaml/.yml/.json below it, sorted. */
export function readSources(paths: readonly string[], stdin: () => string): Source[] {
  const out: Source[] = [];
  for (const p of paths) {
    if (p === "-") {
      out.push({ file: "-", text: stdin() });
      continue;
    }
    let st;
    try {
      st = statSync(p);
    } catch {
      throw new CliError(`${p}: no such file or directory`);
    }
    if (st.isDirectory()) {
      const files = walk(p);
      if (files.length === 0) throw new CliError(`${p}: no .yaml, .yml or .json files in this directory`);
      for (const f of files) out.push({ file: f, text: readFileSync(f, "utf8") });
    } else {
      out.push({ file: p, text: readFileSync(p, "utf8") });
    }
  }
  return out;
}

function walk(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) =>
    a.name.localeCompare(b.name),
  )) {
    if (entry.name.startsWith(".")) continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...walk(path));
    else if (entry.isFile() && MANIFEST.test(entry.name)) out.push(path);
  }
  return out;
}

export interface Document {
  file: string;
  /** Index of the document in its file, from 0. */
  index: number;
  value: unknown;
  /** YAML syntax errors of this document. */
  errors: string[];
}

/** Every YAML document of a source (a JSON file is one document). Empty documents are left out. */
export function documents(src: Source): Document[] {
  const docs = parseAllDocuments(src.text);
  // parseAllDocuments returns an EmptyStream (no documents) for an empty input.
  const list = Array.isArray(docs) ? docs : [];
  return list.flatMap((doc, index) => {
    // The first line of the message says what and where ("... at line 7, column 3:").
    const errors = doc.errors.map(
      (e) => `invalid YAML: ${(e.message.split("\n")[0] ?? "").replace(/:$/, "")}`,
    );
    if (errors.length === 0 && doc.contents === null) return [];
    return [{ file: src.file, index, value: errors.length ? undefined : doc.toJS(), errors }];
  });
}

/** Is this document a ModelDeployment (any apiVersion of the mlops.dev group, or none)? */
export function isModelDeployment(value: unknown): value is Record<string, unknown> {
  if (!value || typeof value !== "object") return false;
  const v = value as { kind?: unknown; apiVersion?: unknown };
  if (v.kind !== KIND) return false;
  return (
    v.apiVersion === undefined || (typeof v.apiVersion === "string" && v.apiVersion.split("/")[0] === GROUP)
  );
}

export interface ValidationReport {
  /** FILE:DOC: PATH: MESSAGE lines. */
  problems: string[];
  /** FILE:DOC: PATH: warning: MESSAGE lines: valid, but the operator adjusts or doubts it. */
  warnings: string[];
  /** ModelDeployment documents checked. */
  checked: number;
  /** ModelDeployments with at least one problem. */
  invalid: number;
  files: number;
}

/** Validates every ModelDeployment document of the sources with the operator's own rules. */
export function validateSources(sources: readonly Source[]): ValidationReport {
  const report: ValidationReport = {
    problems: [],
    warnings: [],
    checked: 0,
    invalid: 0,
    files: sources.length,
  };
  for (const src of sources) {
    for (const doc of documents(src)) {
      if (doc.errors.length > 0) {
        report.problems.push(...doc.errors.map((e) => formatProblem(doc.file, doc.index, "", e)));
        report.checked++;
        report.invalid++;
        continue;
      }
      const other = otherKindOfGroup(doc.value);
      if (other) {
        report.problems.push(formatProblem(doc.file, doc.index, "kind", other));
        report.checked++;
        report.invalid++;
        continue;
      }
      if (!isModelDeployment(doc.value)) continue;
      report.checked++;
      const problems = [...apiVersionProblems(doc.value), ...validateModelDeployment(doc.value)];
      if (problems.length > 0) report.invalid++;
      for (const p of problems) report.problems.push(formatProblem(doc.file, doc.index, p.path, p.message));
      if (problems.length === 0)
        for (const w of specWarningsOf(doc.value as unknown as ModelDeploymentObject))
          report.warnings.push(formatProblem(doc.file, doc.index, w.path, `warning: ${w.message}`));
    }
  }
  return report;
}

/**
 * What the operator would warn of for a valid ModelDeployment, with the platform's default
 * limits (a cluster may set others: the operator's status.warnings says what it applies).
 */
function specWarningsOf(md: ModelDeploymentObject) {
  return [...applyCheckBudget(md, DEFAULT_CHECK_BUDGET).warnings, ...computeConditionWarnings(md)];
}

/** A document of the mlops.dev group with a kind it does not serve (a typo of ModelDeployment). */
function otherKindOfGroup(value: unknown): string | undefined {
  if (!value || typeof value !== "object") return undefined;
  const v = value as { kind?: unknown; apiVersion?: unknown };
  if (typeof v.apiVersion !== "string" || v.apiVersion.split("/")[0] !== GROUP || v.kind === KIND)
    return undefined;
  return `${GROUP} serves only kind ${KIND}, not "${String(v.kind)}"`;
}

function apiVersionProblems(md: Record<string, unknown>): { path: string; message: string }[] {
  const apiVersion = md.apiVersion;
  const served = ModelDeployment.apiVersion;
  if (apiVersion === undefined) return [{ path: "apiVersion", message: `required: ${served}` }];
  if (apiVersion !== served) {
    return [{ path: "apiVersion", message: `"${String(apiVersion)}" is not served; use ${served}` }];
  }
  return [];
}

/** The summary line of `validate`. */
export function validationSummary(r: ValidationReport): string {
  const mds = `${r.checked} ModelDeployment${r.checked === 1 ? "" : "s"}`;
  const files = `${r.files} file${r.files === 1 ? "" : "s"}`;
  if (r.problems.length === 0) {
    if (r.checked === 0) return `no ModelDeployment found in ${files}`;
    const warned = r.warnings.length
      ? ` (${r.warnings.length} warning${r.warnings.length === 1 ? "" : "s"})`
      : "";
    return `${mds} in ${files}: valid${warned}`;
  }
  return `${r.problems.length} problem${r.problems.length === 1 ? "" : "s"} in ${r.invalid} of ${mds} in ${files}`;
}
