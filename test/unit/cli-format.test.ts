import { expect } from "chai";
import type { V1Deployment } from "@kubernetes/client-node";
import type { ModelDeployment } from "../../src/api/types.ts";
import { pickActionEvent } from "../../src/cli/commands.ts";
import {
  assessOutcome,
  bar,
  formatAge,
  formatGet,
  formatList,
  recentEvents,
  statusLine,
  statusVerdict,
  type EventRow,
} from "../../src/cli/format.ts";
import { computeStepPlan } from "../../src/plan/index.ts";

const NOW = new Date("2026-03-01T12:00:00Z");
const ago = (s: number) => new Date(NOW.getTime() - s * 1000).toISOString();

function md(status: ModelDeployment["status"], generation = 2): ModelDeployment {
  return {
    apiVersion: "mlops.dev/v1alpha1",
    kind: "ModelDeployment",
    metadata: {
      name: "fraud-detector",
      namespace: "models",
      generation,
      creationTimestamp: ago(3600) as never,
    },
    spec: {
      model: { version: "2.1.0" },
      replicas: 4,
      template: { spec: { containers: [{ name: "server", image: "img:2.1.0" }] } },
      strategy: {
        canary: {
          steps: [{ setWeight: 25 }, { pause: { duration: "30s" } }, { setWeight: 50 }, { pause: {} }],
        },
      },
      healthChecks: {
        failureThreshold: 3,
        checks: [
          {
            name: "error-rate",
            prometheus: { address: "http://p:9090", query: "q", successCondition: "result < 0.01" },
          },
          { name: "model-ready", failureThreshold: 5, http: { path: "/ready" } },
        ],
      },
    },
    status,
  };
}

const cond = (
  type: string,
  status: "True" | "False",
  reason: string,
  message: string,
  observedGeneration = 2,
) => ({
  type,
  status,
  reason,
  message,
  observedGeneration,
  lastTransitionTime: ago(90),
});

const rollingOut = md({
  observedGeneration: 2,
  phase: "Progressing",
  strategy: "Canary",
  stableVersion: "2.0.0",
  candidateVersion: "2.1.0",
  candidateWeight: 25,
  currentStep: 1,
  traffic: [
    { version: "2.0.0", weight: 75, readyEndpoints: 3 },
    { version: "2.1.0", weight: 25, readyEndpoints: 1 },
  ],
  checks: [
    {
      name: "error-rate",
      phase: "Failed",
      value: "0.04",
      consecutiveFailures: 2,
      lastMeasured: ago(5),
      message: "result < 0.01 is false",
    },
  ],
  conditions: [
    cond("Ready", "False", "RolloutInProgress", "rolling out 2.1.0"),
    cond("Reconciling", "True", "RolloutInProgress", "step 2 of 4: pause 30s"),
    cond("Stalled", "False", "RolloutInProgress", ""),
  ],
});

function deployment(name: string, version: string, desired: number, ready: number): V1Deployment {
  return {
    metadata: { name, labels: { "mlops.dev/version": version }, creationTimestamp: new Date(ago(600)) },
    spec: { replicas: desired, selector: {}, template: {} },
    status: { readyReplicas: ready, updatedReplicas: desired, availableReplicas: ready },
  };
}

describe("cli formatting", () => {
  it("draws traffic bars proportional to the weight", () => {
    expect(bar(25, 20, false)).to.equal("#####...............");
    expect(bar(100, 10, true)).to.equal("██████████");
    expect(bar(0, 4, true)).to.equal("░░░░");
    expect(bar(250, 4, false)).to.equal("####");
  });

  it("writes ages as kubectl does", () => {
    expect(formatAge(ago(12), NOW)).to.equal("12s");
    expect(formatAge(ago(270), NOW)).to.equal("4m30s");
    expect(formatAge(ago(45 * 60), NOW)).to.equal("45m");
    expect(formatAge(ago(3 * 3600 + 20 * 60), NOW)).to.equal("3h20m");
    expect(formatAge(ago(5 * 86400), NOW)).to.equal("5d");
    expect(formatAge(undefined, NOW)).to.equal("");
  });

  it("judges Ready and Stalled only from conditions of the current generation", () => {
    const ready = md({
      observedGeneration: 2,
      conditions: [cond("Ready", "True", "Ready", "2.1.0 serves all traffic")],
    });
    expect(assessOutcome(ready)).to.equal("Ready");
    // Just applied: the operator has not seen generation 3 yet, the old Ready=True does not count.
    expect(assessOutcome({ ...ready, metadata: { ...ready.metadata, generation: 3 } })).to.equal(
      "InProgress",
    );
    const stale = md({ observedGeneration: 2, conditions: [cond("Ready", "True", "Ready", "", 1)] });
    expect(assessOutcome(stale)).to.equal("InProgress");
    const stalled = md({
      observedGeneration: 2,
      conditions: [
        cond("Ready", "False", "HealthCheckFailed", ""),
        cond("Stalled", "True", "HealthCheckFailed", "error-rate failed 3 times: 0.04"),
      ],
    });
    expect(assessOutcome(stalled)).to.equal("Stalled");
    expect(statusVerdict(stalled, "Stalled")).to.equal(
      "fraud-detector is Stalled (HealthCheckFailed): error-rate failed 3 times: 0.04",
    );
    expect(assessOutcome(rollingOut)).to.equal("InProgress");
    expect(assessOutcome(md(undefined))).to.equal("InProgress");
  });

  it("says in one status line where a rollout stands", () => {
    expect(statusLine(rollingOut)).to.equal(
      "Progressing: 2.1.0 at 25% (stable 2.0.0), step 2/4 - Reconciling=True RolloutInProgress: step 2 of 4: pause 30s",
    );
    expect(statusLine(md(undefined))).to.equal("Pending - waiting for the operator to observe generation 2");
    const ready = md({
      observedGeneration: 2,
      phase: "Healthy",
      stableVersion: "2.1.0",
      conditions: [cond("Ready", "True", "Ready", "2.1.0 serves all traffic")],
    });
    expect(statusLine(ready)).to.equal("Healthy: 2.1.0 - Ready=True Ready: 2.1.0 serves all traffic");
    expect(statusVerdict(ready, "Timeout", "10m")).to.match(/^fraud-detector is not Ready after 10m: /);
  });

  it("lists one line per ModelDeployment, with the namespace under -A", () => {
    const text = formatList([rollingOut], { now: NOW, allNamespaces: true });
    const [header, row] = text.split("\n");
    expect(header!.split(/\s+/)).to.deep.equal([
      "NAMESPACE",
      "NAME",
      "STRATEGY",
      "STABLE",
      "CANDIDATE",
      "WEIGHT",
      "STEP",
      "PHASE",
      "READY",
      "AGE",
    ]);
    expect(row!.split(/\s+/)).to.deep.equal([
      "models",
      "fraud-detector",
      "Canary",
      "2.0.0",
      "2.1.0",
      "25%",
      "2/4",
      "Progressing",
      "False",
      "60m",
    ]);
    expect(formatList([rollingOut], { now: NOW, allNamespaces: false }).split("\n")[0]).to.match(/^NAME /);
  });

  it("tells the two revisions apart while a new pod template of the stable version rolls out", () => {
    const sameVersion = md({
      ...rollingOut.status,
      stableVersion: "2.1.0",
      stableRevision: "aaaaaaaaaa",
      candidateVersion: "2.1.0",
      candidateRevision: "bbbbbbbbbb",
      traffic: [
        { version: "2.1.0", revision: "aaaaaaaaaa", weight: 75, readyEndpoints: 3 },
        { version: "2.1.0", revision: "bbbbbbbbbb", weight: 25, readyEndpoints: 1 },
      ],
    });
    expect(statusLine(sameVersion)).to.match(
      /^Progressing: 2\.1\.0 \(revision bbbbbbbbbb\) at 25% \(stable revision aaaaaaaaaa\), step 2\/4/,
    );
    expect(formatList([sameVersion], { now: NOW, allNamespaces: false }).split("\n")[1]).to.include(
      "2.1.0@bbbbbbbbbb",
    );
    const withRevision = (d: V1Deployment, revision: string): V1Deployment => ({
      ...d,
      metadata: { ...d.metadata, annotations: { "mlops.dev/revision": revision } },
    });
    const lines = formatGet(
      {
        md: sameVersion,
        deployments: [
          withRevision(deployment("fraud-detector-2-1-0-bbbbbbbbbb", "2.1.0", 1, 1), "bbbbbbbbbb"),
          withRevision(deployment("fraud-detector-2-1-0", "2.1.0", 3, 3), "aaaaaaaaaa"),
        ],
        events: [],
        steps: computeStepPlan(sameVersion),
      },
      { now: NOW, unicode: false },
    ).split("\n");
    expect(lines).to.include("Candidate:  2.1.0 (revision bbbbbbbbbb)");
    const versions = lines
      .slice(lines.indexOf("Versions:") + 2, lines.indexOf("Versions:") + 4)
      .map((l) => l.trim().split(/\s+/).slice(0, 3));
    expect(versions).to.deep.equal([
      ["2.1.0", "stable", "fraud-detector-2-1-0"],
      ["2.1.0", "candidate", "fraud-detector-2-1-0-bbbbbbbbbb"],
    ]);
    expect(lines).to.include("  2.1.0@aaaaaaaaaa  ###############.....  75%  3 ready endpoints");
    expect(lines).to.include("  2.1.0@bbbbbbbbbb  #####...............  25%  1 ready endpoint");
  });

  it("says where an adoption (workloadRef) stands, and that one is yet to start", () => {
    const adopting = md({
      adoption: {
        deployment: "fraud-server",
        originalReplicas: 3,
        phase: "Progressing",
        scaleDown: "onsuccess",
      },
      traffic: [
        { version: "deployment/fraud-server", weight: 60, readyEndpoints: 3 },
        { version: "2.1.0", weight: 40, readyEndpoints: 2 },
      ],
    });
    adopting.spec.workloadRef = { name: "fraud-server", scaleDown: "onsuccess" };
    const view = (m: ModelDeployment) =>
      formatGet({ md: m, deployments: [], events: [], steps: [] }, { now: NOW, unicode: false }).split("\n");
    expect(view(adopting)).to.include(
      "Adoption:   Deployment fraud-server: Progressing (scaleDown onsuccess, it had 3 replica(s))",
    );
    expect(
      view(adopting).some((l) => /deployment\/fraud-server .*60%/.test(l)),
      view(adopting).join("\n"),
    ).to.equal(true);
    const fresh = md(undefined);
    fresh.spec.workloadRef = { name: "fraud-server" };
    expect(view(fresh)).to.include("Adoption:   Deployment fraud-server: not started (scaleDown never)");
  });

  it("shows versions, traffic bars, the current step, checks, conditions and events", () => {
    const events: EventRow[] = [
      { type: "Normal", reason: "RolloutStarted", message: "rolling out 2.1.0", time: ago(100), count: 1 },
      { type: "Warning", reason: "CheckFailed", message: "error-rate: 0.04", time: ago(5), count: 2 },
    ];
    const text = formatGet(
      {
        md: rollingOut,
        deployments: [
          deployment("fraud-detector-2-1-0", "2.1.0", 1, 1),
          deployment("fraud-detector-2-0-0", "2.0.0", 3, 3),
        ],
        events,
        steps: computeStepPlan(rollingOut),
      },
      { now: NOW, unicode: false },
    );
    const lines = text.split("\n");
    expect(lines).to.include("Candidate:  2.1.0");
    // Stable first, with ready/desired replicas.
    const versions = lines
      .slice(lines.indexOf("Versions:") + 2, lines.indexOf("Versions:") + 4)
      .map((l) => l.trim().split(/\s+/));
    expect(versions.map((v) => v.slice(0, 4))).to.deep.equal([
      ["2.0.0", "stable", "fraud-detector-2-0-0", "3/3"],
      ["2.1.0", "candidate", "fraud-detector-2-1-0", "1/1"],
    ]);
    expect(lines).to.include("  2.0.0  ###############.....  75%  3 ready endpoints");
    expect(lines).to.include("  2.1.0  #####...............  25%  1 ready endpoint");
    expect(lines).to.include("  +  0  setWeight 25%: new 1, stable 3 replicas");
    expect(lines).to.include("  >  1  pause 30s");
    expect(lines).to.include("     3  pause until promote");
    const checks = lines
      .filter((l) => /^ {2}(error-rate|model-ready) /.test(l))
      .map((l) => l.trim().split(/\s{2,}/));
    expect(checks).to.deep.equal([
      ["error-rate", "Failed", "0.04", "2/3", "5s ago", "result < 0.01 is false"],
      ["model-ready", "Pending", "-", "0/5", "-"],
    ]);
    expect(text).to.match(/^ {2}Reconciling +True +RolloutInProgress +90s +step 2 of 4: pause 30s$/m);
    expect(text).to.match(/^ {2}5s +Warning +CheckFailed +error-rate: 0\.04 \(x2\)$/m);
    expect(text.indexOf("RolloutStarted")).to.be.lessThan(text.indexOf("CheckFailed"));
  });

  it("shows the stable version's value of a comparison and marks dryRun checks", () => {
    const analysed: ModelDeployment = {
      ...rollingOut,
      spec: {
        ...rollingOut.spec,
        healthChecks: {
          checks: [
            {
              name: "p95-vs-stable",
              prometheus: {
                address: "http://p:9090",
                query: "q",
                compareWithStable: true,
                successCondition: "candidate <= stable * 1.1",
              },
            },
            {
              name: "p95-judge",
              dryRun: true,
              prometheus: { address: "http://p:9090", query: "q", judge: { direction: "LowerIsBetter" } },
            },
          ],
        },
      },
      status: {
        ...rollingOut.status,
        checks: [
          {
            name: "p95-vs-stable",
            phase: "Failed",
            value: "0.13",
            stableValue: "0.1",
            consecutiveFailures: 1,
            lastMeasured: ago(5),
            message: "false",
          },
          {
            name: "p95-judge",
            phase: "Failed",
            dryRun: true,
            value: "0.13",
            stableValue: "0.1",
            consecutiveFailures: 4,
            lastMeasured: ago(5),
            message: "worse",
          },
        ],
      },
    };
    const text = formatGet(
      { md: analysed, deployments: [], events: [], steps: [] },
      { now: NOW, unicode: false },
    );
    const checks = text
      .split("\n")
      .filter((l) => /^ {2}p95-/.test(l))
      .map((l) => l.trim().split(/\s{2,}/));
    expect(checks).to.deep.equal([
      ["p95-vs-stable", "Failed", "0.13 (stable 0.1)", "1/3", "5s ago", "false"],
      ["p95-judge (dry run)", "Failed", "0.13 (stable 0.1)", "4/3", "5s ago", "worse"],
    ]);
  });

  it("shows the route's weights, header and mirror rules and what each parent said (spec.traffic)", () => {
    const routed: ModelDeployment = {
      ...rollingOut,
      status: {
        ...rollingOut.status,
        traffic: [
          { version: "2.0.0", weight: 95, readyEndpoints: 3 },
          { version: "2.1.0", weight: 5, readyEndpoints: 1 },
        ],
        route: {
          name: "fraud-detector",
          headerRoutes: ["beta"],
          mirror: { service: "fraud-detector-2-1-0", percentage: 50 },
          parents: [
            { name: "inference-gateway", namespace: "gateways", accepted: "True", resolvedRefs: "True" },
            {
              name: "edge",
              accepted: "False",
              resolvedRefs: "True",
              reason: "NotAllowedByListeners",
              message: "no listener",
            },
          ],
        },
      },
    };
    const lines = formatGet(
      { md: routed, deployments: [], events: [], steps: computeStepPlan(routed) },
      { now: NOW, unicode: false },
    ).split("\n");
    const at = lines.indexOf("Traffic (HTTPRoute fraud-detector):");
    expect(at).to.be.greaterThan(-1);
    expect(lines.slice(at + 1, at + 7)).to.deep.equal([
      "  header route beta: matching requests -> candidate",
      "  mirror: 50% of requests copied to fraud-detector-2-1-0",
      "  parent gateways/inference-gateway: Accepted=True, ResolvedRefs=True",
      "  parent edge: Accepted=False, ResolvedRefs=True (NotAllowedByListeners: no listener)",
      "  2.0.0  ###################.  95%  3 ready endpoints",
      "  2.1.0  #...................   5%  1 ready endpoint",
    ]);
  });

  it("names a GRPCRoute as the route's kind", () => {
    const grpc: ModelDeployment = {
      ...rollingOut,
      status: {
        ...rollingOut.status,
        traffic: [
          { version: "2.0.0", weight: 80, readyEndpoints: 3 },
          { version: "2.1.0", weight: 20, readyEndpoints: 1 },
        ],
        route: {
          name: "fraud-detector",
          kind: "GRPCRoute",
          parents: [{ name: "grpc-gateway", accepted: "True", resolvedRefs: "True" }],
        },
      },
    };
    const lines = formatGet(
      { md: grpc, deployments: [], events: [], steps: computeStepPlan(grpc) },
      { now: NOW, unicode: false },
    ).split("\n");
    expect(lines).to.include("Traffic (GRPCRoute fraud-detector):");
    expect(lines).to.not.include("Traffic (HTTPRoute fraud-detector):");
  });

  it("says that the route's backends are InferencePools, and names the mirror's pool", () => {
    const pooled: ModelDeployment = {
      ...rollingOut,
      status: {
        ...rollingOut.status,
        traffic: [
          { version: "2.0.0", weight: 90, readyEndpoints: 3 },
          { version: "2.1.0", weight: 10, readyEndpoints: 1 },
        ],
        route: {
          name: "fraud-detector",
          backendKind: "InferencePool",
          mirror: { service: "fraud-detector-2-1-0", percentage: 100 },
          parents: [{ name: "inference-gateway", accepted: "True", resolvedRefs: "True" }],
        },
      },
    };
    const lines = formatGet(
      { md: pooled, deployments: [], events: [], steps: computeStepPlan(pooled) },
      { now: NOW, unicode: false },
    ).split("\n");
    const at = lines.indexOf("Traffic (HTTPRoute fraud-detector):");
    expect(lines.slice(at + 1, at + 6)).to.deep.equal([
      "  backends: InferencePools, one per version (the weights below are the pools')",
      "  mirror: 100% of requests copied to InferencePool fraud-detector-2-1-0",
      "  parent inference-gateway: Accepted=True, ResolvedRefs=True",
      "  2.0.0  ##################..  90%  3 ready endpoints",
      "  2.1.0  ##..................  10%  1 ready endpoint",
    ]);
  });

  it("says what the readiness gate waits for, and names a mesh parent by its kind", () => {
    const gated: ModelDeployment = {
      ...rollingOut,
      status: {
        ...rollingOut.status,
        readinessGate: {
          conditionType: "mlops.dev/admitted",
          open: false,
          message: "closed: 1 of 1 pods of 2.1.0 run behind the gate",
        },
        route: {
          name: "fraud-detector",
          parents: [{ name: "fraud-detector", kind: "Service", accepted: "True", resolvedRefs: "True" }],
        },
      },
    };
    const text = formatGet(
      { md: gated, deployments: [], events: [], steps: computeStepPlan(gated) },
      { now: NOW, unicode: false },
    );
    expect(text).to.contain(
      "\n  readiness gate mlops.dev/admitted: closed: 1 of 1 pods of 2.1.0 run behind the gate\n",
    );
    expect(text).to.contain("\n  parent Service fraud-detector: Accepted=True, ResolvedRefs=True\n");
  });

  it("names the rule of a route the user owns (httpRouteRef) above its weights", () => {
    const routed: ModelDeployment = {
      ...rollingOut,
      status: {
        ...rollingOut.status,
        traffic: [
          { version: "2.0.0", weight: 80, readyEndpoints: 3 },
          { version: "2.1.0", weight: 20, readyEndpoints: 1 },
        ],
        route: {
          name: "storefront",
          rule: "fraud",
          headerRoutes: ["beta"],
          parents: [{ name: "edge", accepted: "True", resolvedRefs: "True" }],
        },
      },
    };
    const lines = formatGet(
      { md: routed, deployments: [], events: [], steps: computeStepPlan(routed) },
      { now: NOW, unicode: false },
    ).split("\n");
    const at = lines.indexOf("Traffic (HTTPRoute storefront, your rule fraud):");
    expect(at, lines.join("\n")).to.be.greaterThan(-1);
    expect(lines.slice(at + 1, at + 5)).to.deep.equal([
      "  header route beta: matching requests -> candidate",
      "  parent edge: Accepted=True, ResolvedRefs=True",
      "  2.0.0  ################....  80%  3 ready endpoints",
      "  2.1.0  ####................  20%  1 ready endpoint",
    ]);
  });

  it("uses block characters and a marker in a terminal", () => {
    const text = formatGet(
      { md: rollingOut, deployments: [], events: [], steps: computeStepPlan(rollingOut) },
      { now: NOW, unicode: true },
    );
    expect(text).to.contain("███████████████░░░░░  75%");
    expect(text).to.contain("  ▶  1  pause 30s");
    expect(text).to.contain("(no version Deployments yet)");
  });

  it("keeps the newest events and finds the one about an action", () => {
    const ev = (reason: string, message: string, s: number): EventRow => ({
      type: "Normal",
      reason,
      message,
      time: ago(s),
      count: 1,
    });
    expect(
      recentEvents([ev("A", "", 1), ev("B", "", 30), ev("C", "", 10)], 2).map((e) => e.reason),
    ).to.deep.equal(["C", "A"]);
    const accepted = ev("ActionAccepted", "promote: pause ended at step 1", 2);
    const other = ev("ActionAccepted", "pause: rollout held", 1);
    expect(pickActionEvent([other, accepted], "promote")).to.equal(accepted);
    // promote-full is not promote.
    expect(
      pickActionEvent([ev("ActionAccepted", "promote-full: skipping", 1), accepted], "promote"),
    ).to.equal(accepted);
    expect(pickActionEvent([other], "promote")).to.equal(other);
    expect(pickActionEvent([], "abort")).to.equal(undefined);
  });
});
