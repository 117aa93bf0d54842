import { expect } from "chai";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError, parseBindAddress, parseConfig, usage } from "../../src/config.ts";
import { parseDuration } from "../../src/plan/duration.ts";

/** The ConfigError message parseConfig throws for these flags and env. */
function errorOf(argv: string[], env: Record<string, string> = {}): string {
  try {
    parseConfig(argv, env);
  } catch (err) {
    expect(err).to.be.instanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error(`expected ${argv.join(" ")} to be refused`);
}

describe("config", () => {
  it("has controller-runtime's defaults with no flags and no environment", () => {
    const c = parseConfig([], {});
    expect(c).to.deep.equal({
      help: false,
      metricsBindAddress: { host: undefined, port: 8080 },
      metricsSecure: false,
      metricsCertFile: undefined,
      metricsKeyFile: undefined,
      healthProbeBindAddress: { host: undefined, port: 8081 },
      leaderElect: false,
      leaderElectionNamespace: undefined,
      leaderElectionId: "model-rollout-operator",
      leaderElectionIdentity: undefined,
      leaseDurationMs: 15_000,
      renewDeadlineMs: 10_000,
      retryPeriodMs: 2_000,
      watchNamespaces: undefined,
      watchLabelSelector: undefined,
      logLevel: "info",
      logFormat: "json",
      workers: 10,
      resyncPeriodMs: 300_000,
      kubeconfig: undefined,
      kubeApiQps: 50,
      kubeApiBurst: 100,
      checkDnsServer: undefined,
      checkOnlyCidrs: undefined,
      checkConditionTimeoutMs: 1000,
      checkConditionMemoryMb: 64,
      checkConditionWorkers: 2,
      checkMinIntervalMs: 1000,
      checkMaxTimeoutMs: 60_000,
      checkReportPeriodMs: 120_000,
      checkResponseMessages: "own-service",
      checkConcurrency: 64,
      checkConcurrencyPerDestination: 8,
      checkDestinations: "default",
      checkAllowCidrs: [],
      checkAllowHosts: [],
      checkPromqlNamespace: "auto",
      checkPromqlNamespaceLabel: "namespace",
      checkCredentialsFile: undefined,
      checkCredentials: [],
      notificationDestinationsFile: undefined,
      notificationDestinations: [],
    });
  });

  it("takes the successCondition budget from flags or MRO_ variables, and refuses one out of range", () => {
    expect(
      parseConfig(["--check-condition-timeout=250ms", "--check-condition-workers=4"], {
        MRO_CHECK_CONDITION_MEMORY: "128",
      }),
    ).to.deep.include({
      checkConditionTimeoutMs: 250,
      checkConditionMemoryMb: 128,
      checkConditionWorkers: 4,
    });
    expect(errorOf(["--check-condition-timeout=2h"])).to.equal(
      "--check-condition-timeout: 2h is not from 10ms to 1m",
    );
    expect(errorOf(["--check-condition-memory=8"])).to.equal(
      '--check-condition-memory: "8" is not a whole number from 16 to 4096',
    );
    expect(errorOf(["--check-condition-workers=0"])).to.match(/^--check-condition-workers: "0"/);
  });

  it("takes the destination policy of checks from flags or MRO_ variables", () => {
    expect(
      parseConfig(
        ["--check-destinations=restricted", "--check-allow-hosts=Prometheus.monitoring, .shared.svc"],
        {
          MRO_CHECK_ALLOW_CIDRS: "127.0.0.0/8,fd00::/8",
        },
      ),
    ).to.deep.include({
      checkDestinations: "restricted",
      checkAllowCidrs: ["127.0.0.0/8", "fd00::/8"],
      checkAllowHosts: ["prometheus.monitoring", ".shared.svc"],
    });
    // An empty flag after the test harness's default clears it.
    expect(parseConfig(["--check-allow-cidrs=127.0.0.0/8", "--check-allow-cidrs="], {})).to.deep.include({
      checkAllowCidrs: [],
    });
    expect(errorOf(["--check-destinations=open"])).to.equal(
      '--check-destinations: "open" is not one of default, restricted',
    );
    expect(errorOf(["--check-allow-cidrs=127.0.0.0/99"])).to.equal(
      '--check-allow-cidrs: "127.0.0.0/99" is not a CIDR like 127.0.0.0/8 or fd00::/8',
    );
  });

  it("takes the PromQL namespace rule from flags or MRO_ variables", () => {
    expect(
      parseConfig(["--check-promql-namespace=require"], {
        MRO_CHECK_PROMQL_NAMESPACE_LABEL: "kubernetes_namespace",
      }),
    ).to.deep.include({ checkPromqlNamespace: "require", checkPromqlNamespaceLabel: "kubernetes_namespace" });
    expect(errorOf(["--check-promql-namespace=yes"])).to.equal(
      '--check-promql-namespace: "yes" is not one of auto, require, off',
    );
    expect(errorOf(["--check-promql-namespace-label=kubernetes.namespace"])).to.match(
      /^--check-promql-namespace-label: "kubernetes\.namespace" is not a Prometheus label name/,
    );
  });

  it("takes the health checks' budget from flags or MRO_ variables", () => {
    expect(parseConfig(["--check-min-interval=250ms"], { MRO_CHECK_MAX_TIMEOUT: "2m" })).to.deep.include({
      checkMinIntervalMs: 250,
      checkMaxTimeoutMs: 120_000,
    });
    expect(parseConfig(["--check-min-interval=0"], {})).to.deep.include({ checkMinIntervalMs: 0 });
    expect(parseConfig([], { MRO_CHECK_REPORT_PERIOD: "30s" })).to.deep.include({
      checkReportPeriodMs: 30_000,
    });
    expect(parseConfig(["--check-report-period=0"], {})).to.deep.include({ checkReportPeriodMs: 0 });
    expect(errorOf(["--check-report-period=2h"])).to.equal("--check-report-period: 2h is longer than 1h");
    expect(errorOf(["--check-max-timeout=10ms"])).to.equal(
      "--check-max-timeout: 10ms is not from 100ms to 1h",
    );
    expect(errorOf(["--check-min-interval=often"])).to.match(
      /^--check-min-interval: "often" is not a duration/,
    );
    expect(parseConfig(["--check-response-messages=all"], {})).to.deep.include({
      checkResponseMessages: "all",
    });
    expect(
      parseConfig(["--check-concurrency=5"], { MRO_CHECK_CONCURRENCY_PER_DESTINATION: "2" }),
    ).to.deep.include({ checkConcurrency: 5, checkConcurrencyPerDestination: 2 });
    expect(errorOf(["--check-concurrency=0"])).to.match(/^--check-concurrency: "0" is not a whole number/);
    expect(errorOf(["--check-response-messages=yes"])).to.equal(
      '--check-response-messages: "yes" is not one of own-service, all',
    );
  });

  it("takes the checks' DNS server and allowed networks from flags or MRO_ variables", () => {
    expect(
      parseConfig(["--check-dns-server=127.0.0.1:5353", "--check-only-cidrs=127.0.0.0/8"]),
    ).to.deep.include({
      checkDnsServer: "127.0.0.1:5353",
      checkOnlyCidrs: ["127.0.0.0/8"],
    });
    expect(
      parseConfig([], {
        MRO_CHECK_DNS_SERVER: "fd00::10",
        MRO_CHECK_ONLY_CIDRS: "127.0.0.0/8, fd00::/8,127.0.0.1",
      }),
    ).to.deep.include({
      checkDnsServer: "[fd00::10]:53",
      checkOnlyCidrs: ["127.0.0.0/8", "fd00::/8", "127.0.0.1"],
    });
    expect(parseConfig(["--check-dns-server=[::1]:1053"]).checkDnsServer).to.equal("[::1]:1053");
    expect(usage()).to.contain("--check-dns-server").and.to.contain("--check-only-cidrs");
    expect(errorOf(["--check-dns-server=dns.example:53"])).to.equal(
      '--check-dns-server: "dns.example:53" is not an IP address with an optional port, like 127.0.0.1:5353 or [fd00::10]:53',
    );
    expect(errorOf(["--check-dns-server=127.0.0.1:0"])).to.match(/--check-dns-server: "127.0.0.1:0"/);
    expect(errorOf(["--check-only-cidrs=127.0.0.0/33"])).to.equal(
      '--check-only-cidrs: "127.0.0.0/33" is not a CIDR like 127.0.0.0/8 or fd00::/8',
    );
    expect(errorOf(["--check-only-cidrs=loopback"])).to.match(/"loopback" is not a CIDR/);
    expect(errorOf(["--check-only-cidrs=,"])).to.equal("--check-only-cidrs: no network given");
  });

  it("takes the API client's QPS and burst from flags or MRO_ variables, flags winning", () => {
    expect(parseConfig(["--kube-api-qps=5.5", "--kube-api-burst", "7"], {})).to.deep.include({
      kubeApiQps: 5.5,
      kubeApiBurst: 7,
    });
    const env = { MRO_KUBE_API_QPS: "50", MRO_KUBE_API_BURST: "100" };
    expect(parseConfig([], env)).to.deep.include({ kubeApiQps: 50, kubeApiBurst: 100 });
    expect(parseConfig(["--kube-api-qps=0"], env)).to.deep.include({ kubeApiQps: 0, kubeApiBurst: 100 });
    expect(errorOf(["--kube-api-qps=fast"])).to.equal(
      '--kube-api-qps: "fast" is not a number of requests per second (0 for no limit)',
    );
    expect(errorOf([], { MRO_KUBE_API_BURST: "0" })).to.equal(
      '--kube-api-burst: "0" is not a whole number from 1 to 100000',
    );
  });

  it("reads every flag from its MRO_ environment variable", () => {
    const c = parseConfig([], {
      MRO_METRICS_BIND_ADDRESS: "127.0.0.1:9090",
      MRO_HEALTH_PROBE_BIND_ADDRESS: "0",
      MRO_LEADER_ELECT: "true",
      MRO_LEADER_ELECTION_NAMESPACE: "ops",
      MRO_LEADER_ELECTION_ID: "mro",
      MRO_LEADER_ELECT_LEASE_DURATION: "30s",
      MRO_LEADER_ELECT_RENEW_DEADLINE: "20s",
      MRO_LEADER_ELECT_RETRY_PERIOD: "5s",
      MRO_WATCH_NAMESPACE: "models",
      MRO_LOG_LEVEL: "debug",
      MRO_LOG_FORMAT: "text",
      MRO_WORKERS: "8",
      MRO_RESYNC_PERIOD: "1m",
    });
    expect(c).to.deep.include({
      metricsBindAddress: { host: "127.0.0.1", port: 9090 },
      healthProbeBindAddress: undefined,
      leaderElect: true,
      leaderElectionNamespace: "ops",
      leaderElectionId: "mro",
      leaseDurationMs: 30_000,
      renewDeadlineMs: 20_000,
      retryPeriodMs: 5_000,
      watchNamespaces: ["models"],
      logLevel: "debug",
      logFormat: "text",
      workers: 8,
      resyncPeriodMs: 60_000,
    });
    const flagsWin = parseConfig(["--no-leader-elect", "--log-level=warn"], {
      MRO_LEADER_ELECT: "true",
      MRO_LOG_LEVEL: "debug",
    });
    expect(flagsWin).to.deep.include({ leaderElect: false, logLevel: "warn" });
    expect(errorOf([], { MRO_WORKERS: "many" })).to.equal(
      '--workers: "many" is not a whole number from 1 to 256',
    );
  });

  it("reads every flag", () => {
    const dir = mkdtempSync(join(tmpdir(), "mro-config-"));
    const kubeconfig = join(dir, "kubeconfig");
    writeFileSync(kubeconfig, "apiVersion: v1\nkind: Config\n");
    try {
      const c = parseConfig([
        "--metrics-bind-address=127.0.0.1:9090",
        "--health-probe-bind-address",
        "[::1]:9091",
        "--leader-elect",
        "--leader-election-namespace=ops",
        "--leader-election-id=mro.example.com",
        "--leader-elect-lease-duration=30s",
        "--leader-elect-renew-deadline=20s",
        "--leader-elect-retry-period=5s",
        "--watch-namespace=models",
        "--log-level=debug",
        "--log-format=text",
        "--workers=8",
        "--resync-period=1h30m",
        `--kubeconfig=${kubeconfig}`,
      ]);
      expect(c).to.deep.include({
        metricsBindAddress: { host: "127.0.0.1", port: 9090 },
        healthProbeBindAddress: { host: "::1", port: 9091 },
        leaderElect: true,
        leaderElectionNamespace: "ops",
        leaderElectionId: "mro.example.com",
        leaseDurationMs: 30_000,
        renewDeadlineMs: 20_000,
        retryPeriodMs: 5_000,
        watchNamespaces: ["models"],
        logLevel: "debug",
        logFormat: "text",
        workers: 8,
        resyncPeriodMs: 5_400_000,
        kubeconfig,
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("takes secure metrics and its certificate files from flags or MRO_ variables, both files or neither", () => {
    const dir = mkdtempSync(join(tmpdir(), "mro-config-"));
    const cert = join(dir, "tls.crt");
    const key = join(dir, "tls.key");
    writeFileSync(cert, "");
    writeFileSync(key, "");
    try {
      expect(parseConfig(["--metrics-secure"])).to.deep.include({
        metricsSecure: true,
        metricsCertFile: undefined,
        metricsKeyFile: undefined,
      });
      expect(
        parseConfig([], {
          MRO_METRICS_SECURE: "true",
          MRO_METRICS_CERT_FILE: cert,
          MRO_METRICS_KEY_FILE: key,
        }),
      ).to.deep.include({ metricsSecure: true, metricsCertFile: cert, metricsKeyFile: key });
      expect(errorOf(["--metrics-secure", `--metrics-cert-file=${cert}`])).to.equal(
        "--metrics-cert-file and --metrics-key-file go together: give both or neither",
      );
      expect(errorOf([`--metrics-cert-file=${cert}`, `--metrics-key-file=${key}`])).to.equal(
        "--metrics-cert-file needs --metrics-secure: plain /metrics uses no certificate",
      );
      expect(
        errorOf([
          "--metrics-secure",
          `--metrics-cert-file=${join(dir, "nope")}`,
          `--metrics-key-file=${key}`,
        ]),
      ).to.equal(`--metrics-cert-file: file ${join(dir, "nope")} does not exist`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('disables the metrics or probe server with "0"', () => {
    const c = parseConfig(["--metrics-bind-address=0", "--health-probe-bind-address=0"]);
    expect(c.metricsBindAddress).to.equal(undefined);
    expect(c.healthProbeBindAddress).to.equal(undefined);
  });

  it("takes namespaces and the leader identity from the environment, flags winning", () => {
    const env = { POD_NAMESPACE: "ops", WATCH_NAMESPACE: "models", POD_NAME: "mro-7d9f-abcde" };
    const c = parseConfig(["--leader-elect"], env);
    expect(c).to.deep.include({
      leaderElectionNamespace: "ops",
      watchNamespaces: ["models"],
      leaderElectionIdentity: "mro-7d9f-abcde",
    });
    const d = parseConfig(
      ["--leader-elect", "--leader-election-namespace=other", "--watch-namespace=team-a"],
      env,
    );
    expect(d).to.deep.include({ leaderElectionNamespace: "other", watchNamespaces: ["team-a"] });
    expect(parseConfig([], { WATCH_NAMESPACE: "" }).watchNamespaces, "empty means all").to.equal(undefined);
    expect(parseConfig(["--watch-namespace=a, b,a"], {}).watchNamespaces, "a list").to.deep.equal(["a", "b"]);
    expect(() => parseConfig(["--watch-namespace=a,B_"], {})).to.throw(/--watch-namespace/);
  });

  it("accepts boolean flags as --flag, --flag=true, --flag=false and --no-flag", () => {
    const env = { POD_NAMESPACE: "ops" };
    expect(parseConfig(["--leader-elect"], env).leaderElect).to.equal(true);
    expect(parseConfig(["--leader-elect=true"], env).leaderElect).to.equal(true);
    expect(parseConfig(["--leader-elect=false"], env).leaderElect).to.equal(false);
    expect(parseConfig(["--leader-elect", "--no-leader-elect"], env).leaderElect).to.equal(false);
    expect(errorOf(["--leader-elect=yes"])).to.equal('--leader-elect: "yes" is not true or false');
  });

  it("reports --help", () => {
    expect(parseConfig(["--help"]).help).to.equal(true);
    expect(parseConfig(["-h"]).help).to.equal(true);
    const text = usage();
    for (const flag of [
      "--metrics-bind-address",
      "--health-probe-bind-address",
      "--leader-elect ",
      "--leader-election-namespace",
      "--leader-election-id",
      "--watch-namespace",
      "--log-level",
      "--log-format",
      "--workers",
      "--resync-period",
      "--kubeconfig",
    ]) {
      expect(text).to.contain(flag);
    }
  });

  describe("refuses bad values with a message naming the flag", () => {
    const cases: [string[], string | RegExp][] = [
      [["--bogus"], "unknown flag --bogus (see --help)"],
      [["serve"], 'unexpected argument "serve": the operator takes flags only (see --help)'],
      [["--workers"], "--workers needs a value"],
      [["--workers=0"], '--workers: "0" is not a whole number from 1 to 256'],
      [["--workers=four"], '--workers: "four" is not a whole number from 1 to 256'],
      [["--workers=2.5"], '--workers: "2.5" is not a whole number from 1 to 256'],
      [["--log-level=verbose"], '--log-level: "verbose" is not one of error, warn, info, debug'],
      [["--log-format=xml"], '--log-format: "xml" is not one of json, text'],
      [["--resync-period=5"], '--resync-period: "5" is not a duration like 30s, 5m or 1h30m'],
      [["--resync-period=1s"], "--resync-period: 1s is too short; use at least 10s, or 0 to disable"],
      [["--metrics-bind-address=8080"], /"8080" is not an address like ":8080".*\(did you mean ":8080"\?\)/],
      [["--metrics-bind-address=:99999"], "--metrics-bind-address: port 99999 is out of range (0..65535)"],
      [
        ["--health-probe-bind-address=localhost"],
        /--health-probe-bind-address: "localhost" is not an address/,
      ],
      [
        ["--metrics-bind-address=:9000", "--health-probe-bind-address=127.0.0.1:9000"],
        "--metrics-bind-address and --health-probe-bind-address both use port 9000; they must differ",
      ],
      [
        ["--leader-elect"],
        /--leader-elect needs the namespace of its Lease: set --leader-election-namespace or the env POD_NAMESPACE/,
      ],
      [["--watch-namespace=Models"], /--watch-namespace: "Models" is not a valid namespace name/],
      [["--leader-election-id=Not_Valid"], /--leader-election-id: "Not_Valid" is not a valid object name/],
      [
        ["--leader-elect-renew-deadline=20s"],
        "leader election needs 0 < --leader-elect-retry-period < --leader-elect-renew-deadline < --leader-elect-lease-duration (got 2s, 20s, 15s)",
      ],
      [["--kubeconfig=/nonexistent/kubeconfig"], "--kubeconfig: file /nonexistent/kubeconfig does not exist"],
    ];
    for (const [argv, expected] of cases) {
      it(argv.join(" "), () => {
        const message = errorOf(argv);
        if (typeof expected === "string") expect(message).to.equal(expected);
        else expect(message).to.match(expected);
      });
    }
  });

  it("parses Go-style durations", () => {
    expect(parseDuration("0")).to.equal(0);
    expect(parseDuration("500ms")).to.equal(500);
    expect(parseDuration("90s")).to.equal(90_000);
    expect(parseDuration("2.5m")).to.equal(150_000);
    expect(parseDuration("1h30m15s")).to.equal(5_415_000);
    expect(() => parseDuration("")).to.throw(/is not a duration/);
    expect(() => parseDuration("10")).to.throw(/is not a duration/);
    expect(() => parseDuration("-5s")).to.throw(/is not a duration/);
    expect(() => parseDuration("5 m")).to.throw(/is not a duration/);
  });

  it("parses bind addresses", () => {
    expect(parseBindAddress("--x", ":8080")).to.deep.equal({ host: undefined, port: 8080 });
    expect(parseBindAddress("--x", "0.0.0.0:80")).to.deep.equal({ host: "0.0.0.0", port: 80 });
    expect(parseBindAddress("--x", "localhost:0")).to.deep.equal({ host: "localhost", port: 0 });
    expect(parseBindAddress("--x", "[::]:8443")).to.deep.equal({ host: "::", port: 8443 });
    expect(parseBindAddress("--x", "0")).to.equal(undefined);
  });
});
