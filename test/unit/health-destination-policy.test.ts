// The destination policy of health checks, as the platform sets it: what is always denied
// (link-local, loopback, the API server) unless allowed, what "restricted" allows (the own
// namespace's Services and listed hosts), judged as written and for a resolved address.
import { expect } from "chai";
import { computeDestinationProblems, deniedDestination } from "../../src/health/destination-check.ts";
import { plan } from "../../src/plan/plan.ts";
import { httpCheck, makeMd, promCheck, T0 } from "./plan-fixtures.ts";
import type { DueCheck } from "../../src/plan/types.ts";
import {
  addressFilter,
  destinationOfUrl,
  DestinationPolicyJudge,
  parseCidr,
  type DestinationPolicy,
} from "../../src/health/destination-policy.ts";

const policy = (p: Partial<DestinationPolicy> = {}) =>
  new DestinationPolicyJudge({
    mode: "default",
    allowCidrs: [],
    allowHosts: [],
    apiServers: [{ address: "10.96.0.1", port: 443 }],
    ...p,
  });
const dest = (url: string, namespace = "models") => destinationOfUrl(url, namespace)!;

describe("destination policy", () => {
  describe("default mode", () => {
    it("allows every manifest written for today's API: Services of any namespace, Prometheus, external names", () => {
      const judge = policy();
      for (const url of [
        "http://prometheus.monitoring:9090",
        "http://fraud-2-0-0.models.svc:80/ready",
        "http://other.team-b.svc.cluster.local/ready",
        "https://models.example.com/health",
        "http://10.0.3.4:8080/ready",
      ])
        expect(judge.judge(dest(url)), url).to.deep.equal({ allowed: true });
    });

    it("denies link-local, loopback, unspecified and the API server, written or resolved", () => {
      const judge = policy();
      const denied = (url: string) => {
        const v = judge.judge(dest(url));
        return v.allowed ? "allowed" : v.reason;
      };
      expect(denied("http://169.254.169.254/latest/meta-data/")).to.equal(
        "169.254.169.254 is a link-local address (cloud metadata); the platform can allow it with --check-allow-cidrs",
      );
      expect(denied("http://[fe80::1]:80/")).to.match(/^fe80::1 is a link-local address/);
      expect(denied("http://127.0.0.1:8081/healthz")).to.match(
        /loopback address \(the operator's own ports\)/,
      );
      expect(denied("http://[::1]:8080/metrics")).to.match(/loopback/);
      expect(denied("http://[::ffff:169.254.169.254]/")).to.match(/link-local/);
      expect(denied("http://0.0.0.0:8080/")).to.match(/unspecified/);
      expect(denied("https://10.96.0.1:443/api")).to.equal(
        "10.96.0.1:443 is the API server; the platform can allow it with --check-allow-cidrs",
      );
      // Another port of the same address is not the API server.
      expect(denied("http://10.96.0.1:8080/")).to.equal("allowed");
      // A name that resolved to a forbidden address (DNS rebinding, a hostile record).
      const filter = addressFilter(judge);
      expect(filter("169.254.169.254", dest("http://harmless.example/")).allowed).to.equal(false);
      expect(filter("10.1.2.3", dest("http://harmless.example/")).allowed).to.equal(true);
    });

    it("allows a forbidden range the platform lists (127.0.0.0/8 in tests)", () => {
      const judge = policy({ allowCidrs: ["127.0.0.0/8"] });
      expect(judge.judge(dest("http://127.0.0.1:8081/")).allowed).to.equal(true);
      expect(judge.judgeAddress("127.96.3.4", 80).allowed).to.equal(true);
      expect(judge.judgeAddress("169.254.169.254", 80).allowed).to.equal(false);
    });
  });

  describe("restricted mode", () => {
    const judge = policy({ mode: "restricted", allowHosts: ["prometheus.monitoring", ".shared.svc"] });

    it("allows the own namespace's Services and the listed hosts", () => {
      for (const url of [
        "http://fraud-2-0-0.models.svc:80/ready",
        "http://fraud-2-0-0.models.svc.cluster.local/ready",
        "http://prometheus.monitoring:9090",
        "http://thanos.shared.svc:9090",
      ])
        expect(judge.judge(dest(url)), url).to.deep.equal({ allowed: true });
    });

    it("denies another namespace's Service, other names and IP literals, saying which setting would allow it", () => {
      const other = judge.judge(dest("http://billing.team-b.svc:80/admin"));
      expect(other).to.deep.equal({
        allowed: false,
        reason:
          "billing.team-b.svc is not a Service of namespace models (*.models.svc) and not a host the platform allows (--check-allow-hosts) in restricted mode",
      });
      expect(judge.judge(dest("http://models.svc/")).allowed, "no Service name").to.equal(false);
      expect(judge.judge(dest("http://x.models.svc.evil.example/")).allowed).to.equal(false);
      expect(judge.judge(dest("http://10.0.3.4:8080/"))).to.deep.equal({
        allowed: false,
        reason:
          "10.0.3.4 is not in the platform's allowed addresses (--check-allow-cidrs) in restricted mode",
      });
      expect(
        policy({ mode: "restricted", allowCidrs: ["10.0.0.0/8"] }).judge(dest("http://10.0.3.4:8080/"))
          .allowed,
      ).to.equal(true);
    });

    it("still denies a forbidden address that an allowed name resolved to", () => {
      const filter = addressFilter(judge);
      expect(filter("169.254.169.254", dest("http://fraud-2-0-0.models.svc/")).allowed).to.equal(false);
    });
  });

  it("parses CIDR ranges and refuses what is not one", () => {
    expect(parseCidr("127.0.0.0/8")).to.deep.equal({ address: "127.0.0.0", prefix: 8, family: "ipv4" });
    expect(parseCidr("fd00::/8")).to.deep.equal({ address: "fd00::", prefix: 8, family: "ipv6" });
    expect(parseCidr("10.1.2.3")).to.deep.equal({ address: "10.1.2.3", prefix: 32, family: "ipv4" });
    expect(() => parseCidr("localhost/8")).to.throw(/is not an address or CIDR range/);
    expect(() => parseCidr("10.0.0.0/33")).to.throw(/prefix length must be 0 to 32/);
  });

  describe("before a measurement", () => {
    const check = (url: string): DueCheck => ({
      check: { name: "c", http: { url } },
      vars: { name: "m", namespace: "models", version: "2", service: "m-2" },
      url,
      timeoutMs: 2000,
    });

    it("denies as written without resolving", () => {
      const restricted = policy({ mode: "restricted" });
      expect(deniedDestination(check("http://billing.team-b.svc/x"), restricted)).to.match(
        /^destination http:\/\/billing\.team-b\.svc\/x is denied by the platform's policy: billing\.team-b\.svc is not a Service of namespace models/,
      );
      expect(deniedDestination(check("http://no-such-host.invalid/x"), policy())).to.equal(undefined);
    });
  });

  describe("as written in a spec", () => {
    const md = makeMd({
      healthChecks: {
        checks: [
          httpCheck("own"), // the default target: the version's own Service
          httpCheck("templated", { http: { url: "http://{{service}}.{{namespace}}.svc:8080/ready" } }),
          httpCheck("metadata", { http: { url: "http://169.254.169.254/latest/meta-data/" } }),
          promCheck("metrics"), // http://prometheus.monitoring:9090
        ],
      },
    });

    it("finds the checks whose destination the policy denies, by field", () => {
      expect(computeDestinationProblems(md, policy())).to.deep.equal([
        {
          path: "spec.healthChecks.checks[2].http.url",
          message:
            "destination http://169.254.169.254/latest/meta-data/ is denied by the platform's policy: 169.254.169.254 is a link-local address (cloud metadata); the platform can allow it with --check-allow-cidrs",
        },
      ]);
      const restricted = computeDestinationProblems(md, policy({ mode: "restricted" }));
      expect(restricted.map((p) => p.path)).to.deep.equal([
        "spec.healthChecks.checks[2].http.url",
        "spec.healthChecks.checks[3].prometheus.address",
      ]);
      expect(
        computeDestinationProblems(
          md,
          policy({
            mode: "restricted",
            allowHosts: ["prometheus.monitoring"],
            allowCidrs: ["169.254.169.254"],
          }),
        ),
      ).to.deep.equal([]);
    });

    it("makes the planner stall the spec as invalid, keeping every child", () => {
      const p = plan({
        md,
        observed: { deployments: [], services: [], endpointSlices: [] },
        measurements: [],
        now: T0,
        platformProblems: computeDestinationProblems(md, policy()),
      });
      expect(p.apply).to.deep.equal([]);
      const stalled = p.status.conditions?.find((c) => c.type === "Stalled");
      expect(stalled).to.include({ status: "True", reason: "InvalidSpec" });
      expect(stalled?.message).to.match(
        /^the spec is invalid: spec\.healthChecks\.checks\[2\]\.http\.url: destination http:\/\/169\.254\.169\.254/,
      );
    });
  });
});
