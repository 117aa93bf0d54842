// (c) Names and labels the API server accepts but the operator cannot use: the
// ModelDeployment's name (it names the clients' Service) and the labels the operator sets.
import { LABEL_MODEL, LABEL_VERSION } from "../../api/constants.ts";
import { childName } from "../naming.ts";
import { isObj, type Obj, type SpecProblem } from "./common.ts";

const DNS_1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;

export function identityProblems(md: Obj): SpecProblem[] {
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

export function templateLabelProblems(spec: Obj): SpecProblem[] {
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

/**
 * spec.traffic.gatewayAPI.inferencePool.endpointPickerRef.name with {{pool}} replaced by the
 * spec's version's pool NAME-V: a Service name, so at most 63 characters (the schema cannot
 * know the pool's name).
 */
export function endpointPickerNameProblems(md: Obj): SpecProblem[] {
  const spec = isObj(md.spec) ? md.spec : {};
  const traffic = isObj(spec.traffic) ? spec.traffic : {};
  const gw = isObj(traffic.gatewayAPI) ? traffic.gatewayAPI : {};
  const pool = isObj(gw.inferencePool) ? gw.inferencePool : {};
  const epp = isObj(pool.endpointPickerRef) ? pool.endpointPickerRef : {};
  const meta = isObj(md.metadata) ? md.metadata : {};
  const model = isObj(spec.model) ? spec.model : {};
  if (typeof epp.name !== "string" || typeof meta.name !== "string" || typeof model.version !== "string")
    return [];
  const kind = typeof epp.kind === "string" ? epp.kind : "Service";
  const poolName = childName(meta.name, model.version);
  const rendered = epp.name.split("{{pool}}").join(poolName);
  if (kind !== "Service" || rendered.length <= 63) return [];
  return [
    {
      path: "spec.traffic.gatewayAPI.inferencePool.endpointPickerRef.name",
      message: `names the Service ${rendered} for the pool ${poolName}, longer than the 63 characters of a Service name: shorten what surrounds {{pool}}`,
    },
  ];
}
