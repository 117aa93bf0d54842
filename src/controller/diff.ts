// Deciding whether a desired object needs a write: the API server fills in defaults
// (protocol: TCP, strategy, revisionHistoryLimit, ...), so an observed object that
// already holds every field the operator wants, with the same values, needs no write.
// This is what keeps a reconcile of an unchanged world at zero writes.

/** True when every field of `desired` is present in `observed` with an equal value. */
export function containsDesired(desired: unknown, observed: unknown): boolean {
  if (desired === undefined) return true;
  if (desired === null || typeof desired !== "object") return sameScalar(desired, observed);
  if (Array.isArray(desired)) {
    if (!Array.isArray(observed) || observed.length !== desired.length) return false;
    return desired.every((d, i) => containsDesired(d, observed[i]));
  }
  if (observed === null || typeof observed !== "object" || Array.isArray(observed)) return false;
  const o = observed as Record<string, unknown>;
  for (const [key, value] of Object.entries(desired as Record<string, unknown>)) {
    if (value === undefined) continue;
    if (!containsDesired(value, o[key])) return false;
  }
  return true;
}

function sameScalar(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  // int-or-string fields come back as the kind they were sent; quantities may be normalized.
  if (typeof a === "number" && typeof b === "string") return String(a) === b;
  if (typeof a === "string" && typeof b === "number") return a === String(b);
  return false;
}

/** The parts of a child the operator owns and compares: labels, annotations, owners, spec. */
export function needsWrite(
  desired: { metadata?: object; spec?: unknown },
  observed: { metadata?: object; spec?: unknown } | undefined,
): boolean {
  if (!observed) return true;
  const dm = (desired.metadata ?? {}) as Record<string, unknown>;
  const om = (observed.metadata ?? {}) as Record<string, unknown>;
  return !(
    containsDesired(dm.labels, om.labels) &&
    containsDesired(dm.annotations, om.annotations) &&
    containsDesired(dm.ownerReferences, om.ownerReferences) &&
    containsDesired(desired.spec, observed.spec)
  );
}

/** Deep equality of two JSON values, ignoring keys whose value is undefined. */
export function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a === null || b === null || typeof a !== "object" || typeof b !== "object") return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const bb = b as unknown[];
    return a.length === bb.length && a.every((x, i) => sameJson(x, bb[i]));
  }
  const ao = a as Record<string, unknown>;
  const bo = b as Record<string, unknown>;
  const ak = Object.keys(ao).filter((k) => ao[k] !== undefined);
  const bk = Object.keys(bo).filter((k) => bo[k] !== undefined);
  if (ak.length !== bk.length) return false;
  return ak.every((k) => sameJson(ao[k], bo[k]));
}
