// The API client's token bucket (--kube-api-qps, --kube-api-burst).
import { expect } from "chai";
import type { Clock, TimerHandle } from "../../src/controller/queue.ts";
import { rateLimiter, TokenBucket, unlimited } from "../../src/kube/ratelimit.ts";

/** A clock that only moves when advance() is called. */
class ManualClock implements Clock {
  #now = 0;
  #seq = 0;
  readonly #timers = new Map<number, { at: number; fn: () => void }>();
  now(): number {
    return this.#now;
  }
  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = ++this.#seq;
    this.#timers.set(id, { at: this.#now + Math.max(0, ms), fn });
    return id;
  }
  clearTimeout(handle: TimerHandle): void {
    this.#timers.delete(handle as number);
  }
  async advance(ms: number): Promise<void> {
    const target = this.#now + ms;
    for (;;) {
      let next: [number, { at: number; fn: () => void }] | undefined;
      for (const entry of this.#timers)
        if (entry[1].at <= target && (!next || entry[1].at < next[1].at)) next = entry;
      if (!next) break;
      this.#timers.delete(next[0]);
      this.#now = next[1].at;
      next[1].fn();
      await settle();
    }
    this.#now = target;
    await settle();
  }
}

const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

describe("API client rate limit (token bucket)", () => {
  it("lets a burst through at once, then one request per 1/qps seconds, in order", async () => {
    const clock = new ManualClock();
    const bucket = new TokenBucket(10, 3, clock);
    const granted: number[] = [];
    for (let i = 0; i < 6; i++) void bucket.acquire().then(() => granted.push(i));
    await settle();
    expect(granted, "the burst").to.deep.equal([0, 1, 2]);
    await clock.advance(99);
    expect(granted).to.deep.equal([0, 1, 2]);
    await clock.advance(1);
    expect(granted, "after 100 ms, one more").to.deep.equal([0, 1, 2, 3]);
    await clock.advance(200);
    expect(granted).to.deep.equal([0, 1, 2, 3, 4, 5]);
  });

  it("refills up to the burst, not beyond, while idle", async () => {
    const clock = new ManualClock();
    const bucket = new TokenBucket(2, 4, clock);
    for (let i = 0; i < 4; i++) await bucket.acquire();
    expect(bucket.available()).to.equal(0);
    await clock.advance(1000);
    expect(bucket.available()).to.equal(2);
    await clock.advance(60_000);
    expect(bucket.available()).to.equal(4);
  });

  it("sends at most burst + qps * t requests in t seconds however many are asked for", async () => {
    const clock = new ManualClock();
    const bucket = new TokenBucket(5, 10, clock);
    let sent = 0;
    for (let i = 0; i < 1000; i++) void bucket.acquire().then(() => sent++);
    await clock.advance(20_000);
    expect(sent).to.equal(10 + 5 * 20);
  });

  it("gives the token back when the caller gives up", async () => {
    const clock = new ManualClock();
    const bucket = new TokenBucket(1, 1, clock);
    await bucket.acquire();
    const abort = new AbortController();
    const waiting = bucket.acquire(abort.signal);
    abort.abort(new Error("stopped"));
    let err: unknown;
    await waiting.catch((e: unknown) => (err = e));
    expect((err as Error).message).to.equal("stopped");
    await clock.advance(1000);
    expect(bucket.available()).to.equal(1);
  });

  it("qps 0 means no limit; invalid settings are refused", async () => {
    expect(rateLimiter(0, 1)).to.equal(unlimited);
    expect(await unlimited.acquire()).to.equal(0);
    expect(() => new TokenBucket(-1, 1)).to.throw(RangeError);
    expect(() => new TokenBucket(1, 0)).to.throw(RangeError);
  });
});
