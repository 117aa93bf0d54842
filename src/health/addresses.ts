// Parsing of the network addresses that operator settings name (allowed networks, a DNS
// server). Pure: config.ts uses it without pulling in the HTTP client of dial.ts.
import { BlockList, isIP } from "node:net";

/** "10.0.0.0/8" -> its parts; a bare address is a /32 or /128. undefined if invalid. */
export function parseCidr(
  cidr: string,
): { address: string; prefix: number; family: "ipv4" | "ipv6" } | undefined {
  const m = /^([^/\s]+)(?:\/(\d{1,3}))?$/.exec(cidr.trim());
  if (!m) return undefined;
  const version = isIP(m[1]!);
  if (version === 0) return undefined;
  const max = version === 4 ? 32 : 128;
  const prefix = m[2] === undefined ? max : Number(m[2]);
  if (prefix > max) return undefined;
  return { address: m[1]!, prefix, family: version === 4 ? "ipv4" : "ipv6" };
}

/** "127.0.0.1:5353", "127.0.0.1", "[::1]:53" -> what dns.Resolver#setServers takes; undefined if invalid. */
export function parseDnsServer(value: string): string | undefined {
  const text = value.trim();
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([0-9.]+)|([0-9a-fA-F:]+))(?::(\d{1,5}))?$/.exec(text);
  if (!m) return undefined;
  const address = m[1] ?? m[2] ?? m[3]!;
  if (isIP(address) === 0) return undefined;
  // A bare IPv6 address cannot carry a port: "::1:53" is an address.
  if (m[3] !== undefined && m[4] !== undefined) return undefined;
  const port = m[4] === undefined ? 53 : Number(m[4]);
  if (port < 1 || port > 65535) return undefined;
  return isIP(address) === 6 ? `[${address}]:${port}` : `${address}:${port}`;
}

/** A CIDR list as a BlockList (which matches IPv4-mapped IPv6 too); throws on a bad entry. */
export function networks(cidrs: readonly string[]): BlockList {
  const list = new BlockList();
  for (const cidr of cidrs) {
    const parsed = parseCidr(cidr);
    if (!parsed) throw new Error(`"${cidr}" is not a CIDR like 127.0.0.0/8 or fd00::/8`);
    list.addSubnet(parsed.address, parsed.prefix, parsed.family);
  }
  return list;
}
