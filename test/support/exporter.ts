// A small metrics exporter for tests: a model server's request and error counters,
// `requests_total{version}` and `errors_total{version}`, that grow at rates the test sets.
// The counters advance when they are scraped (by elapsed time x rate), so their rates
// are exact whatever the scrape timing, and nothing runs between scrapes.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Counter, Registry } from "prom-client";

export interface TrafficRates {
  /** Requests per second served by the version. */
  requests: number;
  /** Of those, failed requests per second. */
  errors: number;
}

export interface ExporterOptions {
  /** Monotonic clock in milliseconds (default performance.now). */
  clock?: () => number;
}

export class Exporter {
  private readonly registry = new Registry();
  private readonly requests: Counter<"version">;
  private readonly errors: Counter<"version">;
  private readonly rates = new Map<string, TrafficRates>();
  private readonly clock: () => number;
  private lastAdvance: number;
  private readonly server: Server;

  private constructor(options: ExporterOptions) {
    this.clock = options.clock ?? (() => performance.now());
    this.lastAdvance = this.clock();
    this.requests = new Counter({
      name: "requests_total",
      help: "Inference requests served.",
      labelNames: ["version"],
      registers: [this.registry],
    });
    this.errors = new Counter({
      name: "errors_total",
      help: "Inference requests that failed.",
      labelNames: ["version"],
      registers: [this.registry],
    });
    this.server = createServer((req, res) => {
      if (req.url !== "/metrics") {
        res.writeHead(404).end("not found\n");
        return;
      }
      this.advance();
      this.registry
        .metrics()
        .then((text) => res.writeHead(200, { "content-type": this.registry.contentType }).end(text))
        .catch((err: unknown) => res.writeHead(500).end(String(err)));
    });
  }

  /** Starts serving /metrics on 127.0.0.1 with a free port. */
  static async start(options: ExporterOptions = {}): Promise<Exporter> {
    const exporter = new Exporter(options);
    await new Promise<void>((resolve, reject) => {
      exporter.server.once("error", reject);
      exporter.server.listen(0, "127.0.0.1", () => resolve());
    });
    return exporter;
  }

  /** host:port, the form a Prometheus scrape target takes. */
  get target(): string {
    return `127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  get metricsUrl(): string {
    return `http://${this.target}/metrics`;
  }

  /**
   * Sets the rates of one version from now on. Its series appear at once (at 0), so a
   * version with rates {0, 0} has data whose error ratio is 0/0.
   */
  setRates(version: string, rates: TrafficRates): void {
    if (rates.errors > rates.requests) throw new Error("errors cannot exceed requests");
    this.advance();
    this.rates.set(version, { ...rates });
    this.requests.inc({ version }, 0);
    this.errors.inc({ version }, 0);
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** Adds what each version served since the last advance. */
  private advance(): void {
    const now = this.clock();
    const seconds = (now - this.lastAdvance) / 1000;
    this.lastAdvance = now;
    if (seconds <= 0) return;
    for (const [version, rates] of this.rates) {
      this.requests.inc({ version }, rates.requests * seconds);
      this.errors.inc({ version }, rates.errors * seconds);
    }
  }
}
