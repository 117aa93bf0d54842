// Names fixed by the API contract (shared design, api.md): group, kind, labels,
// annotations, condition types. Reason strings live in reasons.ts.

export const GROUP = "mlops.dev";
export const VERSION = "v1alpha1";
export const API_VERSION = `${GROUP}/${VERSION}`;
export const KIND = "ModelDeployment";
export const PLURAL = "modeldeployments";
export const OPERATOR_NAME = "model-rollout-operator";
/** The server-side-apply field manager of every write the operator makes. */
export const FIELD_MANAGER = OPERATOR_NAME;

export const LABEL_MODEL = "mlops.dev/model";
export const LABEL_VERSION = "mlops.dev/version";
/** The revision (hash of pod template and model) of a version's pods, in their labels and selectors. */
export const LABEL_REVISION = "mlops.dev/revision";
export const LABEL_MANAGED_BY = "app.kubernetes.io/managed-by";
/** Which child a Service is: "version" (one version's own), "clients" or "preview". */
export const LABEL_ROLE = "mlops.dev/role";
export const ANNOTATION_ACTION = "mlops.dev/action";
/**
 * spec.strategy.canary.readinessGate: the pod readiness gate's condition type, which the
 * operator sets on each pod (pods/status), and the label of the pods that carry the gate
 * (the operator watches only those pods).
 */
export const CONDITION_ADMITTED = "mlops.dev/admitted";
export const LABEL_READINESS_GATE = "mlops.dev/readiness-gate";
/**
 * The shard key of a ModelDeployment (docs/sharding.md): an operator started with
 * --watch-label-selector=mlops.dev/shard=NAME reconciles only those labelled NAME, the
 * default instance (--watch-label-selector=!mlops.dev/shard) those without the label.
 */
export const LABEL_SHARD = "mlops.dev/shard";
/** Hash of what a version's pods run (template + model), on each version's Deployment. */
export const ANNOTATION_REVISION = "mlops.dev/revision";

export const CONDITION_READY = "Ready";
export const CONDITION_RECONCILING = "Reconciling";
export const CONDITION_STALLED = "Stalled";
/** With spec.traffic: True while the route carries the traffic (its parents accepted it). */
export const CONDITION_TRAFFIC_ROUTED = "TrafficRouted";

export const ACTIONS = ["promote", "promote-full", "abort", "retry", "pause", "resume", "rollback"] as const;
export type Action = (typeof ACTIONS)[number];

export const ENV_MODEL_NAME = "MODEL_NAME";
export const ENV_MODEL_VERSION = "MODEL_VERSION";
export const ENV_MODEL_URI = "MODEL_URI";
export const ENV_MODEL_FORMAT = "MODEL_FORMAT";
