// Templates of health checks: {{name}}, {{namespace}}, {{version}} and {{service}} (spaces
// inside the braces allowed) in an http url or body and a Prometheus query.
import type { CheckVars } from "./types.ts";

export const TEMPLATE_VARIABLES = ["name", "namespace", "version", "service"] as const;

const PLACEHOLDER = /\{\{\s*([A-Za-z0-9_.-]*)\s*\}\}/g;

/** `text` with every known placeholder replaced; unknown ones are left as written. */
export function fillTemplate(text: string, vars: CheckVars): string {
  return text.replace(PLACEHOLDER, (whole, key: string) =>
    (TEMPLATE_VARIABLES as readonly string[]).includes(key) ? vars[key as keyof CheckVars] : whole,
  );
}

/** What is wrong with the placeholders of `text`: unknown variables, unclosed braces. */
export function templateProblems(text: string): string[] {
  const problems: string[] = [];
  const known = TEMPLATE_VARIABLES.map((v) => `{{${v}}}`).join(", ");
  for (const m of text.matchAll(PLACEHOLDER)) {
    const key = m[1] ?? "";
    if (!(TEMPLATE_VARIABLES as readonly string[]).includes(key)) {
      problems.push(`unknown template variable ${m[0]}: use ${known}`);
    }
  }
  const rest = text.replace(PLACEHOLDER, "");
  if (rest.includes("{{")) problems.push(`a template placeholder is not closed with }}: use ${known}`);
  return problems;
}
