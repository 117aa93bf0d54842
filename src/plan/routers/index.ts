// Which traffic router carries a ModelDeployment's traffic: the Gateway API router when
// spec.traffic.gatewayAPI.httpRoute or grpcRoute is set (an HTTPRoute or GRPCRoute the
// operator owns), the user-route router when spec.traffic.gatewayAPI.httpRouteRef is (a
// route the user owns), else the Service
// router (replica ratio, the default), behind a pod readiness gate when
// spec.strategy.canary.readinessGate is set.
import type { ModelDeployment } from "../../api/types.ts";
import { gatewayApiRouter } from "./gateway-api.ts";
import { gatedServiceRouter } from "./gated-service.ts";
import type { TrafficRouter } from "./router.ts";
import { serviceRouter } from "./service.ts";
import { userRouteRouter } from "./user-route.ts";

export function routerFor(md: ModelDeployment): TrafficRouter {
  const gatewayAPI = md.spec.traffic?.gatewayAPI;
  if (gatewayAPI?.httpRouteRef) return userRouteRouter;
  if (gatewayAPI) return gatewayApiRouter;
  return md.spec.strategy?.canary?.readinessGate === true ? gatedServiceRouter : serviceRouter;
}
