// successCondition expressions of health checks, in CEL (https://cel.dev), compiled once per
// expression text and evaluated against what a measurement saw.
//
// HTTP checks see:        status (int), body (string), json (the parsed body, or null),
//                         headers (map of lower-case header name to value).
// Prometheus checks see:  result (the value when the query returned one value, the list of
//                         values when it returned several), results (always the list).
// Prometheus checks with compareWithStable ("relative") see: candidate and stable, the value
//                         of the query for the new version and for the stable version.
// Prediction agreement checks see: agreement (double, 0 to 1), agreed and compared (int).
import { Environment, type ASTNode, type ParseResult } from "@marcbachmann/cel-js";

export type ConditionKind = "http" | "prometheus" | "relative" | "agreement";

/** The variables an HTTP check's successCondition sees. */
export interface HttpConditionVars {
  status: number;
  body: string;
  json: unknown;
  headers: ReadonlyMap<string, string>;
}

/** The variables a Prometheus check's successCondition sees. */
export interface PrometheusConditionVars {
  /** The value when the query returned one value, the list of values otherwise. */
  result: number | readonly number[];
  results: readonly number[];
}

/** The variables a Prometheus check with compareWithStable sees: one value per version. */
export interface RelativeConditionVars {
  candidate: number;
  stable: number;
}

/** The variables a prediction agreement check sees. */
export interface AgreementConditionVars {
  /** agreed / compared. */
  agreement: number;
  agreed: number;
  compared: number;
}

interface ConditionVarsByKind {
  http: HttpConditionVars;
  prometheus: PrometheusConditionVars;
  relative: RelativeConditionVars;
  agreement: AgreementConditionVars;
}

const limits = { maxAstNodes: 2000, maxDepth: 64, maxListElements: 1000, maxMapEntries: 1000 };

const environments: Record<ConditionKind, Environment> = {
  http: new Environment({ limits })
    .registerVariable("status", "int", { description: "HTTP status code of the response" })
    .registerVariable("body", "string", { description: "response body" })
    .registerVariable("json", "dyn", {
      description: "response body parsed as JSON, null when it is not JSON",
    })
    .registerVariable("headers", "map<string, string>", {
      description: "response headers, lower-case names",
    }),
  prometheus: new Environment({ limits })
    .registerVariable("result", "dyn", {
      description: "the value when the query returned one value, the list of values when it returned several",
    })
    .registerVariable("results", "list<double>", { description: "all values the query returned" }),
  relative: new Environment({ limits })
    .registerVariable("candidate", "double", { description: "the query's value for the new version" })
    .registerVariable("stable", "double", { description: "the query's value for the stable version" }),
  agreement: new Environment({ limits })
    .registerVariable("agreement", "double", {
      description: "the share of compared requests whose answers agree, 0 to 1",
    })
    .registerVariable("agreed", "int", { description: "requests whose answers agree" })
    .registerVariable("compared", "int", { description: "requests compared" }),
};

interface Compiled {
  program?: ParseResult;
  error?: string;
}

/** Compiled programs by kind and expression text. Bounded: specs change, the process lives on. */
const cache = new Map<string, Compiled>();
const CACHE_LIMIT = 500;

function compile(kind: ConditionKind, expression: string): Compiled {
  const key = `${kind}\u0000${expression}`;
  const cached = cache.get(key);
  if (cached) return cached;
  const compiled = compileUncached(kind, expression);
  if (cache.size >= CACHE_LIMIT) {
    const oldest = cache.keys().next();
    if (!oldest.done) cache.delete(oldest.value);
  }
  cache.set(key, compiled);
  return compiled;
}

function compileUncached(kind: ConditionKind, expression: string): Compiled {
  if (expression.trim() === "") return { error: "successCondition is empty" };
  let program: ParseResult;
  try {
    program = environments[kind].parse(expression);
  } catch (err) {
    return { error: `successCondition \`${expression}\` is not valid CEL: ${celErrorText(err)}` };
  }
  const checked = program.check();
  if (!checked.valid) {
    return { error: `successCondition \`${expression}\` is not valid: ${celErrorText(checked.error)}` };
  }
  if (checked.type !== "bool" && checked.type !== "dyn") {
    return { error: `successCondition \`${expression}\` must evaluate to a bool, not ${checked.type}` };
  }
  return { program };
}

/**
 * What can be seen of a valid successCondition's cost before it runs: a warning for a person
 * (`kubectl modeldeploy validate`, a Warning Event and status.warnings), not an error, since
 * the runtime budget stops the evaluation anyway. Undefined when nothing is seen (or the
 * expression is invalid: validateSuccessCondition says why).
 */
export function successConditionCostWarning(kind: ConditionKind, expression: string): string | undefined {
  const compiled = compile(kind, expression);
  if (!compiled.program) return undefined;
  const nested = findNestedComprehension(kind, compiled.program.ast);
  return nested ? `successCondition \`${expression}\` ${nested}` : undefined;
}

/** The variables that hold what a measurement saw: their size is the server's to choose. */
const RESPONSE_VARIABLES: Record<ConditionKind, ReadonlySet<string>> = {
  http: new Set(["json", "body", "headers"]),
  prometheus: new Set(["result", "results"]),
  relative: new Set(["candidate", "stable"]),
  agreement: new Set(),
};

/** CEL's comprehension macros: each evaluates its body once per element of its range. */
const COMPREHENSIONS = new Set(["all", "exists", "exists_one", "map", "filter"]);

/**
 * The worst case that can be seen before anything runs: a comprehension over response data
 * inside the body of another comprehension, such as
 * `json.items.all(a, json.items.exists(b, ...))`. It evaluates its body once for every pair
 * (n² times, n³ for three levels), so a server that answers a long list decides how long the
 * operator computes. A nested comprehension over the outer element (`json.items.all(i,
 * i.scores.all(s, s > 0))`) visits every value once and is fine. Returns what is wrong, or
 * undefined. Costs that no syntax shows (a list built by map() and iterated again) are
 * bounded at run time by the evaluation budget.
 */
export function findNestedComprehension(kind: ConditionKind, ast: ASTNode): string | undefined {
  const response = RESPONSE_VARIABLES[kind];
  let found: string | undefined;
  // bound: iteration variables in scope (they shadow response variables); depth: enclosing comprehension bodies.
  const visit = (node: ASTNode, bound: ReadonlySet<string>, depth: number): void => {
    if (found) return;
    if (node.op === "rcall" && COMPREHENSIONS.has(node.args[0])) {
      const [, range, args] = node.args;
      if (depth > 0 && mentionsResponse(range, response, bound)) {
        found =
          `iterates over response data (\`${source(range)}\`) inside another comprehension: ` +
          "it runs once for every element of the outer list, so its cost grows with the square of the response's size; " +
          "iterate over the outer element instead, or compute the value in the server (its evaluation is stopped at the platform's budget)";
        return;
      }
      visit(range, bound, depth);
      const variables = args.filter((a) => a.op === "id").map((a) => a.args as string);
      const inner = new Set([...bound, ...variables]);
      for (const a of args.slice(variables.length)) visit(a, inner, depth + 1);
      return;
    }
    for (const child of childNodes(node)) visit(child, bound, depth);
  };
  visit(ast, new Set(), 0);
  return found;
}

function mentionsResponse(node: ASTNode, response: ReadonlySet<string>, bound: ReadonlySet<string>): boolean {
  if (node.op === "id") return response.has(node.args) && !bound.has(node.args);
  return childNodes(node).some((child) => mentionsResponse(child, response, bound));
}

function childNodes(node: ASTNode): ASTNode[] {
  const out: ASTNode[] = [];
  const collect = (value: unknown): void => {
    if (Array.isArray(value)) for (const v of value) collect(v);
    else if (value && typeof value === "object" && "op" in value && "args" in value)
      out.push(value as ASTNode);
  };
  if (node.op !== "value" && node.op !== "id") collect(node.args);
  return out;
}

function source(node: ASTNode): string {
  return node.input.slice(node.range.start, node.range.end);
}

/** One line of a cel-js error: its summary without the source excerpt. */
function celErrorText(err: unknown): string {
  if (err && typeof err === "object" && "summary" in err && typeof err.summary === "string")
    return err.summary;
  if (err instanceof Error) return err.message.split("\n")[0] ?? err.message;
  return String(err);
}

/**
 * Checks a successCondition when the spec is validated: it must parse, use only the
 * variables of its kind of check, and evaluate to a bool. Returns what is wrong, or
 * undefined when the expression is fine.
 */
export function validateSuccessCondition(kind: ConditionKind, expression: string): string | undefined {
  return compile(kind, expression).error;
}

/** The outcome of evaluating a successCondition. */
export type ConditionOutcome = { ok: true; value: boolean } | { ok: false; error: string };

export interface EvaluateOptions {
  /**
   * Messages may quote values the response held (default true). False where the response
   * may not be revealed (reveal.ts): an error then keeps only its kind ("No such key"),
   * since cel-js errors quote values ("Invalid duration string: <the value>").
   */
  quoteValues?: boolean;
}

/**
 * Evaluates a successCondition with the variables a measurement saw. Never throws: an
 * invalid expression, an evaluation error (a missing JSON field, a type mismatch) or a
 * result that is not a bool comes back as an error message for a person.
 */
export function evaluateSuccessCondition<K extends ConditionKind>(
  kind: K,
  expression: string,
  vars: ConditionVarsByKind[K],
  options: EvaluateOptions = {},
): ConditionOutcome {
  const quote = options.quoteValues ?? true;
  const compiled = compile(kind, expression);
  if (!compiled.program) return { ok: false, error: compiled.error ?? "successCondition is not valid" };
  let value: unknown;
  try {
    value = compiled.program(toCelContext(kind, vars));
  } catch (err) {
    return {
      ok: false,
      error: `successCondition \`${expression}\` could not be evaluated: ${quote ? celErrorText(err) : withoutValues(celErrorText(err))}`,
    };
  }
  if (typeof value !== "boolean") {
    return {
      ok: false,
      error: `successCondition \`${expression}\` must evaluate to a bool, got ${quote ? describeValue(value) : describeType(value)}`,
    };
  }
  return { ok: true, value };
}

function toCelContext(
  kind: ConditionKind,
  vars: HttpConditionVars | PrometheusConditionVars | RelativeConditionVars | AgreementConditionVars,
): object {
  if (kind === "agreement") {
    const a = vars as AgreementConditionVars;
    return { agreement: a.agreement, agreed: BigInt(a.agreed), compared: BigInt(a.compared) };
  }
  if (kind === "relative") {
    const relative = vars as RelativeConditionVars;
    return { candidate: relative.candidate, stable: relative.stable };
  }
  if (kind === "http") {
    const http = vars as HttpConditionVars;
    // CEL ints are BigInts in cel-js; JSON numbers stay doubles.
    return { status: BigInt(http.status), body: http.body, json: http.json, headers: new Map(http.headers) };
  }
  const prom = vars as PrometheusConditionVars;
  return { result: Array.isArray(prom.result) ? [...prom.result] : prom.result, results: [...prom.results] };
}

/** Errors that name only types (overloads) stay whole; others keep their kind, before the first ": ". */
function withoutValues(text: string): string {
  if (/^(no such overload|found no matching overload)/i.test(text)) return text;
  const colon = text.indexOf(": ");
  return colon < 0 ? text : `${text.slice(0, colon)} (details not shown: they quote the response)`;
}

/** The CEL type of a value, without the value. */
function describeType(value: unknown): string {
  return describeValue(value).replace(/ \(.*\)$/s, "");
}

function describeValue(value: unknown): string {
  if (value === null || value === undefined) return "null";
  if (typeof value === "bigint") return `int (${value})`;
  if (typeof value === "number") return `double (${value})`;
  if (typeof value === "string")
    return `string (${JSON.stringify(value.length > 40 ? value.slice(0, 40) + "…" : value)})`;
  if (Array.isArray(value)) return "list";
  if (value instanceof Uint8Array) return "bytes";
  if (value instanceof Date) return "timestamp";
  return "map";
}

/** A response body as conditions see it (`json`): its JSON, or null when empty or not JSON. */
export function parseJson(text: string): unknown {
  if (text.trim() === "") return null;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return null;
  }
}
