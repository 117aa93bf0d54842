// The benchmark's own API access: plain HTTPS with the kubeconfig's credentials and the
// user agent `model-rollout-bench`, so the API server's audit log tells its requests
// apart from the operator's (`model-rollout-operator/...`). Watches feed the project's
// Informer (a cache kept by list + watch) and record when each change arrived.
import * as https from "node:https";
import { performance } from "node:perf_hooks";
import { createInterface } from "node:readline";
import type { KubeConfig, KubernetesObject } from "@kubernetes/client-node";
import { ApiStatusError, Informer } from "../src/controller/informer.ts";
import {
  collectionPath,
  GoneError,
  type ListWatchSource,
  type ResourceType,
  type WatchEvent,
} from "../src/kube/listwatch.ts";

export const BENCH_USER_AGENT = "model-rollout-bench";

export class BenchKube {
  readonly #kc: KubeConfig;
  readonly #server: string;
  readonly #agent = new https.Agent({ keepAlive: true, maxSockets: 32 });

  constructor(kc: KubeConfig) {
    this.#kc = kc;
    const cluster = kc.getCurrentCluster();
    if (!cluster) throw new Error("the kubeconfig has no current cluster");
    this.#server = cluster.server.replace(/\/+$/, "");
  }

  get kubeConfig(): KubeConfig {
    return this.#kc;
  }

  async #options(method: string, headers: Record<string, string>): Promise<https.RequestOptions> {
    const opts: https.RequestOptions = {
      method,
      headers: { Accept: "application/json", "User-Agent": BENCH_USER_AGENT, ...headers },
    };
    await this.#kc.applyToHTTPSOptions(opts);
    return { ...opts, agent: this.#agent };
  }

  /** One request; resolves with the parsed answer, rejects with ApiStatusError on non-2xx. */
  async request<R>(
    method: string,
    path: string,
    body?: unknown,
    contentType = "application/json",
  ): Promise<R> {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const headers: Record<string, string> = {};
    if (payload) {
      headers["Content-Type"] = contentType;
      headers["Content-Length"] = String(payload.length);
    }
    const opts = await this.#options(method, headers);
    return new Promise<R>((resolve, reject) => {
      const req = https.request(new URL(this.#server + path), { ...opts, timeout: 60_000 }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("error", reject);
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          const code = res.statusCode ?? 0;
          if (code < 200 || code > 299) {
            reject(new ApiStatusError(code, `${method} ${path}: ${code} ${text.slice(0, 300)}`));
            return;
          }
          resolve((text ? JSON.parse(text) : {}) as R);
        });
      });
      req.on("timeout", () => req.destroy(new Error(`${method} ${path}: no answer within 60 s`)));
      req.on("error", reject);
      req.end(payload);
    });
  }

  create<T extends KubernetesObject>(
    resource: ResourceType,
    namespace: string | undefined,
    obj: T,
  ): Promise<T> {
    return this.request<T>("POST", collectionPath(resource, namespace), obj);
  }

  mergePatch<T extends KubernetesObject>(
    resource: ResourceType,
    namespace: string,
    name: string,
    patch: unknown,
  ): Promise<T> {
    return this.request<T>(
      "PATCH",
      `${collectionPath(resource, namespace)}/${encodeURIComponent(name)}`,
      patch,
      "application/merge-patch+json",
    );
  }

  /** Runs `fn` over `items` with at most `concurrency` at a time. */
  static async pool<T>(items: readonly T[], concurrency: number, fn: (item: T, i: number) => Promise<void>) {
    let next = 0;
    const worker = async () => {
      while (next < items.length) {
        const i = next++;
        await fn(items[i] as T, i);
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
  }

  /** A ListWatchSource for the project's Informer, with the benchmark's user agent. */
  listWatch<T extends KubernetesObject>(
    resource: ResourceType,
    namespace: string,
    labelSelector?: string,
  ): ListWatchSource<T> {
    const path = collectionPath(resource, namespace);
    const selector = labelSelector ? `&labelSelector=${encodeURIComponent(labelSelector)}` : "";
    return {
      description: `${resource.plural} in ${namespace} (bench)`,
      list: async () => {
        const page = await this.request<{ items?: T[]; metadata?: { resourceVersion?: string } }>(
          "GET",
          `${path}?limit=0${selector}`,
        );
        return {
          items: (page.items ?? []).map((i) => ({
            ...i,
            apiVersion: resource.apiVersion,
            kind: resource.kind,
          })),
          resourceVersion: page.metadata?.resourceVersion ?? "",
        };
      },
      watch: async (resourceVersion, onEvent, signal) => {
        const opts = await this.#options("GET", {});
        const url = new URL(
          `${this.#server}${path}?watch=true&allowWatchBookmarks=true&timeoutSeconds=1800` +
            `&resourceVersion=${encodeURIComponent(resourceVersion)}${selector}`,
        );
        return new Promise<void>((resolve, reject) => {
          if (signal.aborted) return resolve();
          const req = https.request(url, { ...opts, agent: undefined, signal }, (res) => {
            if (res.statusCode === 410) return reject(new GoneError());
            if (res.statusCode !== 200) {
              res.resume();
              return reject(new ApiStatusError(res.statusCode ?? 0, `watch ${path}: ${res.statusCode}`));
            }
            const lines = createInterface({ input: res });
            lines.on("line", (line) => {
              if (line.trim()) onEvent(JSON.parse(line) as WatchEvent<T>);
            });
            const failed = (err: Error) => (signal.aborted ? resolve() : reject(err));
            lines.on("error", failed);
            res.on("end", () => resolve());
            res.on("error", failed);
          });
          req.on("error", (err) => (signal.aborted ? resolve() : reject(err)));
          req.end();
        });
      },
    };
  }

  /** A started informer; `onChange` is called with each object as it arrives (add or update). */
  async informer<T extends KubernetesObject>(
    resource: ResourceType,
    namespace: string,
    onChange: (obj: T, at: number) => void,
    labelSelector?: string,
  ): Promise<Informer<T>> {
    const inf = new Informer<T>({
      source: this.listWatch<T>(resource, namespace, labelSelector),
      resyncPeriodMs: 0,
    });
    inf.addEventHandler({
      add: (o) => onChange(o, performance.now()),
      update: (_old, o) => onChange(o, performance.now()),
    });
    inf.start();
    await inf.waitForSync();
    return inf;
  }

  close(): void {
    this.#agent.destroy();
  }
}

export const MD_RESOURCE: ResourceType = {
  apiVersion: "mlops.dev/v1alpha1",
  kind: "ModelDeployment",
  plural: "modeldeployments",
};
export const DEPLOYMENT_RESOURCE: ResourceType = {
  apiVersion: "apps/v1",
  kind: "Deployment",
  plural: "deployments",
};
export const SERVICE_RESOURCE: ResourceType = { apiVersion: "v1", kind: "Service", plural: "services" };
export const NAMESPACE_RESOURCE: ResourceType = {
  apiVersion: "v1",
  kind: "Namespace",
  plural: "namespaces",
  namespaced: false,
};
