// Where the API server is and how to authenticate to it, without @kubernetes/client-node.
//
// client-node's KubeConfig class imports its whole generated API (every typed client and
// model of Kubernetes): about 77 MiB of resident memory in a process that needs none of it.
// The operator talks to the API server with its own requests (kube/request.ts,
// kube/watch.ts), so all it needs from a kubeconfig is the server, its CA and the
// credentials. This reads the common cases itself: the in-cluster service account, and a
// kubeconfig file with certificates, a token or a token file, basic auth. A kubeconfig that
// needs more (an exec credential plugin, an auth provider, a proxy, several files to merge)
// is handed to client-node's KubeConfig, loaded only then: it behaves exactly as before.
import { existsSync, readFileSync } from "node:fs";
import type * as https from "node:https";
import { homedir } from "node:os";
import { dirname, isAbsolute, join } from "node:path";
import { load as parseYaml } from "js-yaml";

/**
 * What the operator needs of a kubeconfig: the current cluster's server (and proxy), and
 * its credentials applied to a request. A client-node KubeConfig has both.
 */
export interface KubeConnection {
  getCurrentCluster(): { server: string; proxyUrl?: string } | null;
  applyToHTTPSOptions(opts: https.RequestOptions): Promise<void>;
}

/** In-cluster service account files (the same paths client-go and client-node read). */
export const SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";

/** A token file is read again after this long: bound service account tokens rotate. */
const TOKEN_FILE_MAX_AGE_MS = 60_000;

interface NamedCluster {
  server?: string;
  "certificate-authority"?: string;
  "certificate-authority-data"?: string;
  "insecure-skip-tls-verify"?: boolean;
  "tls-server-name"?: string;
  [field: string]: unknown;
}
interface NamedUser {
  "client-certificate"?: string;
  "client-certificate-data"?: string;
  "client-key"?: string;
  "client-key-data"?: string;
  token?: string;
  tokenFile?: string;
  username?: string;
  password?: string;
  [field: string]: unknown;
}
interface KubeconfigFile {
  "current-context"?: string;
  clusters?: { name: string; cluster: NamedCluster }[];
  users?: { name: string; user: NamedUser }[];
  contexts?: { name: string; context: { cluster: string; user?: string } }[];
}

/** The fields this loader understands; any other one sends the file to client-node. */
const CLUSTER_FIELDS = new Set([
  "server",
  "certificate-authority",
  "certificate-authority-data",
  "insecure-skip-tls-verify",
  "tls-server-name",
  "extensions",
]);
const USER_FIELDS = new Set([
  "client-certificate",
  "client-certificate-data",
  "client-key",
  "client-key-data",
  "token",
  "tokenFile",
  "username",
  "password",
  "extensions",
]);

/** The server and credentials of one context, as plain data. */
export interface ApiServerCredentials {
  server: string;
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  insecureSkipTlsVerify?: boolean;
  tlsServerName?: string;
  token?: string;
  tokenFile?: string;
  username?: string;
  password?: string;
}

/** A KubeConnection from plain credentials: TLS material and an Authorization header. */
export class StaticKubeConnection implements KubeConnection {
  readonly #c: ApiServerCredentials;
  #token: { value: string; readAt: number } | undefined;

  constructor(credentials: ApiServerCredentials) {
    this.#c = credentials;
  }

  getCurrentCluster(): { server: string } {
    return { server: this.#c.server };
  }

  async applyToHTTPSOptions(opts: https.RequestOptions): Promise<void> {
    const c = this.#c;
    if (c.ca) opts.ca = c.ca;
    if (c.cert) opts.cert = c.cert;
    if (c.key) opts.key = c.key;
    if (c.insecureSkipTlsVerify) opts.rejectUnauthorized = false;
    if (c.tlsServerName) opts.servername = c.tlsServerName;
    const headers = (opts.headers ?? {}) as Record<string, string>;
    const token = this.#bearerToken();
    if (token) headers.Authorization = `Bearer ${token}`;
    else if (c.username !== undefined)
      headers.Authorization = `Basic ${Buffer.from(`${c.username}:${c.password ?? ""}`).toString("base64")}`;
    opts.headers = headers;
  }

  #bearerToken(): string | undefined {
    const c = this.#c;
    if (c.tokenFile) {
      const now = Date.now();
      if (!this.#token || now - this.#token.readAt > TOKEN_FILE_MAX_AGE_MS)
        this.#token = { value: readFileSync(c.tokenFile, "utf8").trim(), readAt: now };
      return this.#token.value;
    }
    return c.token;
  }
}

/**
 * The credentials of the kubeconfig's current context, or undefined when the file needs
 * more than this loader reads (exec, auth-provider, proxy-url, ...). Relative file paths
 * are relative to the kubeconfig's folder, as kubectl reads them.
 */
export function parseKubeconfig(text: string, file: string): ApiServerCredentials | undefined {
  const doc = (parseYaml(text) ?? {}) as KubeconfigFile;
  const contextName = doc["current-context"];
  const context = doc.contexts?.find((c) => c.name === contextName)?.context;
  if (!context) return undefined;
  const cluster = doc.clusters?.find((c) => c.name === context.cluster)?.cluster;
  const user = context.user ? (doc.users?.find((u) => u.name === context.user)?.user ?? {}) : {};
  if (!cluster?.server) return undefined;
  if (Object.keys(cluster).some((k) => !CLUSTER_FIELDS.has(k))) return undefined;
  if (Object.keys(user).some((k) => !USER_FIELDS.has(k))) return undefined;
  const base = dirname(file);
  const path = (p: string) => (isAbsolute(p) ? p : join(base, p));
  const material = (data: string | undefined, p: string | undefined): Buffer | undefined =>
    data !== undefined ? Buffer.from(data, "base64") : p !== undefined ? readFileSync(path(p)) : undefined;
  return {
    server: cluster.server,
    ca: material(cluster["certificate-authority-data"], cluster["certificate-authority"]),
    cert: material(user["client-certificate-data"], user["client-certificate"]),
    key: material(user["client-key-data"], user["client-key"]),
    insecureSkipTlsVerify: cluster["insecure-skip-tls-verify"] === true,
    tlsServerName: cluster["tls-server-name"],
    token: user.token,
    tokenFile: user.tokenFile === undefined ? undefined : path(user.tokenFile),
    username: user.username,
    password: user.password,
  };
}

/** The in-cluster service account's credentials, or undefined outside a pod. */
export function inClusterCredentials(
  env: NodeJS.ProcessEnv,
  dir = SERVICE_ACCOUNT_DIR,
): ApiServerCredentials | undefined {
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT;
  const tokenFile = join(dir, "token");
  if (!host || !port || !existsSync(tokenFile)) return undefined;
  const caFile = join(dir, "ca.crt");
  return {
    server: `https://${host.includes(":") ? `[${host}]` : host}:${port}`,
    ca: existsSync(caFile) ? readFileSync(caFile) : undefined,
    tokenFile,
  };
}

/**
 * The connection to the API server, found the way client-node's loadFromFile() /
 * loadFromDefault() find it: `file`, else $KUBECONFIG, else ~/.kube/config, else the
 * in-cluster service account. What this loader does not read goes to client-node.
 */
export async function loadKubeConnection(
  file: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): Promise<KubeConnection> {
  const fallback = async (load: (kc: import("@kubernetes/client-node").KubeConfig) => void) => {
    const { KubeConfig } = await import("@kubernetes/client-node");
    const kc = new KubeConfig();
    load(kc);
    return kc;
  };
  const fromFile = async (path: string) => {
    const credentials = parseKubeconfig(readFileSync(path, "utf8"), path);
    return credentials ? new StaticKubeConnection(credentials) : fallback((kc) => kc.loadFromFile(path));
  };
  if (file) return fromFile(file);
  const list = env.KUBECONFIG?.split(":").filter(Boolean) ?? [];
  // Several files are merged by client-node's rules.
  if (list.length > 1) return fallback((kc) => kc.loadFromDefault());
  if (list.length === 1) return fromFile(list[0] as string);
  const home = join(env.HOME ?? homedir(), ".kube", "config");
  if (existsSync(home)) return fromFile(home);
  const inCluster = inClusterCredentials(env);
  if (inCluster) return new StaticKubeConnection(inCluster);
  return fallback((kc) => kc.loadFromDefault());
}
