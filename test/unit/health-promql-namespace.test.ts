// The platform's rule that a Prometheus check reads only its own namespace's series: every
// vector and matrix selector carries namespace="<the ModelDeployment's namespace>", found by
// parsing the PromQL with the Prometheus project's grammar, judged after templating.
import { expect } from "chai";
import { measureCheck } from "../../src/health/index.ts";
import { computePromqlProblems, deniedQuery } from "../../src/health/promql-check.ts";
import { promqlCheckProblem, promqlNamespaceProblem } from "../../src/health/promql-namespace.ts";
import { promqlNamespaceRule } from "../../src/health/promql-rule.ts";
import { queryUrl } from "../../src/health/prometheus.ts";
import { computeCheckVars, computeDueCheck } from "../../src/plan/checks.ts";
import { plan } from "../../src/plan/plan.ts";
import type { HealthCheck } from "../../src/api/types.ts";
import { makeMd, T0 } from "./plan-fixtures.ts";

const NS = "team-a";
const ok = (query: string) => expect(promqlNamespaceProblem(query, NS), query).to.equal(undefined);
const refused = (query: string, selector: string) => {
  const problem = promqlNamespaceProblem(query, NS);
  expect(problem, query).to.be.a("string");
  expect(problem, query).to.include(`selector \`${selector}\``);
};

describe("PromQL namespace rule", () => {
  describe("every selector carries the namespace", () => {
    it("accepts queries whose every selector has the exact matcher, whatever their shape", () => {
      for (const q of [
        'up{namespace="team-a"}',
        '{__name__="up", namespace="team-a"}',
        '{namespace="team-a", __name__=~"requests_.*"}',
        'sum(rate(errors_total{version="2.0.0", namespace="team-a"}[1m])) / sum(rate(requests_total{namespace="team-a"}[1m]))',
        'histogram_quantile(0.99, sum by (le) (rate(latency_bucket{namespace="team-a"}[5m])))',
        'max_over_time(rate(x{namespace="team-a"}[1m])[10m:30s])',
        'a{namespace="team-a"} * on(job) group_left(version) b{namespace="team-a"}',
        'a{namespace="team-a"} / ignoring(code) group_right b{namespace="team-a"}',
        'a{namespace="team-a"} or on() vector(0)',
        'clamp_min(absent(up{namespace="team-a", job="x"}), 0)',
        'a{namespace="team-a"} offset 5m @ start()',
        "a{namespace='team-a'}",
        "a{namespace=`team-a`}",
        'a{"namespace"="team-a"}', // a quoted label name (Prometheus 3)
        '{"my.metric", namespace="team-a"}',
        'a{namespace="team-a", namespace!="team-b"}', // matchers are ANDed: the exact one bounds it
        'label_replace(up{namespace="team-a"}, "namespace", "team-b", "", "")', // renames its own series
        'count(up{namespace="team-a"}) > bool 0',
        "vector(1)", // no selector: reads no series
        'sum(x{namespace="team-a"}) # a comment {namespace="team-b"}',
      ])
        ok(q);
    });

    it("refuses a selector without the matcher, naming it, wherever it hides", () => {
      refused("up", "up");
      refused('{__name__="up"}', '{__name__="up"}');
      refused('{__name__=~".+"}', '{__name__=~".+"}');
      refused('sum(rate(x{namespace="team-a"}[1m])) / sum(rate(y[1m]))', "y");
      refused('max_over_time(rate(x{version="1"}[1m])[10m:30s])', 'x{version="1"}');
      refused('a{namespace="team-a"} * on(job) group_left(version) b', "b");
      refused('a{namespace="team-a"} and on() b{job="x"}', 'b{job="x"}');
      refused('histogram_quantile(0.9, rate(lat_bucket{le!=""}[5m]))', 'lat_bucket{le!=""}');
      refused('-(a{namespace="team-a"} + (b offset 1h))', "b");
      refused('topk(3, a{namespace="team-a"}) unless c', "c");
      refused('info(up{namespace="team-a"}, {k8s_cluster=~".+"})', '{k8s_cluster=~".+"}');
    });

    it("refuses a namespace matcher that is not exact equality with the own namespace", () => {
      const cases: [string, string][] = [
        ['a{namespace=~"team-a"}', 'namespace=~"team-a"'],
        ['a{namespace=~"team-a|team-b"}', 'namespace=~"team-a|team-b"'],
        ['a{namespace=~".*"}', 'namespace=~".*"'],
        ['a{namespace!="team-b"}', 'namespace!="team-b"'],
        ['a{namespace!~"kube-.*"}', 'namespace!~"kube-.*"'],
        ['a{namespace="team-b"}', 'namespace="team-b"'],
        ['a{namespace=""}', 'namespace=""'],
        ['a{namespace="team-\\x61"}', 'namespace="team-\\x61"'], // escapes never equal a namespace name
        ['a{Namespace="team-a", namespace=~".+"}', 'namespace=~".+"'],
      ];
      for (const [q, matcher] of cases) {
        const problem = promqlNamespaceProblem(q, NS);
        expect(problem, q).to.include(
          `its namespace matcher \`${matcher}\` is not the exact namespace="team-a"`,
        );
      }
    });

    it("refuses a query the grammar cannot parse: it cannot be judged", () => {
      for (const q of [
        'a{namespace="team-a"',
        "sum(",
        'a{namespace="team-a"} ) b',
        "",
        "a{namespace=team-a}",
      ]) {
        expect(promqlNamespaceProblem(q, NS), q).to.match(
          /^the query does not parse as PromQL near position \d+/,
        );
      }
    });

    it("refuses a query too complex to judge in bounded work, and judges a long realistic one", () => {
      const nested = `${"sum(".repeat(1000)}a{namespace="team-a"}${")".repeat(1000)}`;
      expect(promqlNamespaceProblem(nested, NS)).to.equal(
        'the query is too complex to be checked for namespace="team-a" (more than 500 parse steps); simplify it',
      );
      const long = Array.from(
        { length: 10 },
        (_, i) => `sum(rate(m${i}{namespace="team-a", version="2.0.0"}[1m]))`,
      ).join(" + ");
      expect(promqlNamespaceProblem(long, NS)).to.equal(undefined);
    });

    it("uses the platform's label name", () => {
      expect(promqlNamespaceProblem('a{kubernetes_namespace="team-a"}', NS, "kubernetes_namespace")).to.equal(
        undefined,
      );
      expect(promqlNamespaceProblem('a{namespace="team-a"}', NS, "kubernetes_namespace")).to.include(
        'it has no matcher kubernetes_namespace="team-a"',
      );
    });
  });

  describe("the setting", () => {
    it("auto requires the matcher in restricted mode only; require and off say so", () => {
      expect(promqlNamespaceRule("auto", "default")).to.equal(undefined);
      expect(promqlNamespaceRule("off", "restricted")).to.equal(undefined);
      expect(promqlNamespaceRule("auto", "restricted")).to.deep.equal({
        label: "namespace",
        setting: "--check-promql-namespace=auto with --check-destinations=restricted",
      });
      expect(promqlNamespaceRule("require", "default", "ns")).to.deep.equal({
        label: "ns",
        setting: "--check-promql-namespace=require",
      });
    });

    it("refuses an address with a query string, which Prometheus would read besides the query", () => {
      const rule = promqlNamespaceRule("require", "default")!;
      expect(promqlCheckProblem("http://prom:9090/?query=up", 'a{namespace="team-a"}', NS, rule)).to.equal(
        'the address http://prom:9090/?query=up carries a query string or fragment, which would be sent to Prometheus besides the query; the platform requires namespace="team-a" on every selector (--check-promql-namespace=require)',
      );
      expect(promqlCheckProblem("http://prom:9090/#x", 'a{namespace="team-a"}', NS, rule)).to.be.a("string");
      expect(promqlCheckProblem("http://prom:9090/prefix", 'a{namespace="team-a"}', NS, rule)).to.equal(
        undefined,
      );
    });

    it("sends only the check's query: the address's own query string and fragment are dropped", () => {
      expect(queryUrl("http://prom:9090/?query=up#x", "a", 5000)).to.equal(
        "http://prom:9090/api/v1/query?query=a&timeout=5s",
      );
      expect(queryUrl("http://prom:9090/prefix/", "a", 5000)).to.equal(
        "http://prom:9090/prefix/api/v1/query?query=a&timeout=5s",
      );
    });
  });

  describe("on a ModelDeployment's checks", () => {
    const rule = promqlNamespaceRule("auto", "restricted")!;
    const prom = (name: string, query: string): HealthCheck => ({
      name,
      prometheus: { address: "http://prometheus.team-a.svc:9090", query, successCondition: "result < 0.01" },
    });
    const md = makeMd({
      model: { version: "2.0.0" },
      healthChecks: {
        checks: [
          prom("templated", 'sum(rate(errors_total{namespace="{{namespace}}", version="{{version}}"}[1m]))'),
          prom("bare", 'sum(rate(errors_total{version="{{version}}"}[1m]))'),
          { name: "http", http: { path: "/ready" } },
        ],
      },
    });
    md.metadata!.namespace = NS;

    it("judges each query after templating, with the field and the setting in the message", () => {
      expect(computePromqlProblems(md, rule)).to.deep.equal([
        {
          path: "spec.healthChecks.checks[1].prometheus.query",
          message:
            'selector `errors_total{version="2.0.0"}` may read other namespaces\' series: it has no matcher namespace="team-a"; the platform requires namespace="team-a" on every selector (--check-promql-namespace=auto with --check-destinations=restricted)',
        },
      ]);
    });

    it("makes the planner stall the spec as invalid (InvalidSpec), keeping every child", () => {
      const p = plan({
        md,
        observed: { deployments: [], services: [], endpointSlices: [] },
        measurements: [],
        now: T0,
        platformProblems: computePromqlProblems(md, rule),
      });
      expect(p.apply).to.deep.equal([]);
      const stalled = p.status.conditions?.find((c) => c.type === "Stalled");
      expect(stalled).to.include({ status: "True", reason: "InvalidSpec" });
      expect(stalled?.message).to.match(
        /^the spec is invalid: spec\.healthChecks\.checks\[1\]\.prometheus\.query: selector `errors_total\{version="2\.0\.0"\}`/,
      );
    });

    it("refuses the query as it is sent: an Error measurement, and nothing is sent", async () => {
      const vars = computeCheckVars(md, "2.0.0");
      const bare = computeDueCheck(md, md.spec!.healthChecks!.checks![1]!, vars);
      const templated = computeDueCheck(md, md.spec!.healthChecks!.checks![0]!, vars);
      expect(deniedQuery(templated, rule)).to.equal(undefined);
      const sent: string[] = [];
      const m = await measureCheck(bare, () => T0, {
        promqlNamespace: rule,
        send: async (url) => {
          sent.push(url);
          throw new Error("must not be sent");
        },
      });
      expect(m.phase).to.equal("Error");
      expect(m.message).to.match(/^the query is not sent: selector `errors_total\{version="2\.0\.0"\}`/);
      expect(sent).to.deep.equal([]);
    });
  });
});
