import { expect } from "chai";
import { ManualClock, settle as oneTurn } from "../support/manual-clock.ts";

/** Lets the queue finish what it can: a worker takes one macrotask turn between keys. */
async function settle(turns = 3): Promise<void> {
  for (let i = 0; i < turns; i++) await oneTurn();
}
import { WorkQueue } from "../../src/controller/queue.ts";

interface Deferred {
  promise: Promise<void>;
  resolve: () => void;
}
function deferred(): Deferred {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

/** Records every handler call; a test may hold a key's handler open with `hold`. */
function recorder() {
  const calls: string[] = [];
  const running = new Map<string, number>();
  let maxConcurrentSameKey = 0;
  const holds = new Map<string, Deferred[]>();
  const handler = async (key: string) => {
    calls.push(key);
    const n = (running.get(key) ?? 0) + 1;
    running.set(key, n);
    maxConcurrentSameKey = Math.max(maxConcurrentSameKey, n);
    try {
      const hold = holds.get(key)?.shift();
      if (hold) await hold.promise;
    } finally {
      running.set(key, (running.get(key) ?? 1) - 1);
    }
  };
  const hold = (key: string): Deferred => {
    const d = deferred();
    holds.set(key, [...(holds.get(key) ?? []), d]);
    return d;
  };
  return { calls, handler, hold, running, maxConcurrent: () => maxConcurrentSameKey };
}

describe("WorkQueue", () => {
  let clock: ManualClock;
  let queue: WorkQueue;
  let done: Promise<void> | undefined;

  beforeEach(() => {
    clock = new ManualClock();
    queue = new WorkQueue({ clock });
    done = undefined;
  });
  afterEach(async () => {
    await queue.shutdown();
    await done;
  });

  it("processes a key added 10 times while waiting once", async () => {
    const rec = recorder();
    for (let i = 0; i < 10; i++) queue.add("ns/a");
    queue.add("ns/b");
    expect(queue.depth).to.equal(2);
    done = queue.run(4, rec.handler);
    await settle();
    expect(rec.calls).to.deep.equal(["ns/a", "ns/b"]);
    expect(queue.stats()).to.include({ depth: 0, processing: 0, adds: 2 });
  });

  it("never runs a key concurrently with itself, and runs it again when added during processing", async () => {
    const rec = recorder();
    const first = rec.hold("ns/a");
    done = queue.run(4, rec.handler);
    queue.add("ns/a");
    await settle();
    expect(rec.calls).to.deep.equal(["ns/a"]);
    // Added three times while its first run is in progress: queued again once, not started.
    queue.add("ns/a");
    queue.add("ns/a");
    queue.add("ns/a");
    await settle();
    expect(rec.calls).to.deep.equal(["ns/a"]);
    expect(queue.stats()).to.include({ processing: 1, depth: 0 });
    first.resolve();
    await settle();
    expect(rec.calls).to.deep.equal(["ns/a", "ns/a"]);
    expect(rec.maxConcurrent()).to.equal(1);
  });

  it("processes different keys in parallel, up to the number of workers", async () => {
    const rec = recorder();
    const holds = ["a", "b", "c"].map((k) => rec.hold(k));
    done = queue.run(2, rec.handler);
    queue.add("a");
    queue.add("b");
    queue.add("c");
    await settle();
    expect(rec.calls).to.deep.equal(["a", "b"]);
    expect(queue.stats()).to.include({ processing: 2, depth: 1 });
    holds[0]!.resolve();
    await settle();
    expect(rec.calls).to.deep.equal(["a", "b", "c"]);
    holds[1]!.resolve();
    holds[2]!.resolve();
  });

  it("hands out low-priority keys only when no normal key waits, and moves a key up when it is added as normal", async () => {
    const rec = recorder();
    for (const k of ["r1", "r2", "r3"]) queue.add(k, "low");
    queue.add("change");
    queue.add("r3"); // a real change of a key that waited as low
    queue.add("change", "low"); // never moves down
    expect(queue.depth).to.equal(4);
    done = queue.run(1, rec.handler);
    await settle(10);
    expect(rec.calls).to.deep.equal(["change", "r3", "r1", "r2"]);
    expect(queue.stats()).to.include({ depth: 0, adds: 4 });
  });

  it("hands out a user's change (high) before a rollout's progress (normal) and a relist (low), and moves a waiting key up to high", async () => {
    const rec = recorder();
    queue.add("r1", "low");
    for (const k of ["p1", "p2", "p3"]) queue.add(k);
    queue.add("user", "high");
    queue.add("p3", "high"); // a user changed a rollout that waited for its progress
    queue.add("user"); // never moves down
    queue.add("r1", "high"); // from low straight to high
    done = queue.run(1, rec.handler);
    await settle(10);
    expect(rec.calls).to.deep.equal(["user", "p3", "r1", "p1", "p2"]);
  });

  it("a normal key added while low keys are being worked on goes next, whatever waits", async () => {
    const rec = recorder();
    const held = rec.hold("r0");
    for (let i = 0; i < 100; i++) queue.add(`r${i}`, "low");
    done = queue.run(1, rec.handler);
    await settle();
    expect(rec.calls).to.deep.equal(["r0"]);
    queue.add("change");
    queue.add("r0"); // added again while being processed, as normal: runs again after "change"
    held.resolve();
    await settle(250);
    expect(rec.calls.slice(0, 4)).to.deep.equal(["r0", "change", "r0", "r1"]);
    expect(rec.calls).to.have.length(102);
  });

  it("processes at most maxLowInFlight low keys at once, keeping the other workers for normal keys", async () => {
    queue = new WorkQueue({ clock, maxLowInFlight: 2 });
    const rec = recorder();
    const holds = ["r0", "r1", "r2"].map((k) => rec.hold(k));
    for (const k of ["r0", "r1", "r2", "r3"]) queue.add(k, "low");
    done = queue.run(4, rec.handler);
    await settle();
    // Four workers, but only two low keys at a time.
    expect(rec.calls).to.deep.equal(["r0", "r1"]);
    queue.add("change");
    await settle();
    expect(rec.calls).to.deep.equal(["r0", "r1", "change"]);
    holds[0]!.resolve();
    await settle(10);
    expect(rec.calls).to.deep.equal(["r0", "r1", "change", "r2"]);
    holds[1]!.resolve();
    holds[2]!.resolve();
    await settle(10);
    expect(rec.calls).to.deep.equal(["r0", "r1", "change", "r2", "r3"]);
    expect(() => new WorkQueue({ maxLowInFlight: 0 })).to.throw(RangeError);
  });

  it("keeps reservedForHigh workers for users' changes while rollouts' progress fills the others", async () => {
    queue = new WorkQueue({ clock, reservedForHigh: 1, maxLowInFlight: 1 });
    const rec = recorder();
    const holds = ["p0", "p1", "p2", "c0", "c1"].map((k) => rec.hold(k));
    for (const k of ["p0", "p1", "p2", "p3"]) queue.add(k);
    queue.add("r0", "low");
    done = queue.run(3, rec.handler);
    await settle();
    // Three workers, one kept: two keys of progress at once, the relist's key waits too.
    expect(rec.calls).to.deep.equal(["p0", "p1"]);
    queue.add("c0", "high");
    await settle();
    expect(rec.calls).to.deep.equal(["p0", "p1", "c0"]);
    // The kept worker is busy: a second change waits for the first free worker, ahead of progress.
    queue.add("c1", "high");
    await settle();
    expect(rec.calls).to.deep.equal(["p0", "p1", "c0"]);
    holds[0]!.resolve();
    await settle(10);
    expect(rec.calls).to.deep.equal(["p0", "p1", "c0", "c1"]);
    // Two changes held, one of progress: the cap counts keys of progress, not workers.
    holds[3]!.resolve();
    await settle(10);
    expect(rec.calls).to.deep.equal(["p0", "p1", "c0", "c1", "p2"]);
    for (const h of holds) h.resolve();
    await settle(20);
    expect(rec.calls).to.deep.equal(["p0", "p1", "c0", "c1", "p2", "p3", "r0"]);
  });

  it("refuses to keep as many workers for changes as it has, or a negative number", async () => {
    expect(() => new WorkQueue({ reservedForHigh: -1 })).to.throw(RangeError);
    expect(() => new WorkQueue({ reservedForHigh: 1.5 })).to.throw(RangeError);
    queue = new WorkQueue({ clock, reservedForHigh: 2 });
    expect(() => queue.run(2, async () => {})).to.throw(RangeError, /less than the workers/);
  });

  it("tells a handler the priority its key was taken at", async () => {
    const rec = recorder();
    const seen: [string, string | undefined][] = [];
    const holdLow = rec.hold("relisted");
    queue.add("relisted", "low");
    queue.add("changed");
    queue.add("created", "high");
    done = queue.run(3, async (key) => {
      seen.push([key, queue.processingPriority(key)]);
      await rec.handler(key);
    });
    await settle();
    expect(seen).to.deep.equal([
      ["created", "high"],
      ["changed", "normal"],
      ["relisted", "low"],
    ]);
    expect(queue.processingPriority("changed")).to.equal(undefined);
    holdLow.resolve();
    await settle();
    expect(queue.processingPriority("relisted")).to.equal(undefined);
  });

  it("backs off exponentially per key with addRateLimited, capped, and forget resets it", async () => {
    queue = new WorkQueue({ clock, baseDelayMs: 5, maxDelayMs: 100 });
    const delays: number[] = [];
    for (let i = 0; i < 7; i++) {
      delays.push(queue.backoffMs("ns/a"));
      queue.addRateLimited("ns/a");
    }
    expect(delays).to.deep.equal([5, 10, 20, 40, 80, 100, 100]);
    expect(queue.numRequeues("ns/a")).to.equal(7);
    expect(queue.backoffMs("ns/b"), "another key has its own backoff").to.equal(5);
    queue.forget("ns/a");
    expect(queue.numRequeues("ns/a")).to.equal(0);
    expect(queue.backoffMs("ns/a")).to.equal(5);
    expect(queue.stats().retries).to.equal(7);
  });

  it("adds a rate-limited key only when its backoff has passed", async () => {
    const rec = recorder();
    done = queue.run(1, rec.handler);
    queue.addRateLimited("ns/a"); // 5 ms
    await clock.advance(4);
    expect(rec.calls).to.deep.equal([]);
    await clock.advance(1);
    expect(rec.calls).to.deep.equal(["ns/a"]);
    queue.addRateLimited("ns/a"); // 10 ms
    await clock.advance(9);
    expect(rec.calls).to.have.length(1);
    await clock.advance(1);
    expect(rec.calls).to.have.length(2);
    queue.forget("ns/a");
    queue.addRateLimited("ns/a"); // 5 ms again
    await clock.advance(5);
    expect(rec.calls).to.have.length(3);
  });

  it("re-adds a key whose handler throws, with backoff, and reports the error", async () => {
    const errors: string[] = [];
    queue = new WorkQueue({ clock, onHandlerError: (key, err) => errors.push(`${key}: ${String(err)}`) });
    let attempts = 0;
    done = queue.run(1, async () => {
      attempts++;
      if (attempts < 3) throw new Error(`attempt ${attempts} failed`);
    });
    queue.add("ns/a");
    await settle();
    expect(attempts).to.equal(1);
    await clock.advance(5);
    expect(attempts).to.equal(2);
    await clock.advance(9);
    expect(attempts, "second retry waits 10 ms").to.equal(2);
    await clock.advance(1);
    expect(attempts).to.equal(3);
    expect(errors).to.deep.equal(["ns/a: Error: attempt 1 failed", "ns/a: Error: attempt 2 failed"]);
  });

  it("addAfter keeps the earliest pending time of a key", async () => {
    const rec = recorder();
    done = queue.run(1, rec.handler);
    queue.addAfter("ns/a", 1000);
    queue.addAfter("ns/a", 100);
    queue.addAfter("ns/a", 500);
    expect(queue.stats().delayed).to.equal(1);
    await clock.advance(99);
    expect(rec.calls).to.deep.equal([]);
    await clock.advance(1);
    expect(rec.calls).to.deep.equal(["ns/a"]);
    await clock.advance(2000);
    expect(rec.calls, "the later times were dropped").to.deep.equal(["ns/a"]);
    expect(clock.pendingTimers).to.equal(0);
  });

  it("addAfter with a delay of 0 adds at once", async () => {
    const rec = recorder();
    done = queue.run(1, rec.handler);
    queue.addAfter("ns/a", 0);
    await settle();
    expect(rec.calls).to.deep.equal(["ns/a"]);
  });

  it("a delayed key that is also added now runs now, and again when its time comes", async () => {
    const rec = recorder();
    done = queue.run(1, rec.handler);
    queue.addAfter("ns/a", 100);
    queue.add("ns/a");
    await settle();
    expect(rec.calls).to.deep.equal(["ns/a"]);
    await clock.advance(100);
    expect(rec.calls).to.deep.equal(["ns/a", "ns/a"]);
  });

  it("shutdown stops taking work and resolves only when in-flight handlers finish", async () => {
    const rec = recorder();
    const inFlight = rec.hold("ns/a");
    done = queue.run(1, rec.handler);
    queue.add("ns/a");
    queue.add("ns/b");
    queue.addAfter("ns/c", 10);
    await settle();
    expect(rec.calls).to.deep.equal(["ns/a"]);

    let shutDown = false;
    const shutdown = queue.shutdown().then(() => (shutDown = true));
    queue.add("ns/d");
    await settle();
    expect(shutDown, "still waiting for ns/a's handler").to.equal(false);
    inFlight.resolve();
    await shutdown;
    await done;
    await clock.advance(100);
    expect(rec.calls, "queued, delayed and later keys are not processed").to.deep.equal(["ns/a"]);
    expect(clock.pendingTimers).to.equal(0);
  });

  it("shutdown of a queue whose workers are idle resolves at once", async () => {
    done = queue.run(3, async () => {});
    await settle();
    await queue.shutdown();
    await done;
  });

  it("reports adds, retries and depth to its observer", async () => {
    const seen = { added: 0, retried: 0, depth: [] as number[] };
    queue = new WorkQueue({
      clock,
      observer: {
        added: () => seen.added++,
        retried: () => seen.retried++,
        depthChanged: (d) => seen.depth.push(d),
      },
    });
    queue.add("a");
    queue.add("a");
    queue.add("b");
    queue.addRateLimited("c");
    expect(seen).to.deep.include({ added: 2, retried: 1 });
    expect(seen.depth.at(-1)).to.equal(2);
    await clock.advance(5);
    expect(seen.added).to.equal(3);
    expect(seen.depth.at(-1)).to.equal(3);
    const rec = recorder();
    done = queue.run(1, rec.handler);
    await settle();
    expect(seen.depth.at(-1)).to.equal(0);
  });

  it("gives timers and I/O a turn while a handler keeps re-adding its own key", async () => {
    // A handler that awaits nothing real: without a macrotask turn between keys, this
    // loop would run in one microtask chain and the timer below would never fire.
    let runs = 0;
    done = queue.run(1, async (key) => {
      runs++;
      queue.add(key);
    });
    queue.add("ns/spin");
    const runsWhenTimerFired = await new Promise<number>((resolve) => setTimeout(() => resolve(runs), 0));
    expect(runsWhenTimerFired).to.be.greaterThan(0).and.lessThan(1000);
  });

  it("refuses a bad worker count and a second run", () => {
    expect(() => queue.run(0, async () => {})).to.throw(RangeError);
    done = queue.run(1, async () => {});
    expect(() => queue.run(1, async () => {})).to.throw(/already running/);
  });
});
