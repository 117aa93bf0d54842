// Which health checks are due now, with defaults filled in and their targets resolved.
import type { CheckStatus, HealthCheck, ModelDeployment } from "../api/types.ts";
import { childName, computeRevision } from "./naming.ts";
import { findTrackDeployment } from "./tracks.ts";
import { checkIntervalMs, checksOf, checkTimeoutMs, servicePortOf } from "./spec.ts";
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
export function computeDueCheck(md: ModelDeployment, check: HealthCheck, vars: CheckVars): DueCheck {
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
  if (check.prometheus) due.query = fillTemplate(check.prometheus.query, vars);
  return due;
}

/** Milliseconds of an RFC 3339 time, NaN when absent or unreadable. */
export function timeMs(t: string | undefined): number {
  return t === undefined ? NaN : Date.parse(t);
}

/**
 * When `check` is next due, in ms since the epoch: at once when it has no measurement since
 * the rollout started or since the current step's replicas became available
 * (rollout.stepReadyAt), else its last measurement + interval.
 */
export function checkDueAt(md: ModelDeployment, check: HealthCheck, last: CheckStatus | undefined): number {
  const rollout = md.status?.rollout;
  const measured = timeMs(last?.lastMeasured);
  const since = Math.max(timeMs(rollout?.startedAt) || 0, timeMs(rollout?.stepReadyAt) || 0);
  if (Number.isNaN(measured) || measured < since) return since;
  return measured + checkIntervalMs(md, check);
}

/**
 * The configured checks that are due at `now`: a rollout is under way (not yet switched, not
 * promoted with promote-full), its candidate (the Deployment of the rollout's version at its
 * revision, measured through its own Service) has at least one available replica, and the
 * check has no measurement since the rollout started or since the current step's replicas
 * became available, or its interval has passed. Checks keep being measured while a rollout
 * is paused, so a failing candidate is still rolled back.
 */
export function planChecks(md: ModelDeployment, observed: Observed, now: Date): DueCheck[] {
  const rollout = md.status?.rollout;
  if (!rollout || rollout.switchedAt !== undefined || rollout.promote === "Full") return [];
  if (rollout.version !== md.spec?.model?.version || rollout.revision !== computeRevision(md)) return [];
  if (md.status?.aborted?.version === rollout.version && md.status.aborted.revision === rollout.revision)
    return [];
  const candidate = findTrackDeployment(observed.deployments, rollout.version, rollout.revision);
  if (!candidate?.metadata?.name) return [];
  if (!hasMeasurablePod(md, observed, candidate, rollout.version, rollout.revision)) return [];
  if (validateModelDeployment(md).length > 0) return [];
  const vars = computeCheckVars(md, rollout.version, candidate.metadata.name);
  const statuses = md.status?.checks ?? [];
  const due: DueCheck[] = [];
  for (const check of checksOf(md)) {
    const last = statuses.find((s) => s.name === check.name);
    if (checkDueAt(md, check, last) <= now.getTime()) due.push(computeDueCheck(md, check, vars));
  }
  return due;
}
