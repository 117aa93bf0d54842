// (a) The CRD's OpenAPI schema, and the fields it does not know. The schema's validator is
// ajv's code generated once by `npm run generate` (src/api/generated/validate-schema.ts),
// not compiled at every start: ajv's compiler and its work cost the operator about 10 MiB.
import type { ErrorObject, ValidateFunction } from "ajv";
import { modelDeploymentSchema } from "../../api/generated/schema.ts";
import { validate as generatedValidator } from "../../api/generated/validate-schema.ts";
import { isObj, join, type Obj, type SpecProblem } from "./common.ts";

const validateSchema = generatedValidator as unknown as ValidateFunction;

/** What the schema rejects, then the fields it does not know; `md` without its status. */
export function schemaProblems(md: Obj): SpecProblem[] {
  const problems: SpecProblem[] = [];
  if (!validateSchema(md)) {
    for (const err of validateSchema.errors ?? []) problems.push(fromAjv(err));
  }
  problems.push(...unknownFieldProblems(md, modelDeploymentSchema as Obj, ""));
  return problems;
}

function pathOf(instancePath: string): string {
  let out = "";
  for (const raw of instancePath.split("/").slice(1)) {
    const seg = raw.replace(/~1/g, "/").replace(/~0/g, "~");
    if (/^[0-9]+$/.test(seg)) out += `[${seg}]`;
    else out += out ? `.${seg}` : seg;
  }
  return out;
}

function fromAjv(err: ErrorObject): SpecProblem {
  const path = pathOf(err.instancePath);
  switch (err.keyword) {
    case "required":
      return { path: join(path, String(err.params.missingProperty)), message: "is required" };
    case "format":
      if (err.params.format === "int32") return { path, message: "must be a 32-bit integer" };
      if (err.params.format === "int64") return { path, message: "must be a 64-bit integer" };
      return { path, message: `must be a ${String(err.params.format)}` };
    case "enum":
      return {
        path,
        message: `must be one of ${(err.params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(", ")}`,
      };
    default:
      return { path, message: err.message ?? "is not valid" };
  }
}

/** Fields the schema does not know: the API server would drop them without a word (a typo such as `setweight`). */
function unknownFieldProblems(value: unknown, schema: Obj, path: string): SpecProblem[] {
  const out: SpecProblem[] = [];
  if (Array.isArray(value)) {
    const items = schema.items;
    if (isObj(items)) value.forEach((v, i) => out.push(...unknownFieldProblems(v, items, `${path}[${i}]`)));
    return out;
  }
  if (!isObj(value)) return out;
  const props = isObj(schema.properties) ? schema.properties : undefined;
  if (!props) return out;
  const open =
    schema["x-kubernetes-preserve-unknown-fields"] === true || schema.additionalProperties !== undefined;
  for (const [key, v] of Object.entries(value)) {
    const sub = props[key];
    if (isObj(sub)) out.push(...unknownFieldProblems(v, sub, join(path, key)));
    else if (!open)
      out.push({ path: join(path, key), message: "unknown field (the API server would drop it)" });
  }
  return out;
}
