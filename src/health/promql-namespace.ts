// Whether a Prometheus query can only read its own namespace's series: every vector and
// matrix selector must carry the exact matcher namespace="<the ModelDeployment's
// namespace>" (the label name is the platform's). Without it a tenant reads another
// tenant's metrics into its own status (`status.checks[].value`). Pure.
//
// The query is parsed with the Prometheus project's own grammar (@prometheus-io/lezer-promql,
// the parser of Prometheus' web UI), not with patterns: a selector hidden in a subquery, a
// binary operation's other side, a function argument or `{__name__="..."}` is found like any
// other, and a query the grammar cannot parse is refused (it could not be judged).
//
// It is judged after templating, on the very text that is sent. A template value cannot add
// matchers: {{name}}, {{namespace}}, {{version}} and {{service}} are Kubernetes names and a
// label value (no quotes, braces or backslashes); and whatever a query holds, templated or
// written, is judged the same way.
import { parser } from "@prometheus-io/lezer-promql";
import { DEFAULT_NAMESPACE_LABEL, type PromqlNamespaceRule } from "./promql-rule.ts";

type SyntaxNode = ReturnType<typeof parser.parse>["topNode"];

/** The longest selector text quoted in a message. */
const MAX_SELECTOR_SHOWN = 120;

/**
 * Verdicts of queries already judged. A query is judged on every reconcile of its
 * ModelDeployment, and parsing a 4 KiB query built to be hard (thousands of nested
 * parentheses) takes some 100 ms of the operator's event loop: each distinct query is parsed
 * once, and a tenant pays again only by changing its spec.
 */
const judged = new Map<string, string | undefined>();
const MAX_JUDGED = 2048;

/** Why the query may read other namespaces' series, or undefined when every selector is bound to `namespace`. */
export function promqlNamespaceProblem(
  query: string,
  namespace: string,
  label: string = DEFAULT_NAMESPACE_LABEL,
): string | undefined {
  const key = `${label}\u0000${namespace}\u0000${query}`;
  if (judged.has(key)) {
    const verdict = judged.get(key);
    judged.delete(key); // most recently used last
    judged.set(key, verdict);
    return verdict;
  }
  const verdict = judgeQuery(query, namespace, label);
  judged.set(key, verdict);
  if (judged.size > MAX_JUDGED) judged.delete(judged.keys().next().value!);
  return verdict;
}

/**
 * The most parse steps (about one a token) a query may take. A check's query needs a few
 * dozen; the bound keeps the worst a tenant can write (deeply nested aggregations, a wall of
 * brackets) to a few tens of milliseconds of the operator's event loop, once per distinct query.
 */
export const MAX_PARSE_STEPS = 500;

function judgeQuery(query: string, namespace: string, label: string): string | undefined {
  const parse = parser.startParse(query);
  let tree: ReturnType<typeof parse.advance>;
  for (let steps = 0; !(tree = parse.advance()); steps++) {
    if (steps >= MAX_PARSE_STEPS)
      return `the query is too complex to be checked for ${label}="${namespace}" (more than ${MAX_PARSE_STEPS} parse steps); simplify it`;
  }
  let problem: string | undefined;
  // The grammar recovers from errors: a query with any error node is refused as a whole.
  tree.iterate({
    enter: (ref) => {
      if (problem) return false;
      if (ref.type.isError)
        problem = `the query does not parse as PromQL near position ${ref.from + 1}, so it cannot be checked for ${label}="${namespace}"`;
      return undefined;
    },
  });
  if (problem) return problem;
  tree.iterate({
    enter: (ref) => {
      if (problem) return false;
      if (ref.name !== "VectorSelector") return undefined;
      const node = ref.node;
      const matchers = readMatchers(node, query);
      if (!matchers.some((m) => m.label === label && m.op === "=" && m.value === namespace)) {
        const selector = shown(query.slice(node.from, node.to));
        const own = matchers.find((m) => m.label === label);
        const why = own
          ? `its ${label} matcher \`${own.text}\` is not the exact ${label}="${namespace}"`
          : `it has no matcher ${label}="${namespace}"`;
        problem = `selector \`${selector}\` may read other namespaces' series: ${why}`;
      }
      return false; // a selector holds no other selector
    },
  });
  return problem;
}

interface Matcher {
  /** The label name, unquoted ("namespace"). */
  label: string;
  op: string;
  /**
   * The value as written between its quotes. Compared with a namespace name, which has no
   * backslash or quote: a value with escapes never equals it, which refuses it (never admits).
   */
  value: string;
  text: string;
}

function readMatchers(selector: SyntaxNode, query: string): Matcher[] {
  const list = selector.getChild("LabelMatchers");
  if (!list) return [];
  const out: Matcher[] = [];
  for (let child = list.firstChild; child; child = child.nextSibling) {
    const text = query.slice(child.from, child.to);
    if (child.name === "UnquotedLabelMatcher") {
      const name = child.getChild("LabelName");
      const op = child.getChild("MatchOp");
      const value = child.getChild("StringLiteral");
      if (name && op && value)
        out.push({
          label: query.slice(name.from, name.to),
          op: query.slice(op.from, op.to),
          value: unquote(query.slice(value.from, value.to)),
          text,
        });
    } else if (child.name === "QuotedLabelMatcher") {
      // {"label.name"="value"}: a label name in quotes (Prometheus 3).
      const name = child.getChild("QuotedLabelName")?.getChild("StringLiteral");
      const op = child.getChild("MatchOp");
      const value = child.getChild("StringLiteral");
      if (name && op && value)
        out.push({
          label: unquote(query.slice(name.from, name.to)),
          op: query.slice(op.from, op.to),
          value: unquote(query.slice(value.from, value.to)),
          text,
        });
    }
    // A QuotedLabelName alone ({"metric.name"}) is the metric name: no namespace in it.
  }
  return out;
}

/** "x", 'x' or `x` -> x (escapes are kept as written: see Matcher.value). */
function unquote(literal: string): string {
  return literal.length >= 2 ? literal.slice(1, -1) : literal;
}

function shown(text: string): string {
  const line = text.replace(/\s+/g, " ");
  return line.length > MAX_SELECTOR_SHOWN ? `${line.slice(0, MAX_SELECTOR_SHOWN)}…` : line;
}

/**
 * Why a Prometheus check may not run as the rule stands: a selector without the namespace,
 * or an address with a query string (Prometheus would read its parameters, a second
 * `query` among them, besides the one judged here). undefined when it may.
 */
export function promqlCheckProblem(
  address: string,
  query: string,
  namespace: string,
  rule: PromqlNamespaceRule,
): string | undefined {
  const problem = addressProblem(address) ?? promqlNamespaceProblem(query, namespace, rule.label);
  if (!problem) return undefined;
  return `${problem}; the platform requires ${rule.label}="${namespace}" on every selector (${rule.setting})`;
}

function addressProblem(address: string): string | undefined {
  try {
    const url = new URL(address);
    if (url.search || url.hash || address.includes("?") || address.includes("#"))
      return `the address ${address} carries a query string or fragment, which would be sent to Prometheus besides the query`;
  } catch {
    return undefined; // not a URL: the provider says so
  }
  return undefined;
}
