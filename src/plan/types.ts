// The planner's inputs and outputs. The planner (plan/plan.ts) is PURE: no clock of its
// own, no network, no logger. The reconciler observes, measures the checks that
// planChecks() says are due, calls plan(), and writes what it returns.
import type {
  KubernetesObject,
  V1Deployment,
  V1EndpointSlice,
  V1Pod,
  V1Service,
} from "@kubernetes/client-node";
import type {
  AgreementResult,
  HealthCheck,
  JudgeResult,
  ModelDeployment,
  ModelDeploymentStatus,
  WarmupResult,
} from "../api/types.ts";
import type { Reason } from "../api/reasons.ts";
import type { GRPCRoute, HTTPRoute } from "./routers/httproute.ts";
import type { InferencePool } from "./routers/inference-pool.ts";
import type { PodConditionPatch } from "./readiness-gate.ts";
import type { SpecProblem } from "./validate.ts";

/** What the reconciler read from its caches for one ModelDeployment. Never mutated. */
export interface Observed {
  /** Deployments whose controller ownerReference is this ModelDeployment. */
  deployments: readonly V1Deployment[];
  /** Services whose controller ownerReference is this ModelDeployment. */
  services: readonly V1Service[];
  /** EndpointSlices of the clients' Service (label kubernetes.io/service-name=NAME). */
  endpointSlices: readonly V1EndpointSlice[];
  /**
   * Gateway API routes, for a ModelDeployment with spec.traffic: whether the HTTPRoute API is
   * served by the cluster, and the routes whose controller ownerReference is this
   * ModelDeployment. Undefined: not looked at (no spec.traffic).
   */
  routes?: {
    available: boolean;
    httpRoutes: readonly HTTPRoute[];
    /**
     * spec.traffic.gatewayAPI.httpRouteRef: the route the user owns that it names, as the
     * cache holds it (the operator's own last write laid over it); undefined when the
     * cluster has no route of that name in the ModelDeployment's namespace.
     */
    referenced?: HTTPRoute | undefined;
    /**
     * The route the user owns that status.route still names (with its rule) but the spec no
     * longer references: the operator hands it back on the stable version, once.
     */
    released?: HTTPRoute | undefined;
  };
  /**
   * GRPCRoutes, for a ModelDeployment with spec.traffic: whether the cluster serves
   * grpcroutes.gateway.networking.k8s.io/v1, and the GRPCRoutes whose controller
   * ownerReference is this ModelDeployment (spec.traffic.gatewayAPI.grpcRoute). Undefined:
   * not looked at.
   */
  grpcRoutes?: {
    available: boolean;
    routes: readonly GRPCRoute[];
  };
  /**
   * InferencePools (spec.traffic.gatewayAPI.inferencePool): whether the cluster serves
   * inferencepools.inference.networking.k8s.io/v1, and the pools whose controller
   * ownerReference is this ModelDeployment. Undefined: not looked at.
   */
  pools?: {
    available: boolean;
    inferencePools: readonly InferencePool[];
  };
  /**
   * With spec.strategy.canary.readinessGate: the ModelDeployment's pods that carry the gate
   * (label mlops.dev/readiness-gate, see readiness-gate.ts). Undefined: not looked at.
   */
  pods?: readonly V1Pod[];
  /**
   * spec.workloadRef (and an adoption in status.adoption that is not yet complete): the
   * Deployment it names as the API server has it (undefined: not found), and the Service
   * named like the ModelDeployment when the operator does not own it (undefined: none, or
   * the operator's own). Undefined: not looked at (no adoption).
   */
  workloadRef?: {
    deployment: V1Deployment | undefined;
    foreignClientsService: V1Service | undefined;
  };
}

/** Template variables of checks: {{name}}, {{namespace}}, {{version}}, {{service}}. */
export interface CheckVars {
  name: string;
  namespace: string;
  version: string;
  /** The measured version's own Service name (NAME-V). */
  service: string;
}

/** A health check that is due now, with defaults filled in and its target resolved. */
export interface DueCheck {
  check: HealthCheck;
  vars: CheckVars;
  /** http: the URL to request (templated url, or the version's own Service). */
  url?: string;
  /** http POST body, templated. prometheus: unused. */
  body?: string;
  /** prometheus: the query, templated. */
  query?: string;
  /**
   * A check that compares with the stable version (compareWithStable): the stable version's
   * template variables and its query, templated with them. Absent when there is no stable
   * version to compare with (the measurement is then an Error that says so).
   */
  stable?: {
    vars: CheckVars;
    /** prometheus: the query templated for the stable version. */
    query?: string;
    /** signature: the stable version's model metadata URL (the new version's is `url`); agreement: its inference URL. */
    url?: string;
  };
  timeoutMs: number;
}

/** One measurement of a health check, taken by health/ for the planner. */
export interface Measurement {
  name: string;
  /** Inconclusive: a statistical judge could not tell (too few samples, too much noise). */
  phase: "Successful" | "Failed" | "Error" | "Inconclusive";
  /** What was seen: a status code, a query result (of the new version). */
  value?: string;
  /** compareWithStable: the stable version's value in the same measurement. */
  stableValue?: string;
  /** A statistical judge's result. */
  judge?: JudgeResult;
  /** A warm-up's requests and latencies. */
  warmup?: WarmupResult;
  /** A prediction agreement check's counts and first disagreement. */
  agreement?: AgreementResult;
  message?: string;
  /** RFC 3339 time of the measurement. */
  time: string;
}

export interface PlanInput {
  md: ModelDeployment;
  observed: Observed;
  /** Measurements taken in this reconcile for the checks planChecks() returned. */
  measurements: readonly Measurement[];
  now: Date;
  /**
   * What the platform's settings refuse in a spec that is otherwise valid (a check's
   * destination its policy denies as written): an invalid spec, like validation problems.
   */
  platformProblems?: readonly SpecProblem[];
}

export interface PlannedEvent {
  type: "Normal" | "Warning";
  reason: Reason;
  message: string;
}

export interface ChildRef {
  kind: "Deployment" | "Service" | "HTTPRoute" | "GRPCRoute" | "InferencePool";
  name: string;
}

/**
 * A change of an object the operator does not own (a user's HTTPRoute): written by
 * read-modify-write with the resourceVersion, never by server-side apply, because the lists
 * it changes are atomic and belong to the object's owner.
 */
export interface ObjectEdit {
  kind: "HTTPRoute";
  name: string;
  /**
   * PURE: the object with the operator's part brought to the decision, from the object as
   * observed (or as re-read after a 409 Conflict). Equal content when nothing of the
   * operator's differs, and then nothing is written.
   */
  edit(current: HTTPRoute): HTTPRoute;
}

export interface Plan {
  /**
   * Complete desired children for server-side apply, in the order to apply them. An object
   * that an entry of `edits` names (same kind and name) stands in its place in that order
   * and is written by that edit instead.
   */
  apply: KubernetesObject[];
  /** Objects the operator changes only in part (a user's HTTPRoute, httpRouteRef). */
  edits?: ObjectEdit[];
  /** Children to delete (versions beyond revisionHistoryLimit, a preview Service no longer needed). */
  delete: ChildRef[];
  /** The next status, complete (written with one patch when it differs). */
  status: ModelDeploymentStatus;
  events: PlannedEvent[];
  /** Remove the mlops.dev/action annotation: it was acted on or refused. */
  clearAction: boolean;
  /** Come back after this many ms (a pause, the next measurement, a deadline). */
  requeueAfterMs?: number;
  /** The readiness gate's condition to write on pods (pods/status), each pod once. */
  podConditions?: PodConditionPatch[];
  /**
   * Replica counts of Deployments the operator does not own (an adopted one, spec.workloadRef),
   * written through their scale subresource, after the children: nothing else of them is
   * ever written.
   */
  scales?: DeploymentScale[];
}

/** One replica count of a Deployment the operator does not own. */
export interface DeploymentScale {
  name: string;
  replicas: number;
  /** Its spec.replicas as observed (for the Event). */
  from: number;
}
