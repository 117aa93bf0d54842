// Writes an ObjectEdit (a user's HTTPRoute, spec.traffic.gatewayAPI.httpRouteRef) by
// read-modify-write: the edit applied to the object as observed, PUT with its resourceVersion;
// on 409 Conflict (someone, a GitOps tool, wrote the route in between) the object is read
// again and the edit applied to that, a bounded number of times. Nothing is sent when the
// edit leaves everything of the operator's as it is, so a route at rest costs no write.
import type { KubernetesObject } from "@kubernetes/client-node";
import { isConflict, isNotFound, type KubeClient } from "../kube/client.ts";
import { HTTPROUTE_API_VERSION, type HTTPRoute } from "../plan/routers/httproute.ts";
import type { ObjectEdit } from "../plan/types.ts";
import { containsDesired } from "./diff.ts";

/** PUTs of one edit in one reconcile before the conflict is left to the queue's backoff. */
export const MAX_EDIT_ATTEMPTS = 5;

export interface EditResult {
  /** PUTs sent (conflicts included). */
  writes: number;
  /** 409 Conflicts answered (each followed by a fresh read). */
  conflicts: number;
  /** The API server's answer to the write that went through; undefined when none did. */
  written?: HTTPRoute | undefined;
}

/** The body of the PUT: the edited object without managedFields, which the API server keeps and updates. */
function body(next: HTTPRoute, base: HTTPRoute): HTTPRoute {
  const { managedFields: _mf, ...metadata } = next.metadata ?? {};
  return { ...next, metadata: { ...metadata, resourceVersion: base.metadata?.resourceVersion } };
}

/**
 * Brings the operator's part of the object to the edit's decision, starting from `seen` (the
 * cached copy). Returns what was sent; throws what the API server refused other than a
 * conflict within the bound (or the route vanishing, which the next reconcile reports).
 */
export async function writeEdit(
  client: Pick<KubeClient, "get" | "replace">,
  edit: ObjectEdit,
  seen: HTTPRoute | undefined,
  namespace: string,
  onConflict?: (attempt: number) => void,
): Promise<EditResult> {
  const out: EditResult = { writes: 0, conflicts: 0 };
  let base = seen;
  for (let attempt = 1; base; attempt++) {
    const next = edit.edit(base);
    // The edit copies everything else, so "contained" means: nothing of ours differs (the
    // API server may have filled in defaults in our rules; those are no reason to write).
    if (containsDesired(next.spec, base.spec)) return out;
    try {
      out.writes++;
      out.written = await client.replace(body(next, base));
      return out;
    } catch (err) {
      if (isNotFound(err)) return out;
      if (!isConflict(err) || attempt >= MAX_EDIT_ATTEMPTS) throw err;
      out.conflicts++;
      onConflict?.(attempt);
      base = await client.get<HTTPRoute & KubernetesObject>(
        base.apiVersion ?? HTTPROUTE_API_VERSION,
        edit.kind,
        namespace,
        edit.name,
      );
    }
  }
  return out;
}
