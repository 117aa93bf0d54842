// Leader election against an in-memory Lease (with resourceVersions and 409 Conflicts,
import { ManualClock, settle } from "../support/manual-clock.ts";
// like the API server's) on a clock that moves only when the test says so.
import { expect } from "chai";
import { V1MicroTime, type V1Lease } from "@kubernetes/client-node";
import { LeaderElector, LeaseConflictError, type LeaseClient } from "../../src/kube/leader.ts";

const NS = "ops";
const NAME = "model-rollout-operator";

/** The API server's copy of the Lease. */
class LeaseStore {
  lease: V1Lease | undefined;
  #rv = 0;
  /** Successful writes: who wrote which holder. */
  readonly writes: { by: string; holder: string }[] = [];
  put(lease: V1Lease, by: string): V1Lease {
    this.lease = structuredClone({
      ...lease,
      metadata: { ...lease.metadata, resourceVersion: String(++this.#rv) },
    });
    this.writes.push({ by, holder: lease.spec?.holderIdentity ?? "" });
    return structuredClone(this.lease);
  }
}

/** One replica's connection to the store: "up", "hang" (no answer) or "fail" (connection refused). */
class FakeLeaseClient implements LeaseClient {
  mode: "up" | "hang" | "fail" = "up";
  requests = 0;
  /** Called before a create or update is applied: lets a test slip in another writer. */
  beforeWrite: (() => void) | undefined;
  /** Writes are applied, but their answers do not come back (a slow network). */
  holdAnswers = false;
  readonly store: LeaseStore;
  readonly who: string;
  constructor(store: LeaseStore, who: string) {
    this.store = store;
    this.who = who;
  }
  #reach(): Promise<void> {
    this.requests++;
    if (this.mode === "hang") return new Promise(() => {});
    if (this.mode === "fail") return Promise.reject(new Error("connect ECONNREFUSED"));
    return Promise.resolve();
  }
  async get(): Promise<V1Lease | undefined> {
    await this.#reach();
    return this.store.lease && structuredClone(this.store.lease);
  }
  async create(_ns: string, lease: V1Lease): Promise<V1Lease> {
    await this.#reach();
    this.beforeWrite?.();
    if (this.store.lease) throw new LeaseConflictError();
    return this.store.put(lease, this.who);
  }
  async update(_ns: string, lease: V1Lease): Promise<V1Lease> {
    await this.#reach();
    this.beforeWrite?.();
    if (lease.metadata?.resourceVersion !== this.store.lease?.metadata?.resourceVersion)
      throw new LeaseConflictError();
    const written = this.store.put(lease, this.who);
    if (this.holdAnswers) await new Promise(() => {});
    return written;
  }
}

interface Replica {
  elector: LeaderElector;
  client: FakeLeaseClient;
  started: number[];
  stopped: number[];
  leaders: string[];
}

function replica(store: LeaseStore, clock: ManualClock, identity: string): Replica {
  const client = new FakeLeaseClient(store, identity);
  const started: number[] = [];
  const stopped: number[] = [];
  const leaders: string[] = [];
  const elector = new LeaderElector({
    client,
    namespace: NS,
    name: NAME,
    identity,
    clock,
    random: () => 0,
    onStartedLeading: () => started.push(clock.now()),
    onStoppedLeading: () => stopped.push(clock.now()),
    onNewLeader: (id) => leaders.push(id),
  });
  return { elector, client, started, stopped, leaders };
}

/** A Lease as another replica wrote it. */
function heldBy(store: LeaseStore, clock: ManualClock, holder: string): void {
  store.put(
    {
      metadata: { name: NAME, namespace: NS },
      spec: {
        holderIdentity: holder,
        leaseDurationSeconds: 15,
        renewTime: new V1MicroTime(clock.now()),
        leaseTransitions: 3,
      },
    },
    holder,
  );
}

describe("leader election", () => {
  let clock: ManualClock;
  let store: LeaseStore;
  let running: Replica[];
  beforeEach(() => {
    clock = new ManualClock(1_700_000_000_000, { settleFirst: true });
    store = new LeaseStore();
    running = [];
  });
  afterEach(async () => {
    for (const r of running) r.client.mode = "up";
    await Promise.all(running.map((r) => r.elector.stop()));
  });
  const start = (identity: string): Replica => {
    const r = replica(store, clock, identity);
    running.push(r);
    void r.elector.run();
    return r;
  };

  it("takes a Lease that does not exist yet, and renews it every retry period", async () => {
    const a = start("a");
    await settle();
    expect(a.elector.isLeader()).to.equal(true);
    expect(a.started).to.have.length(1);
    expect(store.lease?.spec).to.deep.include({
      holderIdentity: "a",
      leaseDurationSeconds: 15,
      leaseTransitions: 0,
    });
    const renewTime = () => new Date(store.lease?.spec?.renewTime ?? 0).getTime();
    const firstRenew = renewTime();

    await clock.advance(2_000);
    expect(renewTime() - firstRenew).to.equal(2_000);
    await clock.advance(20_000);
    expect(store.writes.filter((w) => w.by === "a")).to.have.length(12);
    expect(store.lease?.spec?.leaseTransitions, "renewals are not transitions").to.equal(0);
    expect(a.started).to.have.length(1);
    expect(a.stopped).to.deep.equal([]);
  });

  it("renews with one request per retry period (the Lease as it last wrote it), and reads it again when that is refused", async () => {
    const a = start("a");
    await settle();
    expect(a.elector.isLeader()).to.equal(true);
    const before = a.client.requests;
    await clock.advance(20_000);
    expect(a.client.requests - before, "10 renewals, no read before each").to.equal(10);

    heldBy(store, clock, "b"); // someone else wrote the Lease: a's copy is stale
    const writes = store.writes.length;
    await clock.advance(2_000);
    expect(store.writes.length, "the stale renewal was refused, nothing written over b").to.equal(writes);
    expect(a.elector.currentLeader(), "a read the Lease again and saw b").to.equal("b");
  });

  it("leaves a Lease alone while its holder renews it", async () => {
    heldBy(store, clock, "b");
    const a = start("a");
    for (let t = 0; t < 60_000; t += 5_000) {
      await clock.advance(5_000);
      heldBy(store, clock, "b"); // b renews
    }
    expect(a.elector.isLeader()).to.equal(false);
    expect(a.elector.currentLeader()).to.equal("b");
    expect(a.elector.isReady(), "a standby that reaches the API server is ready").to.equal(true);
    expect(store.writes.every((w) => w.by === "b")).to.equal(true);
  });

  it("takes an expired Lease: lease duration after it last saw the holder renew", async () => {
    heldBy(store, clock, "b");
    const a = start("a");
    await clock.advance(14_000);
    expect(a.elector.isLeader(), "not before the lease duration").to.equal(false);
    await clock.advance(2_000);
    expect(a.elector.isLeader()).to.equal(true);
    expect(store.lease?.spec).to.deep.include({ holderIdentity: "a", leaseTransitions: 4 });
    expect(a.leaders).to.deep.equal(["b", "a"]);
  });

  it("takes a released Lease at once", async () => {
    store.put(
      { metadata: { name: NAME, namespace: NS }, spec: { holderIdentity: "", leaseDurationSeconds: 1 } },
      "b",
    );
    const a = start("a");
    await settle();
    expect(a.elector.isLeader()).to.equal(true);
  });

  it("releases the Lease on stop, without calling onStoppedLeading, so a standby takes over within one retry", async () => {
    const a = start("a");
    await settle();
    const b = start("b");
    await clock.advance(4_000);
    expect(b.elector.isLeader()).to.equal(false);

    await a.elector.stop();
    expect(store.lease?.spec).to.deep.include({ holderIdentity: "", leaseDurationSeconds: 1 });
    expect(a.stopped, "a graceful stop is not a lost election").to.deep.equal([]);
    expect(a.elector.isLeader()).to.equal(false);
    const releasedAt = clock.now();
    await clock.advance(2_000);
    expect(b.elector.isLeader()).to.equal(true);
    expect(b.started[0]! - releasedAt).to.be.at.most(2_000);
  });

  it("releases the Lease on stop even when a renewal it gave up on has landed meanwhile", async () => {
    const a = start("a");
    await settle();
    a.client.holdAnswers = true;
    await clock.advance(2_000); // the renewal reaches the API server; its answer never comes back
    const renewals = store.writes.length;
    a.client.holdAnswers = false;
    await a.elector.stop();
    expect(store.writes.length, "the release was written").to.equal(renewals + 1);
    expect(store.lease?.spec).to.deep.include({ holderIdentity: "", leaseDurationSeconds: 1 });
  });

  it("treats a 409 Conflict as another candidate having won", async () => {
    const a = start("a");
    // b creates the Lease between a's read (nothing there) and a's create.
    a.client.beforeWrite = () => {
      a.client.beforeWrite = undefined;
      heldBy(store, clock, "b");
    };
    await settle();
    expect(a.elector.isLeader()).to.equal(false);
    expect(a.started).to.deep.equal([]);
    await clock.advance(2_000);
    expect(a.elector.currentLeader()).to.equal("b");
    expect(a.elector.isLeader()).to.equal(false);
    expect(store.lease?.spec?.holderIdentity, "b's Lease is left alone").to.equal("b");
    expect(store.writes.map((w) => w.by)).to.deep.equal(["b"]);
  });

  for (const mode of ["hang", "fail"] as const) {
    it(`a leader that cannot renew (requests ${mode === "hang" ? "unanswered" : "refused"}) stops within the renew deadline, before a standby can take the Lease`, async () => {
      const a = start("a");
      await settle();
      const b = start("b");
      await clock.advance(4_000);
      const lastRenew = clock.now();
      a.client.mode = mode; // a is cut off from the API server; b is not
      await clock.advance(30_000);

      expect(a.stopped, "onStoppedLeading once").to.have.length(1);
      expect(a.elector.isLeader()).to.equal(false);
      expect(a.stopped[0]! - lastRenew).to.be.at.most(10_000);
      expect(b.started, "b took over").to.have.length(1);
      expect(b.started[0]! - lastRenew, "b waits the whole lease duration").to.be.at.least(15_000);
      expect(a.stopped[0]!, "a stopped before b started").to.be.lessThan(b.started[0]!);
      expect(b.started[0]! - lastRenew, "b within lease duration and one retry").to.be.at.most(
        15_000 + 2_000,
      );
    });
  }

  it("keeps leading through failed renewals that recover before the deadline", async () => {
    const a = start("a");
    await settle();
    a.client.mode = "fail";
    await clock.advance(7_000);
    a.client.mode = "up";
    await clock.advance(10_000);
    expect(a.elector.isLeader()).to.equal(true);
    expect(a.stopped).to.deep.equal([]);
  });

  it("refuses timings that would let two replicas lead at once", () => {
    const client = new FakeLeaseClient(store, "a");
    const base = { client, namespace: NS, name: NAME };
    expect(() => new LeaderElector({ ...base, leaseDurationMs: 10_000, renewDeadlineMs: 10_000 })).to.throw(
      RangeError,
    );
    expect(() => new LeaderElector({ ...base, renewDeadlineMs: 2_000, retryPeriodMs: 2_000 })).to.throw(
      RangeError,
    );
  });
});
