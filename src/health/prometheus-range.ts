// Range queries against Prometheus' HTTP API (GET /api/v1/query_range), for the statistical
// judge: the values of one series, one per step, over a window. Bounded like instant queries
// (prometheus.ts): the answer is read up to 1 MiB, the request within the check's timeout.
import type { CredentialMaterial } from "./credential-files.ts";
import type { CheckFetch } from "./dial.ts";
import { getPrometheusJson, parseSampleValue, prometheusApiUrl, readApiAnswer } from "./prometheus.ts";

export interface RangeWindow {
  /** Unix seconds. */
  start: number;
  end: number;
  /** Seconds between two samples. */
  step: number;
}

/** The values of each series a range query returned (NaN kept: the judge drops and counts it). */
export type RangeResult = { ok: true; series: number[][] } | { ok: false; message: string };

export async function queryPrometheusRange(
  address: string,
  query: string,
  window: RangeWindow,
  timeoutMs: number,
  /** May a message quote an answer that is not the Prometheus API (reveal.ts)? */
  quoteResponse = false,
  send?: CheckFetch,
  /** The platform's credential the check names: its TLS material and Authorization header. */
  credential?: CredentialMaterial,
): Promise<RangeResult> {
  const base = address.replace(/\/+$/, "");
  const params = new URLSearchParams({
    query,
    start: window.start.toFixed(3),
    end: window.end.toFixed(3),
    step: String(window.step),
    timeout: `${Math.max(1, Math.floor(timeoutMs / 1000))}s`,
  });
  const what = `range query to Prometheus at ${base}`;
  const got = await getPrometheusJson(rangeUrl(address, params), what, timeoutMs, {
    quoteResponse,
    send,
    credential,
    tooLarge: "aggregate in the query or take a longer step",
  });
  if (!got.ok) return got;
  const { answer, status } = got;
  return readRangeAnswer(answer, what, status);
}

/** ADDRESS/api/v1/query_range?...: the address's path kept, its query string and fragment not (see queryUrl). */
export function rangeUrl(address: string, params: URLSearchParams): string {
  return prometheusApiUrl(address, "query_range", params);
}

/** Reads {status, data: {resultType: "matrix", result: [{metric, values: [[t, "v"], ...]}]}}. */
export function readRangeAnswer(body: unknown, what: string, status: number): RangeResult {
  const answer = readApiAnswer(body, what, status);
  if (!answer.ok) return answer;
  const data = answer.data;
  if (!isObject(data) || data.resultType !== "matrix" || !Array.isArray(data.result))
    return { ok: false, message: "Prometheus answered a range query without a matrix" };
  const series: number[][] = [];
  for (const item of data.result) {
    const values = isObject(item) && Array.isArray(item.values) ? readValues(item.values) : undefined;
    if (!values) return { ok: false, message: "Prometheus answered with a malformed matrix result" };
    series.push(values);
  }
  return { ok: true, series };
}

function readValues(pairs: unknown[]): number[] | undefined {
  const out: number[] = [];
  for (const pair of pairs) {
    if (!Array.isArray(pair) || pair.length !== 2 || typeof pair[1] !== "string") return undefined;
    const value = parseSampleValue(pair[1]);
    if (value === undefined) return undefined;
    out.push(value);
  }
  return out;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
