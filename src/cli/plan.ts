// `plan`: what the operator would create for a manifest and the rollout it would run,
// computed offline by the operator's own planner functions (src/plan), never a copy of them.
import type { KubernetesObject, V1Deployment, V1Service } from "@kubernetes/client-node";
import { stringify } from "yaml";
import type { HealthCheck, ModelDeployment } from "../api/types.ts";
import {
  checkFailureThreshold,
  checkIntervalMs,
  checkTimeoutMs,
  computeBlueGreenPreview,
  computeClientsService,
  computePreviewService,
  computeCanaryStepPlan,
  DEFAULT_MAX_SURGE,
  DEFAULT_MAX_UNAVAILABLE,
  computeVersionDeployment,
  computeVersionService,
  formatDuration,
  progressDeadlineMsOf,
  replicasOf,
  revisionHistoryLimitOf,
  strategyOf,
  validateModelDeployment,
  type BlueGreenPreview,
  type StepPreview,
} from "../plan/index.ts";
import { createContext } from "../plan/context.ts";
import { routerFor } from "../plan/routers/index.ts";
import { HTTPROUTE_API_VERSION, HTTPROUTE_KIND, type HTTPRoute } from "../plan/routers/httproute.ts";
import { INFERENCEPOOL_KIND, type InferencePool } from "../plan/routers/inference-pool.ts";
import { describeStep, formatProblem, table } from "./format.ts";
import { documents, isModelDeployment, type Source } from "./manifests.ts";

/** A check as plan prints it. */
export interface CheckPreview {
  name: string;
  provider: "http" | "prometheus" | "signature" | "warmup" | "agreement";
  /** What is measured: the request or the query, and its success condition. */
  target: string;
  interval: string;
  timeout: string;
  failureThreshold: number;
  /** Measured and reported, never gating. */
  dryRun?: boolean;
  /** blueGreen: when it runs, when not only before the switch (After, BeforeAndAfter). */
  promotion?: "After" | "BeforeAndAfter";
}

/** Everything plan prints for one ModelDeployment. */
export interface ModelDeploymentPlan {
  name: string;
  namespace: string;
  version: string;
  strategy: "Canary" | "BlueGreen";
  replicas: number;
  /** Traffic goes through a Gateway API route (spec.traffic): exact weights. */
  routed: boolean;
  /** The route's backends are per-version InferencePools (spec.traffic.gatewayAPI.inferencePool). */
  inferencePools?: boolean;
  /** What the operator creates for the manifest's version. */
  children: KubernetesObject[];
  /** What it adds while that version rolls out (the blue/green preview Service). */
  rolloutChildren: KubernetesObject[];
  rollout: {
    steps?: StepPreview[];
    blueGreen?: BlueGreenPreview;
    /** The last stage of a canary: the new version at full size, the old one at zero (or what maxSurge keeps). */
    promote?: { weight: number; candidateReplicas: number; stableReplicas: number; peakPods: number };
    /** A canary's pod budget (maxSurge, maxUnavailable) and the most pods it runs at once. */
    capacity?: {
      maxSurge: number | string;
      maxUnavailable: number | string;
      maxPods: number;
      minReadyPods: number;
      peakPods: number;
    };
    progressDeadlineSeconds: number;
    revisionHistoryLimit: number;
    checks: CheckPreview[];
  };
}

function describeCheck(md: ModelDeployment, check: HealthCheck): CheckPreview {
  let target = "";
  if (check.http) {
    const h = check.http;
    const where =
      h.url ??
      `${h.path ?? "/"} on the new version's Service${h.port !== undefined ? ` port ${h.port}` : ""}`;
    const cond = [h.expectStatus !== undefined ? `status ${h.expectStatus}` : "", h.successCondition ?? ""]
      .filter(Boolean)
      .join(" and ");
    target = `${h.method ?? "GET"} ${where}${cond ? `, expects ${cond}` : ""}`;
  } else if (check.warmup) {
    const w = check.warmup;
    target = `${w.requests ?? 10} warm-up requests ${w.method ?? "POST"} ${w.path} on the new version's Service once per step, at most ${w.maxFailures ?? 0} failing`;
  } else if (check.agreement) {
    const a = check.agreement;
    const ref = a.requests.configMapKeyRef;
    target = `the requests of ConfigMap ${ref.name} key ${ref.key} to the new and the stable version (${a.protocol ?? "OpenInference"}${a.path ? ` ${a.path}` : ""}), expects ${a.successCondition}`;
  } else if (check.signature) {
    const accept = check.signature.accept?.length
      ? `, accepting changes of ${check.signature.accept.join(", ")}`
      : "";
    target = `the model metadata of the new version against the stable version's${accept}`;
  } else if (check.prometheus) {
    const p = check.prometheus;
    const both = p.compareWithStable || p.judge ? " for the new and the stable version" : "";
    const expects = p.judge ? describeJudge(p.judge) : `expects ${p.successCondition}`;
    target = `${p.query} at ${p.address}${both}, ${expects}`;
  }
  return {
    name: check.name,
    provider: check.http
      ? "http"
      : check.signature
        ? "signature"
        : check.warmup
          ? "warmup"
          : check.agreement
            ? "agreement"
            : "prometheus",
    target,
    interval: formatDuration(checkIntervalMs(md, check)),
    timeout: formatDuration(checkTimeoutMs(check)),
    failureThreshold: checkFailureThreshold(md, check),
    ...(check.dryRun === true ? { dryRun: true } : {}),
    ...(check.promotion === "After" || check.promotion === "BeforeAndAfter"
      ? { promotion: check.promotion }
      : {}),
  };
}

function describeJudge(judge: NonNullable<NonNullable<HealthCheck["prometheus"]>["judge"]>): string {
  return (
    `judged by a Mann-Whitney U test over ${judge.window ?? "5m"} in steps of ${judge.step ?? "15s"} ` +
    `(${judge.direction ?? "Either"}, confidence ${judge.confidence ?? 0.95}, tolerance ${judge.tolerance ?? 0.05}, ` +
    `at least ${judge.minSamples ?? 10} samples)`
  );
}

/**
 * Offline, a route the user owns (httpRouteRef) is not at hand: a stand-in with just the named
 * rule shows what the operator would put in it.
 */
function standInRoute(md: ModelDeployment): HTTPRoute | undefined {
  const ref = md.spec.traffic?.gatewayAPI?.httpRouteRef;
  if (!ref) return undefined;
  return {
    apiVersion: HTTPROUTE_API_VERSION,
    kind: HTTPROUTE_KIND,
    metadata: { name: ref.name, namespace: md.metadata?.namespace },
    spec: { rules: [{ name: ref.rule }] },
  };
}

/** The plan of one valid ModelDeployment. */
export function computeModelDeploymentPlan(input: ModelDeployment, namespace?: string): ModelDeploymentPlan {
  const md: ModelDeployment = {
    ...input,
    metadata: { ...input.metadata, namespace: namespace ?? input.metadata?.namespace ?? "default" },
  };
  const version = md.spec.model.version;
  const strategy = strategyOf(md);
  const replicas = replicasOf(md);
  const router = routerFor(md);
  const children: KubernetesObject[] = [computeVersionDeployment(md, replicas), computeVersionService(md)];
  if (md.spec.traffic?.gatewayAPI) {
    // Through a route: the clients' Service selects the one serving track, the route splits.
    const view = createContext({
      md,
      observed: {
        deployments: [],
        services: [],
        endpointSlices: [],
        routes: { available: true, httpRoutes: [], referenced: standInRoute(md) },
        pools: { available: true, inferencePools: [] },
      },
      measurements: [],
      now: new Date(0),
    });
    children.push(...router.desiredObjects(view, { weights: [{ target: view.spec, weight: 100 }] }).apply);
  } else children.push(computeClientsService(md));
  const rolloutChildren: KubernetesObject[] = strategy === "BlueGreen" ? [computePreviewService(md)] : [];
  const plan: ModelDeploymentPlan = {
    name: md.metadata?.name ?? "",
    namespace: md.metadata?.namespace ?? "default",
    version,
    routed: md.spec.traffic?.gatewayAPI !== undefined,
    ...(md.spec.traffic?.gatewayAPI?.inferencePool ? { inferencePools: true } : {}),
    strategy,
    replicas,
    children,
    rolloutChildren,
    rollout: {
      progressDeadlineSeconds: progressDeadlineMsOf(md) / 1000,
      revisionHistoryLimit: revisionHistoryLimitOf(md),
      checks: (md.spec.healthChecks?.checks ?? []).map((c) => describeCheck(md, c)),
    },
  };
  if (strategy === "Canary") {
    const canary = computeCanaryStepPlan(md);
    if (canary) {
      plan.rollout.steps = canary.steps;
      // The last stage before the promotion: all traffic on the new version, at full size.
      const last = canary.promote;
      plan.rollout.promote = {
        weight: 100,
        candidateReplicas: last.candidate,
        stableReplicas: last.stable,
        peakPods: last.peakPods,
      };
      const spec = md.spec.strategy?.canary;
      plan.rollout.capacity = {
        maxSurge: spec?.maxSurge ?? DEFAULT_MAX_SURGE,
        maxUnavailable: spec?.maxUnavailable ?? DEFAULT_MAX_UNAVAILABLE,
        maxPods: canary.walk.bounds.maxPods,
        minReadyPods: canary.walk.bounds.minReady,
        peakPods: canary.walk.peakPods,
      };
    }
  } else {
    const bg = computeBlueGreenPreview(md);
    if (bg) plan.rollout.blueGreen = bg;
  }
  return plan;
}

function selectorText(sel: Record<string, string> | undefined): string {
  return Object.entries(sel ?? {})
    .map(([k, v]) => `${k}=${v}`)
    .join(",");
}

function childRow(obj: KubernetesObject, note: string): string[] {
  if (obj.kind === "Deployment") {
    const d = obj as V1Deployment;
    return [
      "Deployment",
      d.metadata?.name ?? "",
      String(d.spec?.replicas ?? 0),
      selectorText(d.spec?.selector.matchLabels),
      d.spec?.template.spec?.containers.map((c) => c.image ?? "").join(",") ?? "",
      note,
    ];
  }
  if (obj.kind === "HTTPRoute" || obj.kind === "GRPCRoute") {
    const r = obj as HTTPRoute;
    const backends = (r.spec?.rules ?? [])
      .flatMap((rule) => rule.backendRefs ?? [])
      .map((b) => `${b.kind === INFERENCEPOOL_KIND ? "pool " : ""}${b.name}=${b.weight ?? 1}`)
      .join(",");
    // A route the user owns (httpRouteRef, no ownerReference): only its rule is the operator's.
    if (!r.metadata?.ownerReferences?.length) {
      const rule = r.spec?.rules?.find((x) => x.backendRefs?.length)?.name ?? "";
      return ["HTTPRoute", r.metadata?.name ?? "", "-", `your route, rule ${rule}`, backends, note];
    }
    const parents = (r.spec?.parentRefs ?? []).map((p) => {
      const path = [p.namespace, p.name, p.sectionName].filter(Boolean).join("/");
      return p.kind && p.kind !== "Gateway" ? `${p.kind} ${path}` : path;
    });
    return [obj.kind, r.metadata?.name ?? "", "-", `parents ${parents.join(",")}`, backends, note];
  }
  if (obj.kind === INFERENCEPOOL_KIND) {
    // A version's InferencePool: its pods, its target ports and its endpoint picker.
    const pool = obj as InferencePool;
    const ports = (pool.spec?.targetPorts ?? []).map((p) => String(p.number)).join(",");
    const epp = pool.spec?.endpointPickerRef;
    const picker = epp ? `, EPP ${epp.name}${epp.port ? `:${epp.port.number}` : ""}` : ", no EPP";
    return [
      "InferencePool",
      pool.metadata?.name ?? "",
      "-",
      selectorText(pool.spec?.selector.matchLabels),
      `${ports}${picker}`,
      note,
    ];
  }
  const s = obj as V1Service;
  const ports = (s.spec?.ports ?? []).map((p) => `${p.port}->${String(p.targetPort ?? p.port)}`).join(",");
  return ["Service", s.metadata?.name ?? "", "-", selectorText(s.spec?.selector), ports, note];
}

/** The text form of a plan. */
export function formatPlan(p: ModelDeploymentPlan): string {
  const out: string[] = [];
  out.push(
    `ModelDeployment ${p.namespace}/${p.name}: version ${p.version}, ${p.replicas} replica${p.replicas === 1 ? "" : "s"}, ` +
      `${p.strategy === "Canary" ? "canary" : "blue/green"} strategy`,
  );
  out.push("", "Children:");
  const role = (o: KubernetesObject) => o.metadata?.labels?.["mlops.dev/role"] ?? "";
  const notes: Record<string, string> = {
    version: `version ${p.version}`,
    clients: "clients",
    preview: "preview, during a rollout",
  };
  out.push(
    table(
      [
        ["KIND", "NAME", "REPLICAS", "SELECTOR", "IMAGE/PORTS", "ROLE"],
        ...p.children.map((o) => childRow(o, notes[role(o)] ?? "")),
        ...p.rolloutChildren.map((o) => childRow(o, notes[role(o)] ?? "")),
      ],
      "  ",
    ),
  );

  out.push(...rolloutSection(p), ...gatesSection(p));
  return out.join("\n") + "\n";
}

/** The canary's steps or the blue/green stages, with each version's replicas. */
function rolloutSection(p: ModelDeploymentPlan): string[] {
  const out: string[] = [];
  out.push(
    "",
    `Rollout when ${p.version} replaces the stable version (as the first version, it takes all traffic once Available):`,
  );
  if (p.rollout.steps) {
    out.push(
      table(
        [
          ["STEP", "ACTION", "WEIGHT", "NEW", "STABLE", "PEAK PODS"],
          ...p.rollout.steps.map((s) => [
            String(s.index),
            s.kind === "setWeight" ? `setWeight ${s.weight}%` : describeStep(s),
            `${s.weight}%`,
            String(s.candidateReplicas),
            String(s.stableReplicas),
            String(s.peakPods ?? s.candidateReplicas + s.stableReplicas),
          ]),
          ...(p.rollout.promote
            ? [
                [
                  "-",
                  "promote",
                  `${p.rollout.promote.weight}%`,
                  String(p.rollout.promote.candidateReplicas),
                  String(p.rollout.promote.stableReplicas),
                  String(p.rollout.promote.peakPods),
                ],
              ]
            : []),
        ],
        "  ",
      ),
    );
    if (p.inferencePools)
      out.push(
        `  (the route's backends are InferencePools, one per version (${p.name}-<version>): the weights of each step are the pools'; the old version's pool is deleted after the promotion)`,
      );
    out.push(
      p.routed
        ? "  (through the route the weights are exact: the new version runs at its share, the stable version gives up only the pods maxSurge does not cover)"
        : "  (the stable version shrinks to its count only as the new version's replicas become available)",
    );
    const c = p.rollout.capacity;
    const peak = c?.peakPods ?? 0;
    out.push(
      `  peak pods of both versions: ${peak} (spec.replicas ${p.replicas}` +
        (c
          ? `; maxSurge ${c.maxSurge}: at most ${c.maxPods} pods; maxUnavailable ${c.maxUnavailable}: at least ${c.minReadyPods} ready serving)`
          : ")"),
    );
    if (c && c.minReadyPods < p.replicas)
      out.push(
        `  (while a pod is swapped, ${p.replicas - c.minReadyPods} pod(s) of capacity are out of service: the price of never running more than ${c.maxPods} pods)`,
      );
  }
  if (p.rollout.blueGreen) {
    const bg = p.rollout.blueGreen;
    out.push(
      table(
        [
          ["STAGE", "WEIGHT", "NEW", "STABLE", "WHEN"],
          ...bg.stages.map((s) => [
            s.stage,
            `${s.weight}%`,
            String(s.candidateReplicas),
            String(s.stableReplicas),
            s.when,
          ]),
        ],
        "  ",
      ),
    );
  }
  return out;
}

/** What gates the rollout: the progress deadline and the health checks. */
function gatesSection(p: ModelDeploymentPlan): string[] {
  const out: string[] = [];
  out.push("", "Gates:");
  out.push(
    `  the new version must be Available within ${p.rollout.progressDeadlineSeconds}s of each scaling ` +
      "(progressDeadlineSeconds), else it is rolled back",
  );
  if (p.rollout.checks.length === 0) {
    out.push("  no health checks");
  } else {
    for (const c of p.rollout.checks) {
      const when =
        c.promotion === "After"
          ? "after the switch, while the old version is kept ready; "
          : c.promotion === "BeforeAndAfter"
            ? "before and after the switch; "
            : "";
      out.push(
        `  ${c.name} (${c.provider}): ${c.target}; ${when}every ${c.interval}, timeout ${c.timeout}, ` +
          (c.dryRun
            ? "dry run: measured and reported, never rolls back"
            : `rolled back after ${c.failureThreshold} consecutive failures`),
      );
    }
  }
  out.push(`  old versions kept at 0 replicas for a fast rollback: ${p.rollout.revisionHistoryLimit}`);
  return out;
}

/** The YAML form of a plan: the children as they would be applied, and the rollout. */
export function planYaml(p: ModelDeploymentPlan): string {
  return stringify(p, { lineWidth: 0 });
}

export interface PlanSourcesResult {
  /** Validation problems, FILE:DOC: PATH: MESSAGE; nothing is planned when there are any. */
  problems: string[];
  text: string;
}

/** Plans every ModelDeployment document of the sources. */
export function planSources(
  sources: readonly Source[],
  opts: { output: "text" | "yaml"; namespace: string | undefined },
): PlanSourcesResult {
  const problems: string[] = [];
  const plans: ModelDeploymentPlan[] = [];
  for (const src of sources) {
    for (const doc of documents(src)) {
      if (doc.errors.length > 0) {
        problems.push(...doc.errors.map((e) => formatProblem(doc.file, doc.index, "", e)));
        continue;
      }
      if (!isModelDeployment(doc.value)) continue;
      const found = validateModelDeployment(doc.value);
      if (found.length > 0) {
        problems.push(...found.map((p) => formatProblem(doc.file, doc.index, p.path, p.message)));
        continue;
      }
      plans.push(computeModelDeploymentPlan(doc.value as unknown as ModelDeployment, opts.namespace));
    }
  }
  if (problems.length === 0 && plans.length === 0) {
    problems.push(`${sources.map((s) => s.file).join(", ")}: no ModelDeployment found`);
  }
  const text = opts.output === "yaml" ? plans.map(planYaml).join("---\n") : plans.map(formatPlan).join("\n");
  return { problems, text };
}
