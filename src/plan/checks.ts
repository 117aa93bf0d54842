// Which health checks are due now, with defaults filled in and their targets resolved.
import type { V1Deployment } from "@kubernetes/client-node";
import type { CheckStatus, HealthCheck, ModelDeployment } from "../api/types.ts";
import { childName, computeRevision } from "./naming.ts";
import { findTrackDeployment } from "./tracks.ts";
import {
  checkIntervalMs,
  checkRunsInStage,
  checksOf,
  checkTimeoutMs,
  hasPostPromotionChecks,
  modelNameOf,
  servicePortOf,
} from "./spec.ts";
import { hasMeasurablePod } from "./readiness-gate.ts";
import { fillTemplate } from "./template.ts";
import { validateModelDeployment } from "./validate.ts";
import type { CheckVars, DueCheck, Observed } from "./types.ts";

/** The template variables of checks while `version` is measured on its track's Service `service` (default NAME-V). */
export function computeCheckVars(md: ModelDeployment, version: string, service?: string): CheckVars {
  const name = md.metadata?.name ?? "";
  return {
    name,
    namespace: md.metadata?.namespace ?? "default",
    version,
    service: service ?? childName(name, version),
  };
}

/**
 * A check with its target resolved. http with `path`: http://SERVICE.NAMESPACE.svc:PORT/PATH,
 * PORT the check's port when it is a number, else spec.service.port (a container port name
 * is reached through the Service's port); http with `url`, body and a Prometheus query:
 * templates filled.
 */
export function computeDueCheck(
  md: ModelDeployment,
  check: HealthCheck,
  vars: CheckVars,
  stableVars?: CheckVars,
): DueCheck {
  const due: DueCheck = { check, vars, timeoutMs: checkTimeoutMs(check) };
  const http = check.http;
  if (http) {
    if (http.url !== undefined) due.url = fillTemplate(http.url, vars);
    else {
      const port = typeof http.port === "number" ? http.port : servicePortOf(md);
      due.url = `http://${vars.service}.${vars.namespace}.svc:${port}${http.path ?? "/"}`;
    }
    if (http.body !== undefined) due.body = fillTemplate(http.body, vars);
  }
  if (check.warmup) {
    const port = typeof check.warmup.port === "number" ? check.warmup.port : servicePortOf(md);
    due.url = `http://${vars.service}.${vars.namespace}.svc:${port}${check.warmup.path}`;
    if (check.warmup.body !== undefined) due.body = fillTemplate(check.warmup.body, vars);
  }
  if (check.signature) {
    const port = typeof check.signature.port === "number" ? check.signature.port : servicePortOf(md);
    const path = `/v2/models/${encodeURIComponent(modelNameOf(md))}`;
    due.url = `http://${vars.service}.${vars.namespace}.svc:${port}${path}`;
    if (stableVars)
      due.stable = {
        vars: stableVars,
        url: `http://${stableVars.service}.${stableVars.namespace}.svc:${port}${path}`,
      };
  }
  if (check.agreement) {
    const a = check.agreement;
    const port = typeof a.port === "number" ? a.port : servicePortOf(md);
    const path = a.path ?? `/v2/models/${encodeURIComponent(modelNameOf(md))}/infer`;
    due.url = `http://${vars.service}.${vars.namespace}.svc:${port}${path}`;
    if (stableVars)
      due.stable = {
        vars: stableVars,
        url: `http://${stableVars.service}.${stableVars.namespace}.svc:${port}${path}`,
      };
  }
  if (check.prometheus) {
    due.query = fillTemplate(check.prometheus.query, vars);
    if (comparesWithStable(check) && stableVars)
      due.stable = { vars: stableVars, query: fillTemplate(check.prometheus.query, stableVars) };
  }
  return due;
}

/** A check measured for the stable version too, in the same measurement (a judge always is). */
export function comparesWithStable(check: HealthCheck): boolean {
  return check.prometheus?.compareWithStable === true || check.prometheus?.judge !== undefined;
}

/**
 * The template variables of the stable version, measured on its own track's Service
 * (NAME-V, or NAME-V-REVISION); undefined when the ModelDeployment has no stable version yet.
 */
export function computeStableCheckVars(md: ModelDeployment, observed: Observed): CheckVars | undefined {
  const version = md.status?.stableVersion;
  if (version === undefined) return undefined;
  const track = findTrackDeployment(observed.deployments, version, md.status?.stableRevision);
  return computeCheckVars(md, version, track?.metadata?.name);
}

/** Milliseconds of an RFC 3339 time, NaN when absent or unreadable. */
export function timeMs(t: string | undefined): number {
  return t === undefined ? NaN : Date.parse(t);
}

/**
 * When `check` is next due, in ms since the epoch: at once when it has no measurement since
 * the rollout started or since the current step's replicas became available
 * (rollout.stepReadyAt), else its last measurement + interval; a warm-up that succeeded since
 * then: never (Infinity).
 */
export function checkDueAt(md: ModelDeployment, check: HealthCheck, last: CheckStatus | undefined): number {
  const rollout = md.status?.rollout;
  const measured = timeMs(last?.lastMeasured);
  // After a blue/green switch the checks that run then are due at once.
  const since = Math.max(
    timeMs(rollout?.startedAt) || 0,
    timeMs(rollout?.stepReadyAt) || 0,
    timeMs(rollout?.switchedAt) || 0,
  );
  if (Number.isNaN(measured) || measured < since) return since;
  // A warm-up that succeeded in this step is done until the next step's replicas are ready.
  if (check.warmup && last?.phase === "Successful") return Infinity;
  return measured + checkIntervalMs(md, check);
}

/**
 * The candidate's Deployment while its checks may be measured: a rollout is under way (not
 * promoted with promote-full, not aborted, of the spec's version and revision; after a
 * blue/green switch only while checks run after it), the spec is valid, and the candidate has a pod to measure. planChecks and the
 * requeue time both ask this, so a check is never "due" when nothing would measure it
 * (that would ask for a reconcile at once, again and again).
 */
export function measurableCandidate(md: ModelDeployment, observed: Observed): V1Deployment | undefined {
  const rollout = md.status?.rollout;
  if (!rollout || rollout.promote === "Full") return undefined;
  if (rollout.switchedAt !== undefined && !hasPostPromotionChecks(md)) return undefined;
  if (rollout.version !== md.spec?.model?.version || rollout.revision !== computeRevision(md))
    return undefined;
  if (md.status?.aborted?.version === rollout.version && md.status.aborted.revision === rollout.revision)
    return undefined;
  const candidate = findTrackDeployment(observed.deployments, rollout.version, rollout.revision);
  if (!candidate?.metadata?.name) return undefined;
  if (!hasMeasurablePod(md, observed, candidate, rollout.version, rollout.revision)) return undefined;
  if (validateModelDeployment(md).length > 0) return undefined;
  return candidate;
}

/**
 * The configured checks that are due at `now`: a rollout is under way (not promoted with
 * promote-full; after a blue/green switch only while checks run after it), its candidate (the Deployment of the rollout's version at its
 * revision, measured through its own Service) has at least one available replica, and the
 * check has no measurement since the rollout started or since the current step's replicas
 * became available, or its interval has passed. Checks keep being measured while a rollout
 * is paused, so a failing candidate is still rolled back.
 */
export function planChecks(md: ModelDeployment, observed: Observed, now: Date): DueCheck[] {
  const rollout = md.status?.rollout;
  const candidate = measurableCandidate(md, observed);
  if (!rollout || !candidate?.metadata?.name) return [];
  const switched = rollout.switchedAt !== undefined;
  const vars = computeCheckVars(md, rollout.version, candidate.metadata.name);
  const stableVars = computeStableCheckVars(md, observed);
  const statuses = md.status?.checks ?? [];
  const due: DueCheck[] = [];
  for (const check of checksOf(md)) {
    if (!checkRunsInStage(check, switched)) continue;
    const last = statuses.find((s) => s.name === check.name);
    if (checkDueAt(md, check, last) <= now.getTime()) due.push(computeDueCheck(md, check, vars, stableVars));
  }
  return due;
}
