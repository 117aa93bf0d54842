// Why a Deployment named by spec.workloadRef cannot be adopted. Each problem is bad input that
// no schema can see (it depends on objects in the cluster): the ModelDeployment stalls with it
// in a condition and an Event, and nothing is created or scaled until it is fixed.
//
// The adoption leaves the existing Deployment as it is (only its replica count moves), so its
// pods keep their labels. Clients reach both versions only because the new version's pods
// carry the labels the existing pods are selected by: the clients' Service selects by them
// during the adoption, and any Service of the user's that selects the existing pods (by those
// labels) reaches the new pods too. Hence the rules on selectors, labels and ports below.
import type { V1Deployment } from "@kubernetes/client-node";
import { LABEL_MANAGED_BY, OPERATOR_NAME } from "../api/constants.ts";
import type { PlanContext } from "./context.ts";
import { clientsServiceName } from "./naming.ts";
import { targetPortOf } from "./spec.ts";

/** The labels the existing Deployment selects its pods by (matchLabels only). */
export function adoptedSelector(d: V1Deployment | undefined): Record<string, string> {
  return { ...(d?.spec?.selector?.matchLabels ?? {}) };
}

function describeLabels(labels: Record<string, string>): string {
  return Object.entries(labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(", ");
}

/** What keeps the Deployment that spec.workloadRef names from being adopted; undefined: nothing. */
export function adoptionProblem(ctx: PlanContext): string | undefined {
  const ref = ctx.md.spec.workloadRef;
  if (!ref) return undefined;
  const namespace = ctx.md.metadata?.namespace ?? "";
  const name = ref.name;
  if (ref.namespace !== undefined && ref.namespace !== namespace)
    return `workloadRef names Deployment ${name} in namespace ${ref.namespace}: a ModelDeployment adopts only a Deployment of its own namespace (${namespace})`;
  const observed = ctx.input.observed.workloadRef;
  const d = observed?.deployment;
  if (!d) return `Deployment ${name} (workloadRef) was not found in namespace ${namespace}`;
  const owner = d.metadata?.ownerReferences?.find((r) => r.controller === true);
  if (owner)
    return `Deployment ${name} is controlled by ${owner.kind} ${owner.name}: only a Deployment that no controller owns can be adopted (that controller would undo the scale-down)`;
  if (
    d.metadata?.labels?.[LABEL_MANAGED_BY] === OPERATOR_NAME ||
    ctx.deployments.has(name) ||
    name === ctx.spec.name
  )
    return `Deployment ${name} is, or is named like, one of this operator's own Deployments: name the Deployment that serves the model today`;
  if ((d.spec?.selector?.matchExpressions ?? []).length > 0)
    return `Deployment ${name} selects its pods with matchExpressions, which a Service cannot select by: only a Deployment with a matchLabels selector can be adopted`;
  const selector = adoptedSelector(d);
  if (Object.keys(selector).length === 0)
    return `Deployment ${name} has no matchLabels in its selector: there is nothing a Service could select its pods by`;
  const labels = ctx.md.spec.template.metadata?.labels ?? {};
  const missing = Object.fromEntries(Object.entries(selector).filter(([k, v]) => labels[k] !== v));
  if (Object.keys(missing).length > 0)
    return `the pods of spec.template do not carry ${describeLabels(missing)} of Deployment ${name}'s selector: add them to spec.template.metadata.labels, so that the Services that reach its pods (the clients' Service during the adoption, and yours) reach the new version's pods too`;
  const port = targetPortOf(ctx.md);
  if (typeof port === "string") {
    const named = (d.spec?.template?.spec?.containers ?? []).some((c) =>
      (c.ports ?? []).some((p) => p.name === port),
    );
    if (!named)
      return `the pods of Deployment ${name} have no container port named ${port} (the clients' Service's targetPort): the clients' Service could not reach them during the adoption`;
  }
  const svc = observed.foreignClientsService;
  if (svc) {
    const by = svc.metadata?.ownerReferences?.find((r) => r.controller === true);
    const whose = by ? `it is controlled by ${by.kind} ${by.name}` : "it is not this ModelDeployment's";
    return `a Service named ${clientsServiceName(ctx.md)} already exists and ${whose}: the operator does not take over a Service it did not create; name the ModelDeployment differently (clients can keep using that Service, which reaches the new pods through the labels they share), see docs/migrating.md`;
  }
  return undefined;
}
