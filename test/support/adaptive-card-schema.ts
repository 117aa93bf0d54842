// The Adaptive Cards JSON schema, as Microsoft publishes it in the npm package of its card
// designer (adaptivecards-designer, lib/adaptive-card-schema.js: the "Microsoft Adaptive Card
// Schema", draft-06), to validate the operator's Teams payloads with ajv. The package itself
// is not a dependency (it needs monaco-editor and an older adaptivecards as peers): `npm pack`
// fetches its tarball from the npm registry once, with the registry's integrity check, into a
// cache folder of its own keyed by the version; only the schema file is kept.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { Ajv, type ValidateFunction } from "ajv";

export const ADAPTIVECARDS_DESIGNER_VERSION = "2.4.4";
const ROOT = join(import.meta.dirname, "..", "..");

function schemaFile(): string {
  const cache = process.env.MRO_CACHE_DIR ?? join(ROOT, ".cache");
  const dir = join(cache, `adaptivecards-designer-${ADAPTIVECARDS_DESIGNER_VERSION}`);
  const file = join(dir, "adaptive-card-schema.cjs");
  if (existsSync(file)) return file;
  const work = `${dir}.tmp-${process.pid}`;
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  execFileSync(
    "npm",
    [
      "pack",
      `adaptivecards-designer@${ADAPTIVECARDS_DESIGNER_VERSION}`,
      "--silent",
      "--pack-destination",
      work,
    ],
    {
      stdio: ["ignore", "ignore", "inherit"],
    },
  );
  const tgz = readdirSync(work).find((f) => f.endsWith(".tgz"));
  if (!tgz) throw new Error("npm pack adaptivecards-designer left no tarball");
  execFileSync("tar", ["-xzf", join(work, tgz), "-C", work, "package/lib/adaptive-card-schema.js"]);
  mkdirSync(dir, { recursive: true });
  renameSync(join(work, "package/lib/adaptive-card-schema.js"), file);
  rmSync(work, { recursive: true, force: true });
  return file;
}

/** An ajv validator of an Adaptive Card (the attachment's `content`). */
export function adaptiveCardValidator(): ValidateFunction {
  const { adaptiveCardSchema } = createRequire(import.meta.url)(schemaFile()) as {
    adaptiveCardSchema: Record<string, unknown>;
  };
  // draft-06 names the schema's id `id`; ajv 8 reads `$id`.
  const { id, ...schema } = adaptiveCardSchema;
  const ajv = new Ajv({ strict: false, allErrors: true });
  ajv.addMetaSchema(createRequire(import.meta.url)("ajv/dist/refs/json-schema-draft-06.json") as object);
  return ajv.compile({ ...schema, $id: String(id) });
}
