// The network rule of the project's tests, scripts, benchmarks and the data planes they
// start, in code: traffic goes to 127.0.0.0/8 and nowhere else. The local control plane
// hands out addresses that must never be dialled (pods in 10.244.0.0/16), and this
// machine's resolver is not on loopback, so even a name lookup can leave the host.
//
// Two layers:
// - assert*(): for addresses a helper is about to bind, dial or configure (a test
//   server's ClusterIP, a Prometheus scrape target, a DNS server); they throw at once.
// - installLoopbackGuard(): a tripwire under everything in the process. Every TCP or TLS
//   connection (node:net, so node:http, fetch, the Kubernetes client, ws) and every DNS
//   server a resolver is pointed at is checked; a connection to, or a lookup
//   (dns.lookup, getaddrinfo) of, a name other than `localhost` is refused before
//   anything is sent (a name must be resolved through the cluster DNS first, see
//   resolveLoopback; the operator does that with --check-dns-server). Resolvers left on
//   the system's servers are not covered: the project's code always sets a server.
//   A refused connection fails with a LoopbackGuardError, is printed, and is
//   remembered: the mocha hooks below fail the test in which it happened even if the
//   code under test swallowed the error.
//   loopback-guard-preload.ts installs it: mocha loads it first (.mocharc.*.json), the
//   test operators and the playground's run with it (node --import) and report their
//   refusals through their output; the cluster, playground and benchmark scripts call
//   installLoopbackGuard() themselves.
import dns, { Resolver as CallbackResolver } from "node:dns";
import { Resolver } from "node:dns/promises";
import { syncBuiltinESMExports } from "node:module";
import { isIP, Socket, type LookupFunction } from "node:net";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { networks } from "../../src/health/addresses.ts";

export const LOOPBACK_CIDR = "127.0.0.0/8";

/** Printed before every refusal; test/support/operator.ts looks for it in the operators' output. */
export const REFUSAL_MARKER = "[loopback-guard] refused";

export class LoopbackGuardError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "LoopbackGuardError";
  }
}

const loopback = networks([LOOPBACK_CIDR]);

/** An IPv4 address in 127.0.0.0/8 (or the same written IPv4-mapped, ::ffff:127.x.y.z). */
export function isLoopbackAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 0) return false;
  return loopback.check(address, family === 4 ? "ipv4" : "ipv6");
}

/** Returns the address, or throws: `what` says whose address it is. */
export function assertLoopbackAddress(address: string, what: string): string {
  if (isLoopbackAddress(address)) return address;
  const kind = isIP(address) ? "address" : "not an IP address";
  throw new LoopbackGuardError(
    `${what}: ${JSON.stringify(address)} is ${isIP(address) ? "outside" : "not in"} ${LOOPBACK_CIDR} (${kind}); tests, scripts and tools may only use loopback addresses`,
  );
}

/** "127.0.0.1:9090" (a scrape target, a DNS server) -> its parts, or throws. */
export function assertLoopbackHostPort(hostPort: string, what: string): { host: string; port: number } {
  const m = /^(.+):(\d{1,5})$/.exec(hostPort);
  if (!m) throw new LoopbackGuardError(`${what}: ${JSON.stringify(hostPort)} is not HOST:PORT`);
  return { host: assertLoopbackAddress(m[1]!, what), port: Number(m[2]) };
}

/** A URL whose host is a loopback address (names are refused: resolve them first), or throws. */
export function assertLoopbackUrl(url: string | URL, what: string): URL {
  const parsed = new URL(url);
  assertLoopbackAddress(parsed.hostname.replace(/^\[(.*)\]$/, "$1"), `${what} (${parsed.href})`);
  return parsed;
}

/**
 * Resolves a Service name (`web.default.svc`, `web.default.svc.cluster.local`) through
 * the cluster DNS at dnsServer (127.0.0.1:PORT) to its ClusterIP, which must be a loopback
 * address. Bounded: one second per try, two tries.
 */
export async function resolveLoopback(name: string, dnsServer: string): Promise<string> {
  assertLoopbackHostPort(dnsServer, "the cluster DNS server");
  const resolver = new Resolver({ timeout: 1000, tries: 2 });
  resolver.setServers([dnsServer]);
  const [address] = await resolver.resolve4(name);
  if (!address) throw new Error(`${name} has no address at ${dnsServer}`);
  return assertLoopbackAddress(address, `${name} (resolved through ${dnsServer})`);
}

const refusals: string[] = [];

/** Every connection the guard refused in this process (and those reported by the test operators). */
export function refusedConnections(): readonly string[] {
  return refusals;
}

/** Records a refusal seen elsewhere (a test operator's output). */
export function recordRefusal(description: string): void {
  refusals.push(description);
}

function refuse(description: string): LoopbackGuardError {
  refusals.push(description);
  process.stderr.write(`${REFUSAL_MARKER} ${description}\n`);
  return new LoopbackGuardError(`loopback guard: refused ${description}`);
}

type ConnectTarget = { host?: string; port?: number | string; path?: string; lookup?: LookupFunction };

/** The options of a Socket#connect call, in any of its forms (net.connect passes them normalised). */
function connectTarget(args: unknown[]): ConnectTarget {
  const [first, second] = args;
  if (Array.isArray(first)) return (first[0] ?? {}) as ConnectTarget;
  if (first !== null && typeof first === "object") return first as ConnectTarget;
  if (typeof first === "string" && !/^\d+$/.test(first)) return { path: first };
  return { port: first as number, host: typeof second === "string" ? second : undefined };
}

const systemLookup = dns.lookup;

/** The lookup of `localhost` that keeps only its 127.0.0.0/8 addresses (getaddrinfo reads /etc/hosts). */
function loopbackOnlyLookup(original: LookupFunction | undefined, target: string): LookupFunction {
  return (hostname, options, callback) => {
    const next = (original ?? systemLookup) as LookupFunction;
    next(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, "", 0);
      const list = (Array.isArray(addresses) ? addresses : [{ address: addresses, family: 4 }]).filter((a) =>
        isLoopbackAddress(a.address),
      );
      if (list.length === 0)
        return callback(refuse(`${target}: localhost has no 127.0.0.0/8 address`), "", 0);
      if (options.all) callback(null, list);
      else callback(null, list[0]!.address, list[0]!.family);
    });
  };
}

let installed = false;

/**
 * Puts the tripwire under every connection and every resolver of this process (once;
 * later calls do nothing). Connections to unix sockets are not network traffic and pass.
 */
export function installLoopbackGuard(): void {
  if (installed) return;
  installed = true;
  const originalConnect = Socket.prototype.connect;
  Socket.prototype.connect = function guardedConnect(this: Socket, ...args: unknown[]) {
    const target = connectTarget(args);
    if (target.path === undefined) {
      const host = target.host ?? "localhost";
      const where = `a connection to ${host}:${target.port ?? "?"}`;
      if (isIP(host) ? !isLoopbackAddress(host) : host !== "localhost") {
        const err = refuse(
          isIP(host)
            ? `${where}: outside ${LOOPBACK_CIDR}`
            : `${where}: a name; resolve it through the cluster DNS (resolveLoopback) and connect to the address`,
        );
        process.nextTick(() => this.destroy(err));
        return this;
      }
      if (!isIP(host)) target.lookup = loopbackOnlyLookup(target.lookup, where);
    }
    return (originalConnect as (...a: unknown[]) => Socket).apply(this, args);
  } as typeof Socket.prototype.connect;

  // getaddrinfo asks this machine's resolver, which is not on loopback, for any name that
  // /etc/hosts does not list: only localhost and addresses may be looked up.
  const lookupAllowed = (hostname: string) => isIP(hostname) !== 0 || hostname === "localhost";
  const lookupRefusal = (hostname: string) =>
    refuse(`a name lookup of ${hostname}: resolve it through the cluster DNS (resolveLoopback)`);
  const originalLookup = dns.lookup;
  dns.lookup = function guardedLookup(hostname: string, ...rest: unknown[]) {
    if (lookupAllowed(hostname)) return (originalLookup as (...a: unknown[]) => void)(hostname, ...rest);
    const callback = rest.at(-1) as (err: Error) => void;
    const err = lookupRefusal(hostname);
    process.nextTick(() => callback(err));
  } as typeof dns.lookup;
  const originalPromiseLookup = dns.promises.lookup;
  dns.promises.lookup = async function guardedPromiseLookup(hostname: string, ...rest: unknown[]) {
    if (!lookupAllowed(hostname)) throw lookupRefusal(hostname);
    return (originalPromiseLookup as (...a: unknown[]) => Promise<unknown>)(hostname, ...rest);
  } as typeof dns.promises.lookup;
  syncBuiltinESMExports(); // `import { lookup } from "node:dns/promises"` sees the guarded one

  for (const proto of [CallbackResolver.prototype, Resolver.prototype]) {
    const originalSetServers = proto.setServers;
    proto.setServers = function guardedSetServers(this: typeof proto, servers: readonly string[]) {
      for (const server of servers) {
        const host = /^\[(.+)\](?::\d+)?$/.exec(server)?.[1] ?? server.replace(/:\d+$/, "");
        if (!isLoopbackAddress(host)) throw refuse(`a DNS server ${server}: outside ${LOOPBACK_CIDR}`);
      }
      originalSetServers.call(this, servers);
    };
  }
}

/**
 * What keeps an operator process that a test, script or benchmark starts on loopback:
 * the guard preloaded (node flags), its checks allowed only to 127.0.0.0/8, and names
 * in check URLs resolved through the cluster DNS when there is one (operator flags).
 */
export function loopbackOperatorFlags(dnsServer: string | undefined): { nodeArgs: string[]; args: string[] } {
  if (dnsServer !== undefined) assertLoopbackHostPort(dnsServer, "the cluster DNS server");
  return {
    nodeArgs: ["--import", pathToFileURL(join(import.meta.dirname, "loopback-guard-preload.ts")).href],
    args: [
      // Checks connect only to loopback, and the destination policy, which denies loopback
      // (the operator's own ports) by default, is told that loopback is allowed: everything
      // here runs on 127.0.0.0/8. A test of the policy passes --check-allow-cidrs= to clear it.
      `--check-only-cidrs=${LOOPBACK_CIDR}`,
      `--check-allow-cidrs=${LOOPBACK_CIDR}`,
      ...(dnsServer ? [`--check-dns-server=${dnsServer}`] : []),
    ],
  };
}

/** Mocha root hooks (loaded through loopback-guard-preload.ts): fail the test in which a refusal happened. */
export const mochaHooks = {
  afterEach(this: { currentTest?: { title: string } }): void {
    if (refusals.length === 0) return;
    const seen = refusals.splice(0);
    throw new LoopbackGuardError(
      `the loopback guard refused ${seen.length} connection(s) during "${this.currentTest?.title ?? "?"}":\n  ${seen.join("\n  ")}`,
    );
  },
};
