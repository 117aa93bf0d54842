// The spec with the CRD's defaults filled in. The API server applies these defaults on
// write; a manifest read from a file (the kubectl plugin) may not have them.
import type { HealthCheck, ModelDeployment } from "../api/types.ts";
import { parseDuration } from "./duration.ts";

interface ContainerPortLike {
  name?: string;
  containerPort: number;
}

export const DEFAULT_REPLICAS = 1;
export const DEFAULT_SERVICE_PORT = 80;
export const DEFAULT_TARGET_PORT = 8080;
export const DEFAULT_PROGRESS_DEADLINE_SECONDS = 600;
export const DEFAULT_REVISION_HISTORY_LIMIT = 3;
export const DEFAULT_SCALE_DOWN_DELAY_SECONDS = 30;
export const DEFAULT_CHECK_INTERVAL = "10s";
export const DEFAULT_FAILURE_THRESHOLD = 3;
export const DEFAULT_CHECK_TIMEOUT = "5s";
/** How long a judge with inconclusive: Wait may stay Inconclusive before it counts as failing. */
export const DEFAULT_INCONCLUSIVE_TIMEOUT = "10m";
/** Most history entries kept in status. */
export const HISTORY_LIMIT = 20;

export function replicasOf(md: ModelDeployment): number {
  return md.spec.replicas ?? DEFAULT_REPLICAS;
}

export function servicePortOf(md: ModelDeployment): number {
  return md.spec.service?.port ?? DEFAULT_SERVICE_PORT;
}

/** The first port of the first container: its name if it has one, else its number. */
export function firstContainerPort(
  ports: readonly ContainerPortLike[] | undefined,
): number | string | undefined {
  const first = ports?.[0];
  if (!first) return undefined;
  return first.name ? first.name : first.containerPort;
}

/** spec.service.targetPort, else the first port of the first container, else 8080. */
export function targetPortOf(md: ModelDeployment): number | string {
  return (
    md.spec.service?.targetPort ??
    firstContainerPort(md.spec.template?.spec?.containers?.[0]?.ports) ??
    DEFAULT_TARGET_PORT
  );
}

export function progressDeadlineMsOf(md: ModelDeployment): number {
  return (md.spec.progressDeadlineSeconds ?? DEFAULT_PROGRESS_DEADLINE_SECONDS) * 1000;
}

export function revisionHistoryLimitOf(md: ModelDeployment): number {
  return md.spec.revisionHistoryLimit ?? DEFAULT_REVISION_HISTORY_LIMIT;
}

export function strategyOf(md: ModelDeployment): "Canary" | "BlueGreen" {
  return md.spec.strategy?.blueGreen && !md.spec.strategy?.canary ? "BlueGreen" : "Canary";
}

export function previewReplicasOf(md: ModelDeployment): number {
  const total = replicasOf(md);
  return Math.min(md.spec.strategy?.blueGreen?.previewReplicas ?? total, total);
}

export function scaleDownDelayMsOf(md: ModelDeployment): number {
  return (md.spec.strategy?.blueGreen?.scaleDownDelaySeconds ?? DEFAULT_SCALE_DOWN_DELAY_SECONDS) * 1000;
}

/**
 * Is `check` measured, and does it gate, in this stage of a blue/green rollout: before the
 * switch (promotion Before, the default, or BeforeAndAfter) or after it (After or
 * BeforeAndAfter)? A canary never switches: all its checks are Before.
 */
export function checkRunsInStage(check: HealthCheck, switched: boolean): boolean {
  const when = check.promotion ?? "Before";
  return switched ? when !== "Before" : when !== "After";
}

/** A blue/green spec with checks that run after the switch. */
export function hasPostPromotionChecks(md: ModelDeployment): boolean {
  return strategyOf(md) === "BlueGreen" && checksOf(md).some((c) => checkRunsInStage(c, true));
}

/** A judge's inconclusiveTimeout in ms (inconclusive: Wait). */
export function inconclusiveTimeoutMs(check: HealthCheck): number {
  return parseDuration(check.prometheus?.judge?.inconclusiveTimeout ?? DEFAULT_INCONCLUSIVE_TIMEOUT);
}

/** The configured health checks. */
export function checksOf(md: ModelDeployment): readonly HealthCheck[] {
  return md.spec.healthChecks?.checks ?? [];
}

export function checkIntervalMs(md: ModelDeployment, check: HealthCheck): number {
  return parseDuration(check.interval ?? md.spec.healthChecks?.interval ?? DEFAULT_CHECK_INTERVAL);
}

export function checkFailureThreshold(md: ModelDeployment, check: HealthCheck): number {
  return check.failureThreshold ?? md.spec.healthChecks?.failureThreshold ?? DEFAULT_FAILURE_THRESHOLD;
}

export function checkTimeoutMs(check: HealthCheck): number {
  return parseDuration(check.timeout ?? DEFAULT_CHECK_TIMEOUT);
}

/** spec.model.name, defaulting to metadata.name. */
export function modelNameOf(md: ModelDeployment): string {
  return md.spec.model.name ?? md.metadata?.name ?? "";
}
