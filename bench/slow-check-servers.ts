// The slow health-check targets of the slow-checks case: HTTP servers on 127.0.0.1, each on
// its own port (so each is its own destination host:port for the operator's per-destination
// cap), answering every request with 200 after a fixed delay. They count what they received
// and how many requests were in flight at once, overall and in a window the case marks.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export interface CheckServerWindow {
  /** Requests that arrived since the window was marked. */
  received: number;
  /** Most requests in flight at once (arrived, not yet answered) since the mark. */
  peakInFlight: number;
  /** In flight when the window was marked. */
  inFlightAtMark: number;
}

export class SlowCheckServers {
  readonly #servers: Server[] = [];
  #inFlight = 0;
  /** Requests received by rollout (the ?rollout= of each check's URL). */
  readonly #measured = new Map<string, number>();
  #received = 0;
  #peakInFlight = 0;
  #mark = { received: 0, inFlight: 0, peak: 0 };
  /** In flight by rollout (the ?rollout= of each check's URL), and the most for any one. */
  readonly #byRollout = new Map<string, number>();
  #peakPerRollout = 0;

  readonly delayMs: number;

  private constructor(delayMs: number) {
    this.delayMs = delayMs;
  }

  /** Starts `count` servers on 127.0.0.1, each answering after `delayMs`. */
  static async start(count: number, delayMs: number): Promise<SlowCheckServers> {
    const s = new SlowCheckServers(delayMs);
    for (let i = 0; i < count; i++) {
      const server = createServer((req, res) => {
        s.#received++;
        s.#inFlight++;
        s.#peakInFlight = Math.max(s.#peakInFlight, s.#inFlight);
        s.#mark.peak = Math.max(s.#mark.peak, s.#inFlight);
        const rollout = new URL(req.url ?? "/", "http://127.0.0.1").searchParams.get("rollout") ?? "";
        s.#measured.set(rollout, (s.#measured.get(rollout) ?? 0) + 1);
        const mine = (s.#byRollout.get(rollout) ?? 0) + 1;
        s.#byRollout.set(rollout, mine);
        s.#peakPerRollout = Math.max(s.#peakPerRollout, mine);
        req.resume();
        let open = true;
        const done = () => {
          if (!open) return;
          open = false;
          s.#inFlight--;
          const left = (s.#byRollout.get(rollout) ?? 1) - 1;
          if (left > 0) s.#byRollout.set(rollout, left);
          else s.#byRollout.delete(rollout);
        };
        // A request the operator gave up on (its timeout, a stop) is no longer in flight.
        res.once("close", done);
        setTimeout(() => {
          if (res.destroyed) return done();
          res.writeHead(200, { "content-type": "text/plain" }).end("ready\n");
        }, delayMs);
      });
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
      s.#servers.push(server);
    }
    return s;
  }

  /** http://127.0.0.1:PORT/ready?rollout=NAME on server `i % count`. */
  url(i: number, rollout: string): string {
    const server = this.#servers[i % this.#servers.length] as Server;
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}/ready?rollout=${encodeURIComponent(rollout)}`;
  }

  get count(): number {
    return this.#servers.length;
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  /** Rollouts whose check has been received at least once. */
  get measuredRollouts(): number {
    return this.#measured.size;
  }

  /** Rollouts whose check has been received at least `times` times. */
  rolloutsMeasured(times: number): number {
    let n = 0;
    for (const count of this.#measured.values()) if (count >= times) n++;
    return n;
  }

  get received(): number {
    return this.#received;
  }

  get peakInFlight(): number {
    return this.#peakInFlight;
  }

  /** The most requests of one rollout in flight at once. */
  get peakInFlightPerRollout(): number {
    return this.#peakPerRollout;
  }

  /** Starts a new window: window() counts from here. */
  markWindow(): void {
    this.#mark = { received: this.#received, inFlight: this.#inFlight, peak: this.#inFlight };
  }

  window(): CheckServerWindow {
    return {
      received: this.#received - this.#mark.received,
      peakInFlight: this.#mark.peak,
      inFlightAtMark: this.#mark.inFlight,
    };
  }

  async stop(): Promise<void> {
    await Promise.all(
      this.#servers.map((server) => {
        server.closeAllConnections();
        return new Promise<void>((r) => server.close(() => r()));
      }),
    );
  }
}
