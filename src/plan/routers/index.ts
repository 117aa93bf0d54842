// Which traffic router carries a ModelDeployment's traffic. Today there is one, the Service
// router; a router chosen by the spec (spec.traffic) is added here.
import type { ModelDeployment } from "../../api/types.ts";
import type { TrafficRouter } from "./router.ts";
import { serviceRouter } from "./service.ts";

export function routerFor(_md: ModelDeployment): TrafficRouter {
  return serviceRouter;
}
