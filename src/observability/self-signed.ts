// A self-signed serving certificate made in memory, for --metrics-secure without
// --metrics-cert-file: as controller-runtime does, so that /metrics is encrypted even when the
// platform has no certificate for it (Prometheus then scrapes with insecureSkipVerify, or the
// platform mounts a certificate from its CA). Node can sign but has no API that builds an
// X.509 certificate; the few DER structures of one are written here (RFC 5280), which is
// less than any certificate library would bring in.
import { generateKeyPairSync, randomBytes, sign } from "node:crypto";
import { isIP } from "node:net";

export interface ServingCertificate {
  /** PEM of the certificate. */
  cert: string;
  /** PEM (PKCS#8) of its private key. */
  key: string;
}

export interface SelfSignedOptions {
  /** The certificate's subject common name. */
  commonName: string;
  /** DNS names and IP addresses it is valid for. */
  altNames: readonly string[];
  /** When it starts to be valid (default: an hour ago, for clocks a little behind). */
  notBefore?: Date;
  /** How long it is valid (default: one year). */
  validForMs?: number;
}

const OID = {
  ecPublicKey: "1.2.840.10045.2.1",
  ecdsaWithSha256: "1.2.840.10045.4.3.2",
  commonName: "2.5.4.3",
  subjectAltName: "2.5.29.17",
  basicConstraints: "2.5.29.19",
  keyUsage: "2.5.29.15",
  extKeyUsage: "2.5.29.37",
  serverAuth: "1.3.6.1.5.5.7.3.1",
};

/** A fresh ECDSA P-256 key and a self-signed certificate for it, valid for `altNames`. */
export function selfSignedCertificate(options: SelfSignedOptions): ServingCertificate {
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
  const notBefore = options.notBefore ?? new Date(Date.now() - 3_600_000);
  const notAfter = new Date(notBefore.getTime() + (options.validForMs ?? 365 * 24 * 3_600_000));
  const name = seq(set(seq(oid(OID.commonName), utf8(options.commonName))));
  const algorithm = seq(oid(OID.ecdsaWithSha256));
  // A positive serial of 16 random bytes (RFC 5280: at most 20 octets).
  const serial = randomBytes(16);
  serial[0] = serial[0]! & 0x7f;

  const altNames = options.altNames.map((n) => {
    if (isIP(n) === 4) return tlv(0x87, Buffer.from(n.split(".").map(Number)));
    if (isIP(n) === 6) return tlv(0x87, ipv6Bytes(n));
    return tlv(0x82, Buffer.from(n, "ascii"));
  });
  const extensions = tlv(
    0xa3,
    seq(
      extension(OID.basicConstraints, true, seq()),
      // digitalSignature only: an ECDSA key signs the TLS handshake.
      extension(OID.keyUsage, true, tlv(0x03, Buffer.from([0x07, 0x80]))),
      extension(OID.extKeyUsage, false, seq(oid(OID.serverAuth))),
      extension(OID.subjectAltName, false, seq(...altNames)),
    ),
  );
  const tbs = seq(
    tlv(0xa0, integer(Buffer.from([2]))), // version 3
    integer(serial),
    algorithm,
    name,
    seq(time(notBefore), time(notAfter)),
    name,
    publicKey.export({ type: "spki", format: "der" }),
    extensions,
  );
  // Node's ECDSA signatures are DER (r, s) sequences, the form X.509 wants.
  const signature = sign("sha256", tbs, privateKey);
  const der = seq(tbs, algorithm, tlv(0x03, Buffer.concat([Buffer.from([0]), signature])));
  return {
    cert: pem("CERTIFICATE", der),
    key: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
  };
}

function pem(label: string, der: Buffer): string {
  const lines = der.toString("base64").match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
}

function length(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

function tlv(tag: number, content: Buffer): Buffer {
  return Buffer.concat([Buffer.from([tag]), length(content.length), content]);
}

const seq = (...items: Buffer[]) => tlv(0x30, Buffer.concat(items));
const set = (...items: Buffer[]) => tlv(0x31, Buffer.concat(items));
const utf8 = (s: string) => tlv(0x0c, Buffer.from(s, "utf8"));
const octets = (b: Buffer) => tlv(0x04, b);
const boolTrue = () => tlv(0x01, Buffer.from([0xff]));

/** A non-negative INTEGER from big-endian bytes (a leading 0 when the high bit is set). */
function integer(bytes: Buffer): Buffer {
  return tlv(0x02, bytes[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), bytes]) : bytes);
}

function oid(dotted: string): Buffer {
  const [a, b, ...rest] = dotted.split(".").map(Number);
  const out = [a! * 40 + b!];
  for (const n of rest) {
    const base128 = [n & 0x7f];
    for (let v = Math.floor(n / 128); v > 0; v = Math.floor(v / 128)) base128.unshift((v & 0x7f) | 0x80);
    out.push(...base128);
  }
  return tlv(0x06, Buffer.from(out));
}

/** UTCTime through 2049, GeneralizedTime after (RFC 5280 4.1.2.5). */
function time(d: Date): Buffer {
  const iso = d.toISOString().replace(/[-:T]/g, "").slice(0, 14); // YYYYMMDDHHMMSS
  return d.getUTCFullYear() < 2050
    ? tlv(0x17, Buffer.from(`${iso.slice(2)}Z`, "ascii"))
    : tlv(0x18, Buffer.from(`${iso}Z`, "ascii"));
}

function extension(id: string, critical: boolean, value: Buffer): Buffer {
  return critical ? seq(oid(id), boolTrue(), octets(value)) : seq(oid(id), octets(value));
}

function ipv6Bytes(address: string): Buffer {
  const [head, tail] = address.split("::") as [string, string | undefined];
  const part = (s: string | undefined) => (s ? s.split(":").filter((g) => g !== "") : []);
  const h = part(head);
  const t = part(tail);
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill("0"), ...t];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}
