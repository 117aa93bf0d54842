// (b) The CRD's CEL rules (x-kubernetes-validations), repeated in one place, so that offline
// validation catches what the API server would.
import { capacityRuleProblems } from "./capacity-rules.ts";
import { has, isHttpUrl, isObj, type Obj, type SpecProblem } from "./common.ts";

/** The kinds of canary step; a step has exactly one. */
const STEP_KINDS = ["setWeight", "pause", "setHeaderRoute", "setMirrorRoute"] as const;

const LABEL_VALUE = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
/** A credential's name, as the CRD's rule on http.credential and prometheus.credential has it. */
const CREDENTIAL_NAME = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

export function celRuleProblems(spec: Obj): SpecProblem[] {
  return [
    ...modelVersionProblems(spec),
    ...strategyRuleProblems(spec),
    ...capacityRuleProblems(spec),
    ...healthCheckRuleProblems(spec),
    ...trafficRuleProblems(spec),
    ...workloadRefRuleProblems(spec),
  ];
}

/** spec.workloadRef: an adoption goes through the clients' Service, without a route or a readiness gate. */
function workloadRefRuleProblems(spec: Obj): SpecProblem[] {
  const out: SpecProblem[] = [];
  if (!isObj(spec.workloadRef)) return out;
  if (has(spec, "traffic"))
    out.push({
      path: "spec.workloadRef",
      message:
        "workloadRef: an adoption moves the clients through the clients' Service, which selects the existing Deployment's pods; it cannot be combined with spec.traffic (add the route once the adoption is complete)",
    });
  const strategy = spec.strategy;
  const canary = isObj(strategy) ? strategy.canary : undefined;
  if (isObj(canary) && canary.readinessGate === true)
    out.push({
      path: "spec.workloadRef",
      message:
        "workloadRef: an adoption cannot hold the new version's pods behind strategy.canary.readinessGate (the clients' Service reaches them as they become ready); add the gate once the adoption is complete",
    });
  return out;
}

const RULE_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** spec.traffic.gatewayAPI: one route (an HTTPRoute or GRPCRoute the operator owns, or an HTTPRoute the user owns); names as HTTPRoute allows. */
function trafficRuleProblems(spec: Obj): SpecProblem[] {
  const out: SpecProblem[] = [];
  const traffic = spec.traffic;
  const gw = isObj(traffic) ? traffic.gatewayAPI : undefined;
  if (!isObj(gw)) return out;
  const routes = ["httpRoute", "httpRouteRef", "grpcRoute"].filter((k) => has(gw, k));
  if (routes.length !== 1) {
    out.push({
      path: "spec.traffic.gatewayAPI",
      message:
        "exactly one of gatewayAPI.httpRoute (an HTTPRoute the operator writes and owns), gatewayAPI.grpcRoute (a GRPCRoute the operator writes and owns) and gatewayAPI.httpRouteRef (an existing HTTPRoute you own) must be set",
    });
  }
  if (has(gw, "grpcRoute") && has(gw, "inferencePool")) {
    out.push({
      path: "spec.traffic.gatewayAPI",
      message:
        "gatewayAPI.inferencePool needs an HTTPRoute (httpRoute or httpRouteRef); a grpcRoute sends to the versions' Services",
    });
  }
  const grpc = gw.grpcRoute;
  const grpcMatches = isObj(grpc) && Array.isArray(grpc.matches) ? grpc.matches : [];
  grpcMatches.forEach((m, i) => {
    const method = isObj(m) ? m.method : undefined;
    if (isObj(method) && !has(method, "service") && !has(method, "method"))
      out.push({
        path: `spec.traffic.gatewayAPI.grpcRoute.matches[${i}].method`,
        message: "one or both of service and method must be set",
      });
  });
  out.push(...inferencePoolRuleProblems(gw.inferencePool));
  const ref = gw.httpRouteRef;
  if (isObj(ref)) {
    if (typeof ref.name === "string" && ref.name !== "" && !RULE_NAME.test(ref.name))
      out.push({
        path: "spec.traffic.gatewayAPI.httpRouteRef.name",
        message: "must be a DNS subdomain name (lower-case alphanumerics, '-' and '.')",
      });
    if (typeof ref.rule === "string" && ref.rule !== "" && !RULE_NAME.test(ref.rule))
      out.push({
        path: "spec.traffic.gatewayAPI.httpRouteRef.rule",
        message: "must be a rule name as HTTPRoute allows (lower-case alphanumerics, '-' and '.')",
      });
  }
  return out;
}

const POOL = "{{pool}}";

/** spec.traffic.gatewayAPI.inferencePool: unique target ports; an EPP named per pool, with a port when it is a Service. */
function inferencePoolRuleProblems(pool: unknown): SpecProblem[] {
  const out: SpecProblem[] = [];
  if (!isObj(pool)) return out;
  const path = "spec.traffic.gatewayAPI.inferencePool";
  if (Array.isArray(pool.targetPorts)) {
    const numbers = pool.targetPorts.map((p) => (isObj(p) ? p.number : undefined));
    if (new Set(numbers).size !== numbers.length)
      out.push({ path: `${path}.targetPorts`, message: "port number must be unique" });
  }
  const epp = pool.endpointPickerRef;
  if (!isObj(epp)) return out;
  if (typeof epp.name === "string" && epp.name !== "") {
    if (!epp.name.includes(POOL))
      out.push({
        path: `${path}.endpointPickerRef.name`,
        message:
          "must contain {{pool}}: an endpoint picker serves one pool, so each version's pool names its own (e.g. {{pool}}-epp)",
      });
    else if (!DNS_LABEL.test(epp.name.split(POOL).join("p")))
      out.push({
        path: `${path}.endpointPickerRef.name`,
        message: "with {{pool}} in it, must otherwise be a DNS label (lower-case alphanumerics and '-')",
      });
  }
  if (!((typeof epp.kind === "string" && epp.kind !== "Service") || has(epp, "port")))
    out.push({
      path: `${path}.endpointPickerRef`,
      message: "port is required when kind is Service (or omitted)",
    });
  return out;
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
    if (
      ["http", "prometheus", "signature", "warmup", "agreement"].filter((p) => has(check, p)).length !== 1
    ) {
      out.push({
        path,
        message:
          "each health check must have exactly one provider (http, prometheus, signature, warmup or agreement)",
      });
    }
    out.push(...agreementRuleProblems(check.agreement, `${path}.agreement`));
    if (
      typeof check.promotion === "string" &&
      check.promotion !== "Before" &&
      !(isObj(spec.strategy) && isObj(spec.strategy.blueGreen))
    )
      out.push({
        path: `${path}.promotion`,
        message:
          "promotion After or BeforeAndAfter needs strategy.blueGreen: a canary has no switch to check after",
      });
    if (isObj(check.warmup) && has(check.warmup, "body") && (check.warmup.method ?? "POST") !== "POST")
      out.push({ path: `${path}.warmup.body`, message: "a body needs method POST" });
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
    for (const [part, provider] of [
      ["http", http],
      ["prometheus", prom],
    ] as const) {
      if (
        isObj(provider) &&
        typeof provider.credential === "string" &&
        !CREDENTIAL_NAME.test(provider.credential)
      )
        out.push({
          path: `${path}.${part}.credential`,
          message:
            "must be the name of a credential the platform declares (lower-case letters, digits, '-' and '.')",
        });
    }
  });
  return out;
}

const CONFIGMAP_NAME = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;
const CONFIGMAP_KEY = /^[-._a-zA-Z0-9]+$/;

/** An agreement check: its ConfigMap reference, and the fields that go with each protocol. */
function agreementRuleProblems(agreement: unknown, path: string): SpecProblem[] {
  const out: SpecProblem[] = [];
  if (!isObj(agreement)) return out;
  const ref = isObj(agreement.requests) ? agreement.requests.configMapKeyRef : undefined;
  if (isObj(ref)) {
    if (typeof ref.name === "string" && !CONFIGMAP_NAME.test(ref.name))
      out.push({
        path: `${path}.requests.configMapKeyRef.name`,
        message: "must be the name of a ConfigMap (lower-case letters, digits, '-' and '.')",
      });
    if (typeof ref.key === "string" && !CONFIGMAP_KEY.test(ref.key))
      out.push({
        path: `${path}.requests.configMapKeyRef.key`,
        message: "must be a ConfigMap key (letters, digits, '-', '_' and '.')",
      });
  }
  const protocol = agreement.protocol ?? "OpenInference";
  if (protocol === "JSON" && !has(agreement, "path"))
    out.push({ path, message: "protocol JSON needs path (where the requests are sent)" });
  if (has(agreement, "outputs") && protocol !== "OpenInference")
    out.push({ path: `${path}.outputs`, message: "outputs goes with protocol OpenInference" });
  if (has(agreement, "answerPath") && protocol !== "JSON")
    out.push({ path: `${path}.answerPath`, message: "answerPath goes with protocol JSON" });
  for (const field of ["path", "answerPath"] as const)
    if (typeof agreement[field] === "string" && !agreement[field].startsWith("/"))
      out.push({ path: `${path}.${field}`, message: "must start with '/'" });
  return out;
}
