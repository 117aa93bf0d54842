// Every text the planner writes into an Event, a condition, status.message or history, in one
// place, so that Events and conditions say the same thing the same way. The decisions pass in
// what a text names; versions are named as versionLabel() names them ("1.2.0", or "1.2.0
// (revision abc)" while another revision of it is in play).

/** A version named with its revision, while another revision of it is in play. */
export function versionAtRevision(version: string, revision: string): string {
  return `${version} (revision ${revision})`;
}

/** A version's rollout ended because the spec went back to the stable track. */
export function revertedHistory(sameVersion: boolean, specVersion: string, revision: string): string {
  return sameVersion
    ? `the pod template of ${specVersion} went back to the stable revision ${revision}`
    : `spec.model.version went back to ${specVersion}`;
}

export function revertedEvent(
  sameVersion: boolean,
  specVersion: string,
  revision: string,
  rollout: { label: string; revision: string },
): string {
  return sameVersion
    ? `${revertedHistory(true, specVersion, revision)}: the rollout of revision ${rollout.revision} ended and it scales to 0`
    : `spec.model.version is back to ${specVersion}: the rollout of ${rollout.label} ended and ${rollout.label} scales to 0`;
}

/** Why a rollout was superseded by another track of the spec. */
export function supersededBy(
  sameVersion: boolean,
  rolloutVersion: string,
  specVersion: string,
  revision: string,
): string {
  return sameVersion
    ? `the template of ${rolloutVersion} changed (revision ${revision})`
    : `${specVersion} replaces it`;
}

export function superseded(label: string, why: string): string {
  return `the rollout of ${label} is superseded: ${why}`;
}

export function strategyChanged(strategy: string, specLabel: string): string {
  return `the strategy changed to ${strategy}: the rollout of ${specLabel} starts again from its first step`;
}

export function rolloutStarted(
  start:
    | {
        kind: "template";
        version: string;
        revision: string;
        deployment: string;
        stableRevision: string | undefined;
      }
    | { kind: "version"; version: string; revision: string; stableLabel: string },
  plan: { strategy: "Canary"; steps: number } | { strategy: "BlueGreen"; previewReplicas: number },
): string {
  const how =
    plan.strategy === "Canary"
      ? `canary in ${plan.steps} step(s)`
      : `blue/green with ${plan.previewReplicas} preview replica(s)`;
  const what =
    start.kind === "template"
      ? `a new pod template of ${start.version} (revision ${start.revision}, Deployment ${start.deployment}) beside revision ${start.stableRevision}`
      : `${start.version} (revision ${start.revision}) beside ${start.stableLabel}`;
  return `rolling out ${what}: ${how}`;
}

export function rolledBack(label: string, reason: string, message: string, stableLabel: string): string {
  return `${label} rolled back (${reason}): ${message}; ${stableLabel} serves all traffic`;
}

export function progressDeadline(
  specLabel: string,
  size: number,
  deadlineSeconds: number,
  where: string,
  available: number | undefined,
): string {
  const detail =
    available !== undefined ? `${available}/${size} replicas available` : "its Deployment does not exist";
  return `${specLabel} was not Available at ${size} replica(s) within progressDeadlineSeconds (${deadlineSeconds}s) ${where}: ${detail}`;
}

export function canaryStepWhere(index: number, steps: number): string {
  return index < steps ? `at step ${index + 1}/${steps}` : "for promotion";
}

export function blueGreenStageWhere(stage: number): string {
  return stage === 0 ? "as a preview" : "before the switch";
}

/** A dryRun check at its failure threshold: what it saw and that it gates nothing. */
export function dryRunCheckFailed(
  check: {
    name: string;
    consecutiveFailures?: number | undefined;
    value?: string | undefined;
    message?: string | undefined;
  },
  threshold: number,
): string {
  return `${checkFailed(check, threshold).event} (dry run: ${check.consecutiveFailures ?? threshold} failures in a row would have rolled back; nothing is done)`;
}

export function checkFailed(
  check: {
    name: string;
    consecutiveFailures?: number | undefined;
    value?: string | undefined;
    message?: string | undefined;
  },
  threshold: number,
): { event: string; rollback: string } {
  const seen = check.value !== undefined ? `value ${check.value}` : "no value";
  const detail = `${seen}${check.message ? `: ${check.message}` : ""}`;
  return {
    event: `check ${check.name} saw ${detail}`,
    rollback: `check ${check.name} failed ${check.consecutiveFailures} time(s) in a row (failureThreshold ${threshold}), last saw ${detail}`,
  };
}

// ---- promotion and steps -----------------------------------------------------------------

export function firstVersionHistory(replicas: number): string {
  return `first version, Available at ${replicas} replica(s)`;
}

export function firstVersionPromoted(version: string, replicas: number): string {
  return `${version} is the first version: Available at ${replicas} replica(s), it serves all traffic`;
}

export function promoted(label: string, oldLabel: string | undefined, why: string): string {
  return `${label} promoted${oldLabel !== undefined ? ` (was ${oldLabel})` : ""}: ${why}`;
}

export function canaryPromotion(specLabel: string, replicas: number): string {
  return `${specLabel} is Available at ${replicas} replica(s) and took all traffic`;
}

export function allStepsCompleted(steps: number, specLabel: string, replicas: number): string {
  return `all ${steps} steps completed: ${specLabel} scales to ${replicas} replica(s) for promotion`;
}

export function weightStep(
  index: number,
  steps: number,
  weight: number,
  specLabel: string,
  candidate: number,
  stableLabel: string,
  stable: number,
): string {
  return `step ${index + 1}/${steps}: weight ${weight}%: ${specLabel} scales to ${candidate} replica(s), ${stableLabel} to ${stable} once they are available`;
}

export function pauseStep(index: number, steps: number, duration: string | undefined): string {
  return `step ${index + 1}/${steps}: pause ${duration !== undefined ? `for ${duration}` : "until a promote action"}`;
}

export function previewAvailable(
  specLabel: string,
  size: number,
  autoPromotionSeconds: number | undefined,
): string {
  const next =
    autoPromotionSeconds !== undefined
      ? `promotion in ${autoPromotionSeconds}s unless a check fails`
      : "waiting for a promote action";
  return `preview of ${specLabel} is Available at ${size} replica(s) and every check passed: ${next}`;
}

export function blueGreenScaleUp(specLabel: string, replicas: number): string {
  return `promoting ${specLabel}: it scales to ${replicas} replica(s) before the clients' Service switches`;
}

export function trafficSwitched(stableLabel: string, specLabel: string): string {
  return `the clients' Service switches from ${stableLabel} to ${specLabel}`;
}

export function clientsSelectAlone(specLabel: string): string {
  return `the clients' Service selects ${specLabel} alone`;
}

export function postPromotionChecksPassed(specLabel: string): string {
  return `the clients' Service selects ${specLabel} alone and every check after the switch passed through the scale-down delay`;
}

export function scaledDown(label: string, stableLabel: string): string {
  return `${label} scaled to 0: ${stableLabel} serves all traffic`;
}

// ---- actions -------------------------------------------------------------------------------

export function actionResult(action: string, message: string): string {
  return `${action}: ${message}`;
}

export function noRollout(
  state: { aborted: { label: string; reason: string } } | { firstVersion: true } | { stableLabel: string },
): string {
  if ("aborted" in state)
    return `no rollout in progress: the rollout of ${state.aborted.label} was stopped (${state.aborted.reason}); use retry to start it again`;
  if ("firstVersion" in state) return "no rollout in progress: the first version is still starting";
  return `no rollout in progress: ${state.stableLabel} serves all traffic`;
}

export const actionTexts = {
  unknown: (actions: readonly string[]) => `unknown action; use one of ${actions.join(", ")}`,
  heldBySpec: "the rollout is held by spec.paused: set it to false first",
  paused: "the rollout is paused: resume it first",
  alreadySwitched: (specLabel: string) => `traffic already switched to ${specLabel}`,
  promoteFullUnderWay: "promote-full is already under way",
  promoteFullAfterSwitch: (specLabel: string) =>
    `the checks after the switch are skipped: ${specLabel} is promoted and the old version scales down after scaleDownDelaySeconds`,
  promoteFull: (specLabel: string, replicas: number) =>
    `remaining steps and checks skipped: ${specLabel} scales to ${replicas} replica(s) and takes all traffic once Available`,
  promoteBlueGreen: (specLabel: string) =>
    `${specLabel} is promoted once its preview is Available (checks no longer wait)`,
  promotePause: (index: number, steps: number) => `the pause of step ${index + 1}/${steps} ends`,
  promoteStep: (index: number, steps: number, specLabel: string) =>
    `${index < steps ? `step ${index + 1}/${steps}` : "the final step"} completes as soon as ${specLabel} is Available at its size (checks no longer wait)`,
  abortReason: "aborted by the abort action",
  aborted: (specLabel: string, stableLabel: string) =>
    `${specLabel} scaled to 0, ${stableLabel} serves all traffic; the spec is unchanged (retry starts again)`,
  nothingToRetry: "nothing to retry: no rollout was aborted or rolled back",
  retried: (label: string) => `the rollout of ${label} starts again`,
  alreadyPaused: "the rollout is already paused",
  pausing: (specLabel: string) =>
    `the rollout of ${specLabel} holds where it is (health checks are still measured)`,
  resumedButHeld: "the pause action is lifted, but spec.paused still holds the rollout",
  resumed: (specLabel: string) => `the rollout of ${specLabel} carries on`,
  resumeHeldBySpec: "the rollout is held by spec.paused: set it to false",
  notPaused: "the rollout is not paused",
  invalidSpec: (problems: string) => `the spec is invalid; fix it first (${problems})`,
  // rollback
  nothingPromoted: "no version has been promoted yet",
  noPreviousDeployment: (stableLabel: string, historyLimit: number) =>
    `no version promoted before ${stableLabel} still has a Deployment (revisionHistoryLimit keeps ${historyLimit})`,
  rollbackReason: (targetLabel: string) => `rolled back to ${targetLabel} by the rollback action`,
  rollbackPromoted: (reason: string, stableLabel: string) => `${reason} (was ${stableLabel})`,
  rollbackHold: (reason: string, sameVersion: boolean, target: string, targetRevision: string) =>
    `${reason}: ${sameVersion ? `set the pod template of ${target} back to revision ${targetRevision}` : `change spec.model.version to ${target}`} or retry`,
  rolledBackTo: (targetLabel: string, stableLabel: string, replicas: number) =>
    `${targetLabel} serves again instead of ${stableLabel} (at ${replicas} replica(s))`,
} as const;

// ---- conditions and status.message --------------------------------------------------------

export function invalidSpec(problems: string): string {
  return `the spec is invalid: ${problems}`;
}

export function waitingForFirst(specLabel: string, available: number, replicas: number): string {
  return `waiting for ${specLabel} to be Available: ${available}/${replicas} replica(s) available`;
}

export function stopped(
  aborted: { reason: string; message?: string | undefined },
  label: string,
  stableLabel: string,
  rolledBackReason: string,
): string {
  return aborted.reason === rolledBackReason
    ? `${aborted.message ?? `rolled back to ${stableLabel}`}`
    : `the rollout of ${label} was stopped: ${aborted.message ?? aborted.reason}; ${stableLabel} serves all traffic; change the spec or retry`;
}

export function healthy(label: string, ready: number, replicas: number): string {
  return `version ${label} serves all traffic with ${ready}/${replicas} ready replica(s)`;
}

export function waitingForAvailable(label: string, replicas: number, available: number): string {
  return `waiting for ${label} to be Available at ${replicas} replica(s): ${available} available`;
}

export function heldBy(specPaused: boolean): string {
  return ` (paused by ${specPaused ? "spec.paused" : "the pause action"})`;
}

export function canaryProgress(
  label: string,
  stableLabel: string,
  where:
    | { promoting: { steps: number; replicas: number } }
    | { weight: { index: number; steps: number; weight: number } }
    | { pause: { index: number; steps: number; duration: string | undefined } },
  available: number,
  candidate: number,
  held: string,
): string {
  const at =
    "promoting" in where
      ? `all ${where.promoting.steps} steps done, promoting at ${where.promoting.replicas} replica(s)`
      : "weight" in where
        ? `step ${where.weight.index + 1}/${where.weight.steps}, weight ${where.weight.weight}%`
        : `step ${where.pause.index + 1}/${where.pause.steps}, pause ${where.pause.duration ?? "until promote"}`;
  return `rolling out ${label} beside ${stableLabel}: ${at}; ${available}/${candidate} candidate replica(s) available${held}`;
}

export function blueGreenProgress(
  label: string,
  stableLabel: string,
  stage: "switching" | "checkingAfterSwitch" | { scalingTo: number } | "healthy" | { previewAt: number },
  held: string,
): string {
  const at =
    stage === "switching"
      ? "traffic switching"
      : stage === "checkingAfterSwitch"
        ? "traffic switched; the old version is kept ready while the checks after the switch run"
        : stage === "healthy"
          ? "preview Available and healthy, waiting for promotion"
          : "scalingTo" in stage
            ? `scaling to ${stage.scalingTo} replica(s) before the switch`
            : `preview at ${stage.previewAt} replica(s)`;
  return `rolling out ${label} beside ${stableLabel} (blue/green): ${at}${held}`;
}

/** A setHeaderRoute step began. */
export function headerRouteStep(
  index: number,
  steps: number,
  name: string,
  match: readonly { headerName: string; headerValue: { exact?: string; regex?: string } }[],
  specLabel: string,
  duration: string | undefined,
): string {
  const headers = match
    .map((m) =>
      m.headerValue.regex !== undefined
        ? `${m.headerName}~/${m.headerValue.regex}/`
        : `${m.headerName}=${m.headerValue.exact}`,
    )
    .join(", ");
  return `step ${index + 1}/${steps}: requests with ${headers} go to ${specLabel} (header route ${name}), ${duration !== undefined ? `for ${duration}` : "until promoted"}`;
}

/** A setMirrorRoute step began. */
export function mirrorRouteStep(
  index: number,
  steps: number,
  name: string,
  percentage: number,
  specLabel: string,
  duration: string | undefined,
): string {
  return `step ${index + 1}/${steps}: ${percentage}% of the requests are copied to ${specLabel} (mirror route ${name}; its answers are discarded), ${duration !== undefined ? `for ${duration}` : "until promoted"}`;
}

/** The TrafficRouted condition while the route carries the traffic. */
export function trafficRouted(route: string): string {
  return `the HTTPRoute ${route} carries the traffic and every parent accepted it`;
}
