// The Prometheus health-check provider: one instant query against Prometheus' HTTP API
// (GET /api/v1/query), judged by a CEL successCondition over the values it returned.
import type { DueCheck, Measurement } from "../plan/types.ts";
import { defaultConditionPool } from "./condition-pool.ts";
import type { CheckFetch } from "./dial.ts";
import type { CredentialMaterial } from "./credential-files.ts";
import { tlsOf, type MeasureOptions } from "./http.ts";
import { withheld } from "./reveal.ts";
import { describeRequestError, excerpt, MAX_BODY_BYTES, readBody, request } from "./request.ts";

/** How many values of a multi-value result are written into a measurement's value. */
const MAX_VALUES_SHOWN = 10;

/** One value of a query result with the labels of its series (none for a scalar). */
export interface Sample {
  labels: Record<string, string>;
  /** The value as Prometheus wrote it ("0.25", "NaN", "+Inf"). */
  text: string;
  value: number;
}

/** What a query returned, or why it cannot be judged. */
export type QueryResult = { ok: true; samples: Sample[] } | { ok: false; message: string };

/**
 * Measures one Prometheus check. Successful when the successCondition is true for the
 * query's result; Failed when it is false (value: the result); Error when the query cannot
 * be judged: Prometheus unreachable or rejecting the query, no data, NaN, a range vector,
 * or a condition that cannot be evaluated. Never throws.
 */
export async function measurePrometheus(
  due: DueCheck,
  now: () => Date,
  options: MeasureOptions = {},
): Promise<Measurement> {
  const result = await observePrometheus(due, options);
  return { name: due.check.name, ...result, time: now().toISOString() };
}

type Outcome = Omit<Measurement, "name" | "time">;

async function observePrometheus(due: DueCheck, options: MeasureOptions): Promise<Outcome> {
  const prometheus = due.check.prometheus;
  if (!prometheus) return { phase: "Error", message: "not a prometheus check" };
  const query = due.query ?? prometheus.query;
  const queried = await queryPrometheus(
    prometheus.address,
    query,
    due.timeoutMs,
    options.responseMessages === "all",
    options.send,
    options.credential,
  );
  if (!queried.ok) return { phase: "Error", message: queried.message };
  const samples = queried.samples;
  if (samples.length === 0) return { phase: "Error", message: "query returned no data" };

  const value = formatValues(samples);
  const nan = samples.filter((sample) => Number.isNaN(sample.value));
  if (nan.length > 0) {
    const which =
      samples.length === 1
        ? ""
        : ` for ${nan.length} of ${samples.length} series (${formatLabels(nan[0]!.labels)})`;
    return {
      phase: "Error",
      value,
      message: `query returned NaN${which}; a ratio is NaN when there is no traffic (0/0)`,
    };
  }

  const values = samples.map((sample) => sample.value);
  // Validation makes successCondition present on every check measured here (a judge has none).
  const condition = prometheus.successCondition ?? "";
  const outcome = await (options.conditions ?? defaultConditionPool()).evaluate({
    kind: "prometheus",
    expression: condition,
    values,
  });
  if (!outcome.ok) {
    const hint =
      values.length > 1
        ? ` (the query returned ${values.length} series, so \`result\` is a list: aggregate in the query, e.g. with sum() or max(), or use results.all(x, ...))`
        : "";
    return { phase: "Error", value, message: `${outcome.error}${hint}` };
  }
  if (!outcome.value)
    return { phase: "Failed", value, message: `successCondition \`${condition}\` was false for ${value}` };
  return { phase: "Successful", value };
}

/**
 * Runs an instant query. Reads the standard API answer
 * ({status, data: {resultType, result}} or {status: "error", errorType, error}) whatever
 * the HTTP status, since Prometheus explains rejected queries in the body.
 */
export async function queryPrometheus(
  address: string,
  query: string,
  timeoutMs: number,
  /** May a message quote an answer that is not the Prometheus API (reveal.ts)? */
  quoteResponse = false,
  send?: CheckFetch,
  /** The platform's credential the check names: its TLS material and Authorization header. */
  credential?: CredentialMaterial,
): Promise<QueryResult> {
  const base = address.replace(/\/+$/, "");
  const what = `query to Prometheus at ${base}`;
  const got = await getPrometheusJson(queryUrl(address, query, timeoutMs), what, timeoutMs, {
    quoteResponse,
    send,
    credential,
    tooLarge: "aggregate in the query so that it returns fewer series",
  });
  if (!got.ok) return got;
  const answer = readApiAnswer(got.answer, what, got.status);
  if (!answer.ok) return answer;
  return readQueryData(answer.data);
}

/**
 * ADDRESS/api/v1/query?query=...&timeout=...: the address's path is kept, its query string
 * and fragment are not, so that the query sent is the one the check names (and the one the
 * platform's namespace rule judged), never a second `query` parameter in the address.
 */
export function queryUrl(address: string, query: string, timeoutMs: number): string {
  const params = new URLSearchParams({ query, timeout: `${Math.max(1, Math.floor(timeoutMs / 1000))}s` });
  return prometheusApiUrl(address, "query", params);
}

/** ADDRESS/api/v1/ENDPOINT?PARAMS, the address's own query string and fragment dropped (see queryUrl). */
export function prometheusApiUrl(address: string, endpoint: string, params: URLSearchParams): string {
  let url: URL;
  try {
    url = new URL(address);
  } catch {
    return `${address.replace(/\/+$/, "")}/api/v1/${endpoint}?${params}`; // fetch says what is wrong with it
  }
  url.pathname = `${url.pathname.replace(/\/+$/, "")}/api/v1/${endpoint}`;
  url.search = params.toString();
  url.hash = "";
  return url.href;
}

function readQueryData(data: unknown): QueryResult {
  if (!isObject(data)) return { ok: false, message: "Prometheus answered without data" };
  const { resultType, result } = data;
  switch (resultType) {
    case "scalar": {
      const sample = readSample({}, result);
      return sample ? { ok: true, samples: [sample] } : malformed("scalar");
    }
    case "vector": {
      if (!Array.isArray(result)) return malformed("vector");
      const samples: Sample[] = [];
      for (const item of result) {
        const sample = isObject(item) ? readSample(readLabels(item.metric), item.value) : undefined;
        if (!sample) return malformed("vector");
        samples.push(sample);
      }
      return { ok: true, samples };
    }
    case "matrix":
      return {
        ok: false,
        message:
          "query returned a range vector (matrix); use an instant query, e.g. wrap it in rate(...[1m]) or avg_over_time",
      };
    case "string":
      return { ok: false, message: "query returned a string; a check needs a number" };
    default:
      return {
        ok: false,
        message: `Prometheus answered with an unknown result type ${JSON.stringify(resultType)}`,
      };
  }
}

function malformed(type: string): QueryResult {
  return { ok: false, message: `Prometheus answered with a malformed ${type} result` };
}

/** A [timestamp, "value"] pair. */
function readSample(labels: Record<string, string>, pair: unknown): Sample | undefined {
  if (!Array.isArray(pair) || pair.length !== 2 || typeof pair[1] !== "string") return undefined;
  const text = pair[1];
  const value = parseSampleValue(text);
  return value === undefined ? undefined : { labels, text, value };
}

/** Prometheus writes values as Go floats: "0.25", "1e-05", "NaN", "+Inf", "-Inf". */
export function parseSampleValue(text: string): number | undefined {
  switch (text) {
    case "NaN":
      return NaN;
    case "+Inf":
    case "Inf":
      return Infinity;
    case "-Inf":
      return -Infinity;
  }
  if (text.trim() === "") return undefined;
  const value = Number(text);
  return Number.isNaN(value) ? undefined : value;
}

function readLabels(metric: unknown): Record<string, string> {
  const labels: Record<string, string> = {};
  if (isObject(metric)) {
    for (const [key, value] of Object.entries(metric)) if (typeof value === "string") labels[key] = value;
  }
  return labels;
}

function formatLabels(labels: Record<string, string>): string {
  const entries = Object.entries(labels);
  if (entries.length === 0) return "{}";
  return `{${entries.map(([key, value]) => `${key}=${JSON.stringify(value)}`).join(", ")}}`;
}

/** "0.25" for one value, "[0.1, 0.2]" for several (the first few). */
function formatValues(samples: readonly Sample[]): string {
  if (samples.length === 1) return samples[0]!.text;
  const shown = samples.slice(0, MAX_VALUES_SHOWN).map((sample) => sample.text);
  if (samples.length > MAX_VALUES_SHOWN) shown.push(`… ${samples.length - MAX_VALUES_SHOWN} more`);
  return `[${shown.join(", ")}]`;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** What getPrometheusJson needs besides the URL: how to send, with what, and what to say. */
export interface PrometheusGet {
  /** May a message quote an answer that is not the Prometheus API (reveal.ts)? */
  quoteResponse: boolean;
  send?: CheckFetch;
  credential?: CredentialMaterial;
  /** What to do about an answer over the size limit, for the message. */
  tooLarge: string;
}

/**
 * GETs a Prometheus API URL within the timeout and parses its JSON, for instant and range
 * queries alike: the answer is read up to MAX_BODY_BYTES and not parsed past it, and one that
 * is not JSON is quoted only where the platform allows it.
 */
export async function getPrometheusJson(
  url: string,
  what: string,
  timeoutMs: number,
  o: PrometheusGet,
): Promise<{ ok: true; answer: unknown; status: number } | { ok: false; message: string }> {
  let status: number;
  let text: string;
  try {
    const response = await request(
      url,
      {
        method: "GET",
        headers: {
          accept: "application/json",
          ...(o.credential?.authorization ? { authorization: o.credential.authorization } : {}),
        },
        tls: tlsOf(o.credential),
      },
      timeoutMs,
      o.send,
    );
    status = response.status;
    let truncated: boolean;
    ({ text, truncated } = await readBody(response));
    if (truncated)
      return {
        ok: false,
        message: `${what} answered more than ${MAX_BODY_BYTES / (1024 * 1024)} MiB; ${o.tooLarge}`,
      };
  } catch (err) {
    return { ok: false, message: describeRequestError(err, what, timeoutMs) };
  }
  try {
    return { ok: true, answer: JSON.parse(text) as unknown, status };
  } catch {
    const said = o.quoteResponse ? excerpt(text) : "";
    const bytes = Buffer.byteLength(text);
    const shown = said ? `: ${said}` : bytes > 0 ? ` (${withheld(bytes)})` : "";
    return { ok: false, message: `${what} answered HTTP ${status}, not the Prometheus API${shown}` };
  }
}

/**
 * The envelope of a Prometheus API answer, {status: "success"|"error", ...}: its data when
 * it succeeded, else what went wrong. Prometheus' own explanation of a rejected query (a parse
 * error) is what its author needs, so it is quoted.
 */
export function readApiAnswer(
  answer: unknown,
  what: string,
  status: number,
): { ok: true; data: unknown } | { ok: false; message: string } {
  if (!isObject(answer) || (answer.status !== "success" && answer.status !== "error"))
    return {
      ok: false,
      message: `${what} answered HTTP ${status} with JSON that is not a Prometheus API response`,
    };
  if (answer.status === "error") {
    const type = typeof answer.errorType === "string" ? `${answer.errorType}: ` : "";
    const error = typeof answer.error === "string" ? answer.error : "unknown error";
    return { ok: false, message: `Prometheus rejected the query (${type}${excerpt(error, 300)})` };
  }
  return { ok: true, data: answer.data };
}
