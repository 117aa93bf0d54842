// Warm-up: a ready pod is not a loaded model (the first inference requests of many servers
// load weights, compile, fill caches). A warm-up check sends `requests` requests, one after
// the other, to the new version's own Service, and reports their latencies; the planner
// measures it once per step, so it runs before the step's gates open (for a blue/green
// preview: before the switch, so before any client request). Never throws.
import type { WarmupResult } from "../api/types.ts";
import type { DueCheck, Measurement } from "../plan/types.ts";
import type { CheckFetch } from "./dial.ts";
import type { MeasureOptions } from "./http.ts";
import { describeRequestError, discardBody, formatMs, request } from "./request.ts";

type Outcome = Omit<Measurement, "name" | "time">;

export async function measureWarmup(
  due: DueCheck,
  now: () => Date,
  options: MeasureOptions = {},
  clock: () => number = () => performance.now(),
): Promise<Measurement> {
  const outcome = await observeWarmup(due, options.send, clock);
  return { name: due.check.name, ...outcome, time: now().toISOString() };
}

async function observeWarmup(
  due: DueCheck,
  send: CheckFetch | undefined,
  clock: () => number,
): Promise<Outcome> {
  const warmup = due.check.warmup;
  if (!warmup || !due.url) return { phase: "Error", message: "not a warm-up check" };
  const count = warmup.requests ?? 10;
  const method = warmup.method ?? "POST";
  const expectStatus = warmup.expectStatus ?? 200;
  const latencies: number[] = [];
  let failed = 0;
  let firstFailure: string | undefined;
  for (let i = 0; i < count; i++) {
    const started = clock();
    const problem = await sendOne(due, method, expectStatus, send);
    latencies.push(clock() - started);
    if (problem !== undefined) {
      failed++;
      firstFailure ??= `request ${i + 1}: ${problem}`;
    }
  }
  const result = summarize(latencies, failed);
  const value = `${count - failed}/${count} ok, p50 ${formatLatency(result.p50Ms)}, p95 ${formatLatency(result.p95Ms)}, max ${formatLatency(result.maxMs)}`;
  const allowed = warmup.maxFailures ?? 0;
  if (failed > allowed)
    return {
      phase: "Failed",
      value,
      warmup: result,
      message: `${failed} of ${count} warm-up requests failed (at most ${allowed} may); first: ${firstFailure}`,
    };
  return { phase: "Successful", value, warmup: result };
}

/** Sends one warm-up request; what went wrong, or undefined. */
async function sendOne(
  due: DueCheck,
  method: "GET" | "POST",
  expectStatus: number,
  send: CheckFetch | undefined,
): Promise<string | undefined> {
  const url = due.url!;
  const headers = new Headers(due.check.warmup?.headers ?? {});
  const body = method === "POST" ? (due.body ?? "") : undefined;
  if (body !== undefined && !headers.has("content-type") && looksLikeJson(body))
    headers.set("content-type", "application/json");
  try {
    const response = await request(url, { method, headers, body }, due.timeoutMs, send);
    await discardBody(response);
    return response.status === expectStatus
      ? undefined
      : `expected status ${expectStatus}, got ${response.status}`;
  } catch (err) {
    return describeRequestError(err, `${method} ${url}`, due.timeoutMs);
  }
}

/** Latency percentiles (nearest rank) in milliseconds, rounded to 0.1 ms. */
export function summarize(latencies: readonly number[], failed: number): WarmupResult {
  const sorted = [...latencies].sort((a, b) => a - b);
  const rank = (p: number) =>
    sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
  const round = (ms: number) => Math.round(ms * 10) / 10;
  const result: WarmupResult = { requests: latencies.length, failed };
  if (sorted.length > 0) {
    result.p50Ms = round(rank(0.5));
    result.p95Ms = round(rank(0.95));
    result.maxMs = round(sorted[sorted.length - 1]!);
  }
  return result;
}

function formatLatency(ms: number | undefined): string {
  if (ms === undefined) return "-";
  return ms < 1000 ? `${Math.round(ms)}ms` : formatMs(Math.round(ms));
}

function looksLikeJson(text: string): boolean {
  try {
    JSON.parse(text);
    return text.trim() !== "";
  } catch {
    return false;
  }
}
