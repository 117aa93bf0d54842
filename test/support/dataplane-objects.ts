// What the standalone data plane (dataplane.ts) writes into Envoy Gateway's watched folder
// for one HTTPRoute: pure functions of the route and the Services' addresses.
//
// The route is the one the operator writes (backendRefs naming Services). Envoy Gateway's
// File provider ignores Service objects (they mean nothing to host infrastructure), so the
// copy it gets names one Envoy Gateway `Backend` per Service instead, holding the Service's
// ClusterIP and port; everything else of the route (matches, filters, weights, hostnames,
// parentRefs) is kept as written. Every address must be in 127.0.0.0/8: anything else is
// refused here, before a file is written or a process started.
import { isIPv4 } from "node:net";

export const GATEWAY_CLASS = "mro-dataplane";
export const ENVOY_PROXY = "mro-dataplane";
/** Where Envoy Gateway puts objects without a namespace, and where its own ones go. */
export const SYSTEM_NAMESPACE = "envoy-gateway-system";
export const DEFAULT_LISTENER_PORT = 8080;

/** A Service as the harness needs it: its ClusterIP and the port its backendRefs name. */
export interface ServiceAddress {
  clusterIP: string;
  port: number;
  /** What this Service's test server answers (default: the Service name). */
  version?: string;
}

export type Services = Record<string, ServiceAddress>;

// The parts of an HTTPRoute the harness reads (gateway.networking.k8s.io/v1); the rest is
// carried over untouched.
export interface BackendRef {
  group?: string;
  kind?: string;
  name: string;
  namespace?: string;
  port?: number;
  weight?: number;
  filters?: Filter[];
  [key: string]: unknown;
}
export interface Filter {
  type: string;
  requestMirror?: { backendRef: BackendRef; [key: string]: unknown };
  [key: string]: unknown;
}
export interface ParentRef {
  group?: string;
  kind?: string;
  name: string;
  namespace?: string;
  sectionName?: string;
  port?: number;
}
export interface HTTPRoute {
  apiVersion?: string;
  kind?: string;
  metadata: { name: string; namespace?: string; [key: string]: unknown };
  spec: {
    parentRefs?: ParentRef[];
    hostnames?: string[];
    rules?: { name?: string; backendRefs?: BackendRef[]; filters?: Filter[]; [key: string]: unknown }[];
    [key: string]: unknown;
  };
  status?: unknown;
}

export class NonLoopbackAddressError extends Error {}

/** True for a dotted IPv4 address in 127.0.0.0/8. */
export function isLoopbackIPv4(address: string): boolean {
  return isIPv4(address) && address.split(".")[0] === "127";
}

/** Throws unless every Service address is a loopback IPv4 address with a valid port. */
export function checkServiceAddresses(services: Services): void {
  for (const [name, s] of Object.entries(services)) {
    if (!isLoopbackIPv4(s.clusterIP)) {
      throw new NonLoopbackAddressError(
        `Service ${name} has address ${s.clusterIP}, outside 127.0.0.0/8: the data plane only ever sends to loopback`,
      );
    }
    if (!Number.isInteger(s.port) || s.port < 1 || s.port > 65535) {
      throw new Error(`Service ${name} has port ${s.port}, not 1..65535`);
    }
  }
}

/** The Gateway the route attaches to: its first parentRef of kind Gateway. */
export function gatewayOf(route: HTTPRoute): {
  name: string;
  namespace: string;
  listener: string;
  port: number;
} {
  const ref = (route.spec.parentRefs ?? []).find(
    (p) =>
      (p.group ?? "gateway.networking.k8s.io") === "gateway.networking.k8s.io" &&
      (p.kind ?? "Gateway") === "Gateway",
  );
  if (!ref) throw new Error(`HTTPRoute ${route.metadata.name} has no parentRef to a Gateway`);
  return {
    name: ref.name,
    namespace: ref.namespace ?? namespaceOf(route),
    listener: ref.sectionName ?? "http",
    port: ref.port ?? DEFAULT_LISTENER_PORT,
  };
}

function namespaceOf(route: HTTPRoute): string {
  return route.metadata.namespace ?? "default";
}

/** The GatewayClass, EnvoyProxy and Gateway: written once, at start. */
export function gatewayObjects(route: HTTPRoute, envoyVersion: string): object[] {
  const gw = gatewayOf(route);
  return [
    {
      apiVersion: "gateway.networking.k8s.io/v1",
      kind: "GatewayClass",
      metadata: { name: GATEWAY_CLASS },
      spec: {
        controllerName: "gateway.envoyproxy.io/gatewayclass-controller",
        parametersRef: {
          group: "gateway.envoyproxy.io",
          kind: "EnvoyProxy",
          name: ENVOY_PROXY,
          namespace: SYSTEM_NAMESPACE,
        },
      },
    },
    {
      apiVersion: "gateway.envoyproxy.io/v1alpha1",
      kind: "EnvoyProxy",
      metadata: { name: ENVOY_PROXY, namespace: SYSTEM_NAMESPACE },
      // Named, or Envoy Gateway has no version to look for (its default image reference
      // ends in a digest) and func-e goes to download one.
      spec: { provider: { type: "Host", host: { envoyVersion } } },
    },
    {
      apiVersion: "gateway.networking.k8s.io/v1",
      kind: "Gateway",
      metadata: { name: gw.name, namespace: gw.namespace },
      spec: {
        gatewayClassName: GATEWAY_CLASS,
        listeners: [
          {
            name: gw.listener,
            protocol: "HTTP",
            port: gw.port,
            allowedRoutes: { namespaces: { from: "All" } },
          },
        ],
      },
    },
  ];
}

/** The Services a route's backendRefs and mirror filters name, in order of appearance. */
export function servicesOf(route: HTTPRoute): string[] {
  const names: string[] = [];
  const add = (ref: BackendRef) => {
    if (!names.includes(ref.name)) names.push(ref.name);
  };
  visitBackendRefs(route, add);
  return names;
}

/**
 * The route as Envoy Gateway gets it, plus one Backend per Service it names. Throws for a
 * backendRef that is not a Service of the route's namespace, a Service missing from
 * `services`, a port that differs from the Service's, or an address outside loopback.
 */
export function routeObjects(route: HTTPRoute, services: Services): object[] {
  checkServiceAddresses(services);
  const namespace = namespaceOf(route);
  const copy = structuredClone(route);
  delete copy.status;
  copy.apiVersion ??= "gateway.networking.k8s.io/v1";
  copy.kind ??= "HTTPRoute";
  const { name, labels, annotations } = route.metadata;
  copy.metadata = { name, namespace, ...(labels ? { labels } : {}), ...(annotations ? { annotations } : {}) };
  const used = new Set<string>();
  visitBackendRefs(copy, (ref) => {
    const where = `HTTPRoute ${namespace}/${route.metadata.name} backendRef ${ref.kind ?? "Service"} ${ref.name}`;
    if ((ref.group ?? "") !== "" || (ref.kind ?? "Service") !== "Service") {
      throw new Error(`${where}: only Service backendRefs can be given to the data plane`);
    }
    if ((ref.namespace ?? namespace) !== namespace) {
      throw new Error(
        `${where}: a Service of another namespace needs a ReferenceGrant, which the harness does not model`,
      );
    }
    const service = services[ref.name];
    if (!service) throw new Error(`${where}: no address given for Service ${ref.name}`);
    if (ref.port !== undefined && ref.port !== service.port) {
      throw new Error(`${where}: port ${ref.port}, but the Service's address is on port ${service.port}`);
    }
    used.add(ref.name);
    ref.group = "gateway.envoyproxy.io";
    ref.kind = "Backend";
    delete ref.port;
    delete ref.namespace;
  });
  const backends = [...used].map((service) => ({
    apiVersion: "gateway.envoyproxy.io/v1alpha1",
    kind: "Backend",
    metadata: { name: service, namespace },
    spec: { endpoints: [{ ip: { address: services[service]!.clusterIP, port: services[service]!.port } }] },
  }));
  return [copy, ...backends];
}

/** Calls `visit` with every backendRef of the route: the rules', and those of mirror filters. */
function visitBackendRefs(route: HTTPRoute, visit: (ref: BackendRef) => void): void {
  const visitFilters = (filters: Filter[] | undefined) => {
    for (const f of filters ?? []) if (f.requestMirror?.backendRef) visit(f.requestMirror.backendRef);
  };
  for (const rule of route.spec.rules ?? []) {
    visitFilters(rule.filters);
    for (const ref of rule.backendRefs ?? []) {
      visit(ref);
      visitFilters(ref.filters);
    }
  }
}

/** The Envoy Gateway configuration of the standalone mode, all homes under `dir`. */
export function envoyGatewayConfig(homes: {
  resources: string;
  configHome: string;
  dataHome: string;
  stateHome: string;
  runtimeDir: string;
}): object {
  return {
    apiVersion: "gateway.envoyproxy.io/v1alpha1",
    kind: "EnvoyGateway",
    gateway: { controllerName: "gateway.envoyproxy.io/gatewayclass-controller" },
    provider: {
      type: "Custom",
      custom: {
        resource: { type: "File", file: { paths: [homes.resources] } },
        infrastructure: {
          type: "Host",
          host: {
            configHome: homes.configHome,
            dataHome: homes.dataHome,
            stateHome: homes.stateHome,
            runtimeDir: homes.runtimeDir,
          },
        },
      },
    },
    logging: { level: { default: "info" } },
    // Backend is an extension API, off by default.
    extensionApis: { enableBackend: true },
  };
}
