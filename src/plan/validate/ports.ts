// (c) Ports and containers: what the API server would only reject when the operator applies
// a child (duplicate container names, bad port names), and ports the Services and checks
// name that no container declares.
import { DEFAULT_SERVICE_PORT } from "../spec.ts";
import { isObj, type Obj, type SpecProblem } from "./common.ts";

const PORT_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

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

export function portProblems(spec: Obj): SpecProblem[] {
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
      // http, signature, warm-up and agreement checks reach the version through its Service.
      const provider = isObj(check)
        ? (["http", "signature", "warmup", "agreement"] as const).find((p) => isObj(check[p]))
        : undefined;
      if (!provider) return;
      const port = ((check as Obj)[provider] as Obj).port;
      const path = `spec.healthChecks.checks[${i}].${provider}.port`;
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
