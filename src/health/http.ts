// The HTTP health-check provider: one request against the new version (its own Service, or
// the check's url), judged by the status code and an optional CEL successCondition.
import type { DueCheck, Measurement } from "../plan/types.ts";
import { defaultConditionPool, type ConditionEvaluator } from "./condition-pool.ts";
import { parseJson } from "./condition.ts";
import type { DestinationPolicyJudge } from "./destination-policy.ts";
import type { CredentialFiles, CredentialMaterial } from "./credential-files.ts";
import type { CredentialPolicy } from "./credentials.ts";
import type { ConfigMapReader } from "./agreement-check.ts";
import type { CheckFetch, CheckTls } from "./dial.ts";
import type { PromqlNamespaceRule } from "./promql-rule.ts";
import { mayQuoteResponse, withheld, type ResponseMessages } from "./reveal.ts";
import { describeRequestError, discardBody, excerpt, MAX_BODY_BYTES, readBody, request } from "./request.ts";

const DEFAULT_EXPECT_STATUS = 200;

/**
 * Measures one HTTP check. Successful when the response has the expected status (default
 * 200) and the successCondition, if any, is true; Failed when the server answered
 * otherwise (value: the status code); Error when there was no usable answer (connection
 * refused, timeout, a body too large for the condition) or the condition cannot be
 * evaluated. Never throws.
 */
export async function measureHttp(
  due: DueCheck,
  now: () => Date,
  options: MeasureOptions = {},
): Promise<Measurement> {
  const name = due.check.name;
  const result = await observeHttp(
    due,
    options.conditions ?? defaultConditionPool(),
    options.responseMessages,
    options.send,
    options.credential,
  );
  return { name, ...result, time: now().toISOString() };
}

type Outcome = Omit<Measurement, "name" | "time">;

/** What the providers are given besides the check. */
export interface MeasureOptions {
  /** Evaluates successConditions off the event loop, within the platform's budget. */
  conditions?: ConditionEvaluator;
  /** Whose responses messages may quote (default own-service: see reveal.ts). */
  responseMessages?: ResponseMessages;
  /** Where checks may go (destination-policy.ts); undefined: anywhere. */
  destinations?: DestinationPolicyJudge;
  /** The platform requires every Prometheus selector to carry the namespace (promql-namespace.ts); undefined: not checked. */
  promqlNamespace?: PromqlNamespaceRule;
  /** The platform's check credentials and who may use them (credentials.ts); undefined: none declared. */
  credentials?: { policy: CredentialPolicy; files: CredentialFiles };
  /** The material of the credential this measurement uses (set by measureCheck). */
  credential?: CredentialMaterial;
  /** How requests are sent (dial.ts: a DNS server, allowed networks); the global fetch by default. */
  send?: CheckFetch;
  /** Reads a ConfigMap of the ModelDeployment's namespace (an agreement check's request set). */
  configMaps?: ConfigMapReader;
}

async function observeHttp(
  due: DueCheck,
  conditions: ConditionEvaluator,
  responseMessages: ResponseMessages = "own-service",
  send?: CheckFetch,
  credential?: CredentialMaterial,
): Promise<Outcome> {
  const http = due.check.http;
  if (!http) return { phase: "Error", message: "not an http check" };
  if (!due.url) return { phase: "Error", message: "http check has no URL to request" };
  const expectStatus = http.expectStatus ?? DEFAULT_EXPECT_STATUS;
  const condition = http.successCondition?.trim() ? http.successCondition : undefined;

  const sent = await sendRequest(due, http, due.url, expectStatus, condition, send, credential);
  if (!("response" in sent)) return sent;
  const { response, body, truncated } = sent;

  const value = String(response.status);
  // A redirect followed to another host is that host's answer, not the version's own.
  const quote = mayQuoteResponse(due, responseMessages) && sameHost(response, due.url);
  const bytes = Buffer.byteLength(body);
  if (response.status !== expectStatus) {
    const said = quote ? excerpt(body) : "";
    const shown = said ? `: ${said}` : !quote && bytes > 0 ? ` (${withheld(bytes)})` : "";
    return {
      phase: "Failed",
      value,
      message: `expected status ${expectStatus}, got ${response.status}${shown}`,
    };
  }
  if (condition === undefined) return { phase: "Successful", value };
  if (truncated) {
    return {
      phase: "Error",
      value,
      message: `response body is larger than ${MAX_BODY_BYTES / (1024 * 1024)} MiB; successCondition cannot judge it`,
    };
  }

  return judgeCondition(conditions, condition, response, body, bytes, quote, value);
}

/** Sends the check's request; reads the body only when the status or a successCondition needs it. */
async function sendRequest(
  due: DueCheck,
  http: NonNullable<DueCheck["check"]["http"]>,
  url: string,
  expectStatus: number,
  condition: string | undefined,
  send: CheckFetch | undefined,
  credential: CredentialMaterial | undefined,
): Promise<{ response: Response; body: string; truncated: boolean } | Outcome> {
  const method = http.method ?? "GET";
  const what = `${method} ${url}`;
  let response: Response;
  let body: string;
  let truncated: boolean;
  try {
    response = await request(
      url,
      {
        method,
        headers: requestHeaders(http.headers, method === "POST" ? due.body : undefined, credential),
        body: method === "POST" ? (due.body ?? "") : undefined,
        tls: tlsOf(credential),
      },
      due.timeoutMs,
      send,
    );
    if (response.status !== expectStatus || condition !== undefined) {
      ({ text: body, truncated } = await readBody(response));
    } else {
      await discardBody(response);
      body = "";
      truncated = false;
    }
  } catch (err) {
    return { phase: "Error", message: describeRequestError(err, what, due.timeoutMs) };
  }
  return { response, body, truncated };
}

/** The successCondition's verdict on a response with the expected status. */
async function judgeCondition(
  conditions: ConditionEvaluator,
  condition: string,
  response: Response,
  body: string,
  bytes: number,
  quote: boolean,
  value: string,
): Promise<Outcome> {
  const headers: [string, string][] = [];
  response.headers.forEach((headerValue, headerName) =>
    headers.push([headerName.toLowerCase(), headerValue]),
  );
  const outcome = await conditions.evaluate({
    kind: "http",
    expression: condition,
    status: response.status,
    body,
    headers,
    quoteValues: quote,
  });
  if (!outcome.ok) return { phase: "Error", value, message: outcome.error };
  if (!outcome.value) {
    if (!quote) {
      return {
        phase: "Failed",
        value,
        message: `successCondition \`${condition}\` was false (${withheld(bytes)})`,
      };
    }
    const said = excerpt(body);
    return {
      phase: "Failed",
      value,
      message: `successCondition \`${condition}\` was false${said ? ` (response: ${said})` : ""}`,
    };
  }
  return { phase: "Successful", value };
}

/** The response came from the host the check named (no redirect elsewhere was followed). */
function sameHost(response: Response, url: string): boolean {
  if (!response.redirected || !response.url) return true;
  try {
    return new URL(response.url).host === new URL(url).host;
  } catch {
    return false;
  }
}

/**
 * The check's headers; a JSON body without a content-type header is sent as application/json;
 * a credential's token is the Authorization header (over one the check wrote).
 */
function requestHeaders(
  headers: Record<string, string> | undefined,
  body: string | undefined,
  credential: CredentialMaterial | undefined,
): Headers {
  const result = new Headers(headers ?? {});
  if (body !== undefined && !result.has("content-type") && parseJson(body) !== null) {
    result.set("content-type", "application/json");
  }
  if (credential?.authorization) result.set("authorization", credential.authorization);
  return result;
}

/** A credential's TLS material, for the request's connection. */
export function tlsOf(credential: CredentialMaterial | undefined): CheckTls | undefined {
  if (!credential?.tls) return undefined;
  return { name: credential.name, version: credential.version, ...credential.tls };
}
