// Reads what Envoy really holds from its admin config dump (`/config_dump?include_eds`), in
// the route's own terms: for each Envoy route of an HTTPRoute rule, the Services it sends to
// with their weights, and the Services it mirrors to. Envoy Gateway turns one rule into one
// cluster whose localities are the rule's backendRefs, each with the backendRef's weight
// (deterministic, not random per request), and names the Envoy route after the rule
// (`httproute/NAMESPACE/NAME/rule/INDEX/match/...`).
import type { HTTPRoute, Services } from "./dataplane-objects.ts";

export interface EnvoyRoute {
  /** The Envoy route's name. */
  name: string;
  /** Index of the HTTPRoute rule it came from. */
  rule: number;
  /** Service name -> weight, for weights above 0. */
  backends: Record<string, number>;
  /** Services that get a copy of each request. */
  mirrors: string[];
}

interface SocketAddress {
  address?: string;
  port_value?: number;
}
interface LocalityEndpoints {
  load_balancing_weight?: number;
  lb_endpoints?: {
    endpoint?: { address?: { socket_address?: SocketAddress } };
    load_balancing_weight?: number;
  }[];
}
interface EnvoyRouteEntry {
  name?: string;
  route?: {
    cluster?: string;
    weighted_clusters?: { clusters?: { name: string; weight?: number }[] };
    request_mirror_policies?: { cluster: string }[];
  };
}
interface ConfigDump {
  configs?: {
    "@type"?: string;
    dynamic_endpoint_configs?: {
      endpoint_config?: { cluster_name?: string; endpoints?: LocalityEndpoints[] };
    }[];
    dynamic_route_configs?: { route_config?: { virtual_hosts?: { routes?: EnvoyRouteEntry[] }[] } }[];
  }[];
}

/** The Envoy routes that came from HTTPRoute rules, with their backends by Service name. */
export function readEnvoyRoutes(dump: ConfigDump, services: Services): EnvoyRoute[] {
  const byAddress = new Map(Object.entries(services).map(([name, s]) => [`${s.clusterIP}:${s.port}`, name]));
  const serviceAt = (a: SocketAddress | undefined) =>
    byAddress.get(`${a?.address}:${a?.port_value}`) ?? `${a?.address}:${a?.port_value}`;

  // cluster name -> Service -> weight
  const clusters = new Map<string, Record<string, number>>();
  for (const config of dump.configs ?? []) {
    for (const { endpoint_config: ec } of config.dynamic_endpoint_configs ?? []) {
      if (!ec?.cluster_name) continue;
      const weights: Record<string, number> = {};
      for (const locality of ec.endpoints ?? []) {
        const weight = locality.load_balancing_weight ?? 1;
        for (const lb of locality.lb_endpoints ?? []) {
          const service = serviceAt(lb.endpoint?.address?.socket_address);
          weights[service] = (weights[service] ?? 0) + weight;
        }
      }
      clusters.set(ec.cluster_name, weights);
    }
  }

  const routes: EnvoyRoute[] = [];
  for (const config of dump.configs ?? []) {
    for (const { route_config: rc } of config.dynamic_route_configs ?? []) {
      for (const vhost of rc?.virtual_hosts ?? []) {
        for (const entry of vhost.routes ?? []) {
          const rule = /^httproute\/[^/]+\/[^/]+\/rule\/(\d+)\//.exec(entry.name ?? "");
          if (!rule) continue;
          const backends: Record<string, number> = {};
          const add = (cluster: string, factor: number) => {
            for (const [service, w] of Object.entries(clusters.get(cluster) ?? {})) {
              if (w * factor > 0) backends[service] = (backends[service] ?? 0) + w * factor;
            }
          };
          if (entry.route?.cluster) add(entry.route.cluster, 1);
          for (const c of entry.route?.weighted_clusters?.clusters ?? []) add(c.name, c.weight ?? 1);
          const mirrors = (entry.route?.request_mirror_policies ?? []).flatMap((m) =>
            Object.keys(clusters.get(m.cluster) ?? {}),
          );
          routes.push({ name: entry.name!, rule: Number(rule[1]), backends, mirrors });
        }
      }
    }
  }
  return routes;
}

/** Per rule index: what the HTTPRoute asks for, in the terms of readEnvoyRoutes. */
export function expectedRoutes(
  route: HTTPRoute,
): { rule: number; backends: Record<string, number>; mirrors: string[] }[] {
  return (route.spec.rules ?? []).map((rule, index) => {
    const backends: Record<string, number> = {};
    for (const ref of rule.backendRefs ?? []) {
      const weight = ref.weight ?? 1;
      if (weight > 0) backends[ref.name] = (backends[ref.name] ?? 0) + weight;
    }
    const mirrors = (rule.filters ?? []).flatMap((f) =>
      f.requestMirror ? [f.requestMirror.backendRef.name] : [],
    );
    return { rule: index, backends, mirrors };
  });
}

/** True when every rule has Envoy routes and each of them sends and mirrors as the rule says. */
export function sameRoutes(have: EnvoyRoute[], want: ReturnType<typeof expectedRoutes>): boolean {
  return want.every((w) => {
    const of = have.filter((h) => h.rule === w.rule);
    return (
      of.length > 0 &&
      of.every(
        (h) =>
          JSON.stringify(sorted(h.backends)) === JSON.stringify(sorted(w.backends)) &&
          JSON.stringify([...h.mirrors].sort()) === JSON.stringify([...w.mirrors].sort()),
      )
    );
  });
}

function sorted(record: Record<string, number>): [string, number][] {
  return Object.entries(record).sort(([a], [b]) => a.localeCompare(b));
}
