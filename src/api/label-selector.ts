// Kubernetes label selectors as text (`mlops.dev/shard=a`, `!mlops.dev/shard`,
// `tier in (x,y)`): parsed and checked at start, so that a typo fails the process with a
// message instead of a watch that the API server refuses; and matched against an object's
// labels, so that a reconcile can check that the object it read is still its own
// (--watch-label-selector, docs/sharding.md). The text sent to the API server is the one
// given: both sides read it the same way.

export type Requirement =
  | { key: string; op: "exists" | "!exists" }
  | { key: string; op: "=" | "!="; value: string }
  | { key: string; op: "in" | "notin"; values: readonly string[] };

export class LabelSelectorError extends Error {}

// A label name: an optional DNS-subdomain prefix and "/", then 1..63 alphanumerics with -_. inside.
const NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const PREFIX = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
// A label value: empty, or like a name.
const VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/;

function checkKey(key: string): string {
  const slash = key.indexOf("/");
  const prefix = slash >= 0 ? key.slice(0, slash) : undefined;
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  if (prefix !== undefined && (prefix.length > 253 || !PREFIX.test(prefix)))
    throw new LabelSelectorError(`"${key}": the prefix before "/" is not a DNS subdomain`);
  if (!NAME.test(name))
    throw new LabelSelectorError(
      `"${key}" is not a label name (1 to 63 letters, digits, "-", "_", ".", starting and ending with a letter or digit)`,
    );
  return key;
}

function checkValue(key: string, value: string): string {
  if (!VALUE.test(value))
    throw new LabelSelectorError(
      `"${value}" (of ${key}) is not a label value (at most 63 letters, digits, "-", "_", ".")`,
    );
  return value;
}

/** The requirements of a selector; "" (or only spaces) selects everything. Throws LabelSelectorError. */
export function parseLabelSelector(text: string): Requirement[] {
  const out: Requirement[] = [];
  // Split on the commas outside parentheses (those inside separate the values of in/notin).
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === "(") depth++;
    else if (c === ")") depth--;
    if (depth < 0 || depth > 1) throw new LabelSelectorError(`unbalanced parentheses in "${text}"`);
    if (c === "," && depth === 0) {
      parts.push(text.slice(start, i));
      start = i + 1;
    }
  }
  if (depth !== 0) throw new LabelSelectorError(`unbalanced parentheses in "${text}"`);
  parts.push(text.slice(start));
  if (parts.length === 1 && parts[0]!.trim() === "") return out;
  for (const raw of parts) out.push(parseRequirement(raw.trim(), text));
  return out;
}

function parseRequirement(part: string, whole: string): Requirement {
  if (part === "") throw new LabelSelectorError(`an empty requirement in "${whole}"`);
  const set = /^(\S+)\s+(in|notin)\s*\((.*)\)$/.exec(part);
  if (set) {
    const key = checkKey(set[1]!);
    const values = set[3]!.split(",").map((v) => checkValue(key, v.trim()));
    if (values.length === 1 && values[0] === "")
      throw new LabelSelectorError(`"${part}": ${set[2]} needs at least one value`);
    return { key, op: set[2] as "in" | "notin", values };
  }
  const eq = /^([^=!\s]+)\s*(==|=|!=)\s*(.*)$/.exec(part);
  if (eq) {
    const key = checkKey(eq[1]!);
    return { key, op: eq[2] === "!=" ? "!=" : "=", value: checkValue(key, eq[3]!.trim()) };
  }
  if (part.startsWith("!")) return { key: checkKey(part.slice(1).trim()), op: "!exists" };
  return { key: checkKey(part), op: "exists" };
}

/** Whether labels satisfy every requirement (the API server's meaning; an empty list selects all). */
export function matchesLabelSelector(
  requirements: readonly Requirement[],
  labels: Readonly<Record<string, string>> | undefined,
): boolean {
  const l = labels ?? {};
  return requirements.every((r) => {
    const has = Object.hasOwn(l, r.key);
    const value = l[r.key];
    switch (r.op) {
      case "exists":
        return has;
      case "!exists":
        return !has;
      case "=":
        return has && value === r.value;
      case "!=":
        return !has || value !== r.value;
      case "in":
        return has && r.values.includes(value!);
      case "notin":
        return !has || !r.values.includes(value!);
    }
  });
}
