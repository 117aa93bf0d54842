// What the operator asks of an error from the API server or the network: a one-line
// description for logs, and the HTTP status it carries, whichever client made it (our
// KubeApiError, client-node's ApiException, a watch's error).
import { KubeApiError } from "./request.ts";

/** The error's message, with its cause's (a network error's errno text) when it has one. */
export function describeError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = (err as { cause?: unknown }).cause;
  return cause instanceof Error ? `${err.message}: ${cause.message}` : err.message;
}

/** The HTTP status of an API error: `statusCode` (ours, a watch's) or `code` (client-node's ApiException). */
export function statusCodeOf(err: unknown): number | undefined {
  if (err instanceof KubeApiError) return err.status;
  if (typeof err !== "object" || err === null) return undefined;
  const e = err as { statusCode?: unknown; code?: unknown };
  if (typeof e.statusCode === "number") return e.statusCode;
  if (typeof e.code === "number") return e.code;
  return undefined;
}

/** 409 Conflict: the object changed since it was read; requeue. */
export function isConflict(err: unknown): boolean {
  return statusCodeOf(err) === 409;
}

/** 404 Not Found: the object is gone; requeue. */
export function isNotFound(err: unknown): boolean {
  return statusCodeOf(err) === 404;
}

/**
 * 403 with the cause NamespaceTerminating: the namespace is being deleted, so the API server
 * refuses anything new in it (a child the namespace controller already removed, an Event). The
 * ModelDeployment goes with its namespace; writing again would only fight the deletion.
 */
export function isNamespaceTerminating(err: unknown): boolean {
  return err instanceof KubeApiError && err.status === 403 && err.causes.includes("NamespaceTerminating");
}

/** 403 Forbidden: the operator's RBAC does not allow the request. */
export function isForbidden(err: unknown): boolean {
  return statusCodeOf(err) === 403;
}
