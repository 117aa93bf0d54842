import { expect } from "chai";
import { KubeConfig, Watch } from "@kubernetes/client-node";
import { setWatchIdleTimeout, WATCH_IDLE_TIMEOUT_MS } from "../../src/kube/listwatch.ts";

describe("list/watch transport: the watch idle timeout", () => {
  // The informers' watches stay open 90 s without a byte instead of client-node's 30 s by
  // writing Watch's private requestTimeoutMs. This fails when a client-node upgrade renames
  // or drops it, so that the upgrade finds another way instead of reopening watches twice a
  // minute unnoticed.
  it("client-node's Watch still has the private requestTimeoutMs that it reads, at 30 s by default", () => {
    const watcher = new Watch(new KubeConfig());
    expect((watcher as unknown as Record<string, unknown>).requestTimeoutMs).to.equal(30_000);
  });

  it("sets the watch's idle timeout to WATCH_IDLE_TIMEOUT_MS", () => {
    const watcher = new Watch(new KubeConfig());
    setWatchIdleTimeout(watcher, WATCH_IDLE_TIMEOUT_MS);
    expect((watcher as unknown as Record<string, unknown>).requestTimeoutMs).to.equal(90_000);
  });

  it("refuses a Watch without the field instead of quietly keeping 30 s", () => {
    const renamed = { idleTimeoutMs: 30_000 } as unknown as Watch;
    expect(() => setWatchIdleTimeout(renamed, WATCH_IDLE_TIMEOUT_MS)).to.throw(/requestTimeoutMs/);
  });
});
