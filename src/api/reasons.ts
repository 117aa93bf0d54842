// Every reason string the operator writes into a condition or an Event, in one place.
// CamelCase, as Kubernetes reasons are.

export const Reasons = {
  // Conditions
  Ready: "Ready",
  RolloutInProgress: "RolloutInProgress",
  WaitingForAvailable: "WaitingForAvailable",
  Paused: "Paused",
  InvalidSpec: "InvalidSpec",
  HealthCheckFailed: "HealthCheckFailed",
  ProgressDeadlineExceeded: "ProgressDeadlineExceeded",
  Aborted: "Aborted",
  RolledBack: "RolledBack",
  // The TrafficRouted condition (spec.traffic)
  TrafficRouted: "TrafficRouted",
  GatewayAPIMissing: "GatewayAPIMissing",
  RouteNotAccepted: "RouteNotAccepted",
  RouteRefsNotResolved: "RouteRefsNotResolved",
  RouteNotFound: "RouteNotFound",
  RouteRuleNotFound: "RouteRuleNotFound",
  InferencePoolAPIMissing: "InferencePoolAPIMissing",
  InferencePoolNotAccepted: "InferencePoolNotAccepted",
  // Adoption of an existing Deployment (spec.workloadRef)
  Adopting: "Adopting",
  AdoptionRefused: "AdoptionRefused",
  // Events
  VersionCreated: "VersionCreated",
  RolloutStarted: "RolloutStarted",
  StepCompleted: "StepCompleted",
  WeightChanged: "WeightChanged",
  PauseStarted: "PauseStarted",
  HeaderRouteSet: "HeaderRouteSet",
  MirrorRouteSet: "MirrorRouteSet",
  TrafficNotRouted: "TrafficNotRouted",
  Promoted: "Promoted",
  TrafficSwitched: "TrafficSwitched",
  ScaledDown: "ScaledDown",
  RolloutSuperseded: "RolloutSuperseded",
  RolloutReverted: "RolloutReverted",
  CheckFailed: "CheckFailed",
  DryRunCheckFailed: "DryRunCheckFailed",
  ActionAccepted: "ActionAccepted",
  ActionRefused: "ActionRefused",
  VersionDeleted: "VersionDeleted",
  ApplyFailed: "ApplyFailed",
  SpecWarning: "SpecWarning",
  AdoptionStarted: "AdoptionStarted",
  AdoptedDeploymentScaled: "AdoptedDeploymentScaled",
  AdoptionCompleted: "AdoptionCompleted",
  AdoptionReleased: "AdoptionReleased",
} as const;

export type Reason = (typeof Reasons)[keyof typeof Reasons];
