// The plugin's only contact with the API server: read ModelDeployments, their version
// Deployments and Events, annotate an action, and watch for changes. Errors become
// CliErrors whose messages say what to do.
import {
  AppsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  PatchStrategy,
  Watch,
  setHeaderOptions,
  type CoreV1Event,
  type V1Deployment,
} from "@kubernetes/client-node";
import { ANNOTATION_ACTION, GROUP, KIND, LABEL_MODEL, PLURAL, VERSION } from "../api/constants.ts";
import type { ModelDeployment } from "../api/types.ts";
import { EXIT } from "./args.ts";
import type { EventRow } from "./format.ts";

/** An error to print as it is, with the exit code to leave with. */
export class CliError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode: number = EXIT.error) {
    super(message);
    this.name = "CliError";
    this.exitCode = exitCode;
  }
}

export interface ConnectOptions {
  kubeconfig: string | undefined;
  context: string | undefined;
  namespace: string | undefined;
}

export interface Connection {
  kc: KubeConfig;
  /** --namespace, else the context's namespace, else "default". */
  namespace: string;
}

/** Loads the kubeconfig as kubectl would (--kubeconfig, else $KUBECONFIG, else ~/.kube/config). */
export function connect(opts: ConnectOptions): Connection {
  const kc = new KubeConfig();
  try {
    if (opts.kubeconfig) kc.loadFromFile(opts.kubeconfig);
    else kc.loadFromDefault();
  } catch (err) {
    throw new CliError(
      `cannot read the kubeconfig ${opts.kubeconfig ?? process.env.KUBECONFIG ?? "~/.kube/config"}: ${message(err)}`,
    );
  }
  if (opts.context) {
    if (!kc.getContextObject(opts.context)) {
      const known = kc.getContexts().map((c) => c.name);
      throw new CliError(
        `context "${opts.context}" is not in the kubeconfig${known.length ? `; it has: ${known.join(", ")}` : ""}`,
      );
    }
    kc.setCurrentContext(opts.context);
  }
  if (!kc.getCurrentCluster()) {
    throw new CliError(
      "no cluster configured: set KUBECONFIG, pass --kubeconfig FILE, or pick a context with --context NAME",
    );
  }
  const ctxNamespace = kc.getContextObject(kc.getCurrentContext())?.namespace;
  return { kc, namespace: opts.namespace ?? (ctxNamespace || "default") };
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

interface ApiErrorLike {
  code?: number;
  body?: unknown;
}

function statusBody(err: ApiErrorLike): { message?: string; reason?: string; details?: { name?: string } } {
  let body = err.body;
  if (typeof body === "string") {
    const text = body;
    try {
      body = JSON.parse(text);
    } catch {
      return { message: text };
    }
  }
  return body && typeof body === "object" ? (body as { message?: string }) : {};
}

const CRD_HINT =
  `the ModelDeployment CRD (${PLURAL}.${GROUP}) is not installed in this cluster: ` +
  "run `kubectl apply -f crds/` from the model-rollout-operator repository, or install its Helm chart";

/** Turns an error of the API client into a CliError that says what happened and what to do. */
export function explainError(
  err: unknown,
  kc: KubeConfig,
  what: { namespace?: string; name?: string },
): CliError {
  if (err instanceof CliError) return err;
  const e = err as ApiErrorLike & { cause?: { code?: string }; code?: unknown };
  const server = kc.getCurrentCluster()?.server ?? "the API server";
  if (typeof e.code === "number") {
    const st = statusBody(e);
    if (e.code === 404) {
      // A missing object names itself in details; a missing resource type does not.
      if (what.name && st.details?.name) {
        return new CliError(`ModelDeployment "${what.name}" not found in namespace "${what.namespace}"`);
      }
      return new CliError(CRD_HINT);
    }
    if (e.code === 401)
      return new CliError(`not authenticated to ${server}: ${st.message ?? "401 Unauthorized"}`);
    if (e.code === 403) return new CliError(`not allowed: ${st.message ?? "403 Forbidden"}`);
    return new CliError(`the API server answered ${e.code}: ${st.message ?? message(err)}`);
  }
  const code = e.cause?.code ?? (typeof e.code === "string" ? e.code : undefined);
  if (
    code === "ECONNREFUSED" ||
    code === "ENOTFOUND" ||
    code === "EHOSTUNREACH" ||
    code === "ETIMEDOUT" ||
    /fetch failed|ECONNREFUSED/.test(message(err))
  ) {
    return new CliError(
      `cannot reach the API server at ${server} (${code ?? message(err)}); check --kubeconfig and --context`,
    );
  }
  return new CliError(message(err));
}

const MD_PATH = (namespace: string) => `/apis/${GROUP}/${VERSION}/namespaces/${namespace}/${PLURAL}`;

/** Reads and writes what the plugin needs. */
export class Cluster {
  readonly kc: KubeConfig;
  readonly namespace: string;
  readonly #custom: CustomObjectsApi;
  readonly #core: CoreV1Api;
  readonly #apps: AppsV1Api;

  constructor(conn: Connection) {
    this.kc = conn.kc;
    this.namespace = conn.namespace;
    this.#custom = conn.kc.makeApiClient(CustomObjectsApi);
    this.#core = conn.kc.makeApiClient(CoreV1Api);
    this.#apps = conn.kc.makeApiClient(AppsV1Api);
  }

  async #call<T>(what: { namespace?: string; name?: string }, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw explainError(err, this.kc, what);
    }
  }

  getModelDeployment(name: string): Promise<ModelDeployment> {
    const namespace = this.namespace;
    return this.#call({ namespace, name }, async () => {
      return (await this.#custom.getNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        namespace,
        plural: PLURAL,
        name,
      })) as ModelDeployment;
    });
  }

  /** Every ModelDeployment of the namespace, or of all namespaces. */
  listModelDeployments(allNamespaces: boolean): Promise<ModelDeployment[]> {
    return this.#call({ namespace: this.namespace }, async () => {
      const list = (
        allNamespaces
          ? await this.#custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural: PLURAL })
          : await this.#custom.listNamespacedCustomObject({
              group: GROUP,
              version: VERSION,
              namespace: this.namespace,
              plural: PLURAL,
            })
      ) as { items?: ModelDeployment[] };
      return list.items ?? [];
    });
  }

  /** The version Deployments of a ModelDeployment (label mlops.dev/model=NAME, owned by it when uid is given). */
  listVersionDeployments(name: string, uid?: string): Promise<V1Deployment[]> {
    return this.#call({ namespace: this.namespace }, async () => {
      const list = await this.#apps.listNamespacedDeployment({
        namespace: this.namespace,
        labelSelector: `${LABEL_MODEL}=${name}`,
      });
      return list.items.filter((d) => !uid || (d.metadata?.ownerReferences ?? []).some((o) => o.uid === uid));
    });
  }

  /** Events about a ModelDeployment (written through events.k8s.io/v1 or core/v1; both are listed here). */
  listEvents(name: string, uid?: string): Promise<(EventRow & { name: string })[]> {
    return this.#call({ namespace: this.namespace }, async () => {
      const list = await this.#core.listNamespacedEvent({
        namespace: this.namespace,
        fieldSelector: `involvedObject.kind=${KIND},involvedObject.name=${name}`,
      });
      return list.items
        .filter((e) => !uid || !e.involvedObject.uid || e.involvedObject.uid === uid)
        .map(toEventRow);
    });
  }

  /** Sets mlops.dev/action with a merge patch, as `kubectl annotate --overwrite` does. Returns the patched object. */
  annotateAction(name: string, action: string): Promise<ModelDeployment> {
    const namespace = this.namespace;
    return this.#call({ namespace, name }, async () => {
      return (await this.#custom.patchNamespacedCustomObject(
        {
          group: GROUP,
          version: VERSION,
          namespace,
          plural: PLURAL,
          name,
          body: { metadata: { annotations: { [ANNOTATION_ACTION]: action } } },
        },
        setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
      )) as ModelDeployment;
    });
  }

  /**
   * Calls onChange whenever the ModelDeployment, its version Deployments or its Events change
   * (watches restarted after they end). Returns a function that stops watching.
   */
  watchChanges(name: string, onChange: () => void): () => void {
    const ns = this.namespace;
    const sources: [string, Record<string, string>][] = [
      [MD_PATH(ns), { fieldSelector: `metadata.name=${name}` }],
      [`/apis/apps/v1/namespaces/${ns}/deployments`, { labelSelector: `${LABEL_MODEL}=${name}` }],
      [
        `/api/v1/namespaces/${ns}/events`,
        { fieldSelector: `involvedObject.kind=${KIND},involvedObject.name=${name}` },
      ],
    ];
    let stopped = false;
    const controllers = new Set<AbortController>();
    const timers = new Set<NodeJS.Timeout>();
    const watch = new Watch(this.kc);
    const start = (path: string, query: Record<string, string>) => {
      if (stopped) return;
      let ctrl: AbortController | undefined;
      const restart = () => {
        if (ctrl) controllers.delete(ctrl);
        if (stopped) return;
        const t = setTimeout(() => {
          timers.delete(t);
          start(path, query);
        }, 1000);
        timers.add(t);
      };
      watch
        .watch(path, query, () => onChange(), restart)
        .then((c) => {
          ctrl = c;
          if (stopped) c.abort();
          else controllers.add(c);
        })
        .catch(restart);
    };
    for (const [path, query] of sources) start(path, query);
    return () => {
      stopped = true;
      for (const t of timers) clearTimeout(t);
      for (const c of controllers) c.abort();
    };
  }
}

function isoTime(t: unknown): string | undefined {
  if (t === undefined || t === null) return undefined;
  if (t instanceof Date) return Number.isNaN(t.getTime()) ? undefined : t.toISOString();
  return String(t);
}

export function toEventRow(e: CoreV1Event): EventRow & { name: string } {
  return {
    name: e.metadata?.name ?? "",
    type: e.type ?? "Normal",
    reason: e.reason ?? "",
    message: e.message ?? "",
    time: isoTime(
      e.series?.lastObservedTime ??
        e.lastTimestamp ??
        e.eventTime ??
        e.firstTimestamp ??
        e.metadata?.creationTimestamp,
    ),
    count: e.series?.count ?? e.count ?? 1,
  };
}
