// (c) Health checks beyond the CRD: templates, URLs, headers and CEL successConditions.
import { validateSuccessCondition } from "../../health/condition.ts";
import { TEMPLATE_VARIABLES, fillTemplate, templateProblems } from "../template.ts";
import { isHttpUrl, isObj, type Obj, type SpecProblem } from "./common.ts";

/** RFC 9110: a header name is a token; a value has no control characters but tab, and Latin-1 only. */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const HEADER_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

export function checkProblems(spec: Obj): SpecProblem[] {
  const out: SpecProblem[] = [];
  const hc = spec.healthChecks;
  if (!isObj(hc) || !Array.isArray(hc.checks)) return out;
  const sample = { name: "model", namespace: "default", version: "1", service: "model-1" };
  hc.checks.forEach((check, i) => {
    if (!isObj(check)) return;
    const path = `spec.healthChecks.checks[${i}]`;
    const http = check.http;
    if (isObj(http)) {
      for (const field of ["url", "body"] as const) {
        const text = http[field];
        if (typeof text === "string") {
          for (const message of templateProblems(text)) out.push({ path: `${path}.http.${field}`, message });
        }
      }
      if (typeof http.url === "string" && isHttpUrl(http.url) && templateProblems(http.url).length === 0) {
        try {
          new URL(fillTemplate(http.url, sample));
        } catch {
          out.push({ path: `${path}.http.url`, message: `${JSON.stringify(http.url)} is not a valid URL` });
        }
      }
      if (isObj(http.headers)) {
        for (const [key, value] of Object.entries(http.headers)) {
          // Said here, before a rollout starts, and never quoting the value: the HTTP client
          // would refuse the header only when measuring, with the value in its message.
          if (!HEADER_NAME.test(key)) {
            out.push({
              path: `${path}.http.headers`,
              message: `${JSON.stringify(key)} is not an HTTP header name: use letters, digits and !#$%&'*+-.^_\`|~`,
            });
          } else if (typeof value === "string" && !HEADER_VALUE.test(value)) {
            out.push({
              path: `${path}.http.headers.${key}`,
              message:
                "cannot be sent as an HTTP header value: it holds a line break, another control character or a character beyond U+00FF (the value is not shown)",
            });
          }
          if (typeof value === "string" && /\{\{/.test(value)) {
            out.push({
              path: `${path}.http.headers.${key}`,
              message: `headers are sent as written: templates (${TEMPLATE_VARIABLES.map((v) => `{{${v}}}`).join(", ")}) are filled in url, body and query only`,
            });
          }
        }
      }
      if (typeof http.successCondition === "string" && http.successCondition.trim() !== "") {
        const err = validateSuccessCondition("http", http.successCondition);
        if (err) out.push({ path: `${path}.http.successCondition`, message: err });
      }
    }
    const agreement = check.agreement;
    if (isObj(agreement)) {
      if (typeof agreement.successCondition === "string" && agreement.successCondition.trim() !== "") {
        const err = validateSuccessCondition("agreement", agreement.successCondition);
        if (err) out.push({ path: `${path}.agreement.successCondition`, message: err });
      }
      if (isObj(agreement.headers))
        for (const [key, value] of Object.entries(agreement.headers))
          if (!HEADER_NAME.test(key) || (typeof value === "string" && !HEADER_VALUE.test(value)))
            out.push({
              path: `${path}.agreement.headers`,
              message: `header ${JSON.stringify(key)} cannot be sent: a name is an HTTP token, a value has no control characters and no character beyond U+00FF (the value is not shown)`,
            });
    }
    const prom = check.prometheus;
    if (isObj(prom)) {
      if (typeof prom.query === "string") {
        for (const message of templateProblems(prom.query))
          out.push({ path: `${path}.prometheus.query`, message });
      }
      if (typeof prom.successCondition === "string") {
        const kind = prom.compareWithStable === true ? "relative" : "prometheus";
        const err = validateSuccessCondition(kind, prom.successCondition);
        if (err) out.push({ path: `${path}.prometheus.successCondition`, message: err });
      }
    }
  });
  return out;
}
