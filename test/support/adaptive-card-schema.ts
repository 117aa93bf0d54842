// The Adaptive Cards JSON schema, as Microsoft publishes it in the npm package of its card
// designer (adaptivecards-designer, lib/adaptive-card-schema.js: the "Microsoft Adaptive Card
// Schema", draft-06), to validate the operator's Teams payloads with ajv. The file comes from
// hack/fetch-adaptive-card-schema.sh (hack/build-tools.sh runs it on a fresh machine), which
// prints its path and fetches it only when it is missing.
import { spawnSync } from "node:child_process";
import { createRequire } from "node:module";
import { join } from "node:path";
import { Ajv, type ValidateFunction } from "ajv";

const ROOT = join(import.meta.dirname, "..", "..");

function schemaFile(): string {
  const got = spawnSync("bash", [join(ROOT, "hack", "fetch-adaptive-card-schema.sh")], { encoding: "utf8" });
  if (got.status !== 0) throw new Error(`hack/fetch-adaptive-card-schema.sh failed: ${got.stderr}`);
  return got.stdout.trim();
}

/** An ajv validator of an Adaptive Card (the attachment's `content`). */
export function adaptiveCardValidator(): ValidateFunction {
  const require = createRequire(import.meta.url);
  const { adaptiveCardSchema } = require(schemaFile()) as { adaptiveCardSchema: Record<string, unknown> };
  // draft-06 names the schema's id `id`; ajv 8 reads `$id`.
  const { id, ...schema } = adaptiveCardSchema;
  const ajv = new Ajv({ strict: false, allErrors: true });
  ajv.addMetaSchema(require("ajv/dist/refs/json-schema-draft-06.json") as object);
  return ajv.compile({ ...schema, $id: String(id) });
}
