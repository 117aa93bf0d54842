// The signature check: reads the Open Inference Protocol model metadata of the new and the
// stable version, each from its own Service, in one measurement, and compares them
// (signature.ts). Successful when the new version still fits the stable version's clients,
// Failed with the tensors that changed when it does not, Error when either metadata cannot
// be read. Never throws.
import type { DueCheck, Measurement } from "../plan/types.ts";
import type { CheckFetch } from "./dial.ts";
import type { MeasureOptions } from "./http.ts";
import { describeRequestError, MAX_BODY_BYTES, readBody, request } from "./request.ts";
import { compareSignatures, readSignature, type ModelSignature } from "./signature.ts";

type Outcome = Omit<Measurement, "name" | "time">;

/** How many changed tensors a message names before "and N more". */
const CHANGES_SHOWN = 5;

export async function measureSignature(
  due: DueCheck,
  now: () => Date,
  options: MeasureOptions = {},
): Promise<Measurement> {
  const outcome = await observeSignature(due, options.send);
  return { name: due.check.name, ...outcome, time: now().toISOString() };
}

async function observeSignature(due: DueCheck, send: CheckFetch | undefined): Promise<Outcome> {
  if (!due.url) return { phase: "Error", message: "not a signature check" };
  if (!due.stable?.url)
    return {
      phase: "Error",
      message: "there is no stable version to compare with (a signature check needs one)",
    };
  const [candidate, stable] = await Promise.all([
    readMetadata(due.url, due.timeoutMs, send, `the new version ${due.vars.version}`),
    readMetadata(due.stable.url, due.timeoutMs, send, `the stable version ${due.stable.vars.version}`),
  ]);
  if (typeof stable === "string") return { phase: "Error", message: stable };
  if (typeof candidate === "string") return { phase: "Error", message: candidate };
  const comparison = compareSignatures(stable, candidate, due.check.signature?.accept ?? []);
  if (!comparison.compatible)
    return {
      phase: "Failed",
      value: "incompatible",
      message: `the new version's signature does not fit the stable version's clients: ${listed(comparison.incompatible)}`,
    };
  const outcome: Outcome = { phase: "Successful", value: "compatible" };
  if (comparison.compatibleChanges.length > 0)
    outcome.message = `compatible changes: ${listed(comparison.compatibleChanges)}`;
  return outcome;
}

/** GET the model metadata; its signature, or why there is none. */
async function readMetadata(
  url: string,
  timeoutMs: number,
  send: CheckFetch | undefined,
  who: string,
): Promise<ModelSignature | string> {
  const what = `GET ${url}`;
  let status: number;
  let text: string;
  try {
    const response = await request(
      url,
      { method: "GET", headers: { accept: "application/json" } },
      timeoutMs,
      send,
    );
    status = response.status;
    let truncated: boolean;
    ({ text, truncated } = await readBody(response));
    if (truncated)
      return `${who}'s model metadata (${what}) is larger than ${MAX_BODY_BYTES / (1024 * 1024)} MiB`;
  } catch (err) {
    return `${who}'s model metadata: ${describeRequestError(err, what, timeoutMs)}`;
  }
  if (status !== 200) return `${who}'s model metadata: ${what} answered ${status}, expected 200`;
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return `${who}'s model metadata (${what}) is not JSON`;
  }
  const signature = readSignature(json);
  return typeof signature === "string" ? `${who}: ${signature}` : signature;
}

function listed(lines: readonly string[]): string {
  const shown = lines.slice(0, CHANGES_SHOWN).join("; ");
  return lines.length > CHANGES_SHOWN ? `${shown}; and ${lines.length - CHANGES_SHOWN} more` : shown;
}
