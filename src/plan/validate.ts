// Validation of a ModelDeployment, for the planner (an invalid spec stalls with the
// problems in a condition) and for the kubectl plugin's offline `validate` command.
//
// (a) The CRD's OpenAPI schema, compiled once with ajv.
// (b) The CRD's CEL rules (x-kubernetes-validations), repeated in one place below
//     (celRuleProblems), so that offline validation catches what the API server would.
// (c) What neither can express, or what the API server would only reject when the operator
//     applies a child: durations, CEL successConditions, templates, ports, names.
import { Ajv, type ErrorObject } from "ajv";
import addFormatsModule from "ajv-formats";
import { LABEL_MODEL, LABEL_VERSION } from "../api/constants.ts";
import { modelDeploymentSchema } from "../api/generated/schema.ts";
import { validateSuccessCondition } from "../health/condition.ts";
import { isDuration, parseDuration } from "./duration.ts";
import { DEFAULT_SERVICE_PORT } from "./spec.ts";
import { TEMPLATE_VARIABLES, fillTemplate, templateProblems } from "./template.ts";

/** The kinds of canary step; a step has exactly one. */
const STEP_KINDS = ["setWeight", "pause", "setHeaderRoute", "setMirrorRoute"] as const;

/** One thing wrong with a ModelDeployment, at a path such as spec.strategy.canary.steps[1].pause.duration. */
export interface SpecProblem {
  path: string;
  message: string;
}

type Obj = Record<string, unknown>;

const addFormats =
  (addFormatsModule as unknown as { default?: typeof addFormatsModule }).default ?? addFormatsModule;
const ajv = new Ajv({ allErrors: true, strict: false });
(addFormats as unknown as (a: Ajv) => void)(ajv);
const validateSchema = ajv.compile(modelDeploymentSchema);

const LABEL_VALUE = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const PORT_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/**
 * Everything wrong with `md`, in a stable order (schema first, then the CRD's rules, then the
 * rest); empty when it is valid. Never throws.
 */
export function validateModelDeployment(md: unknown): SpecProblem[] {
  if (!isObj(md)) return [{ path: "", message: "a ModelDeployment must be an object" }];
  const problems: SpecProblem[] = [];
  const { status: _status, ...withoutStatus } = md;
  if (!validateSchema(withoutStatus)) {
    for (const err of validateSchema.errors ?? []) problems.push(fromAjv(err));
  }
  problems.push(...unknownFieldProblems(withoutStatus, modelDeploymentSchema as Obj, ""));
  const spec = md.spec;
  if (!isObj(spec)) return dedupe(problems);
  problems.push(...celRuleProblems(spec));
  problems.push(...identityProblems(md));
  problems.push(...durationProblems(spec));
  problems.push(...checkProblems(spec));
  problems.push(...portProblems(spec));
  problems.push(...templateLabelProblems(spec));
  return dedupe(problems);
}

/** The problems as one line each, `path: message`. */
export function formatProblems(problems: readonly SpecProblem[]): string {
  return problems.map((p) => (p.path ? `${p.path}: ${p.message}` : p.message)).join("; ");
}

// ---- (a) schema -------------------------------------------------------------------------

function pathOf(instancePath: string): string {
  let out = "";
  for (const raw of instancePath.split("/").slice(1)) {
    const seg = raw.replace(/~1/g, "/").replace(/~0/g, "~");
    if (/^[0-9]+$/.test(seg)) out += `[${seg}]`;
    else out += out ? `.${seg}` : seg;
  }
  return out;
}

function join(path: string, key: string): string {
  return path ? `${path}.${key}` : key;
}

function fromAjv(err: ErrorObject): SpecProblem {
  const path = pathOf(err.instancePath);
  switch (err.keyword) {
    case "required":
      return { path: join(path, String(err.params.missingProperty)), message: "is required" };
    case "format":
      if (err.params.format === "int32") return { path, message: "must be a 32-bit integer" };
      if (err.params.format === "int64") return { path, message: "must be a 64-bit integer" };
      return { path, message: `must be a ${String(err.params.format)}` };
    case "enum":
      return {
        path,
        message: `must be one of ${(err.params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(", ")}`,
      };
    default:
      return { path, message: err.message ?? "is not valid" };
  }
}

/** Fields the schema does not know: the API server would drop them without a word (a typo such as `setweight`). */
function unknownFieldProblems(value: unknown, schema: Obj, path: string): SpecProblem[] {
  const out: SpecProblem[] = [];
  if (Array.isArray(value)) {
    const items = schema.items;
    if (isObj(items)) value.forEach((v, i) => out.push(...unknownFieldProblems(v, items, `${path}[${i}]`)));
    return out;
  }
  if (!isObj(value)) return out;
  const props = isObj(schema.properties) ? schema.properties : undefined;
  if (!props) return out;
  const open =
    schema["x-kubernetes-preserve-unknown-fields"] === true || schema.additionalProperties !== undefined;
  for (const [key, v] of Object.entries(value)) {
    const sub = props[key];
    if (isObj(sub)) out.push(...unknownFieldProblems(v, sub, join(path, key)));
    else if (!open)
      out.push({ path: join(path, key), message: "unknown field (the API server would drop it)" });
  }
  return out;
}

// ---- (b) the CRD's CEL rules, in one place ----------------------------------------------

function celRuleProblems(spec: Obj): SpecProblem[] {
  return [...modelVersionProblems(spec), ...strategyRuleProblems(spec), ...healthCheckRuleProblems(spec)];
}

/** spec.model.version is a label value. */
function modelVersionProblems(spec: Obj): SpecProblem[] {
  const out: SpecProblem[] = [];
  const model = spec.model;
  if (
    isObj(model) &&
    typeof model.version === "string" &&
    model.version !== "" &&
    !LABEL_VALUE.test(model.version)
  ) {
    out.push({
      path: "spec.model.version",
      message:
        "must be a valid label value (at most 63 characters, alphanumerics, '-', '_' or '.', starting and ending with an alphanumeric), such as 2.1.0",
    });
  }
  return out;
}

/**
 * One strategy; canary steps of one kind each, header and mirror steps only with a route, the
 * readiness gate only without one, weights that never decrease.
 */
function strategyRuleProblems(spec: Obj): SpecProblem[] {
  const out: SpecProblem[] = [];
  const strategy = spec.strategy;
  if (isObj(strategy)) {
    if (has(strategy, "canary") === has(strategy, "blueGreen")) {
      out.push({
        path: "spec.strategy",
        message: "exactly one of strategy.canary or strategy.blueGreen must be set",
      });
    }
    const canary = strategy.canary;
    if (isObj(canary) && canary.readinessGate === true && has(spec, "traffic")) {
      out.push({
        path: "spec.strategy.canary.readinessGate",
        message:
          "strategy.canary.readinessGate is for canaries without spec.traffic: a route already holds a setWeight 0 step at 0%",
      });
    }
    if (isObj(canary) && Array.isArray(canary.steps)) {
      let last: number | undefined;
      canary.steps.forEach((step, i) => {
        if (!isObj(step)) return;
        if (STEP_KINDS.filter((k) => has(step, k)).length !== 1) {
          out.push({
            path: `spec.strategy.canary.steps[${i}]`,
            message: "each step must have exactly one of setWeight, pause, setHeaderRoute or setMirrorRoute",
          });
        }
        if ((has(step, "setHeaderRoute") || has(step, "setMirrorRoute")) && !has(spec, "traffic")) {
          out.push({
            path: `spec.strategy.canary.steps[${i}]`,
            message:
              "setHeaderRoute and setMirrorRoute steps need spec.traffic (a route that can carry them)",
          });
        }
        if (typeof step.setWeight === "number") {
          if (last !== undefined && step.setWeight < last) {
            out.push({
              path: `spec.strategy.canary.steps[${i}].setWeight`,
              message: `setWeight values must never decrease from one step to the next (${step.setWeight} after ${last})`,
            });
          }
          last = step.setWeight;
        }
      });
    }
  }
  return out;
}

/** Health checks: unique DNS-label names, one provider each, http fields that go together. */
function healthCheckRuleProblems(spec: Obj): SpecProblem[] {
  const out: SpecProblem[] = [];
  const checks =
    isObj(spec.healthChecks) && Array.isArray(spec.healthChecks.checks) ? spec.healthChecks.checks : [];
  const seen = new Set<string>();
  checks.forEach((check, i) => {
    if (!isObj(check)) return;
    const path = `spec.healthChecks.checks[${i}]`;
    if (typeof check.name === "string") {
      if (check.name !== "" && !DNS_LABEL.test(check.name)) {
        out.push({ path: `${path}.name`, message: "must be a DNS label (lower-case alphanumerics and '-')" });
      }
      if (seen.has(check.name))
        out.push({ path: `${path}.name`, message: `duplicate check name ${JSON.stringify(check.name)}` });
      seen.add(check.name);
    }
    if (has(check, "http") === has(check, "prometheus")) {
      out.push({ path, message: "each health check must have exactly one provider (http or prometheus)" });
    }
    const http = check.http;
    if (isObj(http)) {
      if (has(http, "url") === has(http, "path")) {
        out.push({ path: `${path}.http`, message: "an http check needs exactly one of path or url" });
      }
      if (has(http, "port") && !has(http, "path")) {
        out.push({ path: `${path}.http.port`, message: "port goes with path, not with url" });
      }
      if (has(http, "body") && (http.method ?? "GET") !== "POST") {
        out.push({ path: `${path}.http.body`, message: "a body needs method POST" });
      }
      if (typeof http.path === "string" && !http.path.startsWith("/")) {
        out.push({ path: `${path}.http.path`, message: "must start with '/'" });
      }
      if (typeof http.url === "string" && !isHttpUrl(http.url)) {
        out.push({ path: `${path}.http.url`, message: "must be an http:// or https:// URL" });
      }
    }
    const prom = check.prometheus;
    if (isObj(prom) && typeof prom.address === "string" && !isHttpUrl(prom.address)) {
      out.push({ path: `${path}.prometheus.address`, message: "must be an http:// or https:// URL" });
    }
  });
  return out;
}

// ---- (c) beyond the CRD -----------------------------------------------------------------

function identityProblems(md: Obj): SpecProblem[] {
  // apiVersion and kind are the caller's to check (the API server routes by them; the
  // plugin picks ModelDeployments out of a file by them).
  const out: SpecProblem[] = [];
  const meta = md.metadata;
  if (
    isObj(meta) &&
    typeof meta.name === "string" &&
    !(meta.name.length <= 63 && DNS_1035_LABEL.test(meta.name))
  ) {
    out.push({
      path: "metadata.name",
      message:
        "the clients' Service is named after the ModelDeployment, so the name must be a DNS label: at most 63 characters, lower-case alphanumerics and '-', starting with a letter",
    });
  }
  return out;
}

function durationProblems(spec: Obj): SpecProblem[] {
  const out: SpecProblem[] = [];
  const check = (value: unknown, path: string, positive: boolean) => {
    if (typeof value !== "string") return;
    if (!isDuration(value)) {
      out.push({
        path,
        message: `${JSON.stringify(value)} is not a duration: write it like 30s, 5m, 1h30m or 500ms`,
      });
    } else if (positive && parseDuration(value) <= 0) {
      out.push({ path, message: "must be longer than 0" });
    }
  };
  const canary = isObj(spec.strategy) && isObj(spec.strategy.canary) ? spec.strategy.canary : undefined;
  if (canary && Array.isArray(canary.steps)) {
    canary.steps.forEach((step, i) => {
      for (const kind of ["pause", "setHeaderRoute", "setMirrorRoute"] as const)
        if (isObj(step) && isObj(step[kind]))
          check(step[kind].duration, `spec.strategy.canary.steps[${i}].${kind}.duration`, false);
    });
  }
  const hc = spec.healthChecks;
  if (isObj(hc)) {
    check(hc.interval, "spec.healthChecks.interval", true);
    if (Array.isArray(hc.checks)) {
      hc.checks.forEach((c, i) => {
        if (!isObj(c)) return;
        check(c.interval, `spec.healthChecks.checks[${i}].interval`, true);
        check(c.timeout, `spec.healthChecks.checks[${i}].timeout`, true);
      });
    }
  }
  return out;
}

function checkProblems(spec: Obj): SpecProblem[] {
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
    const prom = check.prometheus;
    if (isObj(prom)) {
      if (typeof prom.query === "string") {
        for (const message of templateProblems(prom.query))
          out.push({ path: `${path}.prometheus.query`, message });
      }
      if (typeof prom.successCondition === "string") {
        const err = validateSuccessCondition("prometheus", prom.successCondition);
        if (err) out.push({ path: `${path}.prometheus.successCondition`, message: err });
      }
    }
  });
  return out;
}

interface PortInfo {
  name?: string;
  containerPort: number;
}

function containersOf(spec: Obj): Obj[] {
  const template = spec.template;
  if (!isObj(template) || !isObj(template.spec) || !Array.isArray(template.spec.containers)) return [];
  return template.spec.containers.filter(isObj);
}

function portsOf(container: Obj | undefined): PortInfo[] {
  if (!container || !Array.isArray(container.ports)) return [];
  return container.ports
    .filter(isObj)
    .flatMap((p) =>
      typeof p.containerPort === "number"
        ? [{ containerPort: p.containerPort, ...(typeof p.name === "string" ? { name: p.name } : {}) }]
        : [],
    );
}

function portProblems(spec: Obj): SpecProblem[] {
  const containers = containersOf(spec);
  const out = containerNameProblems(containers);
  if (containers.length === 0) return out;
  const firstPorts = portsOf(containers[0]);
  const service = isObj(spec.service) ? spec.service : {};
  const servicePort = typeof service.port === "number" ? service.port : DEFAULT_SERVICE_PORT;
  const target = targetPortProblems(service, containers, firstPorts);
  return [
    ...out,
    ...target.problems,
    ...checkPortProblems(spec, firstPorts, servicePort, target.targetNumber),
  ];
}

/** Container names unique, port names valid IANA service names. */
function containerNameProblems(containers: Obj[]): SpecProblem[] {
  const out: SpecProblem[] = [];
  const names = new Set<string>();
  containers.forEach((c, ci) => {
    if (typeof c.name === "string") {
      if (names.has(c.name)) {
        out.push({
          path: `spec.template.spec.containers[${ci}].name`,
          message: `duplicate container name ${JSON.stringify(c.name)}`,
        });
      }
      names.add(c.name);
    }
    if (!Array.isArray(c.ports)) return;
    c.ports.forEach((p, pi) => {
      if (!isObj(p) || typeof p.name !== "string") return;
      if (!(
        p.name.length <= 15 &&
        PORT_NAME.test(p.name) &&
        /[a-z]/.test(p.name) &&
        !p.name.includes("--")
      )) {
        out.push({
          path: `spec.template.spec.containers[${ci}].ports[${pi}].name`,
          message:
            "a port name must be at most 15 lower-case letters, digits and '-', with at least one letter (such as http)",
        });
      }
    });
  });
  return out;
}

/** spec.service.targetPort names or numbers a declared port; also returns the port it forwards to. */
function targetPortProblems(
  service: Obj,
  containers: Obj[],
  firstPorts: PortInfo[],
): { problems: SpecProblem[]; targetNumber: number | undefined } {
  const out: SpecProblem[] = [];
  const allPorts = containers.flatMap(portsOf);
  const targetPort = service.targetPort;
  let targetNumber: number | undefined;
  if (targetPort === undefined) {
    const first = firstPorts[0];
    if (!first) {
      out.push({
        path: "spec.service.targetPort",
        message:
          "the first container declares no ports: add one (ports: [{name: http, containerPort: 8080}]) or set a numeric targetPort",
      });
    } else targetNumber = first.containerPort;
  } else if (typeof targetPort === "string") {
    const found = allPorts.find((p) => p.name === targetPort);
    if (!found) {
      out.push({
        path: "spec.service.targetPort",
        message: `no container declares a port named ${JSON.stringify(targetPort)}${describeNames(allPorts)}`,
      });
    } else targetNumber = found.containerPort;
  } else if (typeof targetPort === "number") {
    if (!Number.isInteger(targetPort) || targetPort < 1 || targetPort > 65535) {
      out.push({
        path: "spec.service.targetPort",
        message: "must be a port number from 1 to 65535 or a port name",
      });
    } else targetNumber = targetPort;
  } else {
    out.push({ path: "spec.service.targetPort", message: "must be a port number or a port name" });
  }

  return { problems: out, targetNumber };
}

/** An http check's port is the Service's port or a port of the first container behind it. */
function checkPortProblems(
  spec: Obj,
  firstPorts: PortInfo[],
  servicePort: number,
  targetNumber: number | undefined,
): SpecProblem[] {
  const out: SpecProblem[] = [];
  const hc = spec.healthChecks;
  if (isObj(hc) && Array.isArray(hc.checks)) {
    hc.checks.forEach((check, i) => {
      if (!isObj(check) || !isObj(check.http)) return;
      const port = check.http.port;
      const path = `spec.healthChecks.checks[${i}].http.port`;
      if (port === undefined) return;
      if (typeof port === "number") {
        if (port !== servicePort) {
          out.push({
            path,
            message: `the check reaches the version through its Service, which listens on port ${servicePort} only (spec.service.port); use ${servicePort} or a container port name`,
          });
        }
      } else if (typeof port === "string") {
        const found = firstPorts.find((p) => p.name === port);
        if (!found) {
          out.push({
            path,
            message: `the first container declares no port named ${JSON.stringify(port)}${describeNames(firstPorts)}`,
          });
        } else if (targetNumber !== undefined && found.containerPort !== targetNumber) {
          out.push({
            path,
            message: `port ${JSON.stringify(port)} (${found.containerPort}) is not the port the Services forward to (${targetNumber}); the check reaches the version through its Service`,
          });
        }
      } else {
        out.push({ path, message: "must be a port number or a port name" });
      }
    });
  }
  return out;
}

function describeNames(ports: readonly PortInfo[]): string {
  const names = ports.flatMap((p) => (p.name ? [p.name] : []));
  return names.length ? ` (named ports: ${names.join(", ")})` : " (no port has a name)";
}

function templateLabelProblems(spec: Obj): SpecProblem[] {
  const out: SpecProblem[] = [];
  const template = spec.template;
  const labels =
    isObj(template) && isObj(template.metadata) && isObj(template.metadata.labels)
      ? template.metadata.labels
      : {};
  for (const key of [LABEL_MODEL, LABEL_VERSION]) {
    if (key in labels) {
      out.push({
        path: `spec.template.metadata.labels.${key}`,
        message: "is set by the operator (it selects each version's pods): remove it",
      });
    }
  }
  return out;
}

// ---- helpers ----------------------------------------------------------------------------

function isObj(v: unknown): v is Obj {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

function has(o: Obj, key: string): boolean {
  return o[key] !== undefined && o[key] !== null;
}

function isHttpUrl(s: string): boolean {
  return s.startsWith("http://") || s.startsWith("https://");
}

function dedupe(problems: SpecProblem[]): SpecProblem[] {
  const seen = new Set<string>();
  return problems.filter((p) => {
    const key = `${p.path}\u0000${p.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
