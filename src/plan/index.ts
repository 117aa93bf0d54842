// The pure planner: naming, validation, replica arithmetic, desired children, which checks
// are due, the rollout state machine and its traffic routers.
export * from "./types.ts";
export * from "./duration.ts";
export * from "./naming.ts";
export * from "./spec.ts";
export * from "./template.ts";
export * from "./validate.ts";
export * from "./canary.ts";
export * from "./capacity.ts";
export {
  computeCanaryStepPlan,
  computeCapacityWalk,
  type CapacityStage,
  type CapacityWalk,
} from "./capacity-walk.ts";
export * from "./children.ts";
export * from "./conditions.ts";
export * from "./checks.ts";
export * from "./tracks.ts";
export * from "./routers/router.ts";
export { computeTraffic, deploymentOfPod, versionOfPod, serviceRouter } from "./routers/service.ts";
export * from "./plan.ts";
