// A user-owned HTTPRoute named by reference (spec.traffic.gatewayAPI.httpRouteRef) against
// the real control plane with the pinned Gateway API CRDs: the route is made by a GitOps
// field manager with several rules; the operator changes only the backendRefs of the named
// rule and its own header rule beside it, by read-modify-write. While a canary rolls out,
// a second field manager re-applies the Git version, once as Argo CD does with the
// documented ignoreDifferences + RespectIgnoreDifferences (the live backendRefs of the
// managed rule kept) and once without (the weights taken back): the user's other rules stay
// byte for byte, the operator restores its weights, the rollback is one write. A route that
// does not exist yet is a condition and an Event, and is picked up when it appears.
//   bash hack/run.sh test-e2e test/e2e/traffic-user-route.test.ts
import { readFileSync } from "node:fs";
import { expect } from "chai";
import { DataPlane, type HTTPRoute, type Services } from "../support/dataplane.ts";
import { installGatewayApiCrds } from "../support/gateway-api.ts";
import { createNamespace, kubectl, kubectlJson, tool, waitFor } from "../support/kube.ts";
import {
  applyMd,
  condition,
  isReady,
  mdEvents,
  modelDeployment,
  operatorWrites,
  waitForMd,
} from "../support/md.ts";
import { startOperator, type OperatorProcess } from "../support/operator.ts";

const NAME = "fraud";
const ROUTE = "storefront";
const RULE = "fraud";
const STABLE = "fraud-1-0-0";
const CANDIDATE = "fraud-2-0-0";

type Rule = NonNullable<HTTPRoute["spec"]["rules"]>[number];

/** The route as it is in Git: three rules, the operator's one among them. */
function gitRoute(ns: string) {
  return {
    apiVersion: "gateway.networking.k8s.io/v1",
    kind: "HTTPRoute",
    metadata: {
      name: ROUTE,
      namespace: ns,
      labels: { "app.kubernetes.io/instance": "storefront" } as Record<string, string>,
      annotations: { "example.com/owner": "shop-team" },
    },
    spec: {
      parentRefs: [{ name: "inference-gateway", sectionName: "http" }],
      hostnames: ["shop.example"],
      rules: [
        {
          name: "static",
          matches: [{ path: { type: "PathPrefix", value: "/static" } }],
          filters: [
            {
              type: "ResponseHeaderModifier",
              responseHeaderModifier: { set: [{ name: "cache-control", value: "max-age=600" }] },
            },
          ],
          backendRefs: [{ name: "static", port: 80 }],
        },
        {
          name: RULE,
          matches: [{ path: { type: "PathPrefix", value: "/v2/models/fraud" } }],
          filters: [
            {
              type: "RequestHeaderModifier",
              requestHeaderModifier: { add: [{ name: "x-tenant", value: "shop" }] },
            },
          ],
          backendRefs: [{ name: "fraud-legacy", port: 80 }],
        },
        {
          name: "checkout",
          matches: [{ path: { type: "PathPrefix", value: "/checkout" } }],
          backendRefs: [
            { name: "checkout-a", port: 80, weight: 90 },
            { name: "checkout-b", port: 80, weight: 10 },
          ],
        },
      ],
    },
  };
}

const traffic = { gatewayAPI: { httpRouteRef: { name: ROUTE, rule: RULE } } };

const steps = [
  { setWeight: 20 },
  { pause: {} },
  { setHeaderRoute: { name: "beta", match: [{ headerName: "x-cohort", headerValue: { exact: "beta" } }] } },
  { setWeight: 50 },
  { pause: {} },
];

const spec = (version: string) =>
  modelDeployment(NAME, { version, replicas: 4, strategy: { canary: { steps } }, extra: { traffic } });

const getRoute = (ns: string, name = ROUTE) =>
  kubectlJson<
    HTTPRoute & {
      metadata: { generation?: number; resourceVersion?: string; labels?: Record<string, string> };
    }
  >(["-n", ns, "get", "httproute", name]);
const rules = (r: HTTPRoute): Rule[] => r.spec.rules ?? [];
const weightsOf = (r: HTTPRoute) =>
  Object.fromEntries(
    (rules(r).find((x) => x.name === RULE)?.backendRefs ?? []).map((b) => [b.name, b.weight]),
  );
/** The rules that are the user's alone, as the API server stores them (JSON text: byte for byte). */
const usersRules = (r: HTTPRoute) =>
  JSON.stringify(
    rules(r)
      .filter((x) => !x.name?.startsWith(`modeldeployment.${NAME}.`))
      .map((x) => (x.name === RULE ? { ...x, backendRefs: "(the operator's)" } : x)),
  );

/** The Git version, applied server-side by another field manager (a GitOps sync). */
async function gitopsApply(obj: unknown, manager: string) {
  await kubectl(
    ["apply", "--server-side", "--force-conflicts", `--field-manager=${manager}`, "-f", "-"],
    JSON.stringify(obj),
  );
}

/** What a Gateway controller would write: the parent accepted the route. */
async function parentAccepts(ns: string, name = ROUTE) {
  const route = await getRoute(ns, name);
  const now = new Date().toISOString().replace(/\.\d+Z$/, "Z");
  const cond = (type: string, reason: string) => ({
    type,
    status: "True",
    reason,
    message: reason,
    lastTransitionTime: now,
    observedGeneration: route.metadata.generation ?? 1,
  });
  const status = {
    parents: (route.spec.parentRefs ?? []).map((parentRef) => ({
      parentRef,
      controllerName: "gateway.envoyproxy.io/gatewayclass-controller",
      conditions: [cond("Accepted", "Accepted"), cond("ResolvedRefs", "ResolvedRefs")],
    })),
  };
  await kubectl([
    "-n",
    ns,
    "patch",
    "httproute",
    name,
    "--subresource=status",
    "--type=merge",
    "-p",
    JSON.stringify({ status }),
  ]);
}

/** The operator's requests on the route after `since`, with the API server's answer code (audit log). */
function routeRequests(since: Date): { verb: string; code: number }[] {
  const log = process.env.MRO_AUDIT_LOG!;
  return readFileSync(log, "utf8")
    .split("\n")
    .filter((l) => l.includes('"userAgent":"model-rollout-operator') && l.includes('"resource":"httproutes"'))
    .map(
      (l) =>
        JSON.parse(l) as {
          verb: string;
          stage?: string;
          requestReceivedTimestamp: string;
          objectRef?: { name?: string };
          responseStatus?: { code?: number };
        },
    )
    .filter(
      (e) =>
        new Date(e.requestReceivedTimestamp) > since &&
        e.objectRef?.name === ROUTE &&
        (e.stage === undefined || e.stage === "ResponseComplete"),
    )
    .map((e) => ({ verb: e.verb, code: e.responseStatus?.code ?? 0 }));
}

/** The Services the route names, as the data plane needs them: loopback ClusterIPs, and what each answers. */
async function routeServices(ns: string): Promise<Services> {
  const list = await kubectlJson<{
    items: {
      metadata: { name: string; labels?: Record<string, string> };
      spec: { clusterIP: string; ports: { port: number }[] };
    }[];
  }>(["-n", ns, "get", "services"]);
  const out: Services = {};
  for (const s of list.items)
    out[s.metadata.name] = {
      clusterIP: s.spec.clusterIP,
      port: s.spec.ports[0]!.port,
      version: s.metadata.labels?.["mlops.dev/version"] ?? s.metadata.name,
    };
  return out;
}

describe("traffic through a user-owned HTTPRoute (httpRouteRef)", function () {
  this.timeout(300_000);
  let operator: OperatorProcess;
  let ns: string;
  let cleanup: () => Promise<void>;
  let dp: DataPlane | undefined;

  before(async () => {
    await installGatewayApiCrds();
    operator = await startOperator();
    ({ name: ns, cleanup } = await createNamespace("user-route"));
    // The user's other backends: Services of their own (the data plane answers for each).
    for (const [svc, port] of [
      ["static", 80],
      ["checkout-a", 80],
      ["checkout-b", 80],
    ] as const)
      await kubectl(["-n", ns, "create", "service", "clusterip", svc, `--tcp=${port}:${port}`]);
  });
  after(async () => {
    await dp?.stop();
    await operator?.stop();
    await cleanup?.();
  });

  it("a route that does not exist yet: TrafficRouted=False (RouteNotFound) and an Event; picked up once GitOps creates it", async () => {
    // The API server takes exactly one of a route the operator owns and a route you own.
    const both = modelDeployment("both", {
      version: "1.0.0",
      extra: {
        traffic: {
          gatewayAPI: {
            httpRoute: { parentRefs: [{ name: "edge" }] },
            httpRouteRef: { name: ROUTE, rule: RULE },
          },
        },
      },
    });
    const refused = await tool("kubectl", ["-n", ns, "apply", "-f", "-"], JSON.stringify(both));
    expect(refused.code).to.not.equal(0);
    expect(refused.stderr).to.match(
      /exactly one of gatewayAPI.httpRoute \(an HTTPRoute the operator writes and owns\), gatewayAPI.grpcRoute \(a GRPCRoute the operator writes and owns\) and gatewayAPI.httpRouteRef \(an existing HTTPRoute you own\) must be set/,
    );
    await applyMd(ns, spec("1.0.0"));
    const missing = await waitForMd(
      ns,
      NAME,
      "TrafficRouted=False, RouteNotFound",
      (m) => condition(m, "TrafficRouted")?.reason === "RouteNotFound",
    );
    expect(condition(missing, "TrafficRouted")?.message).to.equal(
      `the HTTPRoute ${ROUTE} named by spec.traffic.gatewayAPI.httpRouteRef does not exist in the namespace ${ns}: ` +
        `the stable version keeps its traffic (the Service ${NAME} selects it alone) and the rollout waits until it does`,
    );
    await waitFor("a TrafficNotRouted Event", async () =>
      (await mdEvents(ns, NAME)).some(
        (e) => e.reason === "TrafficNotRouted" && /does not exist/.test(e.message ?? ""),
      ),
    );
    await waitForMd(ns, NAME, "1.0.0 Ready", isReady);
    const clients = await kubectlJson<{ spec: { selector: Record<string, string> } }>([
      "-n",
      ns,
      "get",
      "svc",
      NAME,
    ]);
    expect(clients.spec.selector["mlops.dev/version"]).to.equal("1.0.0");

    // GitOps creates the route: the operator finds it through its watch and takes its rule.
    await gitopsApply(gitRoute(ns), "gitops");
    const git = await getRoute(ns);
    const taken = await waitFor("the managed rule on 1.0.0", async () => {
      const r = await getRoute(ns);
      return weightsOf(r)[STABLE] === 100 ? r : undefined;
    });
    expect(weightsOf(taken)).to.deep.equal({ [STABLE]: 100 });
    expect(usersRules(taken), "the user's rules byte for byte").to.equal(usersRules(git));
    expect(taken.metadata.ownerReferences, "no ownerReference on a route it does not own").to.equal(
      undefined,
    );
    expect(taken.metadata.labels).to.deep.equal(git.metadata.labels);
    expect(taken.metadata.annotations).to.deep.equal(git.metadata.annotations);
    await parentAccepts(ns);
    const routed = await waitForMd(
      ns,
      NAME,
      "TrafficRouted=True",
      (m) => condition(m, "TrafficRouted")?.status === "True",
    );
    expect(routed.status?.route).to.deep.include({ name: ROUTE, rule: RULE });
  });

  it("walks a canary on the user's rule while GitOps re-applies the Git version: the user's rules byte for byte, the weights restored, rollback in one write", async () => {
    const git = await getRoute(ns);
    const theirs = usersRules(git);
    const rolloutStart = new Date();
    await applyMd(ns, spec("2.0.0"));
    await waitForMd(
      ns,
      NAME,
      "paused at 20%",
      (m) => m.status?.currentStep === 1 && m.status?.candidateWeight === 20,
    );
    const at20 = await getRoute(ns);
    expect(weightsOf(at20)).to.deep.equal({ [STABLE]: 80, [CANDIDATE]: 20 });
    expect(usersRules(at20)).to.equal(theirs);

    // Argo CD with ignoreDifferences on the rule's backendRefs and RespectIgnoreDifferences=true:
    // the Git version with the live backendRefs of that rule patched in, applied server-side.
    const argo = gitRoute(ns);
    argo.spec.rules[1]!.backendRefs = rules(at20).find((x) => x.name === RULE)!.backendRefs as never;
    await gitopsApply(argo, "argocd-controller");
    const afterArgo = await getRoute(ns);
    expect(afterArgo.metadata.generation, "the sync changed nothing of the route's spec").to.equal(
      at20.metadata.generation,
    );
    expect(weightsOf(afterArgo)).to.deep.equal({ [STABLE]: 80, [CANDIDATE]: 20 });

    // A sync without those settings takes the whole rules list back (weights included): the
    // operator sees it through its watch and writes its weights again, nothing else.
    const since = new Date();
    await gitopsApply(gitRoute(ns), "argocd-controller");
    const restored = await waitFor("the operator restores 80/20", async () => {
      const r = await getRoute(ns);
      return weightsOf(r)[CANDIDATE] === 20 ? r : undefined;
    });
    expect(weightsOf(restored)).to.deep.equal({ [STABLE]: 80, [CANDIDATE]: 20 });
    expect(usersRules(restored)).to.equal(theirs);
    const answers = routeRequests(since);
    console.log(
      `    [user-route] after a plain Git re-apply: the operator's route requests ${JSON.stringify(answers)}`,
    );
    expect(answers.filter((a) => a.verb === "update" && a.code === 200).length).to.be.at.least(1);
    expect(answers.every((a) => a.verb === "update" && (a.code === 200 || a.code === 409))).to.equal(true);

    // Several re-applies in a row race the operator's writes: a 409 is read again and retried.
    const race = new Date();
    // Git versions that differ (a label each), applied at once: the operator writes while they land.
    await Promise.all(
      [1, 2, 3, 4, 5].map((i) => {
        const g = gitRoute(ns);
        g.metadata.labels = { ...g.metadata.labels, "example.com/sync": String(i) };
        return gitopsApply(g, `argocd-controller-${i}`);
      }),
    );
    const settled = await waitFor("80/20 again after the burst", async () => {
      const r = await getRoute(ns);
      return weightsOf(r)[CANDIDATE] === 20 ? r : undefined;
    });
    expect(usersRules(settled)).to.equal(theirs);
    const burst = routeRequests(race);
    console.log(
      `    [user-route] a burst of 5 Git re-applies at once: ${burst.length} route updates by the operator, ${burst.filter((a) => a.code === 409).length} answered 409 and retried`,
    );
    expect(burst.at(-1)?.code, "the operator's last write went through").to.equal(200);
    expect(settled.metadata.labels?.["example.com/sync"], "a label from the burst kept").to.match(/^[1-5]$/);

    // The route as the API server holds it, through the real data plane: the user's rule splits
    // 80/20, the user's other rules still reach their own backends.
    dp = await DataPlane.start({ route: settled, services: await routeServices(ns) });
    const models = await dp.send({ count: 1000, path: "/v2/models/fraud/infer" });
    const statics = await dp.send({ count: 100, path: "/static/app.js" });
    const checkout = await dp.send({ count: 200, path: "/checkout" });
    console.log(
      `    [user-route] data plane at 20%: models ${JSON.stringify(models.answers)}, static ${JSON.stringify(statics.answers)}, checkout ${JSON.stringify(checkout.answers)}`,
    );
    expect(models.statuses).to.deep.equal({ 200: 1000 });
    expect(models.answers["2.0.0"]).to.be.within(160, 240);
    expect(statics.answers).to.deep.equal({ static: 100 });
    expect((checkout.answers["checkout-a"] ?? 0) + (checkout.answers["checkout-b"] ?? 0)).to.equal(200);
    expect(checkout.answers["checkout-b"] ?? 0).to.be.within(8, 40);

    // promote: the operator's header rule just before the user's rule, the user's rules untouched.
    await kubectl(["-n", ns, "annotate", "md", NAME, "mlops.dev/action=promote", "--overwrite"]);
    await waitForMd(ns, NAME, "the header step", (m) => m.status?.route?.headerRoutes?.[0] === "beta");
    const header = await getRoute(ns);
    expect(rules(header).map((r) => r.name)).to.deep.equal([
      "static",
      `modeldeployment.${NAME}.header-beta`,
      RULE,
      "checkout",
    ]);
    const beta = rules(header)[1]!;
    expect(beta.matches).to.deep.equal([
      {
        path: { type: "PathPrefix", value: "/v2/models/fraud" },
        headers: [{ type: "Exact", name: "x-cohort", value: "beta" }],
      },
    ]);
    expect(beta.filters, "the user's filters apply to the header rule too").to.deep.equal(
      rules(git).find((x) => x.name === RULE)?.filters,
    );
    expect(usersRules(header)).to.equal(theirs);
    await dp.setRoute(header, await routeServices(ns));
    const cohort = await dp.send({
      count: 200,
      path: "/v2/models/fraud/infer",
      headers: { "x-cohort": "beta" },
    });
    const rest = await dp.send({ count: 200, path: "/checkout", headers: { "x-cohort": "beta" } });
    console.log(
      `    [user-route] data plane, header rule: x-cohort=beta on the model ${JSON.stringify(cohort.answers)}, on /checkout ${JSON.stringify(rest.answers)}`,
    );
    expect(cohort.answers).to.deep.equal({ "2.0.0": 200 });
    expect(rest.answers["2.0.0"], "the header rule narrows the user's rule, nothing else").to.equal(
      undefined,
    );

    // promote: the header rule goes, 50%; then abort: 100/0 in one write of the route.
    await kubectl(["-n", ns, "annotate", "md", NAME, "mlops.dev/action=promote", "--overwrite"]);
    await waitForMd(
      ns,
      NAME,
      "paused at 50%",
      (m) => m.status?.currentStep === 4 && m.status?.candidateWeight === 50,
    );
    const at50 = await getRoute(ns);
    expect(rules(at50).map((r) => r.name)).to.deep.equal(["static", RULE, "checkout"]);
    expect(weightsOf(at50)).to.deep.equal({ [STABLE]: 50, [CANDIDATE]: 50 });
    const abortAt = new Date();
    await kubectl(["-n", ns, "annotate", "md", NAME, "mlops.dev/action=abort", "--overwrite"]);
    await waitForMd(
      ns,
      NAME,
      "aborted, all traffic on 1.0.0",
      (m) => m.status?.aborted !== undefined && m.status?.traffic?.[0]?.weight === 100,
    );
    const back = await getRoute(ns);
    expect(weightsOf(back)).to.deep.equal({ [STABLE]: 100 });
    expect(usersRules(back)).to.equal(theirs);
    expect(
      operatorWrites(abortAt)
        .filter((w) => w.objectRef?.resource === "httproutes" && w.objectRef.namespace === ns)
        .map((w) => w.verb),
      "the rollback is one write of the route",
    ).to.deep.equal(["update"]);
    const cost = new Map<string, number>();
    for (const w of operatorWrites(rolloutStart).filter((w) => w.objectRef?.namespace === ns)) {
      const k = `${w.verb} ${w.objectRef?.resource ?? "?"}`;
      cost.set(k, (cost.get(k) ?? 0) + 1);
    }
    console.log(
      `    [user-route] operator writes during the rollout: ${JSON.stringify(Object.fromEntries(cost))}`,
    );
  });

  it("the reference removed mid-rollout: the rule back on the stable version alone in one write, then the route is the user's alone; deleting the ModelDeployment leaves it", async () => {
    const theirs = usersRules(await getRoute(ns));
    await applyMd(ns, spec("3.0.0"));
    await waitForMd(
      ns,
      NAME,
      "3.0.0 paused at 20%",
      (m) => m.status?.candidateVersion === "3.0.0" && m.status?.currentStep === 1,
    );
    await kubectl(["-n", ns, "annotate", "md", NAME, "mlops.dev/action=promote", "--overwrite"]);
    await waitForMd(ns, NAME, "the header step", (m) => m.status?.route?.headerRoutes?.[0] === "beta");
    expect(rules(await getRoute(ns)).map((r) => r.name)).to.include(`modeldeployment.${NAME}.header-beta`);

    // Back to replica ratio: no spec.traffic, and steps without a header rule.
    const since = new Date();
    await applyMd(
      ns,
      modelDeployment(NAME, {
        version: "3.0.0",
        replicas: 4,
        strategy: { canary: { steps: [{ setWeight: 20 }, { pause: {} }] } },
      }),
    );
    const handedBack = await waitFor("the rule back on 1.0.0 alone", async () => {
      const r = await getRoute(ns);
      return weightsOf(r)[STABLE] === 100 && rules(r).length === 3 ? r : undefined;
    });
    expect(weightsOf(handedBack)).to.deep.equal({ [STABLE]: 100 });
    expect(usersRules(handedBack)).to.equal(theirs);
    await waitForMd(ns, NAME, "status.route gone", (m) => m.status?.route === undefined);
    expect(
      routeRequests(since).map((r) => `${r.verb} ${r.code}`),
      "handed back in one write",
    ).to.deep.equal(["update 200"]);

    // The route is the user's alone now: their change stays, the operator writes no more.
    const later = new Date();
    const git = gitRoute(ns);
    await gitopsApply(git, "gitops");
    await waitFor(
      "the Git version back",
      async () => weightsOf(await getRoute(ns))["fraud-legacy"] !== undefined,
    );
    await kubectl(["-n", ns, "delete", "md", NAME, "--wait=true"]);
    const left = await getRoute(ns);
    expect(weightsOf(left), "the Git version, the weight defaulted").to.deep.equal({ "fraud-legacy": 1 });
    expect(left.metadata.ownerReferences).to.equal(undefined);
    expect(routeRequests(later), "no write of the route after it was handed back").to.deep.equal([]);
  });

  it("a mirror step on the user's rule, through the real data plane: the candidate receives copies, every client answer comes from the stable version", async () => {
    const model = "shadow";
    const route = "shadow-shop";
    const rule = "models";
    const tenant = {
      type: "RequestHeaderModifier",
      requestHeaderModifier: { add: [{ name: "x-tenant", value: "shop" }] },
    };
    // The user's route in Git: a static rule and the rule the ModelDeployment steers.
    await gitopsApply(
      {
        apiVersion: "gateway.networking.k8s.io/v1",
        kind: "HTTPRoute",
        metadata: { name: route, namespace: ns },
        spec: {
          parentRefs: [{ name: "inference-gateway", sectionName: "http" }],
          hostnames: ["shadow.example"],
          rules: [
            {
              name: "static",
              matches: [{ path: { type: "PathPrefix", value: "/static" } }],
              backendRefs: [{ name: "static", port: 80 }],
            },
            {
              name: rule,
              matches: [{ path: { type: "PathPrefix", value: "/v2/models/shadow" } }],
              filters: [tenant],
              backendRefs: [{ name: "static", port: 80 }],
            },
          ],
        },
      },
      "gitops",
    );
    const shadowSpec = (version: string) =>
      modelDeployment(model, {
        version,
        replicas: 2,
        strategy: {
          canary: {
            steps: [
              { setWeight: 0 },
              { setMirrorRoute: { name: "shadow", percentage: 100 } },
              { setWeight: 50 },
              { pause: {} },
            ],
          },
        },
        extra: { traffic: { gatewayAPI: { httpRouteRef: { name: route, rule } } } },
      });
    await applyMd(ns, shadowSpec("1.0.0"));
    await parentAccepts(ns, route);
    await waitForMd(ns, model, "1.0.0 Ready", isReady);
    await applyMd(ns, shadowSpec("2.0.0"));
    const mirroring = await waitForMd(
      ns,
      model,
      "the mirror step, seen in status.route",
      (m) => m.status?.currentStep === 1 && m.status?.route?.mirror !== undefined,
    );
    expect(mirroring.status?.route?.mirror).to.deep.equal({ service: "shadow-2-0-0", percentage: 100 });
    const r = await getRoute(ns, route);
    expect(rules(r).map((x) => x.name)).to.deep.equal(["static", `modeldeployment.${model}.mirror`, rule]);
    const [, mirror, theirs] = rules(r) as [Rule, Rule, Rule];
    expect(mirror.matches, "the mirror rule takes the user's rule's requests").to.deep.equal(theirs.matches);
    expect(mirror.filters?.map((f) => f.type)).to.deep.equal(["RequestHeaderModifier", "RequestMirror"]);
    expect(mirror.filters?.[0]).to.deep.equal(tenant);
    expect(mirror.filters?.[1]?.requestMirror).to.deep.include({ percent: 100 });
    expect(mirror.filters?.[1]?.requestMirror?.backendRef).to.deep.include({
      name: "shadow-2-0-0",
      port: 80,
    });
    expect(
      Object.fromEntries((theirs.backendRefs ?? []).map((b) => [b.name, b.weight])),
      "the user's rule at 0%",
    ).to.deep.equal({ "shadow-1-0-0": 100, "shadow-2-0-0": 0 });

    // The route as the API server holds it, through the real data plane.
    const services = await routeServices(ns);
    if (dp) await dp.setRoute(r, services);
    else dp = await DataPlane.start({ route: r, services });
    const before = await dp.served();
    const copies = async () =>
      ((await dp!.served())["2.0.0"]?.requests ?? 0) - (before["2.0.0"]?.requests ?? 0);
    const clients = await dp.send({ count: 200, path: "/v2/models/shadow/infer" });
    const statics = await dp.send({ count: 50, path: "/static/app.js" });
    await waitFor("the candidate got the mirrored copies", async () => (await copies()) >= 200, {
      timeoutMs: 10_000,
      intervalMs: 100,
    });
    console.log(
      `    [user-route] mirror 100% at weight 0: clients ${JSON.stringify(clients.answers)}, static ${JSON.stringify(statics.answers)}, the candidate received ${await copies()} copies`,
    );
    expect(clients.statuses).to.deep.equal({ 200: 200 });
    expect(clients.answers, "every client answer from the stable version").to.deep.equal({ "1.0.0": 200 });
    expect(statics.answers).to.deep.equal({ static: 50 });
    expect(await copies(), "a copy of each of the rule's requests, none of the others'").to.equal(200);

    // promote: the mirror rule goes with its step; the user's rule takes the split, 50/50.
    await kubectl(["-n", ns, "annotate", "md", model, "mlops.dev/action=promote", "--overwrite"]);
    await waitForMd(
      ns,
      model,
      "paused at 50%",
      (m) => m.status?.currentStep === 3 && m.status?.candidateWeight === 50,
    );
    const at50 = await getRoute(ns, route);
    expect(rules(at50).map((x) => x.name)).to.deep.equal(["static", rule]);
    await dp.setRoute(at50, await routeServices(ns));
    const served50 = (await dp.served())["2.0.0"]?.requests ?? 0;
    const split = await dp.send({ count: 200, path: "/v2/models/shadow/infer" });
    console.log(`    [user-route] after the mirror step, at 50%: ${JSON.stringify(split.answers)}`);
    expect(split.answers["2.0.0"]).to.be.within(70, 130);
    expect((split.answers["1.0.0"] ?? 0) + (split.answers["2.0.0"] ?? 0)).to.equal(200);
    expect(
      ((await dp.served())["2.0.0"]?.requests ?? 0) - served50,
      "the candidate got its answers' requests, no copies once the step ended",
    ).to.equal(split.answers["2.0.0"]);
  });
});
