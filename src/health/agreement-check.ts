// The prediction agreement check: reads a request set from a ConfigMap in the
// ModelDeployment's namespace (a direct get, no cache), sends each request to the new and to
// the stable version, each through its own Service (the signature check's path: the checks'
// fetch, its DNS server and the platform's address policy), compares the answers
// (agreement.ts) and judges the share that agrees with the check's successCondition.
//
// Bounded: at most MAX_AGREEMENT_REQUESTS requests of at most 64 KiB, answers of at most
// MAX_ANSWER_BYTES, CONCURRENT_REQUESTS pairs in flight, and the check's timeout for the
// whole measurement. Successful or Failed by the condition; Error when there is nothing to
// compare with (no stable version, the set cannot be read, the stable version did not
// answer, the timeout passed first). Never throws.
import type { AgreementResult, Disagreement } from "../api/types.ts";
import type { DueCheck, Measurement } from "../plan/types.ts";
import {
  compareJson,
  compareOipOutputs,
  DEFAULT_TOLERANCE,
  parseAnswer,
  readOipOutputs,
  readRequestSet,
  requestId,
  resolvePointer,
  type Tolerance,
  type Verdict,
} from "./agreement.ts";
import { defaultConditionPool } from "./condition-pool.ts";
import type { CheckFetch } from "./dial.ts";
import type { MeasureOptions } from "./http.ts";
import { describeRequestError, formatMs, readBody, request } from "./request.ts";

type Outcome = Omit<Measurement, "name" | "time">;

/** Reads a ConfigMap: undefined when there is none; throws what the API server said otherwise. */
export type ConfigMapReader = (
  namespace: string,
  name: string,
) => Promise<{ data?: Record<string, string> } | undefined>;

/** Most bytes of one answer that are read. */
export const MAX_ANSWER_BYTES = 256 * 1024;
/** Requests in flight at once per version. */
const CONCURRENT_REQUESTS = 4;
/** What status keeps of a request, a reason and each answer. */
const EXCERPT_CHARS = 256;

export async function measureAgreement(
  due: DueCheck,
  now: () => Date,
  options: MeasureOptions = {},
  clock: () => number = () => performance.now(),
): Promise<Measurement> {
  const outcome = await observeAgreement(due, options, clock);
  return { name: due.check.name, ...outcome, time: now().toISOString() };
}

/** One request's two answers, as far as they came. */
interface Answered {
  /** Why the stable version's answer cannot be compared. */
  stableProblem?: string;
  verdict?: Verdict;
  stableText?: string;
  candidateText?: string;
}

async function observeAgreement(
  due: DueCheck,
  options: MeasureOptions,
  clock: () => number,
): Promise<Outcome> {
  const spec = due.check.agreement;
  if (!spec || !due.url) return { phase: "Error", message: "not an agreement check" };
  if (!due.stable?.url)
    return {
      phase: "Error",
      message: "there is no stable version to compare with (an agreement check needs one)",
    };
  const requests = await readRequests(due, options.configMaps);
  if (typeof requests === "string") return { phase: "Error", message: requests };

  const deadline = clock() + due.timeoutMs;
  const tolerance: Tolerance = {
    absolute: spec.tolerance?.absolute ?? DEFAULT_TOLERANCE.absolute,
    relative: spec.tolerance?.relative ?? DEFAULT_TOLERANCE.relative,
  };
  const answered: (Answered | undefined)[] = new Array<Answered | undefined>(requests.length);
  let next = 0;
  const worker = async () => {
    while (next < requests.length) {
      const i = next++;
      const left = Math.floor(deadline - clock());
      if (left <= 0) return;
      const a = await askBoth(due, requests[i], left, tolerance, options.send);
      // A request cut short by the measurement's deadline was not answered in time: said below.
      const cut = (a.stableProblem !== undefined || a.verdict?.agree === false) && clock() >= deadline;
      if (!cut) answered[i] = a;
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENT_REQUESTS, requests.length) }, worker));

  const stableFailed = answered.findIndex((a) => a?.stableProblem !== undefined);
  if (stableFailed >= 0)
    return {
      phase: "Error",
      message: `the stable version ${due.stable.vars.version}'s answer to request ${stableFailed}${idText(requests[stableFailed])} cannot be compared: ${answered[stableFailed]!.stableProblem}`,
    };
  const done = answered.filter((a) => a?.verdict !== undefined).length;
  if (done < requests.length)
    return {
      phase: "Error",
      message: `${done} of ${requests.length} requests were answered by both versions within the check's timeout of ${formatMs(due.timeoutMs)}: give the check a longer timeout, or send fewer requests`,
    };

  const result = summarize(requests, answered as Answered[]);
  const value = formatShare(result.agreement ?? 0);
  const counts = `${result.agreed} of ${result.compared} requests agree`;
  const first = result.firstDisagreement;
  const firstText = first
    ? `; first disagreement: request ${first.index}${first.id !== undefined ? ` (id ${JSON.stringify(first.id)})` : ""}: ${first.reason}`
    : "";
  const expression = spec.successCondition;
  const outcome = await (options.conditions ?? defaultConditionPool()).evaluate({
    kind: "agreement",
    expression,
    agreement: result.agreement ?? 0,
    agreed: result.agreed,
    compared: result.compared,
  });
  if (!outcome.ok) return { phase: "Error", value, agreement: result, message: outcome.error };
  if (!outcome.value)
    return {
      phase: "Failed",
      value,
      agreement: result,
      message: `successCondition \`${expression}\` was false for agreement ${value} (${counts})${firstText}`,
    };
  return { phase: "Successful", value, agreement: result, message: `${counts}${firstText}` };
}

/** The request set the check names, or why it cannot be used. */
async function readRequests(
  due: DueCheck,
  configMaps: ConfigMapReader | undefined,
): Promise<unknown[] | string> {
  const ref = due.check.agreement!.requests.configMapKeyRef;
  const namespace = due.vars.namespace;
  const what = `the request set (ConfigMap ${ref.name}, key ${ref.key})`;
  if (!configMaps) return `${what} cannot be read: this operator reads no ConfigMaps`;
  let cm: { data?: Record<string, string> } | undefined;
  try {
    cm = await configMaps(namespace, ref.name);
  } catch (err) {
    const status = (err as { statusCode?: unknown }).statusCode;
    if (status === 403)
      return `${what} cannot be read: the operator may not get ConfigMaps in namespace ${namespace} (its RBAC needs get on configmaps)`;
    return `${what} cannot be read: ${err instanceof Error ? err.message : String(err)}`;
  }
  if (!cm) return `${what}: there is no ConfigMap ${ref.name} in namespace ${namespace}`;
  const text = cm.data?.[ref.key];
  if (text === undefined) {
    const keys = Object.keys(cm.data ?? {});
    return `${what}: ConfigMap ${ref.name} has no key ${ref.key} (${keys.length ? `its keys: ${keys.slice(0, 10).join(", ")}` : "it has no data"})`;
  }
  const set = readRequestSet(text, (due.check.agreement!.protocol ?? "OpenInference") === "OpenInference");
  return typeof set === "string" ? `${what} ${set}` : set;
}

/** Sends one request to both versions at once and compares what they answer. */
async function askBoth(
  due: DueCheck,
  body: unknown,
  timeoutMs: number,
  tolerance: Tolerance,
  send: CheckFetch | undefined,
): Promise<Answered> {
  const spec = due.check.agreement!;
  const text = JSON.stringify(body);
  const [stable, candidate] = await Promise.all([
    ask(due.stable!.url!, text, spec.headers, timeoutMs, send),
    ask(due.url!, text, spec.headers, timeoutMs, send),
  ]);
  if ("problem" in stable) return { stableProblem: stable.problem };
  const stableText = stable.text;
  if ("problem" in candidate)
    return { stableText, verdict: { agree: false, reason: `the new version: ${candidate.problem}` } };
  const compared = compareAnswers(spec, stable.value, candidate.value, tolerance);
  if ("stableProblem" in compared) return { stableProblem: compared.stableProblem };
  return { stableText, candidateText: candidate.text, verdict: compared };
}

/** Compares two parsed answers; why the stable version's answer cannot be compared, when it cannot. */
function compareAnswers(
  spec: { protocol?: "OpenInference" | "JSON"; outputs?: string[]; answerPath?: string },
  stable: unknown,
  candidate: unknown,
  tolerance: Tolerance,
): Verdict | { stableProblem: string } {
  if ((spec.protocol ?? "OpenInference") === "OpenInference") {
    const s = readOipOutputs(stable);
    if (typeof s === "string") return { stableProblem: `its answer ${s}` };
    const missing = (spec.outputs ?? []).find((name) => !s.has(name));
    if (missing !== undefined) return { stableProblem: `its answer has no output ${missing} (outputs)` };
    const c = readOipOutputs(candidate);
    if (typeof c === "string") return { agree: false, reason: `the new version's answer ${c}` };
    return compareOipOutputs(s, c, tolerance, spec.outputs);
  }
  const pointer = spec.answerPath ?? "";
  const s = resolvePointer(stable, pointer);
  if (!s.found) return { stableProblem: `its answer has nothing at ${pointer} (answerPath)` };
  const c = resolvePointer(candidate, pointer);
  if (!c.found) return { agree: false, reason: `the new version's answer has nothing at ${pointer}` };
  return compareJson(s.value, c.value, tolerance, pointer);
}

type Asked = { text: string; value: unknown } | { problem: string };

/** POSTs one request body; the parsed answer, or what went wrong. */
async function ask(
  url: string,
  body: string,
  headers: Record<string, string> | undefined,
  timeoutMs: number,
  send: CheckFetch | undefined,
): Promise<Asked> {
  const what = `POST ${url}`;
  const h = new Headers(headers ?? {});
  if (!h.has("content-type")) h.set("content-type", "application/json");
  if (!h.has("accept")) h.set("accept", "application/json");
  let status: number;
  let text: string;
  try {
    const response = await request(url, { method: "POST", headers: h, body }, timeoutMs, send);
    status = response.status;
    let truncated: boolean;
    ({ text, truncated } = await readBody(response, MAX_ANSWER_BYTES));
    if (truncated) return { problem: `${what} answered more than ${MAX_ANSWER_BYTES / 1024} KiB` };
  } catch (err) {
    return { problem: describeRequestError(err, what, timeoutMs) };
  }
  if (status !== 200) return { problem: `${what} answered ${status}, expected 200` };
  const parsed = parseAnswer(text);
  if (!parsed.ok) return { problem: `${what} answered something that is not JSON` };
  return { text, value: parsed.value };
}

/** Counts and the first disagreement (in the set's order). */
function summarize(requests: readonly unknown[], answered: readonly Answered[]): AgreementResult {
  const compared = answered.length;
  const agreed = answered.filter((a) => a.verdict?.agree === true).length;
  const result: AgreementResult = { requests: requests.length, compared, agreed };
  if (compared > 0) result.agreement = agreed / compared;
  const i = answered.findIndex((a) => a.verdict?.agree === false);
  if (i >= 0) {
    const a = answered[i]!;
    const first: Disagreement = {
      index: i,
      reason: cut((a.verdict as { reason: string }).reason),
      request: cut(JSON.stringify(requests[i])),
    };
    const id = requestId(requests[i]);
    if (id !== undefined) first.id = cut(id);
    if (a.stableText !== undefined) first.stableAnswer = cut(a.stableText);
    if (a.candidateText !== undefined) first.candidateAnswer = cut(a.candidateText);
    result.firstDisagreement = first;
  }
  return result;
}

function cut(text: string): string {
  const line = text.replace(/\s+/g, " ").trim();
  return line.length > EXCERPT_CHARS ? `${line.slice(0, EXCERPT_CHARS - 1)}…` : line;
}

function idText(body: unknown): string {
  const id = requestId(body);
  return id === undefined ? "" : ` (id ${JSON.stringify(id)})`;
}

/** 0.98, 0.9, 1: at most 4 decimals. */
function formatShare(share: number): string {
  return String(Math.round(share * 10_000) / 10_000);
}
