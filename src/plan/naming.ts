// Names of the children and the revision hash. Deterministic: the same ModelDeployment
// always gives the same names and hash.
import { createHash } from "node:crypto";
import type { ModelDeployment } from "../api/types.ts";

const MAX_NAME = 63;
const HASH_CHARS = 8;

/** A version made DNS-safe: lower case, every character outside [a-z0-9-] becomes '-', '-' trimmed. */
export function versionSlug(version: string): string {
  return version
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, "-")
    .replace(/^-+|-+$/g, "");
}

/**
 * A name of at most 63 characters: `name` itself when it fits, else cut and ended with
 * '-' and 8 hex characters of the sha256 of the full name (so two long names that share a
 * prefix still differ).
 */
export function shortenName(name: string): string {
  if (name.length <= MAX_NAME) return name;
  const hash = createHash("sha256").update(name).digest("hex").slice(0, HASH_CHARS);
  const head = name.slice(0, MAX_NAME - HASH_CHARS - 1).replace(/-+$/, "");
  return `${head}-${hash}`;
}

/**
 * The API server cuts the base of a generated name (generateName) to 58 characters before
 * it adds 5 random ones (the 63 characters of a DNS label).
 */
const GENERATED_BASE_MAX = 58;
const GENERATED_RANDOM_CHARS = 5;

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/**
 * A test of whether a pod was made by Deployment `deployment`, by the pod's name (an
 * EndpointSlice names pods, not their labels): its ReplicaSet DEPLOYMENT-HASH names them
 * DEPLOYMENT-HASH-xxxxx. Where DEPLOYMENT-HASH- is longer than 58 characters (a Deployment
 * name of 47 or more), the API server cuts it to 58 before the random characters, so such a
 * pod's name has 63 characters and no '-' after the Deployment's name and its '-' (as much of
 * them as fits in 58).
 */
export function podNameTest(deployment: string): (podName: string) => boolean {
  const whole = new RegExp(`^${escapeRegExp(deployment)}-[a-z0-9]+-[a-z0-9]+$`);
  const cut = new RegExp(`^${escapeRegExp(`${deployment}-`.slice(0, GENERATED_BASE_MAX))}[a-z0-9]+$`);
  return (podName) =>
    whole.test(podName) ||
    (podName.length === GENERATED_BASE_MAX + GENERATED_RANDOM_CHARS && cut.test(podName));
}

/** NAME-V: the Deployment and the Service of one version. */
export function childName(mdName: string, version: string): string {
  const slug = versionSlug(version);
  return shortenName(slug ? `${mdName}-${slug}` : mdName);
}

function mdName(md: ModelDeployment): string {
  return md.metadata?.name ?? "";
}

/** NAME: the clients' Service. */
export function clientsServiceName(md: ModelDeployment): string {
  return mdName(md);
}

/** NAME-preview: the blue/green preview Service. */
export function previewServiceName(md: ModelDeployment): string {
  return shortenName(`${mdName(md)}-preview`);
}

/** JSON with object keys sorted at every level and undefined members left out. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map((v) => (v === undefined ? null : sortKeys(v)));
  if (value instanceof Date) return value.toISOString();
  if (value !== null && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) {
      const v = (value as Record<string, unknown>)[key];
      if (v !== undefined) out[key] = sortKeys(v);
    }
    return out;
  }
  return value;
}

/**
 * The revision of what a version's pods run: 10 hex characters of the sha256 of the
 * canonical JSON of spec.template and spec.model (and the readiness gate when it is on). Written on each version's Deployment
 * (annotation mlops.dev/revision) and as status.stableRevision.
 */
export function computeRevision(md: ModelDeployment): string {
  // The readiness gate is part of the pods (spec.readinessGates), so it makes a new revision;
  // without it the hash stays what it always was.
  const gated = md.spec?.strategy?.canary?.readinessGate === true && md.spec.traffic === undefined;
  const text = canonicalJson({
    template: md.spec?.template ?? {},
    model: md.spec?.model ?? {},
    ...(gated ? { readinessGate: true } : {}),
  });
  return createHash("sha256").update(text).digest("hex").slice(0, 10);
}
