// Which traffic router carries a ModelDeployment's traffic: the Gateway API router when
// spec.traffic.gatewayAPI is set, else the Service router (replica ratio, the default).
import type { ModelDeployment } from "../../api/types.ts";
import { gatewayApiRouter } from "./gateway-api.ts";
import type { TrafficRouter } from "./router.ts";
import { serviceRouter } from "./service.ts";

export function routerFor(md: ModelDeployment): TrafficRouter {
  return md.spec.traffic?.gatewayAPI ? gatewayApiRouter : serviceRouter;
}
