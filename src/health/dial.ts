// Where health-check requests connect. By default exactly where fetch would: names through
// the system resolver (in a pod: the cluster DNS, with its search list) and any address.
// Two operator settings change that, for the HTTP and the Prometheus checks alike:
//
// - a DNS server (--check-dns-server): names in check URLs are resolved through it, for an
//   operator that runs outside the cluster, where NAME-V.NAMESPACE.svc means nothing to
//   the system resolver. Each lookup is bounded (DNS_TIMEOUT_MS per try, DNS_TRIES tries)
//   besides the check's own timeout.
// - allowed networks (--check-only-cidrs): a check connects only to addresses in them.
//   The address is checked when the connection is made, after resolution, so a name
//   cannot lead anywhere else; a refused address is an error of that measurement.
//
// Both act in the connector of an undici Agent: undici is the library behind Node's
// fetch, and its npm package exposes the connector, which Node's global fetch does not.
// A request with a platform credential's TLS material (a CA bundle, a client certificate:
// credential-files.ts) goes through an Agent of that credential, whose connector passes the
// material to TLS; the same address checks apply.
import { lookup as systemLookup, Resolver } from "node:dns/promises";
import { BlockList, isIP } from "node:net";
import { networks } from "./addresses.ts";
import type { buildConnector as BuildConnector, RequestInit as UndiciRequestInit } from "undici";

// undici is loaded with the first check, not at start: it is 7 MiB of resident memory
// that an operator without checks never needs.
let undici: Promise<typeof import("undici")> | undefined;

/** TLS material of a platform credential (credential-files.ts) for one request. */
export interface CheckTls {
  /** The credential's name and the version of its files: connections are kept per version. */
  name: string;
  version: string;
  ca?: string;
  cert?: string;
  key?: string;
}

/** fetch's options, and the TLS material of the credential a check names. */
export type CheckRequestInit = RequestInit & { tls?: CheckTls };

/** How a check sends one request: fetch's shape. */
export type CheckFetch = (url: string, init: CheckRequestInit) => Promise<Response>;

export interface CheckDialOptions {
  /** "ADDRESS:PORT" or "ADDRESS" (port 53) of the DNS server for names in check URLs. */
  dnsServer?: string;
  /** CIDRs ("127.0.0.0/8", "10.0.0.0/8", "fd00::/8") a check may connect to; undefined = any. */
  allowedCidrs?: readonly string[];
  /**
   * The platform's destination policy for an address a name resolved to (destination-policy.ts),
   * judged when the connection is made, so a name whose answer changes after the policy saw it
   * as written cannot lead to a denied address.
   */
  judgeAddress?: (address: string, port: number) => { allowed: boolean; reason?: string };
}

export const DNS_TIMEOUT_MS = 1000;
export const DNS_TRIES = 2;

/**
 * The fetch of the checks: the global fetch unless a DNS server, allowed networks, the
 * destination policy or a credential's TLS material is involved. Requests with a credential's
 * CA or client certificate go through an Agent of their own, one per credential, replaced
 * (the old one closed) when the credential's files change.
 */
export function checkFetch(options: CheckDialOptions = {}): CheckFetch {
  const { dnsServer, allowedCidrs, judgeAddress } = options;
  const plain = dnsServer === undefined && allowedCidrs === undefined && judgeAddress === undefined;
  const resolve = dnsServer === undefined ? resolveWithSystem : resolverAt(dnsServer);
  const allowed = allowedCidrs === undefined ? undefined : networks(allowedCidrs);
  let dispatcher: Promise<Dispatchers> | undefined;
  const load = async (): Promise<Dispatchers> => {
    const lib = await (undici ??= import("undici"));
    const agentWith = (tls: Omit<CheckTls, "name" | "version"> = {}) => {
      const base = lib.buildConnector({ ...tls });
      const connect: BuildConnector.connector = (opts, callback) => {
        if (plain) return base(opts, callback);
        const port = Number(opts.port) || (opts.protocol === "https:" ? 443 : 80);
        pickAddress(opts.hostname, port, resolve, {
          allowed,
          allowedCidrs: allowedCidrs ?? [],
          judgeAddress,
        }).then(
          // The original name stays in opts.host: the Host header and TLS's server name use it.
          (address) => base({ ...opts, hostname: address }, callback),
          (err: Error) => callback(err, null),
        );
      };
      return new lib.Agent({ connect });
    };
    return { lib, plainAgent: agentWith(), agentWith, byCredential: new Map() };
  };
  return async (url, init) => {
    const { tls, ...rest } = init;
    if (plain && !tls) return fetch(url, rest);
    const d = await (dispatcher ??= load());
    let agent = d.plainAgent;
    if (tls) {
      const kept = d.byCredential.get(tls.name);
      if (kept?.version === tls.version) agent = kept.agent;
      else {
        // Rotated files: new connections with the new material; the old ones finish and close.
        void kept?.agent.close().catch(() => undefined);
        agent = d.agentWith({ ca: tls.ca, cert: tls.cert, key: tls.key });
        d.byCredential.set(tls.name, { version: tls.version, agent });
      }
    }
    return d.lib.fetch(url, {
      ...(rest as UndiciRequestInit),
      dispatcher: agent,
    }) as unknown as Promise<Response>;
  };
}

interface Dispatchers {
  lib: typeof import("undici");
  plainAgent: import("undici").Agent;
  agentWith: (tls?: Omit<CheckTls, "name" | "version">) => import("undici").Agent;
  byCredential: Map<string, { version: string; agent: import("undici").Agent }>;
}

type Resolve = (hostname: string) => Promise<string[]>;

async function resolveWithSystem(hostname: string): Promise<string[]> {
  return (await systemLookup(hostname, { all: true })).map((a) => a.address);
}

function resolverAt(server: string): Resolve {
  const resolver = new Resolver({ timeout: DNS_TIMEOUT_MS, tries: DNS_TRIES });
  resolver.setServers([server]);
  return async (hostname) => {
    const answers = await Promise.allSettled([resolver.resolve4(hostname), resolver.resolve6(hostname)]);
    const addresses = answers.flatMap((a) => (a.status === "fulfilled" ? a.value : []));
    if (addresses.length > 0) return addresses;
    const reason = answers
      .map((a) => (a.status === "rejected" ? (a.reason as { code?: string }).code : ""))
      .find(Boolean);
    throw Object.assign(
      new Error(`${hostname} has no address at the DNS server ${server} (${reason ?? "no answer"})`),
      {
        code: reason === "ETIMEOUT" || reason === "ECONNREFUSED" ? "EAI_AGAIN" : "ENOTFOUND",
      },
    );
  };
}

/**
 * The first address of hostname that the allowed networks take and the destination policy
 * allows; an error naming what was refused and which setting refused it.
 */
async function pickAddress(
  hostname: string,
  port: number,
  resolve: Resolve,
  limits: {
    allowed: BlockList | undefined;
    allowedCidrs: readonly string[];
    judgeAddress: CheckDialOptions["judgeAddress"];
  },
): Promise<string> {
  const { allowed, allowedCidrs, judgeAddress } = limits;
  const addresses = isIP(hostname) ? [hostname] : await resolve(hostname);
  const inNetworks = allowed
    ? addresses.filter((a) => allowed.check(a, isIP(a) === 6 ? "ipv6" : "ipv4"))
    : addresses;
  if (inNetworks.length === 0) {
    throw Object.assign(
      new Error(
        `destination ${isIP(hostname) ? hostname : `${addresses.join(", ")} (the address of ${hostname})`} is outside the allowed networks (--check-only-cidrs=${allowedCidrs.join(",")})`,
      ),
      { code: "EDESTINATIONREFUSED" },
    );
  }
  if (!judgeAddress) return inNetworks[0]!;
  let refusal: string | undefined;
  for (const address of inNetworks) {
    const verdict = judgeAddress(address, port);
    if (verdict.allowed) return address;
    refusal ??= isIP(hostname)
      ? `destination ${address} is denied by the platform's policy: ${verdict.reason ?? ""}`
      : `destination ${hostname} resolved to ${address}, which the platform's policy denies: ${verdict.reason ?? ""}`;
  }
  throw Object.assign(new Error(refusal), { code: "EDESTINATIONREFUSED" });
}
