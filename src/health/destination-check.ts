// The destination policy (destination-policy.ts) applied before a check's request, to the
// destination as written; every address its name resolves to is judged when the request
// connects (dial.ts). A denied destination is an Error measurement that names it and the
// setting that would allow it, so it counts toward the failure threshold (rolled back,
// never passed) and nothing is sent.
import type { ModelDeployment } from "../api/types.ts";
import { computeCheckVars, computeDueCheck } from "../plan/checks.ts";
import type { DueCheck } from "../plan/types.ts";
import type { SpecProblem } from "../plan/validate.ts";
import { destinationOfUrl, type DestinationPolicyJudge } from "./destination-policy.ts";

/**
 * Why the check may not go where it points as written, or undefined when it may. What its
 * name resolves to is judged when the request connects (dial.ts, judgeAddress), with the
 * resolver the requests use.
 */
export function deniedDestination(due: DueCheck, judge: DestinationPolicyJudge): string | undefined {
  const target = due.check.http ? due.url : due.check.prometheus?.address;
  if (!target) return undefined;
  const dest = destinationOfUrl(target, due.vars.namespace);
  if (!dest) return undefined; // not a URL: the provider says so
  const written = judge.judge(dest);
  if (!written.allowed) return `destination ${target} is denied by the platform's policy: ${written.reason}`;
  return undefined;
}

/**
 * The checks whose destination the policy denies as written (their templates filled for the
 * spec's version on its own Service): the spec cannot be measured as it stands, so it is
 * invalid for this platform (Stalled, InvalidSpec) before anything is sent. Names are not
 * resolved here; what they resolve to is judged before each measurement.
 */
export function computeDestinationProblems(
  md: ModelDeployment,
  judge: DestinationPolicyJudge,
): SpecProblem[] {
  const problems: SpecProblem[] = [];
  const version = md.spec?.model?.version;
  if (typeof version !== "string") return problems;
  const vars = computeCheckVars(md, version);
  (md.spec?.healthChecks?.checks ?? []).forEach((check, i) => {
    const field = check.http ? (check.http.url !== undefined ? "http.url" : undefined) : "prometheus.address";
    if (!field) return; // the default target: the version's own Service
    let due: DueCheck;
    try {
      due = computeDueCheck(md, check, vars);
    } catch {
      return; // validation reports what is wrong with it
    }
    const target = check.http ? due.url : check.prometheus?.address;
    const dest = target ? destinationOfUrl(target, vars.namespace) : undefined;
    if (!dest) return;
    const verdict = judge.judge(dest);
    if (!verdict.allowed)
      problems.push({
        path: `spec.healthChecks.checks[${i}].${field}`,
        message: `destination ${target} is denied by the platform's policy: ${verdict.reason}`,
      });
  });
  return problems;
}
