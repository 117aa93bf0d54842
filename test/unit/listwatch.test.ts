import { expect } from "chai";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { KubernetesObject } from "@kubernetes/client-node";
import { StaticKubeConnection } from "../../src/kube/kubeconfig.ts";
import { kubeListWatch, WATCH_IDLE_TIMEOUT_MS } from "../../src/kube/listwatch.ts";
import { USER_AGENT } from "../../src/kube/request.ts";

describe("list/watch transport: the operator's own watch", () => {
  let server: Server;
  let seen: IncomingMessage[];
  let onWatch: (res: ServerResponse) => void;
  let server_url = "";

  beforeEach(async () => {
    seen = [];
    onWatch = (res) => res.end();
    server = createServer((req, res) => {
      seen.push(req);
      res.setHeader("content-type", "application/json");
      onWatch(res);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    server_url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterEach(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  const deployments = { apiVersion: "apps/v1", kind: "Deployment", plural: "deployments" };

  it("keeps an idle watch open for 90 s by default (the API server's bookmarks come about every minute)", () => {
    expect(WATCH_IDLE_TIMEOUT_MS).to.equal(90_000);
  });

  it("ends a watch cleanly when no byte came for the idle timeout, so that the informer reopens it", async () => {
    onWatch = (res) => {
      res.write(
        JSON.stringify({ type: "ADDED", object: { metadata: { name: "a", resourceVersion: "43" } } }) + "\n",
      );
      // then silence, connection open
    };
    const codes: string[] = [];
    const source = kubeListWatch<KubernetesObject>(
      new StaticKubeConnection({ server: server_url }),
      deployments,
      {
        watchIdleTimeoutMs: 150,
        onRequest: (method, code) => codes.push(`${method} ${code}`),
      },
    );
    const events: string[] = [];
    await source.watch(
      "42",
      (e) => events.push(`${e.type} ${e.object.metadata?.name}`),
      new AbortController().signal,
    );
    expect(events).to.deep.equal(["ADDED a"]);
    expect(codes, "one request, counted once").to.deep.equal(["GET 200"]);
  });

  it("sends the operator's user agent and the kubeconfig's credentials with the watch", async () => {
    const source = kubeListWatch<KubernetesObject>(
      new StaticKubeConnection({ server: server_url, token: "secret-token" }),
      deployments,
    );
    await source.watch("1", () => {}, new AbortController().signal);
    expect(seen[0]?.headers["user-agent"]).to.equal(USER_AGENT);
    expect(seen[0]?.headers.authorization).to.equal("Bearer secret-token");
    expect(new URL(seen[0]?.url ?? "", server_url).searchParams.get("watch")).to.equal("true");
  });

  it("rejects with the API server's message when a watch is refused, and counts the answer", async () => {
    onWatch = (res) => {
      res.statusCode = 403;
      res.end(JSON.stringify({ kind: "Status", code: 403, message: "deployments is forbidden" }));
    };
    const codes: number[] = [];
    const source = kubeListWatch<KubernetesObject>(
      new StaticKubeConnection({ server: server_url }),
      deployments,
      {
        onRequest: (_m, code) => codes.push(code),
      },
    );
    const err = await source
      .watch("1", () => {}, new AbortController().signal)
      .then(
        () => undefined,
        (e: unknown) => e as Error,
      );
    expect(err?.message).to.match(/403 deployments is forbidden/);
    expect(codes).to.deep.equal([403]);
  });

  it("fails a watch whose stream is not JSON lines instead of skipping events", async () => {
    onWatch = (res) => res.end("not json\n");
    const source = kubeListWatch<KubernetesObject>(
      new StaticKubeConnection({ server: server_url }),
      deployments,
    );
    const err = await source
      .watch("1", () => {}, new AbortController().signal)
      .then(
        () => undefined,
        (e: unknown) => e as Error,
      );
    expect(err?.message).to.match(/invalid JSON/);
  });
});
