// Prediction agreement, the pure half: reading a request set, reading answers (JSON that
// Python model servers write, NaN and Infinity included), and deciding whether the stable
// and the new version's answers to one request agree. No I/O here (agreement-check.ts
// sends the requests).
//
// Numbers agree within a tolerance, as numpy.isclose decides:
//   |candidate - stable| <= absolute + relative * |stable|
// NaN agrees only with NaN (both versions say "no number" the same way), an infinity only
// with the same infinity. Integer tensors, booleans and strings (labels) must be equal.

/** Most requests a set may hold: bounds the time and the answers one measurement holds. */
export const MAX_AGREEMENT_REQUESTS = 200;
/** Most bytes one request body may have, as JSON. */
export const MAX_AGREEMENT_REQUEST_BYTES = 64 * 1024;

export interface Tolerance {
  absolute: number;
  relative: number;
}

/** numpy.isclose's defaults (atol 1e-8, rtol 1e-5). */
export const DEFAULT_TOLERANCE: Tolerance = { absolute: 1e-8, relative: 1e-5 };

/** Whether two answers agree; when not, the first difference as a sentence. */
export type Verdict = { agree: true } | { agree: false; reason: string };

/** Two numbers agree: within tolerance, NaN with NaN, an infinity with the same infinity. */
export function numbersAgree(stable: number, candidate: number, tolerance: Tolerance): boolean {
  if (Number.isNaN(stable) || Number.isNaN(candidate)) return Number.isNaN(stable) && Number.isNaN(candidate);
  if (!Number.isFinite(stable) || !Number.isFinite(candidate)) return stable === candidate;
  return Math.abs(candidate - stable) <= tolerance.absolute + tolerance.relative * Math.abs(stable);
}

/**
 * The requests of a set: a JSON array of request bodies, each sent as it is. With
 * `openInference`, each must be an inference request (an object with an `inputs` list).
 * What is wrong with the set, as a sentence, when it cannot be used.
 */
export function readRequestSet(text: string, openInference: boolean): unknown[] | string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    return `is not JSON (${err instanceof Error ? err.message : String(err)}): write a JSON array of request bodies`;
  }
  if (!Array.isArray(parsed)) return `is not a JSON array of request bodies (it is ${describeJson(parsed)})`;
  if (parsed.length === 0) return "is an empty list: there is nothing to compare";
  if (parsed.length > MAX_AGREEMENT_REQUESTS)
    return `holds ${parsed.length} requests; at most ${MAX_AGREEMENT_REQUESTS}`;
  for (const [i, body] of parsed.entries()) {
    const bytes = Buffer.byteLength(JSON.stringify(body));
    if (bytes > MAX_AGREEMENT_REQUEST_BYTES)
      return `request ${i} is ${bytes} bytes as JSON; at most ${MAX_AGREEMENT_REQUEST_BYTES / 1024} KiB`;
    if (openInference && !(isRecord(body) && Array.isArray(body.inputs)))
      return `request ${i} is not an Open Inference Protocol inference request (an object with an inputs list); for other servers use protocol JSON`;
  }
  return parsed;
}

/** The id of a request (an inference request's `id`), when it has one. */
export function requestId(body: unknown): string | undefined {
  return isRecord(body) && (typeof body.id === "string" || typeof body.id === "number")
    ? String(body.id)
    : undefined;
}

// Python's json module (MLServer, KServe, Triton's Python backend) writes NaN, Infinity and
// -Infinity as bare words, which JSON.parse refuses. They are read as numbers here.
const NON_FINITE: Record<string, number> = { NaN: NaN, Infinity: Infinity, "-Infinity": -Infinity };
const MARK = "\u0000mro-number:";

/** JSON as model servers write it: strict JSON, or JSON with bare NaN/Infinity/-Infinity. */
export function parseAnswer(text: string): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch {
    // fall through: perhaps non-finite numbers
  }
  const marked = markNonFinite(text);
  if (marked === undefined) return { ok: false };
  try {
    const value = JSON.parse(marked, (_key, v: unknown) =>
      typeof v === "string" && v.startsWith(MARK) ? NON_FINITE[v.slice(MARK.length)] : v,
    ) as unknown;
    return { ok: true, value };
  } catch {
    return { ok: false };
  }
}

/** The text with each bare NaN, Infinity and -Infinity outside strings quoted with MARK; undefined when there is none. */
function markNonFinite(text: string): string | undefined {
  let out = "";
  let inString = false;
  let found = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (inString) {
      out += c;
      if (c === "\\") out += text[++i] ?? "";
      else if (c === '"') inString = false;
      continue;
    }
    if (c === '"') {
      inString = true;
      out += c;
      continue;
    }
    const word = ["-Infinity", "Infinity", "NaN"].find((w) => text.startsWith(w, i));
    if (word) {
      out += JSON.stringify(MARK + word);
      i += word.length - 1;
      found = true;
      continue;
    }
    out += c;
  }
  return found ? out : undefined;
}

/** One output tensor of an Open Inference Protocol answer. */
export interface OipOutput {
  name: string;
  datatype: string;
  shape: number[];
  /** Flattened (row-major) as the protocol allows nested lists. */
  data: unknown[];
}

/** The outputs of an inference answer by name, or what is wrong with the answer. */
export function readOipOutputs(answer: unknown): Map<string, OipOutput> | string {
  if (!isRecord(answer) || !Array.isArray(answer.outputs))
    return "is not an Open Inference Protocol inference answer (an object with an outputs list)";
  const outputs = new Map<string, OipOutput>();
  for (const [i, t] of answer.outputs.entries()) {
    if (!isRecord(t) || typeof t.name !== "string") return `has an output ${i} without a name`;
    if (!Array.isArray(t.data)) return `has an output ${t.name} without a data list`;
    const shape = Array.isArray(t.shape) && t.shape.every((d) => typeof d === "number") ? t.shape : [];
    outputs.set(t.name, {
      name: t.name,
      datatype: typeof t.datatype === "string" ? t.datatype : "",
      shape: shape as number[],
      data: (t.data as unknown[]).flat(Infinity),
    });
  }
  return outputs;
}

/** Datatypes compared within tolerance; every other datatype must be equal. */
const FLOATING = new Set(["FP16", "FP32", "FP64", "BF16"]);

/**
 * Compares the outputs of two inference answers: the stable version's outputs (or those
 * named in `only`) must be in the new version's answer with the same datatype, the same
 * shape, and data that agrees element by element. Outputs only the new version has are not
 * compared (clients of the stable version do not read them).
 */
export function compareOipOutputs(
  stable: ReadonlyMap<string, OipOutput>,
  candidate: ReadonlyMap<string, OipOutput>,
  tolerance: Tolerance,
  only?: readonly string[],
): Verdict {
  const names = only && only.length > 0 ? only : [...stable.keys()];
  for (const name of names) {
    const s = stable.get(name);
    const c = candidate.get(name);
    if (!s) return { agree: false, reason: `output ${name} is missing in the stable version's answer` };
    if (!c) return { agree: false, reason: `output ${name} is missing in the new version's answer` };
    if (s.datatype !== c.datatype)
      return {
        agree: false,
        reason: `output ${name}: datatype ${s.datatype || "(none)"} in the stable version, ${c.datatype || "(none)"} in the new one`,
      };
    if (s.shape.join(",") !== c.shape.join(","))
      return {
        agree: false,
        reason: `output ${name}: shape [${s.shape.join(", ")}] in the stable version, [${c.shape.join(", ")}] in the new one`,
      };
    if (s.data.length !== c.data.length)
      return {
        agree: false,
        reason: `output ${name}: ${s.data.length} values in the stable version, ${c.data.length} in the new one`,
      };
    const floating = FLOATING.has(s.datatype.toUpperCase());
    for (let i = 0; i < s.data.length; i++) {
      const why = floating
        ? compareFloat(s.data[i], c.data[i], tolerance)
        : compareExact(s.data[i], c.data[i]);
      if (why) return { agree: false, reason: `output ${name} [${i}]: ${why}` };
    }
  }
  return { agree: true };
}

/** A floating-point tensor element: a number, or a non-finite number written as a string. */
function asFloat(v: unknown): number | undefined {
  if (typeof v === "number") return v;
  if (typeof v === "string") {
    const word = v.trim().toLowerCase();
    if (word === "nan") return NaN;
    if (word === "inf" || word === "infinity" || word === "+inf" || word === "+infinity") return Infinity;
    if (word === "-inf" || word === "-infinity") return -Infinity;
  }
  return undefined;
}

function compareFloat(s: unknown, c: unknown, tolerance: Tolerance): string | undefined {
  const a = asFloat(s);
  const b = asFloat(c);
  if (a === undefined || b === undefined) return compareExact(s, c);
  if (numbersAgree(a, b, tolerance)) return undefined;
  return `${formatNumber(a)} in the stable version, ${formatNumber(b)} in the new one${differenceText(a, b, tolerance)}`;
}

function compareExact(s: unknown, c: unknown): string | undefined {
  if (s === c || Object.is(s, c)) return undefined;
  return `${shortJson(s)} in the stable version, ${shortJson(c)} in the new one`;
}

/**
 * Compares two JSON answers (protocol JSON): numbers within tolerance, strings, booleans and
 * null exactly, lists element by element, objects key by key (the same keys). The first
 * difference names its place as a JSON Pointer.
 */
export function compareJson(stable: unknown, candidate: unknown, tolerance: Tolerance, at = ""): Verdict {
  const where = at === "" ? "the answer" : at;
  if (typeof stable === "number" && typeof candidate === "number") {
    if (numbersAgree(stable, candidate, tolerance)) return { agree: true };
    return {
      agree: false,
      reason: `${where}: ${formatNumber(stable)} in the stable version, ${formatNumber(candidate)} in the new one${differenceText(stable, candidate, tolerance)}`,
    };
  }
  if (Array.isArray(stable) && Array.isArray(candidate)) {
    if (stable.length !== candidate.length)
      return {
        agree: false,
        reason: `${where}: a list of ${stable.length} in the stable version, of ${candidate.length} in the new one`,
      };
    for (let i = 0; i < stable.length; i++) {
      const v = compareJson(stable[i], candidate[i], tolerance, `${at}/${i}`);
      if (!v.agree) return v;
    }
    return { agree: true };
  }
  if (isRecord(stable) && isRecord(candidate)) {
    for (const key of Object.keys(stable)) {
      if (!(key in candidate))
        return { agree: false, reason: `${at}/${escapePointer(key)} is missing in the new version's answer` };
      const v = compareJson(stable[key], candidate[key], tolerance, `${at}/${escapePointer(key)}`);
      if (!v.agree) return v;
    }
    const extra = Object.keys(candidate).find((k) => !(k in stable));
    if (extra !== undefined)
      return { agree: false, reason: `${at}/${escapePointer(extra)} is only in the new version's answer` };
    return { agree: true };
  }
  if (stable === candidate) return { agree: true };
  return {
    agree: false,
    reason: `${where}: ${shortJson(stable)} in the stable version, ${shortJson(candidate)} in the new one`,
  };
}

/** The value a JSON Pointer (RFC 6901) points to; `found: false` when there is none. */
export function resolvePointer(
  value: unknown,
  pointer: string,
): { found: true; value: unknown } | { found: false } {
  if (pointer === "") return { found: true, value };
  let current = value;
  for (const raw of pointer.slice(1).split("/")) {
    const key = raw.replace(/~1/g, "/").replace(/~0/g, "~");
    if (Array.isArray(current) && /^(0|[1-9][0-9]*)$/.test(key) && Number(key) < current.length)
      current = current[Number(key)];
    else if (isRecord(current) && Object.hasOwn(current, key)) current = current[key];
    else return { found: false };
  }
  return { found: true, value: current };
}

function escapePointer(key: string): string {
  return key.replace(/~/g, "~0").replace(/\//g, "~1");
}

function differenceText(a: number, b: number, tolerance: Tolerance): string {
  if (!Number.isFinite(a) || !Number.isFinite(b)) return "";
  const allowed = tolerance.absolute + tolerance.relative * Math.abs(a);
  return ` (difference ${formatNumber(Math.abs(b - a))}, tolerance ${formatNumber(allowed)})`;
}

function formatNumber(n: number): string {
  if (Number.isNaN(n)) return "NaN";
  if (!Number.isFinite(n)) return n > 0 ? "Infinity" : "-Infinity";
  const rounded = Number(n.toPrecision(6));
  // Tolerances are small: 2.51e-6 reads better than 0.00000251.
  return rounded !== 0 && Math.abs(rounded) < 1e-4 ? rounded.toExponential() : String(rounded);
}

function shortJson(v: unknown): string {
  if (v === undefined) return "nothing";
  if (typeof v === "number") return formatNumber(v);
  const text = JSON.stringify(v);
  return text.length > 60 ? `${text.slice(0, 60)}…` : text;
}

function describeJson(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "a list";
  return typeof v === "object" ? "an object" : `a ${typeof v}`;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
