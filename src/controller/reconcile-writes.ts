// The write phase of a reconcile: the children that differ from what is observed (applies,
// then deletes), a user's route by read-modify-write, the readiness gate's pod conditions
// and the Events. The order of these writes is decided in reconciler.ts; this file does them.
import type { KubernetesObject } from "@kubernetes/client-node";
import { Reasons } from "../api/reasons.ts";
import type { ModelDeployment } from "../api/types.ts";
import { isNamespaceTerminating, type KubeClient } from "../kube/client.ts";
import type { Logger } from "../observability/log.ts";
import type { plan } from "../plan/index.ts";
import type { ChildRef, ObjectEdit, Observed } from "../plan/types.ts";
import { INFERENCEPOOL_API_VERSION } from "../plan/routers/inference-pool.ts";
import { GRPCROUTE_API_VERSION, HTTPROUTE_API_VERSION, type HTTPRoute } from "../plan/routers/httproute.ts";
import { needsWrite } from "./diff.ts";
import { writeEdit } from "./edit-write.ts";
import { stripManagedFields } from "./pod-cache.ts";
import { NotOwnedError } from "./shard.ts";

/** The apiVersion of each kind of child, for a delete of an observed object that lacks it. */
const API_VERSION_OF: Record<ChildRef["kind"], string> = {
  Deployment: "apps/v1",
  Service: "v1",
  HTTPRoute: HTTPROUTE_API_VERSION,
  GRPCRoute: GRPCROUTE_API_VERSION,
  InferencePool: INFERENCEPOOL_API_VERSION,
};

/** The operator's writes of a user's route (httpRouteRef) are remembered under this kind. */
export const USER_ROUTE = "HTTPRoute(user)";

/** What the writes need from the reconciler. */
export interface WriteContext {
  client: KubeClient;
  logger: Logger;
  now: () => Date;
  /** Remembers an object the operator wrote (undefined: deleted) until the caches catch up. */
  remember(
    ownerUid: string | undefined,
    kind: string,
    name: string,
    obj: KubernetesObject | undefined,
    rv?: string,
  ): void;
}

type Plan = ReturnType<typeof plan>;

/** Applies the children that differ from what is observed, then deletes; returns the writes. */
export async function writeChildren(
  ctx: WriteContext,
  cached: ModelDeployment,
  current: () => ModelDeployment,
  observed: Observed,
  p: Plan,
): Promise<number> {
  const namespace = cached.metadata?.namespace ?? "";
  const uid = cached.metadata?.uid;
  let writes = 0;
  const byKey = new Map<string, KubernetesObject>();
  for (const d of observed.deployments) byKey.set(`Deployment/${d.metadata?.name}`, d);
  for (const s of observed.services) byKey.set(`Service/${s.metadata?.name}`, s);
  for (const r of observed.routes?.httpRoutes ?? []) byKey.set(`HTTPRoute/${r.metadata?.name}`, r);
  for (const r of observed.grpcRoutes?.routes ?? []) byKey.set(`GRPCRoute/${r.metadata?.name}`, r);
  for (const r of observed.pools?.inferencePools ?? []) byKey.set(`InferencePool/${r.metadata?.name}`, r);
  for (const obj of p.apply) {
    const edit = p.edits?.find((e) => e.kind === obj.kind && e.name === obj.metadata?.name);
    if (edit) {
      const seen = [observed.routes?.referenced, observed.routes?.released].find(
        (r) => r?.metadata?.name === edit.name,
      );
      writes += await writeUserRoute(ctx, cached, current, seen, edit);
      continue;
    }
    const seen = byKey.get(`${obj.kind}/${obj.metadata?.name}`) as
      { metadata?: object; spec?: unknown } | undefined;
    if (!needsWrite(obj as { metadata?: object; spec?: unknown }, seen)) continue;
    try {
      // A route the operator has not made yet is created without force: a route of that
      // name that someone else owns is refused (409), never taken over.
      const written = await ctx.client.apply(obj, {
        force: seen !== undefined || (obj.kind !== "HTTPRoute" && obj.kind !== "GRPCRoute"),
      });
      ctx.remember(uid, obj.kind ?? "", obj.metadata?.name ?? "", written);
      writes++;
    } catch (err) {
      // A namespace being deleted refuses the Event too; the reconciler ends quietly. A shard
      // whose fence found the ModelDeployment gone writes nothing, not even this Event.
      if (isNamespaceTerminating(err) || err instanceof NotOwnedError) throw err;
      await recordEvent(ctx, current(), {
        type: "Warning",
        reason: Reasons.ApplyFailed,
        message: `${obj.kind} ${obj.metadata?.name}: ${(err as Error).message}`,
      });
      throw err;
    }
  }
  for (const ref of p.delete) {
    const seen = byKey.get(`${ref.kind}/${ref.name}`);
    if (!seen) continue;
    await ctx.client.delete(seen.apiVersion ?? API_VERSION_OF[ref.kind], ref.kind, namespace, ref.name);
    ctx.remember(uid, ref.kind, ref.name, undefined, seen.metadata?.resourceVersion);
    writes++;
  }
  return writes;
}

/** A user's route, by read-modify-write (edit-write.ts); returns the writes. */
async function writeUserRoute(
  ctx: WriteContext,
  cached: ModelDeployment,
  current: () => ModelDeployment,
  seen: HTTPRoute | undefined,
  edit: ObjectEdit,
): Promise<number> {
  const namespace = cached.metadata?.namespace ?? "";
  try {
    const r = await writeEdit(ctx.client, edit, seen, namespace, (attempt) =>
      ctx.logger.debug("the route changed since it was read: reading it again", {
        route: edit.name,
        attempt,
      }),
    );
    if (r.written) ctx.remember(cached.metadata?.uid, USER_ROUTE, edit.name, r.written);
    return r.writes;
  } catch (err) {
    if (isNamespaceTerminating(err) || err instanceof NotOwnedError) throw err;
    await recordEvent(ctx, current(), {
      type: "Warning",
      reason: Reasons.ApplyFailed,
      message: `${edit.kind} ${edit.name}: ${(err as Error).message}`,
    });
    throw err;
  }
}

/** Pods whose gate condition the operator wrote are remembered under this kind. */
export const GATED_POD = "Pod";

/**
 * The readiness gate's condition on each pod the plan names; returns the writes. Each pod as
 * written is remembered: a reconcile that runs before the pod watch delivered the write (the
 * echo of the status write often comes first) sees the condition set and does not write it
 * again.
 */
export async function writePodConditions(
  ctx: WriteContext,
  cached: ModelDeployment,
  p: Plan,
): Promise<number> {
  const namespace = cached.metadata?.namespace ?? "";
  let writes = 0;
  for (const patch of p.podConditions ?? []) {
    const pod = await ctx.client.patchPodCondition(namespace, patch, ctx.now());
    if (pod) ctx.remember(cached.metadata?.uid, GATED_POD, patch.pod, stripManagedFields(pod));
    writes++;
  }
  return writes;
}

/**
 * The replica counts of adopted Deployments (spec.workloadRef), after the children: the
 * clients' Service has been written before the Deployment it moved off scales down.
 */
export async function writeScales(ctx: WriteContext, cached: ModelDeployment, p: Plan): Promise<number> {
  const namespace = cached.metadata?.namespace ?? "";
  let writes = 0;
  for (const s of p.scales ?? []) {
    await ctx.client.scaleDeployment(namespace, s.name, s.replicas);
    writes++;
    await recordEvent(ctx, cached, {
      type: "Normal",
      reason: Reasons.AdoptedDeploymentScaled,
      message: `Deployment ${s.name} (adopted) scaled from ${s.from} to ${s.replicas} replica(s)`,
    });
    ctx.logger.info("adopted Deployment scaled", { deployment: s.name, from: s.from, to: s.replicas });
  }
  return writes;
}

/** 5. Events last: they tell what the writes before them did. Returns the writes. */
export async function emitEvents(
  ctx: WriteContext,
  md: ModelDeployment,
  p: Plan,
  log: Logger,
): Promise<number> {
  let writes = 0;
  for (const e of p.events) {
    await recordEvent(ctx, md, e);
    writes++;
    const level = e.type === "Warning" ? "warn" : "info";
    log[level](e.message, {
      reason: e.reason,
      version: p.status.candidateVersion ?? p.status.stableVersion,
    });
  }
  return writes;
}

async function recordEvent(
  ctx: WriteContext,
  md: ModelDeployment,
  e: { type: "Normal" | "Warning"; reason: string; message: string },
): Promise<void> {
  try {
    await ctx.client.recordEvent(md, e as Parameters<KubeClient["recordEvent"]>[1], ctx.now());
  } catch (err) {
    // An Event is a courtesy; the status already holds the truth.
    ctx.logger.warn("could not record an Event", { reason: e.reason, err: (err as Error).message });
  }
}
