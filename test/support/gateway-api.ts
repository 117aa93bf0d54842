// Installs the pinned Gateway API CRDs (experimental channel, which holds the standard kinds
// too) and, optionally, the InferencePool CRD into the cluster that KUBECONFIG points at,
// from the copies hack/build-dataplane.sh cached (MRO_GATEWAY_API_CRDS, MRO_INFERENCE_CRDS).
// Server-side apply: the HTTPRoute CRD is too large for client-side apply's annotation, and
// applying again is a no-op.
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";
import { readFileSync } from "node:fs";
import { kubectl, kubectlJson } from "./kube.ts";

function crdFolder(variable: "MRO_GATEWAY_API_CRDS" | "MRO_INFERENCE_CRDS"): string {
  const dir = process.env[variable];
  if (!dir)
    throw new Error(`${variable} is not set: run the tests with \`npm test\` (hack/build-dataplane.sh)`);
  return dir;
}

/** The names of the CRDs in a folder's YAML files. */
function crdNames(dir: string): string[] {
  const names: string[] = [];
  for (const file of readdirSync(dir).filter((f) => f.endsWith(".yaml"))) {
    for (const doc of parseAllDocuments(readFileSync(join(dir, file), "utf8"))) {
      const o = doc.toJS() as { kind?: string; metadata?: { name?: string } } | null;
      if (o?.kind === "CustomResourceDefinition" && o.metadata?.name) names.push(o.metadata.name);
    }
  }
  return names;
}

/** Applies the CRDs and waits until each is Established; returns their names. */
export async function installGatewayApiCrds(options: { inferencePool?: boolean } = {}): Promise<string[]> {
  const dirs = [crdFolder("MRO_GATEWAY_API_CRDS")];
  if (options.inferencePool) dirs.push(crdFolder("MRO_INFERENCE_CRDS"));
  const names: string[] = [];
  for (const dir of dirs) {
    await kubectl(["apply", "--server-side", "--field-manager=mro-tests", "-f", dir]);
    names.push(...crdNames(dir));
  }
  await kubectl(["wait", "--for=condition=Established", "--timeout=60s", ...names.map((n) => `crd/${n}`)]);
  return names;
}

/**
 * What a Gateway controller would write on a route's status (an HTTPRoute, or a GRPCRoute
 * with `resource` grpcroute): every parent says Accepted as given, and ResolvedRefs True.
 */
export async function routeParentsSay(
  ns: string,
  name: string,
  accepted: "True" | "False",
  reason: string,
  message: string,
  resource: "httproute" | "grpcroute" = "httproute",
): Promise<void> {
  const route = await kubectlJson<{
    metadata: { generation?: number };
    spec: { parentRefs?: unknown[] };
  }>(["-n", ns, "get", resource, name]);
  const now = new Date().toISOString().replace(/\.\d+Z$/, "Z");
  const gen = route.metadata.generation ?? 1;
  const cond = (type: string, status: string, r: string, m: string) => ({
    type,
    status,
    reason: r,
    message: m,
    lastTransitionTime: now,
    observedGeneration: gen,
  });
  const status = {
    parents: (route.spec.parentRefs ?? []).map((parentRef) => ({
      parentRef,
      controllerName: "gateway.envoyproxy.io/gatewayclass-controller",
      conditions: [
        cond("Accepted", accepted, reason, message),
        cond("ResolvedRefs", "True", "ResolvedRefs", "Resolved all the Object references for the Route"),
      ],
    })),
  };
  await kubectl([
    "-n",
    ns,
    "patch",
    resource,
    name,
    "--subresource=status",
    "--type=merge",
    "-p",
    JSON.stringify({ status }),
  ]);
}
