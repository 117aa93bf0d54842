// The platform's setting for Prometheus queries (--check-promql-namespace): whether every
// selector must carry the ModelDeployment's namespace (promql-namespace.ts judges it), and
// how messages name the setting. No parser here: config.ts reads its names.

/** --check-promql-namespace: auto (require in restricted mode), require, or off. */
export const PROMQL_NAMESPACE_MODES = ["auto", "require", "off"] as const;
export type PromqlNamespaceMode = (typeof PROMQL_NAMESPACE_MODES)[number];

export const DEFAULT_NAMESPACE_LABEL = "namespace";

/** Whether the platform's setting requires the namespace matcher, given the destination mode. */
export function promqlNamespaceRequired(mode: PromqlNamespaceMode, destinations: string): boolean {
  return mode === "require" || (mode === "auto" && destinations === "restricted");
}

/** The platform's rule, when it requires the namespace matcher: the label and how to name the setting. */
export interface PromqlNamespaceRule {
  /** The label that holds a series' namespace ("namespace"). */
  label: string;
  /** The setting that requires it, for messages ("--check-promql-namespace=require"). */
  setting: string;
}

/** The rule for the operator's settings, or undefined when queries are not checked. */
export function promqlNamespaceRule(
  mode: PromqlNamespaceMode,
  destinations: string,
  label: string = DEFAULT_NAMESPACE_LABEL,
): PromqlNamespaceRule | undefined {
  if (!promqlNamespaceRequired(mode, destinations)) return undefined;
  const setting =
    mode === "require"
      ? "--check-promql-namespace=require"
      : "--check-promql-namespace=auto with --check-destinations=restricted";
  return { label, setting };
}
