// Whether a check's response may be quoted in status and Events. A check runs from the
// operator's network position and its messages are readable by whoever may read the
// ModelDeployment: quoting the answer of any URL would turn the operator into a proxy
// that reads other namespaces' Services, cloud metadata or admin ports for the tenant.
// So a response is quoted only when it comes from the measured version's own Service
// (the tenant's own model, which it can read anyway), or when the platform opts in;
// elsewhere a message says what failed (status code, condition false, size) without it.
import type { DueCheck } from "../plan/types.ts";

/** --check-response-messages: quote responses of the version's own Service only, or of every destination. */
export const RESPONSE_MESSAGES = ["own-service", "all"] as const;
export type ResponseMessages = (typeof RESPONSE_MESSAGES)[number];

/**
 * The hosts of the measured version's own Service: NAME-V.NAMESPACE.svc and
 * NAME-V.NAMESPACE.svc.cluster.local (the default target is the first).
 */
export function ownServiceHosts(due: DueCheck): string[] {
  const base = `${due.vars.service}.${due.vars.namespace}.svc`;
  return [base, `${base}.cluster.local`];
}

/** The check's destination is the measured version's own Service. */
export function isOwnService(due: DueCheck): boolean {
  if (!due.check.http || !due.url) return false;
  let host: string;
  try {
    host = new URL(due.url).hostname.toLowerCase().replace(/\.$/, "");
  } catch {
    return false;
  }
  return ownServiceHosts(due).includes(host);
}

/** May the response of this check be quoted in its messages? */
export function mayQuoteResponse(due: DueCheck, setting: ResponseMessages = "own-service"): boolean {
  return setting === "all" || isOwnService(due);
}

/** What a message says instead of a response it may not quote. */
export function withheld(bytes: number): string {
  return `response of ${bytes} byte${bytes === 1 ? "" : "s"} not shown: the destination is not this version's own Service`;
}
