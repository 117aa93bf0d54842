// fast-check arbitraries of ModelDeployment manifests, valid and invalid: names, versions,
// durations, steps, URLs, PromQL, CEL of random shape and cost, headers, very long strings,
// unicode. Each field mixes values the CRD accepts with values it should refuse, so that a
// manifest may be refused at apply (and must then name the field) or accepted (and must
// then be handled by the operator). URLs point only at loopback, at the model's own
// Service, or at addresses the operator must refuse to dial (link-local, a pod address):
// the operator under test may connect to 127.0.0.0/8 only.
import fc from "fast-check";

export interface FuzzTargets {
  /** http://127.0.0.1:PORT of a server with /ok, /items (1000 numbers) and /big (2 MiB). */
  checkUrl: string;
}

const longString = (n: number, unit = "a") => unit.repeat(n);
const unicode = fc.string({ unit: "grapheme", minLength: 1, maxLength: 24 });

/** Go-style durations the CRD's pattern accepts, edge values included. */
const validDuration = fc.oneof(
  fc.constantFrom("1ms", "0s", "10s", "1m30s", "0.5s", "2h", "99999h", "1.5m"),
  fc.tuple(fc.nat(5000), fc.constantFrom("ms", "s", "m", "h")).map(([n, u]) => `${n}${u}`),
);
/** Strings that only look like a duration. */
const wildDuration = fc.constantFrom(
  "10",
  "1d",
  "-1s",
  "１s",
  "s",
  "",
  "1 s",
  "1e3s",
  longString(40, "1") + "s",
);

const validVersion = fc.oneof(
  fc.constantFrom("1.0.0", "2.1.0-rc.1", "v2", "a_b.c-d", longString(63, "9")),
  fc.stringMatching(/^[A-Za-z0-9][-A-Za-z0-9_.]{0,20}[A-Za-z0-9]$/),
);
const wildVersion = fc.oneof(
  fc.constantFrom("", " 1", "1.0.0-", "-1", "1/2", longString(64, "9"), "ünïcode"),
  unicode,
);

/**
 * metadata.name: unique per case through its index. Long and dotted names are valid object
 * names, which the CRD refuses all the same: the clients' Service takes the name.
 */
const validName = (i: number) =>
  fc.oneof(
    { arbitrary: fc.stringMatching(/^[a-z0-9]{1,12}$/).map((s) => `f${i}-${s}`), weight: 6 },
    {
      arbitrary: fc
        // Past a DNS label, and near the 253 characters of an object name.
        .oneof(fc.integer({ min: 60, max: 100 }), fc.integer({ min: 235, max: 249 }))
        .map((n) => `f${i}-${longString(n, "n")}`),
      weight: 1,
    },
    { arbitrary: fc.constant(`f${i}.dotted.name`), weight: 1 },
  );
const wildName = (i: number) =>
  fc.constantFrom(`F${i}-Upper`, `f${i}_under`, `f${i}-ñ`, `f${i}-${longString(260, "x")}`, `-f${i}`);

/** Leaves of CEL over an HTTP answer (status, body, json) or a Prometheus one (result, results). */
const CEL_LEAVES = {
  http: [
    "true",
    "status == 200",
    "size(body) > 3",
    "json.ready",
    "json.items.size() > 0",
    "json.missing.field == 1",
    "body.matches('(a+)+$')",
    "json.items.map(x, x * 2).size() > 1",
    "json.items.all(a, json.items.all(b, json.items.exists(c, c < 0) || true))",
  ],
  prometheus: ["result < 0.5", "results.size() >= 1", "result == 1.0", "results.all(r, r >= 0.0)"],
  either: ["false", "'ñ' + 'x' == 'ñx'", "1 / 0 == 1", "size('𝒜𝒜') == 2"],
};

/**
 * CEL of random shape and cost for a provider (the API server takes any string up to 4096
 * characters); mostly expressions the operator compiles, some it must refuse.
 */
const celFor = (provider: "http" | "prometheus"): fc.Arbitrary<string> =>
  fc.letrec<{ expr: string }>((tie) => ({
    expr: fc.oneof(
      { depthSize: "small", withCrossShrink: true },
      { arbitrary: fc.constantFrom(...CEL_LEAVES[provider], ...CEL_LEAVES.either), weight: 8 },
      { arbitrary: fc.tuple(tie("expr"), tie("expr")).map(([a, b]) => `(${a}) && (${b})`), weight: 1 },
      { arbitrary: fc.tuple(tie("expr"), tie("expr")).map(([a, b]) => `(${a}) || (${b})`), weight: 1 },
      { arbitrary: tie("expr").map((a) => `!(${a})`), weight: 1 },
      {
        arbitrary: tie("expr").map((a) =>
          provider === "http" ? `json.items.all(x, x >= 0 || ${a})` : `results.exists(r, r > 0.0 || ${a})`,
        ),
        weight: 1,
      },
      // Rarer: text that is no CEL at all, variables of the other provider, a long flat expression.
      {
        arbitrary: fc.oneof(
          fc.string({ minLength: 1, maxLength: 40 }),
          unicode,
          fc.constantFrom(
            "(((((",
            "json.",
            "body.matches('[')",
            provider === "http" ? "result < 1" : "json.x",
          ),
          fc.integer({ min: 100, max: 500 }).map((n) => Array.from({ length: n }, () => "true").join(" && ")),
        ),
        weight: 1,
      },
    ),
  })).expr;
const cel = fc.oneof(celFor("http"), celFor("prometheus"));

const promql = fc.oneof(
  fc.constantFrom(
    'sum(rate(errors_total{version="{{version}}"}[1m])) / sum(rate(requests_total{version="{{version}}"}[1m]))',
    'up{namespace="{{namespace}}"}',
    "vector(1)",
    "{{name}}{{{",
  ),
  fc.string({ minLength: 1, maxLength: 60 }),
  unicode,
);

/** http(s) URLs the API server accepts: loopback, the model's own Service, and addresses never to dial. */
const validUrl = (t: FuzzTargets) =>
  fc.oneof(
    fc.constantFrom(
      `${t.checkUrl}/ok`,
      `${t.checkUrl}/items`,
      `${t.checkUrl}/big`,
      `${t.checkUrl}/nothing-here`,
      `${t.checkUrl.replace("http:", "https:")}/ok`,
      "http://127.0.0.1:1/closed",
      "http://169.254.169.254/latest/meta-data/",
      "http://10.244.0.7:8080/v2/health/ready",
      "http://[::1]:1/",
      "http://{{service}}.{{namespace}}.svc:80/v2/health/ready",
      "http://ñandú.svc/",
      "http://",
      "https://:0/",
    ),
    fc.string({ maxLength: 30 }).map((path) => `${t.checkUrl}/${encodeURIComponent(path)}`),
  );

/** Any header names and values: the CRD does not judge them, the operator must. */
const headers = fc.dictionary(
  fc.oneof(
    fc.constantFrom("X-Test", "Accept", "Host", "bad key", "ñ", "X-Empty"),
    fc.string({ maxLength: 10 }),
  ),
  fc.oneof(
    fc.constantFrom("ok", "a\r\nInjected: 1", "", longString(4000)),
    unicode,
    fc.string({ maxLength: 20 }),
  ),
  { maxKeys: 3 },
);

const validHttp = (t: FuzzTargets) =>
  fc
    .record({
      target: fc.oneof(
        fc.record({ path: fc.constantFrom("/v2/health/ready", "/", "/ñ", `/${longString(3000, "p")}`) }),
        fc.record({
          path: fc.constant("/v2/health/ready"),
          port: fc.constantFrom("http", 80, 1, 65535, "nope"),
        }),
        fc.record({ url: validUrl(t) }),
      ),
      post: fc.option(fc.oneof(fc.constant('{"inputs": []}'), unicode), { nil: undefined }),
      headers: fc.option(headers, { nil: undefined }),
      expectStatus: fc.option(fc.integer({ min: 100, max: 599 }), { nil: undefined }),
      successCondition: fc.option(celFor("http"), { nil: undefined }),
    })
    .map((h) => ({
      ...h.target,
      ...(h.post !== undefined ? { method: "POST", body: h.post } : {}),
      ...(h.headers ? { headers: h.headers } : {}),
      ...(h.expectStatus !== undefined ? { expectStatus: h.expectStatus } : {}),
      ...(h.successCondition !== undefined ? { successCondition: h.successCondition } : {}),
    }));

const validPrometheus = (t: FuzzTargets) =>
  fc.record({
    address: fc.oneof(validUrl(t), fc.constant(t.checkUrl)),
    query: promql,
    successCondition: cel,
  });

const validCheck = (t: FuzzTargets, j: number) =>
  fc
    .record(
      {
        interval: validDuration,
        timeout: validDuration,
        failureThreshold: fc.integer({ min: 1, max: 4 }),
        provider: fc.oneof(
          validHttp(t).map((http) => ({ http })),
          validPrometheus(t).map((prometheus) => ({ prometheus })),
        ),
      },
      { requiredKeys: ["provider"] },
    )
    .map(({ provider, ...rest }) => ({ name: `c${j}`, ...rest, ...provider }));

const validChecks = (t: FuzzTargets) =>
  fc
    .integer({ min: 0, max: 3 })
    .chain((n) => fc.tuple(...Array.from({ length: n }, (_, j) => validCheck(t, j))));

/** Checks the CRD should refuse: no provider or two, bad names, bad fields. */
const wildChecks = (t: FuzzTargets) =>
  fc.array(
    fc.record(
      {
        name: fc.oneof(fc.constantFrom("c0", "C_1", "ñ", longString(64, "c")), fc.string({ maxLength: 8 })),
        interval: fc.oneof(validDuration, wildDuration),
        timeout: fc.oneof(validDuration, wildDuration),
        failureThreshold: fc.integer({ min: -1, max: 2 }),
        http: fc.record(
          {
            path: fc.oneof(fc.constantFrom("/ok", "no-slash"), unicode),
            url: fc.oneof(validUrl(t), fc.constantFrom("ftp://127.0.0.1/", `http://${longString(5000)}`)),
            method: fc.constantFrom("GET", "POST", "PUT"),
            body: unicode,
            expectStatus: fc.integer({ min: -1, max: 700 }),
            successCondition: fc.oneof(cel, fc.constant(longString(4097))),
          },
          { requiredKeys: [] },
        ),
        prometheus: fc.record(
          {
            address: validUrl(t),
            query: fc.oneof(promql, fc.constantFrom("", longString(4097))),
            successCondition: cel,
          },
          { requiredKeys: [] },
        ),
      },
      { requiredKeys: ["name"] },
    ),
    { minLength: 1, maxLength: 3 },
  );

/** Canary steps the CRD accepts: weights in 0..100 that never decrease, pauses with or without a duration. */
const validSteps = fc
  .array(
    fc.oneof(
      fc.integer({ min: 0, max: 100 }).map((w) => ({ setWeight: w })),
      fc.constant({ pause: {} }),
      validDuration.map((duration) => ({ pause: { duration } })),
    ),
    { maxLength: 6 },
  )
  .map((steps) => {
    const weights = steps.flatMap((s) => ("setWeight" in s ? [s.setWeight] : [])).sort((a, b) => a - b);
    return steps.map((s) => ("setWeight" in s ? { setWeight: weights.shift()! } : s));
  });

const validStrategy = fc.oneof(
  validSteps.map((steps) => ({ canary: { steps } })),
  fc
    .record(
      {
        autoPromotionSeconds: fc.integer({ min: 0, max: 5 }),
        previewReplicas: fc.integer({ min: 1, max: 2 }),
      },
      { requiredKeys: [] },
    )
    .map((blueGreen) => ({ blueGreen })),
);

const wildStep = fc.oneof(
  fc.record({ setWeight: fc.constantFrom(-5, 101, 1e10) }),
  fc.record({ pause: fc.record({ duration: wildDuration }) }),
  fc.constant({ setWeight: 10, pause: {} }),
  fc.constant({}),
  fc.constant({
    setHeaderRoute: { name: "h", match: [{ headerName: "x-canary", headerValue: { exact: "1" } }] },
  }),
);
const wildStrategy = fc.oneof(
  fc.tuple(validSteps, wildStep, fc.nat(6)).map(([steps, bad, at]) => ({
    canary: { steps: [...steps.slice(0, at), bad, ...steps.slice(at)] },
  })),
  fc.constant({ canary: { steps: [{ setWeight: 50 }, { setWeight: 20 }] } }),
  fc.constant({ canary: { steps: [{ setWeight: 50 }] }, blueGreen: {} }),
  fc.constant({}),
  fc.constant({ blueGreen: { previewReplicas: 0, autoPromotionSeconds: -1 } }),
);

/** One way to break a valid manifest: a field and the value it gets. */
interface Corruption {
  field: string;
  value: unknown;
}

const corruption = (i: number, t: FuzzTargets): fc.Arbitrary<Corruption> =>
  fc.oneof(
    wildName(i).map((value) => ({ field: "metadata.name", value })),
    wildVersion.map((value) => ({ field: "spec.model.version", value })),
    fc.constantFrom(-1, "two", 1.5).map((value) => ({ field: "spec.replicas", value })),
    wildStrategy.map((value) => ({ field: "spec.strategy", value })),
    wildDuration.map((value) => ({ field: "spec.healthChecks.interval", value })),
    fc.constantFrom(0, -3).map((value) => ({ field: "spec.healthChecks.failureThreshold", value })),
    wildChecks(t).map((value) => ({ field: "spec.healthChecks.checks", value })),
    fc.constantFrom(0, -1).map((value) => ({ field: "spec.progressDeadlineSeconds", value })),
    fc.constant({ field: "spec.notAField", value: "x" }),
    fc.constant({ field: "spec.template", value: "not an object" }),
  );

function setPath(obj: Record<string, unknown>, path: string, value: unknown): void {
  const keys = path.split(".");
  let at = obj;
  for (const key of keys.slice(0, -1)) {
    if (typeof at[key] !== "object" || at[key] === null) at[key] = {};
    at = at[key] as Record<string, unknown>;
  }
  at[keys.at(-1)!] = value;
}

/**
 * One manifest for case `i`, its name starting with f<i> so that cases never collide: a
 * manifest of valid fields (with edge values: long and dotted names, 1ms intervals, CEL and
 * PromQL of any shape, any headers), and about half the time one or two fields broken.
 */
export function manifest(i: number, t: FuzzTargets): fc.Arbitrary<Record<string, unknown>> {
  return fc
    .record({
      name: validName(i),
      version: validVersion,
      // Small on purpose: every accepted manifest runs pods on the test nodes.
      replicas: fc.integer({ min: 0, max: 2 }),
      strategy: validStrategy,
      healthChecks: fc.option(
        fc.record(
          {
            interval: validDuration,
            failureThreshold: fc.integer({ min: 1, max: 3 }),
            checks: validChecks(t),
          },
          { requiredKeys: ["checks"] },
        ),
        { nil: undefined },
      ),
      progressDeadlineSeconds: fc.option(fc.integer({ min: 1, max: 600 }), { nil: undefined }),
      uri: fc.option(fc.oneof(unicode, fc.constant(longString(5000))), { nil: undefined }),
      corruptions: fc.oneof(fc.constant([]), fc.array(corruption(i, t), { minLength: 1, maxLength: 2 })),
    })
    .map((m) => {
      const obj: Record<string, unknown> = {
        apiVersion: "mlops.dev/v1alpha1",
        kind: "ModelDeployment",
        metadata: { name: m.name },
        spec: {
          model: { version: m.version, ...(m.uri !== undefined ? { uri: m.uri } : {}) },
          replicas: m.replicas,
          template: {
            spec: {
              containers: [
                {
                  name: "server",
                  image: "registry.example/model:1",
                  ports: [{ name: "http", containerPort: 8080 }],
                },
              ],
            },
          },
          service: { port: 80, targetPort: "http" },
          strategy: m.strategy,
          ...(m.healthChecks ? { healthChecks: m.healthChecks } : {}),
          ...(m.progressDeadlineSeconds !== undefined
            ? { progressDeadlineSeconds: m.progressDeadlineSeconds }
            : {}),
        },
      };
      for (const c of m.corruptions) setPath(obj, c.field, c.value);
      // A broken name keeps the case's prefix, so that it never collides with another case.
      return obj;
    });
}

/**
 * The field paths an API server error names ("spec.model.version: Invalid value", `unknown
 * field "spec.notAField"`), and whether each names a field of `obj` (or the parent of a
 * missing one, for "Required value").
 */
export function namedFields(message: string, obj: unknown): { path: string; found: boolean }[] {
  const paths = [
    ...message.matchAll(/(?:^|[\s*"(])((?:metadata|spec)(?:\.[A-Za-z0-9_-]+|\[[^\]]*\])*)/g),
  ].map((m) => m[1]!);
  return [...new Set(paths)].map((path) => ({ path, found: resolves(path, obj) }));
}

function resolves(path: string, obj: unknown): boolean {
  const tokens = [...path.matchAll(/([A-Za-z0-9_-]+)|\[(\d+)\]|\[[^\]]*\]/g)].map((m) => m[1] ?? m[2] ?? "*");
  let at: unknown = obj;
  for (let n = 0; n < tokens.length; n++) {
    const token = tokens[n]!;
    if (at === null || typeof at !== "object") return false;
    if (token === "*") {
      // A list-map key such as [name="x"]: any item.
      at = (at as unknown[])[0];
      continue;
    }
    const next = (at as Record<string, unknown>)[token];
    // A missing last field (a Required value) still names a field of an object that exists.
    if (next === undefined) return n === tokens.length - 1;
    at = next;
  }
  return true;
}
