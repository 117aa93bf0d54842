// Where health checks may connect: a policy the platform owns, not the tenant. Pure: it
// judges a destination as written (a URL's host) and an address it resolved to, and the
// caller decides when to ask (before a request, and at connect time, so that a name that
// resolves somewhere forbidden is caught however it was written).
//
// - Always denied unless the platform allows them (allowCidrs): link-local addresses
//   (169.254.0.0/16, fe80::/10: cloud metadata), loopback (127.0.0.0/8, ::1: the
//   operator's own ports), unspecified addresses, and the API server's own address and port.
// - mode "default": any other destination, so every manifest written for today's API
//   (http://prometheus.monitoring:9090) keeps working.
// - mode "restricted" (multi-tenant clusters): only the ModelDeployment's own namespace's
//   Services (*.NAMESPACE.svc, *.NAMESPACE.svc.cluster.local), the hosts the platform lists
//   (allowHosts) and addresses in allowCidrs.
import { BlockList, isIP } from "node:net";
import { networks, parseCidr as parseCidrOrUndefined } from "./addresses.ts";

export const DESTINATION_MODES = ["default", "restricted"] as const;
export type DestinationMode = (typeof DESTINATION_MODES)[number];

export interface DestinationPolicy {
  mode: DestinationMode;
  /** Addresses the platform allows although they would be denied ("127.0.0.0/8" in tests). */
  allowCidrs: readonly string[];
  /** restricted: hosts allowed besides the own namespace's Services (exact, or ".suffix"). */
  allowHosts: readonly string[];
  /** The API server's own address(es) and port: denied unless allowCidrs holds the address. */
  apiServers: readonly { address: string; port: number }[];
}

/** Where one check wants to go, and for whom. */
export interface Destination {
  /** The ModelDeployment's namespace. */
  namespace: string;
  /** Host as written in the URL (name or IP literal, without brackets). */
  host: string;
  port: number;
}

export type Verdict = { allowed: true } | { allowed: false; reason: string };

const ALLOWED: Verdict = { allowed: true };

/** Parses "10.0.0.0/8", "fd00::/8" or a single address; throws an Error that says what is wrong. */
export function parseCidr(text: string): { address: string; prefix: number; family: "ipv4" | "ipv6" } {
  const parsed = parseCidrOrUndefined(text);
  if (parsed) return parsed;
  const [address = ""] = text.trim().split("/");
  const version = isIP(address);
  if (version === 0) throw new Error(`"${text}" is not an address or CIDR range like 10.0.0.0/8`);
  throw new Error(`"${text}": the prefix length must be 0 to ${version === 4 ? 32 : 128}`);
}

const FORBIDDEN = [
  { cidr: "169.254.0.0/16", what: "a link-local address (cloud metadata)" },
  { cidr: "fe80::/10", what: "a link-local address" },
  { cidr: "127.0.0.0/8", what: "a loopback address (the operator's own ports)" },
  { cidr: "::1/128", what: "a loopback address (the operator's own ports)" },
  { cidr: "0.0.0.0/32", what: "the unspecified address" },
  { cidr: "::/128", what: "the unspecified address" },
].map((f) => ({ ...f, list: networks([f.cidr]) }));

function familyOf(address: string): "ipv4" | "ipv6" | undefined {
  const v = isIP(address);
  return v === 4 ? "ipv4" : v === 6 ? "ipv6" : undefined;
}

/** A compiled policy: judge() as written, judgeAddress() for what a name resolved to. */
export class DestinationPolicyJudge {
  readonly policy: DestinationPolicy;
  readonly #allowed: BlockList;

  constructor(policy: DestinationPolicy) {
    this.policy = policy;
    this.#allowed = networks(policy.allowCidrs);
  }

  /**
   * The destination as written: in restricted mode its host must be one of the namespace's
   * Services or a listed host; an IP literal is judged as an address at once.
   */
  judge(dest: Destination): Verdict {
    const host = normalizeHost(dest.host);
    if (familyOf(host)) {
      const verdict = this.judgeAddress(host, dest.port);
      if (!verdict.allowed || this.policy.mode === "default") return verdict;
      return this.#inAllowCidrs(host)
        ? ALLOWED
        : {
            allowed: false,
            reason: `${host} is not in the platform's allowed addresses (--check-allow-cidrs) in restricted mode`,
          };
    }
    if (this.policy.mode === "default") return ALLOWED;
    const own = [`.${dest.namespace}.svc`, `.${dest.namespace}.svc.cluster.local`];
    if (own.some((suffix) => host.endsWith(suffix) && host.length > suffix.length)) return ALLOWED;
    if (this.policy.allowHosts.some((h) => hostMatches(host, h))) return ALLOWED;
    return {
      allowed: false,
      reason:
        `${host} is not a Service of namespace ${dest.namespace} (*.${dest.namespace}.svc) ` +
        `and not a host the platform allows (--check-allow-hosts) in restricted mode`,
    };
  }

  /** An address a destination resolved to (or was written as), at connect time. */
  judgeAddress(address: string, port: number): Verdict {
    const ip = normalizeHost(address);
    const family = familyOf(ip);
    if (!family) return { allowed: false, reason: `${address} is not an IP address` };
    if (this.#inAllowCidrs(ip)) return ALLOWED;
    for (const f of FORBIDDEN)
      if (f.list.check(ip, family))
        return {
          allowed: false,
          reason: `${ip} is ${f.what}; the platform can allow it with --check-allow-cidrs`,
        };
    for (const api of this.policy.apiServers)
      if (api.port === port && sameAddress(api.address, ip))
        return {
          allowed: false,
          reason: `${ip}:${port} is the API server; the platform can allow it with --check-allow-cidrs`,
        };
    return ALLOWED;
  }

  #inAllowCidrs(ip: string): boolean {
    const family = familyOf(ip);
    return family !== undefined && this.#allowed.check(ip, family);
  }
}

/**
 * The hook an HTTP client calls at connect time with each resolved address: a function of
 * the address and the destination to allow or deny (so a DNS answer that changed between
 * a check before the request and the connection is still judged).
 */
export function addressFilter(
  judge: DestinationPolicyJudge,
): (address: string, dest: Destination) => Verdict {
  return (address, dest) => judge.judgeAddress(address, dest.port);
}

function normalizeHost(host: string): string {
  return host
    .replace(/^\[(.*)\]$/, "$1")
    .replace(/\.$/, "")
    .toLowerCase();
}

function hostMatches(host: string, pattern: string): boolean {
  const p = normalizeHost(pattern);
  return p.startsWith(".") ? host.endsWith(p) && host.length > p.length : host === p;
}

function sameAddress(a: string, b: string): boolean {
  const family = familyOf(b);
  if (!family || !familyOf(a)) return false;
  const list = new BlockList();
  list.addAddress(a, familyOf(a)!);
  return list.check(b, family);
}

/** The destination of a URL for a ModelDeployment in `namespace`; undefined when it is no URL. */
export function destinationOfUrl(url: string, namespace: string): Destination | undefined {
  try {
    const u = new URL(url);
    const port = u.port ? Number(u.port) : u.protocol === "https:" ? 443 : 80;
    return { namespace, host: normalizeHost(u.hostname), port };
  } catch {
    return undefined;
  }
}
