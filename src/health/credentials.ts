// Credentials for health checks, declared by the platform (--check-credentials-file), never
// by a tenant: a CA bundle, a client certificate and key, and a bearer token, each a file
// mounted into the operator's pod (the chart mounts them from Secrets the platform names;
// the operator itself never reads a Secret). A check refers to one by name (`credential:`);
// the platform says which namespaces may use it and, optionally, the only hosts it is sent
// to, so that a tenant cannot send the platform's token to a server of its choosing. Pure:
// parsing the file's text and judging a use; the files are read in credential-files.ts.
import { absolutePath, entryNamespaces, nameList, parseNamedEntries } from "./platform-file.ts";
import type { HealthCheck, ModelDeployment } from "../api/types.ts";
import { computeCheckVars, computeDueCheck } from "../plan/checks.ts";
import type { SpecProblem } from "../plan/validate.ts";

export interface Credential {
  name: string;
  /** Namespaces whose checks may use it; "*" = every namespace. */
  namespaces: readonly string[];
  /** The only hosts it is sent to (exact, or ".suffix"); undefined = any the destination policy allows. */
  hosts?: readonly string[];
  /** PEM CA bundle the server's certificate must chain to (instead of the system's roots). */
  caFile?: string;
  /** PEM client certificate, with keyFile. */
  certFile?: string;
  keyFile?: string;
  /** A file holding a token, sent as `Authorization: Bearer <token>`. */
  bearerTokenFile?: string;
}

export const CREDENTIAL_FILE_FIELDS = ["caFile", "certFile", "keyFile", "bearerTokenFile"] as const;
export type CredentialFileField = (typeof CREDENTIAL_FILE_FIELDS)[number];

const KEYS = new Set(["name", "namespaces", "hosts", ...CREDENTIAL_FILE_FIELDS]);

/**
 * Reads the credentials file:
 *
 *   credentials:
 *     - name: managed-prometheus
 *       namespaces: [team-a, team-b]        # or ["*"]
 *       hosts: [prometheus.example.com]     # optional
 *       caFile: /etc/mro/credentials/prometheus/ca.crt
 *       bearerTokenFile: /etc/mro/credentials/prometheus/token
 *
 * Throws an Error naming the entry and the field that is wrong.
 */
export function parseCredentials(text: string): Credential[] {
  return parseNamedEntries(text, "credentials", "credential", KEYS, (entry, at, name) => {
    const namespaces = entryNamespaces(entry, at, "may use it");
    const credential: Credential = { name, namespaces };
    if (entry.hosts !== undefined) {
      const hosts = nameList(entry.hosts, `${at}.hosts`).map((h) => h.toLowerCase());
      if (hosts.length === 0) throw new Error(`${at}.hosts, when given, must list at least one host`);
      credential.hosts = hosts;
    }
    for (const field of CREDENTIAL_FILE_FIELDS) {
      const path = absolutePath(entry[field], `${at}.${field}`);
      if (path !== undefined) credential[field] = path;
    }
    if ((credential.certFile === undefined) !== (credential.keyFile === undefined))
      throw new Error(`${at}: certFile and keyFile go together`);
    if (!CREDENTIAL_FILE_FIELDS.some((f) => credential[f] !== undefined))
      throw new Error(`${at}: a credential needs at least one of ${CREDENTIAL_FILE_FIELDS.join(", ")}`);
    return credential;
  });
}

export type CredentialVerdict =
  { allowed: true; credential: Credential } | { allowed: false; reason: string };

/** The platform's credentials and who may use them. */
export class CredentialPolicy {
  readonly #byName: Map<string, Credential>;

  constructor(credentials: readonly Credential[]) {
    this.#byName = new Map(credentials.map((c) => [c.name, c]));
  }

  get credentials(): Credential[] {
    return [...this.#byName.values()];
  }

  /** May a check in `namespace` send credential `name` to `host`? */
  judge(name: string, namespace: string, host: string): CredentialVerdict {
    const credential = this.#byName.get(name);
    if (!credential) {
      const declared =
        this.#byName.size === 0 ? "the platform declares none" : "the platform does not declare it";
      return {
        allowed: false,
        reason: `credential ${name} is unknown: ${declared} (--check-credentials-file)`,
      };
    }
    if (!credential.namespaces.includes("*") && !credential.namespaces.includes(namespace))
      return {
        allowed: false,
        reason: `credential ${name} may not be used in namespace ${namespace}: the platform allows it in ${credential.namespaces.join(", ")} (namespaces in --check-credentials-file)`,
      };
    const h = host.toLowerCase().replace(/\.$/, "");
    if (credential.hosts && !credential.hosts.some((p) => hostMatches(h, p)))
      return {
        allowed: false,
        reason: `credential ${name} is not sent to ${h}: the platform allows it only for ${credential.hosts.join(", ")} (hosts in --check-credentials-file)`,
      };
    return { allowed: true, credential };
  }
}

/** The credential a check names, on its http or prometheus part. */
export function credentialOf(check: HealthCheck): string | undefined {
  return check.http?.credential ?? check.prometheus?.credential;
}

/** The host a check's request goes to (its url, its default target, or its Prometheus), or undefined. */
export function hostOf(url: string | undefined): string | undefined {
  if (!url) return undefined;
  try {
    return new URL(url).hostname.replace(/^\[(.*)\]$/, "$1").toLowerCase();
  } catch {
    return undefined;
  }
}

/**
 * The checks whose credential the platform does not allow (unknown, another namespace's, a
 * host it is not sent to): the spec is invalid for this platform (Stalled, InvalidSpec).
 */
export function computeCredentialProblems(md: ModelDeployment, policy: CredentialPolicy): SpecProblem[] {
  const problems: SpecProblem[] = [];
  const version = md.spec?.model?.version;
  if (typeof version !== "string") return problems;
  const vars = computeCheckVars(md, version);
  (md.spec?.healthChecks?.checks ?? []).forEach((check, i) => {
    const name = credentialOf(check);
    if (name === undefined) return;
    let url: string | undefined;
    try {
      url = check.http ? computeDueCheck(md, check, vars).url : check.prometheus?.address;
    } catch {
      return; // validation reports what is wrong with it
    }
    const verdict = policy.judge(name, vars.namespace, hostOf(url) ?? "");
    if (!verdict.allowed)
      problems.push({
        path: `spec.healthChecks.checks[${i}].${check.http ? "http" : "prometheus"}.credential`,
        message: verdict.reason,
      });
  });
  return problems;
}

function hostMatches(host: string, pattern: string): boolean {
  const p = pattern.replace(/\.$/, "");
  return p.startsWith(".") ? host.endsWith(p) && host.length > p.length : host === p;
}
