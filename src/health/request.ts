// What the HTTP and Prometheus providers share: one request with a deadline, a body read
// with a size limit, and errors turned into sentences a person understands.
import { checkFetch, type CheckFetch, type CheckRequestInit } from "./dial.ts";

/** The most of a response body a check reads. */
export const MAX_BODY_BYTES = 1024 * 1024;

export interface LimitedBody {
  text: string;
  /** The body was longer than the limit; text holds its beginning. */
  truncated: boolean;
}

/** Without settings: the global fetch, or a credential's TLS material through undici (dial.ts). */
const defaultSend = checkFetch();

/** Redirects followed at most, within one origin. */
const MAX_REDIRECTS = 5;

/** A redirect a check does not follow: to another destination than the one it named. */
export class RedirectNotFollowedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RedirectNotFollowedError";
  }
}

/**
 * Sends one request that must complete, body included, within timeoutMs. The returned
 * response's body is read with readBody under the same deadline. Redirects are followed
 * only within the origin (scheme, host, port) the check named: a redirect elsewhere would
 * take the check to a destination the platform's policy never judged. `send` is the checks'
 * fetch (dial.ts: a DNS server, allowed networks); by default the global fetch, and undici
 * for a credential's TLS material.
 */
export async function request(
  url: string,
  init: CheckRequestInit,
  timeoutMs: number,
  send: CheckFetch = defaultSend,
): Promise<Response> {
  const signal = AbortSignal.timeout(timeoutMs);
  let current = url;
  // Within one origin, the credential (its TLS material, its Authorization header) goes along.
  let options: CheckRequestInit = { ...init, signal, redirect: "manual" };
  for (let hops = 0; ; hops++) {
    const response = await send(current, options);
    const location = response.headers.get("location");
    if (response.status < 300 || response.status > 399 || response.status === 304 || !location)
      return response;
    await discardBody(response);
    let next: URL;
    try {
      next = new URL(location, current);
    } catch {
      throw new RedirectNotFollowedError("redirected to an invalid URL, not followed");
    }
    if (next.origin !== new URL(current).origin)
      throw new RedirectNotFollowedError(
        "redirected to another destination, not followed (checks follow redirects within the host and port they name)",
      );
    if (hops >= MAX_REDIRECTS) throw new RedirectNotFollowedError(`more than ${MAX_REDIRECTS} redirects`);
    // 303, and 301/302 after a POST, continue as a GET without a body, as browsers do.
    if (
      response.status === 303 ||
      ((response.status === 301 || response.status === 302) && options.method === "POST")
    )
      options = { ...options, method: "GET", body: undefined };
    current = next.href;
  }
}

/** Reads at most limit bytes of the body, then stops reading (the rest is discarded). */
export async function readBody(response: Response, limit: number = MAX_BODY_BYTES): Promise<LimitedBody> {
  if (!response.body) return { text: "", truncated: false };
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  let truncated = false;
  try {
    while (true) {
      const { done, value } = await reader.read();
      if (done) break;
      if (size + value.byteLength > limit) {
        chunks.push(value.subarray(0, limit - size));
        size = limit;
        truncated = true;
        break;
      }
      chunks.push(value);
      size += value.byteLength;
    }
  } finally {
    if (truncated) await reader.cancel().catch(() => undefined);
    reader.releaseLock();
  }
  return { text: new TextDecoder().decode(Buffer.concat(chunks)), truncated };
}

/** Drops a body that will not be read, so the connection is released. */
export async function discardBody(response: Response): Promise<void> {
  await response.body?.cancel().catch(() => undefined);
}

/** A failed request as a sentence: "GET http://x/ready timed out after 5s". */
export function describeRequestError(err: unknown, what: string, timeoutMs: number): string {
  if (err instanceof Error) {
    if (err.name === "TimeoutError") return `${what} timed out after ${formatMs(timeoutMs)}`;
    if (err.name === "AbortError") return `${what} was aborted`;
    if (err instanceof RedirectNotFollowedError) return `${what} failed: ${err.message}`;
    const cause = (err as Error & { cause?: unknown }).cause;
    const code = cause && typeof cause === "object" && "code" in cause ? String(cause.code) : undefined;
    const causeMessage = cause instanceof Error ? cause.message : undefined;
    switch (code) {
      case "ECONNREFUSED":
        return `${what} failed: connection refused`;
      case "ENOTFOUND":
      case "EAI_AGAIN":
        return `${what} failed: host not found (${causeMessage ?? code})`;
      case "ECONNRESET":
      case "UND_ERR_SOCKET":
        return `${what} failed: connection closed by the server`;
      case "ERR_INVALID_URL":
        return `${what} failed: invalid URL`;
    }
    const tls = code ? describeTlsError(code, causeMessage) : undefined;
    if (tls) return `${what} failed: ${tls}`;
    if (causeMessage) return `${what} failed: ${causeMessage}`;
    return `${what} failed: ${err.message}`;
  }
  return `${what} failed: ${String(err)}`;
}

/** Node's TLS error codes as what went wrong, and what would fix it. */
const TLS_ERRORS: Record<string, string> = {
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: "certificate signed by unknown authority",
  UNABLE_TO_GET_ISSUER_CERT: "certificate signed by unknown authority",
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: "certificate signed by unknown authority",
  SELF_SIGNED_CERT_IN_CHAIN: "certificate signed by unknown authority",
  DEPTH_ZERO_SELF_SIGNED_CERT: "certificate signed by unknown authority",
  CERT_HAS_EXPIRED: "the server's certificate has expired",
  CERT_NOT_YET_VALID: "the server's certificate is not yet valid",
  CERT_REVOKED: "the server's certificate is revoked",
  ERR_TLS_CERT_ALTNAME_INVALID: "the server's certificate is not valid for this host",
  ERR_SSL_WRONG_VERSION_NUMBER: "the server does not speak TLS on this port (https:// to a plain HTTP port?)",
  ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED: "the server requires a client certificate",
  ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE: "the server refused the client certificate",
  ERR_SSL_TLSV1_ALERT_UNKNOWN_CA: "the server does not trust the client certificate's authority",
};

function describeTlsError(code: string, message: string | undefined): string | undefined {
  const said = TLS_ERRORS[code];
  if (!said)
    return code.startsWith("ERR_SSL_") || code.startsWith("ERR_TLS_") ? `TLS failed (${code})` : undefined;
  const hint =
    said === "certificate signed by unknown authority"
      ? "; the platform's credential with the server's CA (caFile) makes it trusted"
      : "";
  return `TLS: ${said} (${code}${message && message !== said ? `: ${message}` : ""})${hint}`;
}

export function formatMs(ms: number): string {
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return ms > 1000 ? `${(ms / 1000).toFixed(1)}s` : `${ms}ms`;
}

/** The beginning of a text on one line, for a message: "model not loaded…". */
export function excerpt(text: string, max = 200): string {
  const line = text.replace(/\s+/g, " ").trim();
  return line.length > max ? `${line.slice(0, max)}…` : line;
}
