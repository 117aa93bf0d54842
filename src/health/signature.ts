// Whether a new model version still fits its clients, from the two versions' Open Inference
// Protocol model metadata (GET /v2/models/{name}: {inputs: [{name, datatype, shape}],
// outputs: [...]}). Pure.
//
// Clients send the stable version's inputs and read its outputs, so:
// - every stable input must still be there, with the same datatype and rank; each dimension
//   the same, or -1 (variable) in the new version: a widening accepts what clients send;
// - an input only the new version has is incompatible: clients do not send it;
// - every stable output must still be there, with the same datatype and rank; each dimension
//   the same, or -1 in the stable version (clients already accept any size there);
// - an output only the new version has is compatible: clients ignore it.
// Changes of tensors named in `accept` are reported but do not make the versions incompatible.

export interface TensorSpec {
  name: string;
  datatype: string;
  shape: number[];
}

export interface ModelSignature {
  inputs: TensorSpec[];
  outputs: TensorSpec[];
}

export interface SignatureComparison {
  compatible: boolean;
  /** What breaks clients, one line per tensor. */
  incompatible: string[];
  /** Changes that are fine or accepted, one line per tensor. */
  compatibleChanges: string[];
}

/** Reads the inputs and outputs of a metadata answer, or says what is wrong with it. */
export function readSignature(json: unknown): ModelSignature | string {
  if (!isObject(json)) return "the model metadata is not a JSON object";
  const inputs = readTensors(json.inputs, "inputs");
  if (typeof inputs === "string") return inputs;
  const outputs = readTensors(json.outputs, "outputs");
  if (typeof outputs === "string") return outputs;
  return { inputs, outputs };
}

function readTensors(value: unknown, field: string): TensorSpec[] | string {
  // OIP metadata may leave out a list it has nothing for.
  if (value === undefined) return [];
  if (!Array.isArray(value)) return `the model metadata's ${field} is not a list`;
  const out: TensorSpec[] = [];
  for (const item of value) {
    if (
      !isObject(item) ||
      typeof item.name !== "string" ||
      typeof item.datatype !== "string" ||
      !Array.isArray(item.shape) ||
      !item.shape.every((d) => Number.isInteger(d))
    )
      return `the model metadata's ${field} has an entry without a name, datatype and shape of integers`;
    out.push({ name: item.name, datatype: item.datatype, shape: item.shape as number[] });
  }
  return out;
}

export function compareSignatures(
  stable: ModelSignature,
  candidate: ModelSignature,
  accept: readonly string[] = [],
): SignatureComparison {
  const accepted = new Set(accept);
  const incompatible: string[] = [];
  const compatibleChanges: string[] = [];
  const report = (name: string, breaks: boolean, line: string) => {
    if (!breaks) compatibleChanges.push(line);
    else if (accepted.has(name)) compatibleChanges.push(`${line} (accepted)`);
    else incompatible.push(line);
  };
  compareSide("input", stable.inputs, candidate.inputs, report);
  compareSide("output", stable.outputs, candidate.outputs, report);
  return { compatible: incompatible.length === 0, incompatible, compatibleChanges };
}

type Report = (name: string, breaks: boolean, line: string) => void;

function compareSide(
  kind: "input" | "output",
  stable: readonly TensorSpec[],
  candidate: readonly TensorSpec[],
  report: Report,
): void {
  for (const s of stable) {
    const c = candidate.find((t) => t.name === s.name);
    if (!c) {
      report(s.name, true, `${kind} ${s.name} (${describe(s)}) is missing in the new version`);
      continue;
    }
    if (c.datatype !== s.datatype)
      report(s.name, true, `${kind} ${s.name} changed datatype from ${s.datatype} to ${c.datatype}`);
    const shape = compareShape(kind, s.shape, c.shape);
    if (shape)
      report(
        s.name,
        shape.breaks,
        `${kind} ${s.name} changed shape from ${formatShape(s.shape)} to ${formatShape(c.shape)}${shape.breaks ? "" : " (widened)"}`,
      );
  }
  for (const c of candidate) {
    if (stable.some((s) => s.name === c.name)) continue;
    // Clients do not send a new input; they ignore a new output.
    const breaks = kind === "input";
    report(
      c.name,
      breaks,
      `${kind} ${c.name} (${describe(c)}) is new${breaks ? ": clients do not send it" : ""}`,
    );
  }
}

/** undefined: the same shape; else whether the change breaks clients. */
function compareShape(
  kind: "input" | "output",
  stable: number[],
  candidate: number[],
): { breaks: boolean } | undefined {
  if (stable.length === candidate.length && stable.every((d, i) => d === candidate[i])) return undefined;
  if (stable.length !== candidate.length) return { breaks: true };
  const fits = stable.every((d, i) => {
    const c = candidate[i]!;
    if (c === d) return true;
    // An input may accept more than clients send; clients may accept more than an output gives.
    return kind === "input" ? c === -1 : d === -1;
  });
  return { breaks: !fits };
}

function describe(t: TensorSpec): string {
  return `${t.datatype} ${formatShape(t.shape)}`;
}

function formatShape(shape: readonly number[]): string {
  return `[${shape.join(", ")}]`;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
