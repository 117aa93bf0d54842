// Generates src/api/generated/ from the CRD in crds/, which is the one source of truth
// for the ModelDeployment API: the TypeScript types (json-schema-to-typescript), the
// schema that the ajv validator in src/plan/validate.ts compiles, and a ModelDeployment
// model class on @kubernetes-models/base (as the @kubernetes-models/* packages are made)
// that validates against that schema.
//
//   node hack/generate-types.ts           write the files
//   node hack/generate-types.ts --check   exit 1 when the files are out of date
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import path from "node:path";
import { parse } from "yaml";
import { compile, type JSONSchema } from "json-schema-to-typescript";
import { Ajv } from "ajv";
import addFormatsModule from "ajv-formats";
import standaloneCodeModule from "ajv/dist/standalone/index.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const crdPath = path.join(root, "crds/modeldeployments.mlops.dev.yaml");
const outDir = path.join(root, "src/api/generated");

type Schema = Record<string, unknown> & { properties?: Record<string, Schema>; items?: Schema };

/** Makes the Kubernetes extensions mean something to JSON Schema tools. */
function toJsonSchema(s: Schema): Schema {
  const out: Schema = {};
  for (const [k, v] of Object.entries(s)) {
    if (k === "x-kubernetes-validations") continue;
    if (k === "properties" && v && typeof v === "object") {
      out.properties = Object.fromEntries(
        Object.entries(v as Record<string, Schema>).map(([name, sub]) => [name, toJsonSchema(sub)]),
      );
    } else if ((k === "items" || k === "additionalProperties") && v && typeof v === "object") {
      out[k] = toJsonSchema(v as Schema);
    } else {
      out[k] = v;
    }
  }
  if (s["x-kubernetes-int-or-string"]) {
    out.anyOf = [{ type: "integer" }, { type: "string" }];
    out.tsType = "number | string";
  }
  if (s["x-kubernetes-preserve-unknown-fields"] && s.type === "object") out.additionalProperties = true;
  else if (s.type === "object" && s.properties && out.additionalProperties === undefined)
    out.additionalProperties = false;
  return out;
}

const crd = parse(readFileSync(crdPath, "utf8"));
const version = crd.spec.versions.find((v: { name: string }) => v.name === "v1alpha1");
const openApi: Schema = version.schema.openAPIV3Schema;
const schema = toJsonSchema(openApi);
// metadata is an ObjectMeta and the template a PodTemplateSpec: the client's own types.
const props = (s: Schema, ...names: string[]): Schema => {
  let cur = s;
  for (const n of names)
    cur = n === "[]" ? (cur.items as Schema) : (cur.properties as Record<string, Schema>)[n]!;
  return cur;
};
props(schema, "metadata").tsType = "V1ObjectMeta";
props(schema, "spec", "template").tsType = "V1PodTemplateSpec";
// Named interfaces for the parts that code refers to.
const titles: Array<[string, string[]]> = [
  ["ModelDeploymentSpec", ["spec"]],
  ["ModelSpec", ["spec", "model"]],
  ["ServiceSpec", ["spec", "service"]],
  ["Strategy", ["spec", "strategy"]],
  ["CanaryStrategy", ["spec", "strategy", "canary"]],
  ["CanaryStep", ["spec", "strategy", "canary", "steps", "[]"]],
  ["BlueGreenStrategy", ["spec", "strategy", "blueGreen"]],
  ["HeaderRouteStep", ["spec", "strategy", "canary", "steps", "[]", "setHeaderRoute"]],
  ["MirrorRouteStep", ["spec", "strategy", "canary", "steps", "[]", "setMirrorRoute"]],
  ["TrafficSpec", ["spec", "traffic"]],
  ["HTTPRouteSpec", ["spec", "traffic", "gatewayAPI", "httpRoute"]],
  ["RouteParentRef", ["spec", "traffic", "gatewayAPI", "httpRoute", "parentRefs", "[]"]],
  ["HTTPRouteRef", ["spec", "traffic", "gatewayAPI", "httpRouteRef"]],
  ["InferencePoolBackends", ["spec", "traffic", "gatewayAPI", "inferencePool"]],
  ["EndpointPickerRef", ["spec", "traffic", "gatewayAPI", "inferencePool", "endpointPickerRef"]],
  ["WorkloadRef", ["spec", "workloadRef"]],
  ["HealthChecks", ["spec", "healthChecks"]],
  ["HealthCheck", ["spec", "healthChecks", "checks", "[]"]],
  ["HttpCheck", ["spec", "healthChecks", "checks", "[]", "http"]],
  ["PrometheusCheck", ["spec", "healthChecks", "checks", "[]", "prometheus"]],
  ["PrometheusJudge", ["spec", "healthChecks", "checks", "[]", "prometheus", "judge"]],
  ["SignatureCheck", ["spec", "healthChecks", "checks", "[]", "signature"]],
  ["WarmupCheck", ["spec", "healthChecks", "checks", "[]", "warmup"]],
  ["AgreementCheck", ["spec", "healthChecks", "checks", "[]", "agreement"]],
  ["ModelDeploymentStatus", ["status"]],
  ["TrafficWeight", ["status", "traffic", "[]"]],
  ["RouteStatus", ["status", "route"]],
  ["RouteParentStatus", ["status", "route", "parents", "[]"]],
  ["CheckStatus", ["status", "checks", "[]"]],
  ["JudgeResult", ["status", "checks", "[]", "judge"]],
  ["MeasurementRecord", ["status", "checks", "[]", "measurements", "[]"]],
  ["WarmupResult", ["status", "checks", "[]", "warmup"]],
  ["AgreementResult", ["status", "checks", "[]", "agreement"]],
  ["Disagreement", ["status", "checks", "[]", "agreement", "firstDisagreement"]],
  ["RolloutState", ["status", "rollout"]],
  ["AbortedRollout", ["status", "aborted"]],
  ["ScaleDown", ["status", "scaleDown", "[]"]],
  ["AdoptionStatus", ["status", "adoption"]],
  ["Condition", ["status", "conditions", "[]"]],
  ["HistoryEntry", ["status", "history", "[]"]],
];
for (const [title, at] of titles) props(schema, ...at).title = title;

const header =
  "// Generated by hack/generate-types.ts from crds/modeldeployments.mlops.dev.yaml. Do not edit.\n";
const ts = await compile({ ...schema, title: "ModelDeployment" } as JSONSchema, "ModelDeployment", {
  bannerComment: header + 'import type { V1ObjectMeta, V1PodTemplateSpec } from "@kubernetes/client-node";\n',
  additionalProperties: false,
  ignoreMinAndMaxItems: true,
  strictIndexSignatures: false,
  style: { printWidth: 110 },
});
/** A Markdown table of every field, from the CRD's own descriptions, defaults and rules. */
function referenceRows(s: Schema, at: string, rows: string[]): void {
  const cell = (v: unknown) =>
    String(v ?? "")
      .replaceAll("|", "\\|")
      .replaceAll("\n", " ");
  if (at) {
    const type = s["x-kubernetes-int-or-string"]
      ? "int or string"
      : s.type === "array"
        ? `[]${(s.items as Schema | undefined)?.type ?? "object"}`
        : String(s.type ?? "object");
    const limits = [
      s.minimum !== undefined ? `>= ${s.minimum}` : "",
      s.maximum !== undefined ? `<= ${s.maximum}` : "",
      s.enum ? `one of ${(s.enum as unknown[]).join(", ")}` : "",
      ...((s["x-kubernetes-validations"] as Array<{ message: string }> | undefined) ?? []).map(
        (r) => r.message,
      ),
    ].filter(Boolean);
    rows.push(
      `| \`${at}\` | ${type} | ${s.default !== undefined ? `\`${JSON.stringify(s.default)}\`` : ""} | ${cell(
        [s.description, limits.join("; ")].filter(Boolean).join(" — "),
      )} |`,
    );
  }
  if (s.type === "array" && s.items) {
    const items = s.items as Schema;
    if (items.properties)
      for (const [k, v] of Object.entries(items.properties)) referenceRows(v, `${at}[].${k}`, rows);
  }
  if (s.properties && !(at.endsWith("template") && s["x-kubernetes-preserve-unknown-fields"])) {
    for (const [k, v] of Object.entries(s.properties)) referenceRows(v, at ? `${at}.${k}` : k, rows);
  }
}
const reference = (part: "spec" | "status") => {
  const rows: string[] = ["| field | type | default | description |", "| --- | --- | --- | --- |"];
  referenceRows((openApi.properties as Record<string, Schema>)[part]!, part, rows);
  return rows.join("\n");
};
const apiReference = `<!-- Generated by hack/generate-types.ts from crds/modeldeployments.mlops.dev.yaml. Do not edit. -->
# ModelDeployment API reference

\`mlops.dev/v1alpha1\`, kind \`ModelDeployment\` (plural \`modeldeployments\`, short name \`md\`), namespaced,
with the \`status\` and \`scale\` subresources. What the operator does with these fields is in
[architecture.md](architecture.md) and [rollouts.md](rollouts.md).

## spec

${reference("spec")}

\`spec.template\` is a Kubernetes PodTemplateSpec; only the fields listed are checked at apply time, the
rest is checked by the API server when the operator creates the Deployment.

## status

${reference("status")}
`;

const group = crd.spec.group as string;
const kind = crd.spec.names.kind as string;
const apiVersion = `${group}/${version.name}`;
const model = `${header}// A ModelDeployment to build in TypeScript instead of an object literal: typed, with
// apiVersion and kind filled in, and validate() against the CRD's OpenAPI schema (it throws
// a ValidationError that names each field). The CRD's CEL rules and the operator's own checks
// are in validateModelDeployment (src/plan/validate.ts), which the kubectl plugin runs.
import { createTypeMetaGuard, Model, setValidateFunc, type ModelData } from "@kubernetes-models/base";
import type { ValidateFunction } from "ajv";
import { validate as generatedValidator } from "./validate-schema.ts";
import type { ModelDeployment as ModelDeploymentObject, ModelDeploymentSpec, ModelDeploymentStatus } from "./types.ts";
import type { V1ObjectMeta } from "@kubernetes/client-node";

export interface IModelDeployment extends ModelDeploymentObject {
  apiVersion: ${JSON.stringify(apiVersion)};
  kind: ${JSON.stringify(kind)};
}

const compiled = generatedValidator as unknown as ValidateFunction;

/** The schema's validator (validate-schema.ts, generated by ajv from the CRD's schema). */
function validateSchema(data: unknown): data is IModelDeployment {
  const ok = compiled(data);
  validateSchema.errors = compiled.errors;
  return ok;
}
validateSchema.errors = undefined as ValidateFunction["errors"];

export class ModelDeployment extends Model<IModelDeployment> implements IModelDeployment {
  declare apiVersion: IModelDeployment["apiVersion"];
  declare kind: IModelDeployment["kind"];
  declare metadata?: V1ObjectMeta;
  declare spec: ModelDeploymentSpec;
  declare status?: ModelDeploymentStatus;

  static apiVersion: IModelDeployment["apiVersion"] = ${JSON.stringify(apiVersion)};
  static kind: IModelDeployment["kind"] = ${JSON.stringify(kind)};
  static is = createTypeMetaGuard<IModelDeployment>({ apiVersion: ${JSON.stringify(apiVersion)}, kind: ${JSON.stringify(kind)} });

  constructor(data?: ModelData<IModelDeployment>) {
    super({ apiVersion: ModelDeployment.apiVersion, kind: ModelDeployment.kind, ...data } as ModelData<IModelDeployment>);
  }
}

setValidateFunc(ModelDeployment, validateSchema);
`;

// The schema's validator as code (ajv's "standalone" output), so that the operator does not
// load ajv's compiler and generate the same function at every start (about 10 MiB of RSS;
// docs/benchmarks.md). The options are the ones src/plan/validate/schema.ts used to compile
// it with; test/unit/schema-validator.test.ts checks that the two agree. Its run-time
// helpers are the modules ajv's standalone code is documented to require
// (ajv/dist/runtime/*, ajv-formats/dist/formats).
const addFormats = ((addFormatsModule as unknown as { default?: typeof addFormatsModule }).default ??
  addFormatsModule) as unknown as (a: Ajv) => void;
const standaloneCode = ((standaloneCodeModule as unknown as { default?: typeof standaloneCodeModule })
  .default ?? standaloneCodeModule) as unknown as (a: Ajv, v: unknown) => string;
const ajv = new Ajv({ allErrors: true, strict: false, code: { source: true, esm: true } });
addFormats(ajv);
// ajv's ES module output still calls require() for those helpers: each becomes an import
// (both packages are CommonJS without an "exports" map, so the file is named in full).
const helpers = new Map<string, string>();
const validatorCode = standaloneCode(ajv, ajv.compile(openApi))
  .replace(/^"use strict";/, "")
  .replace(/require\("([^"]+)"\)/g, (_all, module: string) => {
    if (!helpers.has(module)) helpers.set(module, `runtime${helpers.size}`);
    return helpers.get(module)!;
  });
const validator = `${header}// The CRD's OpenAPI schema compiled by ajv (allErrors, strict: false, ajv-formats) into a
// function: validate(object) returns true or false and sets validate.errors (ajv's ErrorObjects).
// @ts-nocheck
/* eslint-disable */
${[...helpers].map(([module, name]) => `import ${name} from "${module}.js";`).join("\n")}
${validatorCode}
`;

const files: Record<string, string> = {
  "validate-schema.ts": validator,
  "model.ts": model,
  "../../../docs/api-reference.md": apiReference,
  "types.ts": ts,
  "schema.ts": `${header}export const modelDeploymentSchema = ${JSON.stringify(openApi, null, 2)} as const;\n`,
};

const check = process.argv.includes("--check");
let stale = false;
for (const [name, content] of Object.entries(files)) {
  const file = path.join(outDir, name);
  let current = "";
  try {
    current = readFileSync(file, "utf8");
  } catch {
    // missing
  }
  if (current === content) continue;
  if (check) {
    console.error(`${path.relative(root, file)} is out of date: run npm run generate`);
    stale = true;
  } else {
    writeFileSync(file, content);
    console.log(`wrote ${path.relative(root, file)}`);
  }
}
process.exit(stale ? 1 : 0);
