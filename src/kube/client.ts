// The only place that writes to the API server. Every write goes through requestJson
// (request.ts), shared with the informers' lists: the operator's user agent (the API
// server's audit log and metrics count them by it), the rate limit, and metrics.
import { randomBytes } from "node:crypto";
import type { KubernetesObject, V1Pod } from "@kubernetes/client-node";
import {
  ANNOTATION_ACTION,
  API_VERSION,
  FIELD_MANAGER,
  KIND,
  OPERATOR_NAME,
  PLURAL,
} from "../api/constants.ts";
import type { ModelDeployment, ModelDeploymentStatus } from "../api/types.ts";
import type { PodConditionPatch } from "../plan/readiness-gate.ts";
import type { PlannedEvent } from "../plan/types.ts";
import { isNotFound } from "./errors.ts";
import type { KubeConnection } from "./kubeconfig.ts";
import { collectionPath } from "./listwatch.ts";
import type { RateLimiter } from "./ratelimit.ts";
import { requestJson, type RequestObserver } from "./request.ts";

export { KubeApiError, USER_AGENT } from "./request.ts";

export { isConflict, isNamespaceTerminating, isNotFound } from "./errors.ts";

export interface KubeClient {
  /**
   * Server-side apply of a complete desired object with the operator's field manager;
   * `force` (default true) takes fields another manager set. Without it, an object of the
   * same name that someone else made is refused with 409 Conflict instead of taken over.
   */
  apply<T extends KubernetesObject>(obj: T, options?: { force?: boolean }): Promise<T>;
  /** Reads one object; undefined when it does not exist. */
  get<T extends KubernetesObject>(
    apiVersion: string,
    kind: string,
    namespace: string,
    name: string,
  ): Promise<T | undefined>;
  /**
   * Replaces an object (PUT) with the operator's field manager, with optimistic concurrency:
   * `obj.metadata.resourceVersion` must be the object's current one, else 409 Conflict. For
   * objects the operator changes only in part (a user's HTTPRoute), whose lists it cannot
   * share through server-side apply.
   */
  replace<T extends KubernetesObject>(obj: T): Promise<T>;
  /** Deletes an object; an object already gone is fine. */
  delete(apiVersion: string, kind: string, namespace: string, name: string): Promise<void>;
  /**
   * Replaces the status of a ModelDeployment (PUT of the status subresource) with
   * optimistic concurrency: a status computed from a stale cache gets 409 Conflict.
   */
  replaceStatus(md: ModelDeployment, status: ModelDeploymentStatus): Promise<ModelDeployment>;
  /**
   * Removes the action annotation, only while it still says `action` (JSON patch test),
   * so an action set again in the meantime is not lost. Returns the updated object.
   */
  removeAction(md: ModelDeployment, action: string): Promise<ModelDeployment>;
  /** Records an events.k8s.io/v1 Event about a ModelDeployment. */
  recordEvent(md: ModelDeployment, event: PlannedEvent, now: Date): Promise<void>;
  /**
   * Sets one condition of a pod's status (a readiness gate's) with a strategic-merge patch
   * of pods/status: conditions merge by type, so the kubelet's own stay as they are. Returns
   * the pod as written, undefined for a pod that went away.
   */
  patchPodCondition(namespace: string, patch: PodConditionPatch, now: Date): Promise<V1Pod | undefined>;
  /**
   * Sets the replica count of a Deployment the operator does not own (an adopted one) with a
   * merge patch of its scale subresource: nothing else of it can change, and no field of it
   * becomes the operator's in its managedFields but spec.replicas.
   */
  scaleDeployment(namespace: string, name: string, replicas: number): Promise<void>;
}

const PLURALS: Record<string, string> = {
  Deployment: "deployments",
  Service: "services",
  ConfigMap: "configmaps",
  HTTPRoute: "httproutes",
  GRPCRoute: "grpcroutes",
  InferencePool: "inferencepools",
  [KIND]: PLURAL,
};

function objectPath(apiVersion: string, kind: string, namespace: string, name: string): string {
  const plural = PLURALS[kind];
  if (!plural) throw new Error(`no plural known for kind ${kind}`);
  return `${collectionPath({ apiVersion, kind, plural }, namespace)}/${encodeURIComponent(name)}`;
}

function mdPath(md: ModelDeployment): string {
  return objectPath(API_VERSION, KIND, md.metadata?.namespace ?? "", md.metadata?.name ?? "");
}

export interface KubeClientOptions {
  /** Per-request timeout (default 30 s). */
  timeoutMs?: number;
  onRequest?: RequestObserver;
  /** Every request waits for a token first (--kube-api-qps, --kube-api-burst). */
  rateLimiter?: RateLimiter;
  /** Reporting instance of Events (the pod name; default the hostname). */
  instance?: string;
}

export function kubeClient(kc: KubeConnection, options: KubeClientOptions = {}): KubeClient {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const instance = (options.instance ?? process.env.POD_NAME ?? process.env.HOSTNAME ?? OPERATOR_NAME).slice(
    0,
    128,
  );

  const send: Send = <R>(method: string, path: string, body: unknown, contentType?: string): Promise<R> =>
    requestJson<R>(kc, { method, path, body, contentType, timeoutMs }, options);

  return {
    ...objectRequests(send),
    ...modelDeploymentRequests(send),
    ...podStatusRequests(send),
    ...scaleRequests(send),
    ...eventRequests(send, instance),
  };
}

/** One request to the API server, with the client's timeout, rate limit and metrics. */
type Send = <R>(method: string, path: string, body: unknown, contentType?: string) => Promise<R>;

/** Any object by kind and name: apply, get, replace, delete. */
function objectRequests(send: Send): Pick<KubeClient, "apply" | "get" | "replace" | "delete"> {
  return {
    apply<T extends KubernetesObject>(obj: T, applyOptions: { force?: boolean } = {}): Promise<T> {
      const { apiVersion = "", kind = "", metadata } = obj;
      const path = objectPath(apiVersion, kind, metadata?.namespace ?? "", metadata?.name ?? "");
      const force = applyOptions.force ?? true;
      return send<T>(
        "PATCH",
        `${path}?fieldManager=${encodeURIComponent(FIELD_MANAGER)}&force=${force}`,
        obj,
        "application/apply-patch+yaml",
      );
    },

    async get<T extends KubernetesObject>(apiVersion: string, kind: string, namespace: string, name: string) {
      try {
        return await send<T>("GET", objectPath(apiVersion, kind, namespace, name), undefined);
      } catch (err) {
        if (isNotFound(err)) return undefined;
        throw err;
      }
    },

    replace<T extends KubernetesObject>(obj: T): Promise<T> {
      const { apiVersion = "", kind = "", metadata } = obj;
      const path = objectPath(apiVersion, kind, metadata?.namespace ?? "", metadata?.name ?? "");
      return send<T>("PUT", `${path}?fieldManager=${encodeURIComponent(FIELD_MANAGER)}`, obj);
    },

    async delete(apiVersion, kind, namespace, name) {
      try {
        await send("DELETE", objectPath(apiVersion, kind, namespace, name), {
          apiVersion: "v1",
          kind: "DeleteOptions",
          propagationPolicy: "Background",
        });
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    },
  };
}

/** A ModelDeployment's status and its action annotation. */
function modelDeploymentRequests(send: Send): Pick<KubeClient, "replaceStatus" | "removeAction"> {
  return {
    replaceStatus(md, status) {
      const body = { ...md, status };
      return send<ModelDeployment>("PUT", `${mdPath(md)}/status`, body);
    },

    removeAction(md, action) {
      const pointer = `/metadata/annotations/${ANNOTATION_ACTION.replace(/~/g, "~0").replace(/\//g, "~1")}`;
      return send<ModelDeployment>(
        "PATCH",
        mdPath(md),
        [
          { op: "test", path: pointer, value: action },
          { op: "remove", path: pointer },
        ],
        "application/json-patch+json",
      );
    },
  };
}

/** The readiness gate's condition in a pod's status. */
function podStatusRequests(send: Send): Pick<KubeClient, "patchPodCondition"> {
  return {
    async patchPodCondition(namespace, patch, now) {
      const path = `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(patch.pod)}/status`;
      const condition = {
        type: patch.conditionType,
        status: patch.status,
        reason: patch.reason,
        message: patch.message,
        lastTransitionTime: now.toISOString().replace(/\.\d{3}Z$/, "Z"),
      };
      try {
        return await send<V1Pod>(
          "PATCH",
          path,
          { status: { conditions: [condition] } },
          "application/strategic-merge-patch+json",
        );
      } catch (err) {
        // A pod that went away (scaled down, replaced) needs no condition.
        if (!isNotFound(err)) throw err;
        return undefined;
      }
    },
  };
}

/** The API server's limit on an Event's note: 1024 bytes (Go's len of the UTF-8 string), not characters. */
export const EVENT_NOTE_MAX_BYTES = 1024;

/** The message cut to EVENT_NOTE_MAX_BYTES of UTF-8 at a character boundary. */
export function noteOf(message: string): string {
  if (Buffer.byteLength(message) <= EVENT_NOTE_MAX_BYTES) return message;
  let out = "";
  let bytes = 0;
  for (const ch of message) {
    const n = Buffer.byteLength(ch);
    if (bytes + n > EVENT_NOTE_MAX_BYTES) break;
    out += ch;
    bytes += n;
  }
  return out;
}

/** The replica count of a Deployment the operator does not own. */
function scaleRequests(send: Send): Pick<KubeClient, "scaleDeployment"> {
  return {
    async scaleDeployment(namespace, name, replicas) {
      const path = `/apis/apps/v1/namespaces/${encodeURIComponent(namespace)}/deployments/${encodeURIComponent(name)}/scale`;
      await send(
        "PATCH",
        `${path}?fieldManager=${encodeURIComponent(FIELD_MANAGER)}`,
        { spec: { replicas } },
        "application/merge-patch+json",
      );
    },
  };
}

/** events.k8s.io/v1 Events about a ModelDeployment, reported by `instance`. */
function eventRequests(send: Send, instance: string): Pick<KubeClient, "recordEvent"> {
  return {
    async recordEvent(md, event, now) {
      const namespace = md.metadata?.namespace ?? "default";
      const name = eventName(md.metadata?.name ?? "modeldeployment", now, randomBytes(3).toString("hex"));
      await send("POST", `/apis/events.k8s.io/v1/namespaces/${encodeURIComponent(namespace)}/events`, {
        apiVersion: "events.k8s.io/v1",
        kind: "Event",
        metadata: { name, namespace },
        eventTime: now.toISOString().replace(/\.(\d{3})Z$/, ".$1000Z"),
        reportingController: `mlops.dev/${OPERATOR_NAME}`,
        reportingInstance: instance,
        action: event.reason,
        reason: event.reason,
        type: event.type,
        note: noteOf(event.message),
        regarding: {
          apiVersion: API_VERSION,
          kind: KIND,
          namespace,
          name: md.metadata?.name,
          uid: md.metadata?.uid,
          resourceVersion: md.metadata?.resourceVersion,
        },
      });
    },
  };
}

/** Longest object name the API server takes (a DNS subdomain). */
const MAX_NAME_LENGTH = 253;

/**
 * The name of an Event about the object `regarding`: its name, a dot, the time and a random
 * part, as client-go names Events. A ModelDeployment's name may itself be up to 253
 * characters, so it is shortened to leave room for the suffix (and may not then end in '-'
 * or '.'), or the API server would refuse the Event and the user would never see it.
 */
export function eventName(regarding: string, now: Date, random: string): string {
  const suffix = `.${now.getTime().toString(16)}${random}`;
  const prefix = regarding.slice(0, MAX_NAME_LENGTH - suffix.length).replace(/[-.]+$/, "");
  return `${prefix}${suffix}`;
}
