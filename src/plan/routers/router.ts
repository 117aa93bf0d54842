// The seam between deciding traffic and moving it. A strategy (canary steps, blue/green)
// decides what each version should get and says it as a TrafficIntent; a TrafficRouter turns
// the intent into the objects that carry it to clients and reads back, from what is
// observed, what clients really get. Routers are PURE like the rest of the planner: they
// compute desired objects and read observed ones; the reconciler writes them.
//
// A new router (the Gateway API's HTTPRoute, InferencePool backends) is a new module in this
// folder implementing TrafficRouter, chosen for a ModelDeployment in routers/index.ts.
import type { KubernetesObject, V1Deployment, V1Service } from "@kubernetes/client-node";
import type { ModelDeployment, ModelDeploymentStatus, TrafficWeight } from "../../api/types.ts";
import type { Track } from "../tracks.ts";
import type { ChildRef, ObjectEdit, Observed } from "../types.ts";

/** A version at a revision that traffic can be sent to, by the pod labels of its track. */
export interface TrafficTarget {
  version: string;
  revision?: string | undefined;
  /** The pods of the track. */
  selector: Record<string, string>;
  /** The track's Deployment and Service, when it has one. */
  name?: string | undefined;
}

/** What the strategy decided clients should get, for the router to carry out. */
export interface TrafficIntent {
  /** Client requests per target, in percent, summing to 100; the stable target first. */
  weights: readonly { target: TrafficTarget; weight: number }[];
  /** A target reachable apart from the clients' traffic before it takes any (the blue/green preview). */
  preview?: TrafficTarget | undefined;
  /** Requests matching all these headers go to `target` (a setHeaderRoute step); routers that cannot carry it ignore it. */
  headerRoutes?: readonly HeaderRoute[] | undefined;
  /** A copy of `percentage` percent of the clients' requests goes to `target` (a setMirrorRoute step). */
  mirror?: { name: string; percentage: number; target: TrafficTarget } | undefined;
}

export interface HeaderRoute {
  name: string;
  headers: readonly { name: string; exact?: string | undefined; regex?: string | undefined }[];
  target: TrafficTarget;
}

/** Why the router cannot carry a rollout now: it is held, with a condition and an Event that say so. */
export interface TrafficProblem {
  reason: string;
  message: string;
}

/** What a router reads: the ModelDeployment and its observed children. Never mutated. */
export interface RouterView {
  readonly md: ModelDeployment;
  readonly input: { readonly observed: Observed };
  /** The ModelDeployment's Deployments by name, one per track. */
  readonly deployments: ReadonlyMap<string, V1Deployment>;
  readonly services: ReadonlyMap<string, V1Service>;
  /** The spec's track. */
  readonly spec: Track;
}

/** A version at a revision (revision undefined: whichever Deployment has the version). */
export interface TrafficRef {
  version: string;
  revision?: string | undefined;
}

export interface TrafficRouter {
  /** A short name, for messages and docs. */
  readonly kind: string;
  /**
   * True when the split is the ready pods themselves (the clients' Service selects every
   * version): moving a pod moves clients, so whatever holds the split must hold the pods.
   */
  readonly splitsByReplicas: boolean;
  /**
   * Replicas of the candidate at canary `weight` percent of `replicas`, and of the stable
   * version while `candidateAvailable` of the candidate's are available: what the weight
   * needs under this router (a router with exact weights needs fewer).
   */
  canaryReplicas(
    replicas: number,
    weight: number,
    candidateAvailable: number,
  ): { candidate: number; stable: number };
  /** The objects that carry `intent` to clients, and the router's objects to delete. */
  desiredObjects(
    view: RouterView,
    intent: TrafficIntent,
  ): { apply: KubernetesObject[]; delete: ChildRef[]; edits?: ObjectEdit[] };
  /** What clients get, per track: the stable one first, then the candidate, then any other that gets some. */
  observeWeights(
    view: RouterView,
    stable: TrafficRef | undefined,
    candidate: TrafficRef | undefined,
  ): TrafficWeight[];
  /** The track (Deployment name) that, as observed, gets all client traffic alone; undefined when none does. */
  observeSoleTrack(view: RouterView): string | undefined;
  /** The route as observed, for status.route (routers with a route). */
  observeRoute?(view: RouterView): ModelDeploymentStatus["route"];
  /** What keeps this router from carrying a rollout now (no route API, a parent that rejects the route). */
  observeProblem?(view: RouterView): TrafficProblem | undefined;
}
