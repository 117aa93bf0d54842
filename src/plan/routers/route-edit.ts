// The edit of an HTTPRoute that the user owns (spec.traffic.gatewayAPI.httpRouteRef): a PURE
// function from the route as observed and the operator's decision to the next route. The
// operator owns only
//   - the backendRefs (and so the weights) of the one rule it is told to manage, by name, and
//   - rules of its own, named modeldeployment.NAME.header-STEP and modeldeployment.NAME.mirror,
//     placed just before the managed rule, which it adds and removes.
// Everything else (the other rules, the managed rule's matches, filters, timeouts, the
// route's parentRefs, hostnames, labels, annotations) is copied through untouched: Gateway
// API v1.6 declares rules, backendRefs, filters and matches atomic lists, so server-side
// apply cannot share them and the reconciler writes the whole route back with its
// resourceVersion (update), which only works if nothing but the operator's part changed.
import type {
  HTTPBackendRef,
  HTTPHeaderMatch,
  HTTPRoute,
  HTTPRouteMatch,
  HTTPRouteRule,
} from "./httproute.ts";

/** The name prefix of a ModelDeployment's own rules in a route it does not own. */
export function ownRulePrefix(mdName: string): string {
  return `modeldeployment.${mdName}.`;
}

/** The header rule of step `step`. */
export function ownHeaderRuleName(mdName: string, step: string): string {
  return `${ownRulePrefix(mdName)}header-${step}`;
}

/** The mirror rule. */
export function ownMirrorRuleName(mdName: string): string {
  return `${ownRulePrefix(mdName)}mirror`;
}

/**
 * Is `name` a rule of this ModelDeployment? Step names are DNS labels (no dots), so the rules
 * of a ModelDeployment "a" are never mistaken for those of one named "a.b".
 */
export function isOwnRule(name: string | undefined, mdName: string): boolean {
  if (name === undefined) return false;
  const prefix = ownRulePrefix(mdName);
  if (!name.startsWith(prefix)) return false;
  const rest = name.slice(prefix.length);
  return rest === "mirror" || (rest.startsWith("header-") && !rest.includes("."));
}

/** The step name of one of this ModelDeployment's header rules, else undefined. */
export function ownHeaderStep(name: string | undefined, mdName: string): string | undefined {
  if (!isOwnRule(name, mdName)) return undefined;
  const rest = name!.slice(ownRulePrefix(mdName).length);
  return rest.startsWith("header-") ? rest.slice("header-".length) : undefined;
}

/** What the operator decided for its part of the route. */
export interface ManagedRuleDecision {
  /** The ModelDeployment's name (its own rules are named after it). */
  mdName: string;
  /** The rule whose backendRefs the operator manages, by its name in the route. */
  rule: string;
  /** The managed rule's backendRefs: the versions' Services with their weights (summing to 100). */
  backendRefs: HTTPBackendRef[];
  /** Header rules: requests matching the managed rule and these headers go to `backendRefs`. */
  headerRoutes: { step: string; headers: HTTPHeaderMatch[]; backendRefs: HTTPBackendRef[] }[];
  /** A copy of `percent` percent of the managed rule's requests goes to `backendRef`. */
  mirror?: { backendRef: HTTPBackendRef; percent: number } | undefined;
}

/** A JSON copy: the observed route comes frozen from the cache. */
function copy<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

/** The managed rule's matches (every request when it has none), each with `headers` added. */
function withHeaders(
  base: readonly HTTPRouteMatch[] | undefined,
  headers: HTTPHeaderMatch[],
): HTTPRouteMatch[] {
  const matches: HTTPRouteMatch[] = base && base.length ? copy([...base]) : [{}];
  return matches.map((m) => ({ ...m, headers: [...(m.headers ?? []), ...headers] }));
}

/**
 * The operator's rules for the managed rule `managed`: each is a copy of it (its matches,
 * filters, timeouts, so that the requests it takes are treated as the user's rule treats
 * them) under the operator's name. A header rule narrows the matches with the step's headers
 * and sends them to the candidate; the mirror rule has the managed rule's matches exactly,
 * the same split, and a RequestMirror filter added; listed first, it takes the managed rule's
 * requests while the step lasts (Gateway API: of rules with equal matches, the first wins).
 */
function ownRules(managed: HTTPRouteRule, d: ManagedRuleDecision): HTTPRouteRule[] {
  const { name: _name, backendRefs: _refs, ...rest } = copy(managed);
  const out: HTTPRouteRule[] = [];
  for (const h of d.headerRoutes) {
    out.push({
      ...copy(rest),
      name: ownHeaderRuleName(d.mdName, h.step),
      matches: withHeaders(managed.matches, h.headers),
      backendRefs: copy(h.backendRefs),
    });
  }
  if (d.mirror) {
    out.push({
      ...copy(rest),
      name: ownMirrorRuleName(d.mdName),
      filters: [
        ...(copy(rest.filters) ?? []),
        {
          type: "RequestMirror",
          requestMirror: { backendRef: copy(d.mirror.backendRef), percent: d.mirror.percent },
        },
      ],
      backendRefs: copy(d.backendRefs),
    });
  }
  return out;
}

/**
 * The route with the operator's part brought to `d`: its own rules (of this ModelDeployment)
 * replaced, just before the managed rule, and the managed rule's backendRefs set. Every other
 * rule, and every field of the managed rule but backendRefs, is carried over as observed.
 * When the route has no rule named `d.rule`, the operator's own rules are removed and
 * nothing else changes (the rollout is held; see observeProblem).
 */
export function editManagedRule(route: HTTPRoute, d: ManagedRuleDecision): HTTPRoute {
  const next = copy(route);
  const rules = next.spec?.rules ?? [];
  const kept = rules.filter((r) => !isOwnRule(r.name, d.mdName));
  const at = kept.findIndex((r) => r.name === d.rule);
  if (at < 0) {
    if (kept.length !== rules.length) next.spec = { ...next.spec, rules: kept };
    return next;
  }
  const managed = kept[at]!;
  const updated: HTTPRouteRule = { ...managed, backendRefs: copy(d.backendRefs) };
  next.spec = {
    ...next.spec,
    rules: [...kept.slice(0, at), ...ownRules(managed, d), updated, ...kept.slice(at + 1)],
  };
  return next;
}
