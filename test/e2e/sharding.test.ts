// Sharding against the real control plane (docs/sharding.md): two shard operators
// (--watch-label-selector=mlops.dev/shard=a, =b) and the default instance
// (!mlops.dev/shard), each with leader election in a Lease of its own and its own POD_NAME,
// which its user agent carries into the API server's audit log. Each ModelDeployment is
// written by exactly one of them; relabelling one in the middle of a canary moves it, and the
// old shard sends no write after the new shard's first.
import { expect } from "chai";
import { randomBytes } from "node:crypto";
import { createNamespace, kubectl, kubectlJson, waitFor } from "../support/kube.ts";
import { applyMd, isReady, modelDeployment, operatorWrites, waitForMd } from "../support/md.ts";
import { FakeModelServer } from "../support/model-server.ts";
import { startOperator, type OperatorProcess } from "../support/operator.ts";

const SHARD = "mlops.dev/shard";
/** The three ModelDeployments, named so that each one's children and Events start with its name. */
const ALPHA = "alpha";
const BRAVO = "bravo";
const CHARLIE = "charlie";

type Write = ReturnType<typeof operatorWrites>[number];

/** The POD_NAME in a user agent "model-rollout-operator/v1alpha1 (POD_NAME)". */
const instanceOf = (w: Write) => /\(([^)]+)\)$/.exec(w.userAgent)?.[1] ?? "(none)";

/** Which ModelDeployment a write is about: its own object, or a child or Event named after it. */
function modelOf(w: Write): string | undefined {
  const name = w.objectRef?.name ?? "";
  return [ALPHA, BRAVO, CHARLIE].find(
    (m) => name === m || name.startsWith(`${m}-`) || name.startsWith(`${m}.`),
  );
}

describe("sharding: two shards and the default instance", function () {
  this.timeout(300_000);
  let models: FakeModelServer;
  let ns: string;
  let cleanup: () => Promise<void>;
  let lease: string;
  const operators: OperatorProcess[] = [];

  /** One instance: its selector, its Lease, its name in the audit log. */
  const instance = async (podName: string, selector: string, leaseName: string) => {
    const op = await startOperator({
      namespace: ns,
      args: [
        `--watch-label-selector=${selector}`,
        "--leader-elect",
        `--leader-election-namespace=${ns}`,
        `--leader-election-id=${leaseName}`,
        "--leader-elect-lease-duration=6s",
        "--leader-elect-renew-deadline=4s",
        "--leader-elect-retry-period=1s",
      ],
      env: { POD_NAME: podName },
    });
    operators.push(op);
    return op;
  };
  const holder = async (name: string) =>
    (
      await kubectlJson<{ spec?: { holderIdentity?: string } }>(["-n", ns, "get", "lease", name]).catch(
        () => undefined,
      )
    )?.spec?.holderIdentity;

  /** The writes in this namespace since `since`, of each ModelDeployment, by instance. */
  const writers = (since: Date) => {
    const by = new Map<string, Map<string, Write[]>>();
    for (const w of operatorWrites(since)) {
      if (w.objectRef?.namespace !== ns) continue;
      const model = modelOf(w);
      if (!model) continue;
      const m = by.get(model) ?? new Map<string, Write[]>();
      by.set(model, m);
      m.set(instanceOf(w), [...(m.get(instanceOf(w)) ?? []), w]);
    }
    return by;
  };

  before(async () => {
    models = await FakeModelServer.start();
  });
  after(async () => models.stop());
  beforeEach(async () => {
    ({ name: ns, cleanup } = await createNamespace("sharding"));
    lease = `mro-${randomBytes(3).toString("hex")}`;
  });
  afterEach(async () => {
    await Promise.all(operators.splice(0).map((op) => op.stop("SIGKILL")));
    await cleanup();
  });

  it("reconciles each ModelDeployment in exactly one instance; a relabelled one moves mid-rollout, the old shard silent after the new one's first write", async () => {
    await instance("shard-a", `${SHARD}=a`, `${lease}-a`);
    await instance("shard-b", `${SHARD}=b`, `${lease}-b`);
    await instance("default", `!${SHARD}`, lease);
    // Each leads in its own Lease.
    await waitFor("each instance leads its Lease", async () => {
      const held = [await holder(`${lease}-a`), await holder(`${lease}-b`), await holder(lease)];
      return held.join(",") === "shard-a,shard-b,default" && held;
    });

    const url = `${models.url}/{{version}}/ready`;
    const spec = (name: string, version: string, shard: string | undefined, steps: unknown[]) => {
      const md = modelDeployment(name, {
        version,
        replicas: 4,
        strategy: { canary: { steps } },
        healthChecks: { interval: "1s", checks: [{ name: "ready", http: { url } }] },
      }) as { metadata: Record<string, unknown> };
      return { ...md, metadata: { ...md.metadata, ...(shard ? { labels: { [SHARD]: shard } } : {}) } };
    };
    const since = new Date();
    await applyMd(ns, spec(ALPHA, "1.0.0", "a", [{ setWeight: 50 }]));
    await applyMd(ns, spec(BRAVO, "1.0.0", "b", [{ setWeight: 50 }]));
    await applyMd(ns, spec(CHARLIE, "1.0.0", undefined, [{ setWeight: 50 }]));
    for (const name of [ALPHA, BRAVO, CHARLIE])
      await waitForMd(ns, name, `${name} 1.0.0 Ready`, isReady, 90_000);

    const first = writers(since);
    expect([...(first.get(ALPHA)?.keys() ?? [])], "alpha: written by shard-a alone").to.deep.equal([
      "shard-a",
    ]);
    expect([...(first.get(BRAVO)?.keys() ?? [])], "bravo: written by shard-b alone").to.deep.equal([
      "shard-b",
    ]);
    expect(
      [...(first.get(CHARLIE)?.keys() ?? [])],
      "charlie: written by the default instance alone",
    ).to.deep.equal(["default"]);

    // A canary of alpha on shard-a, measuring every second; moved to shard b in its first pause.
    await applyMd(
      ns,
      spec(ALPHA, "2.0.0", "a", [
        { setWeight: 25 },
        { pause: { duration: "5s" } },
        { setWeight: 50 },
        { pause: { duration: "5s" } },
      ]),
    );
    await waitForMd(ns, ALPHA, "alpha paused at 25%", (m) => m.status?.candidateWeight === 25, 90_000);
    const movedAt = new Date();
    await kubectl(["-n", ns, "label", "md", ALPHA, `${SHARD}=b`, "--overwrite"]);
    const done = await waitForMd(
      ns,
      ALPHA,
      "alpha 2.0.0 promoted after the move",
      (m) => isReady(m) && m.status?.stableVersion === "2.0.0",
      120_000,
    );
    expect(done.status?.history?.[0]).to.include({ version: "2.0.0", outcome: "Promoted" });

    const afterMove = writers(movedAt).get(ALPHA) ?? new Map<string, Write[]>();
    const byB = afterMove.get("shard-b") ?? [];
    expect(byB.length, "shard-b carried the rollout on").to.be.greaterThan(0);
    const firstByB = byB.map((w) => w.time).sort()[0]!;
    const byA = afterMove.get("shard-a") ?? [];
    console.log(
      `      after the move: ${byA.length} write(s) by shard-a (all before ${firstByB}), ${byB.length} by shard-b`,
    );
    expect(
      byA.filter((w) => w.time >= firstByB).map((w) => `${w.time} ${w.verb} ${w.uri} ${w.code}`),
      "no write of shard-a after shard-b's first",
    ).to.deep.equal([]);
    expect([...afterMove.keys()].filter((k) => k !== "shard-a" && k !== "shard-b")).to.deep.equal([]);

    // Unlabelled: the default instance takes bravo, and acts on a change of its spec.
    const unlabelledAt = new Date();
    await kubectl(["-n", ns, "label", "md", BRAVO, `${SHARD}-`]);
    await kubectl(["-n", ns, "patch", "md", BRAVO, "--type=merge", "-p", '{"spec":{"replicas":3}}']);
    await waitForMd(ns, BRAVO, "bravo at 3 replicas", (m) => isReady(m) && m.status?.replicas === 3, 90_000);
    const bravo = writers(unlabelledAt).get(BRAVO) ?? new Map<string, Write[]>();
    const byDefault = bravo.get("default") ?? [];
    expect(byDefault.length, "the default instance acted on bravo").to.be.greaterThan(0);
    const firstByDefault = byDefault.map((w) => w.time).sort()[0]!;
    expect(
      (bravo.get("shard-b") ?? []).filter((w) => w.time >= firstByDefault).map((w) => `${w.verb} ${w.uri}`),
      "no write of shard-b after the default instance's first",
    ).to.deep.equal([]);

    // Over the whole test, charlie never left the default instance.
    expect([...(writers(since).get(CHARLIE)?.keys() ?? [])]).to.deep.equal(["default"]);
  });
});
