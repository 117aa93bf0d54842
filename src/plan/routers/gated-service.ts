// The Service router behind a pod readiness gate (spec.strategy.canary.readinessGate): the
// clients' Service still splits by ready replicas, but a candidate pod is Ready only once the
// operator admitted it (readiness-gate.ts). That makes a true 0% stage possible without a
// route: at weight 0 the candidate runs one pod, which its checks reach through its own
// Service while the clients' Service leaves it out.
import type { TrafficRouter } from "./router.ts";
import { serviceRouter } from "./service.ts";

export const gatedServiceRouter: TrafficRouter = {
  ...serviceRouter,
  kind: "Service (readiness gate)",
  canaryReplicas(replicas, weight, candidateAvailable) {
    const sizes = serviceRouter.canaryReplicas(replicas, weight, candidateAvailable);
    // One pod to measure at 0% (none when the model is scaled to zero); it takes no client
    // request, so the stable version keeps its full size.
    if (weight === 0 && replicas > 0)
      return { candidate: Math.max(1, sizes.candidate), stable: sizes.stable };
    return sizes;
  },
};
