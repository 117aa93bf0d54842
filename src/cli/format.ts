// Pure formatting of what kubectl-modeldeploy prints: no I/O, no clock (callers pass `now`).
import type { V1Deployment } from "@kubernetes/client-node";
import { CONDITION_READY, CONDITION_RECONCILING, CONDITION_STALLED } from "../api/constants.ts";
import type { Condition, ModelDeployment, ModelDeploymentStatus } from "../api/types.ts";
import {
  checkFailureThreshold,
  findCondition,
  isTrackOf,
  versionOf,
  type StepPreview,
} from "../plan/index.ts";

/** One Event about a ModelDeployment, from core/v1 or events.k8s.io/v1. */
export interface EventRow {
  type: string;
  reason: string;
  message: string;
  /** RFC 3339 time of the last occurrence, when known. */
  time: string | undefined;
  count: number;
}

export interface GetView {
  md: ModelDeployment;
  /** The version Deployments (label mlops.dev/model=NAME). */
  deployments: readonly V1Deployment[];
  /** Recent Events, any order. */
  events: readonly EventRow[];
  /** Canary steps with replica counts (empty for blue/green). */
  steps: readonly StepPreview[];
}

export interface FormatOptions {
  now: Date;
  /** Block characters for bars and a ▶ marker (a terminal); ASCII when false. */
  unicode: boolean;
}

/** A traffic bar of `width` cells for a weight in percent. */
export function bar(weight: number, width: number, unicode: boolean): string {
  const w = Math.max(0, Math.min(100, Number.isFinite(weight) ? weight : 0));
  const full = Math.round((w / 100) * width);
  return (unicode ? "█" : "#").repeat(full) + (unicode ? "░" : ".").repeat(width - full);
}

/** kubectl's age style: 12s, 4m30s, 45m, 3h20m, 5d. Empty string for no time. */
export function formatAge(time: string | undefined, now: Date): string {
  if (!time) return "";
  const t = Date.parse(time);
  if (Number.isNaN(t)) return "";
  const s = Math.max(0, Math.floor((now.getTime() - t) / 1000));
  if (s < 120) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 10) return s % 60 === 0 ? `${m}m` : `${m}m${s % 60}s`;
  if (m < 180) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 48) return m % 60 === 0 || h >= 8 ? `${h}h` : `${h}h${m % 60}m`;
  return `${Math.floor(h / 24)}d`;
}

/** Columns padded to their widest cell, two spaces apart, trailing spaces trimmed. */
export function table(rows: readonly (readonly string[])[], indent = ""): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows
    .map(
      (row) =>
        indent +
        row
          .map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!)))
          .join("  ")
          .trimEnd(),
    )
    .join("\n");
}

/** The condition of `type` in the status of `md`. */
function conditionOf(md: ModelDeployment, type: string): Condition | undefined {
  return findCondition(md.status?.conditions, type);
}

/** Where a ModelDeployment stands, judged like kstatus: only conditions of the current generation count. */
export type Outcome = "Ready" | "Stalled" | "InProgress";

export function assessOutcome(md: ModelDeployment): Outcome {
  const generation = md.metadata?.generation ?? 0;
  const observed = md.status?.observedGeneration;
  if (observed === undefined || observed < generation) return "InProgress";
  const current = (c: Condition | undefined): c is Condition =>
    c !== undefined && (c.observedGeneration === undefined || c.observedGeneration >= generation);
  const stalled = conditionOf(md, CONDITION_STALLED);
  if (current(stalled) && stalled.status === "True") return "Stalled";
  const ready = conditionOf(md, CONDITION_READY);
  const reconciling = conditionOf(md, CONDITION_RECONCILING);
  if (current(ready) && ready.status === "True" && !(current(reconciling) && reconciling.status === "True")) {
    return "Ready";
  }
  return "InProgress";
}

function strategyName(md: ModelDeployment): string {
  if (md.status?.strategy) return md.status.strategy;
  if (md.spec?.strategy?.canary) return "Canary";
  if (md.spec?.strategy?.blueGreen) return "BlueGreen";
  return "";
}

/**
 * The one-line state of a ModelDeployment that `status` prints on each change, e.g.
 * "Progressing: 2.1.0 at 25% (stable 2.0.0), step 1/4: Reconciling RolloutInProgress: ...".
 */
export function statusLine(md: ModelDeployment): string {
  const s = md.status ?? {};
  const outcome = assessOutcome(md);
  const parts: string[] = [];
  const phase =
    outcome === "InProgress" && (s.observedGeneration ?? -1) < (md.metadata?.generation ?? 0)
      ? "Pending"
      : (s.phase ?? "Pending");
  let what = phase;
  if (s.candidateVersion) {
    what += `: ${candidateText(s)} at ${s.candidateWeight ?? 0}%`;
    if (s.stableVersion) what += ` (stable ${stableText(s)})`;
    const steps = md.spec?.strategy?.canary?.steps;
    if (steps && s.currentStep !== undefined)
      what += `, step ${Math.min(s.currentStep + 1, steps.length)}/${steps.length}`;
  } else if (s.stableVersion) {
    what += `: ${s.stableVersion}`;
  }
  parts.push(what);
  const cond =
    outcome === "Stalled"
      ? conditionOf(md, CONDITION_STALLED)
      : outcome === "Ready"
        ? conditionOf(md, CONDITION_READY)
        : (conditionOf(md, CONDITION_RECONCILING) ?? conditionOf(md, CONDITION_READY));
  if (outcome === "InProgress" && phase === "Pending") {
    parts.push("waiting for the operator to observe generation " + String(md.metadata?.generation ?? 0));
  } else if (cond) {
    parts.push(`${cond.type}=${cond.status} ${cond.reason}${cond.message ? `: ${cond.message}` : ""}`);
  }
  return parts.join(" - ");
}

/** The last line `status` prints, with the outcome. */
export function statusVerdict(md: ModelDeployment, outcome: Outcome | "Timeout", timeout?: string): string {
  const name = md.metadata?.name ?? "";
  if (outcome === "Ready") {
    const c = conditionOf(md, CONDITION_READY);
    return `${name} is Ready${c?.message ? `: ${c.message}` : ""}`;
  }
  if (outcome === "Stalled") {
    const c = conditionOf(md, CONDITION_STALLED);
    return `${name} is Stalled (${c?.reason ?? "unknown reason"})${c?.message ? `: ${c.message}` : ""}`;
  }
  return `${name} is not Ready after ${timeout ?? "the timeout"}: ${statusLine(md)}`;
}

export interface ListOptions {
  now: Date;
  allNamespaces: boolean;
}

/** `list`: one line per ModelDeployment. */
export function formatList(items: readonly ModelDeployment[], opts: ListOptions): string {
  const header = [
    ...(opts.allNamespaces ? ["NAMESPACE"] : []),
    "NAME",
    "STRATEGY",
    "STABLE",
    "CANDIDATE",
    "WEIGHT",
    "STEP",
    "PHASE",
    "READY",
    "AGE",
  ];
  const rows = items.map((md) => {
    const s = md.status ?? {};
    const steps = md.spec?.strategy?.canary?.steps;
    const step =
      s.candidateVersion && steps && s.currentStep !== undefined
        ? `${Math.min(s.currentStep + 1, steps.length)}/${steps.length}`
        : "-";
    return [
      ...(opts.allNamespaces ? [md.metadata?.namespace ?? ""] : []),
      md.metadata?.name ?? "",
      strategyName(md) || "-",
      s.stableVersion ?? "-",
      s.candidateVersion ? compactCandidate(s) : "-",
      s.candidateVersion ? `${s.candidateWeight ?? 0}%` : "-",
      step,
      s.phase ?? "-",
      conditionOf(md, CONDITION_READY)?.status ?? "-",
      formatAge(md.metadata?.creationTimestamp as unknown as string | undefined, opts.now) || "-",
    ];
  });
  return table([header, ...rows]);
}

function isoTime(t: unknown): string | undefined {
  if (t === undefined || t === null) return undefined;
  if (t instanceof Date) return t.toISOString();
  return String(t);
}

/** A Deployment's version, for the rows of `get`; its name when it has no version label. */
function versionColumn(d: V1Deployment): string {
  return versionOf(d) ?? d.metadata?.name ?? "";
}

/** A new pod template of the stable version is rolling out: both share one version. */
function sameVersionRollout(s: ModelDeploymentStatus): boolean {
  return s.candidateVersion !== undefined && s.candidateVersion === s.stableVersion;
}

/** The candidate as people read it: "2.1.0", or "2.1.0 (revision abc)" beside its own stable version. */
function candidateText(s: ModelDeploymentStatus): string {
  return sameVersionRollout(s)
    ? `${s.candidateVersion} (revision ${s.candidateRevision})`
    : (s.candidateVersion ?? "");
}

function stableText(s: ModelDeploymentStatus): string {
  return sameVersionRollout(s) ? `revision ${s.stableRevision}` : (s.stableVersion ?? "");
}

/** The candidate in a table cell: "2.1.0", or "2.1.0@abc" for a new pod template of the stable version. */
function compactCandidate(s: ModelDeploymentStatus): string {
  return sameVersionRollout(s) ? `${s.candidateVersion}@${s.candidateRevision}` : (s.candidateVersion ?? "");
}

/** A section of `get`: its title, then a table of `rows` under `header`, or `empty` when there are none. */
function tableSection(title: string, header: string[], rows: string[][], empty: string): string[] {
  return ["", `${title}:`, rows.length === 0 ? `  ${empty}` : table([header, ...rows], "  ")];
}

function summarySection(md: ModelDeployment): string[] {
  const s = md.status ?? {};
  const out: string[] = [];
  const field = (k: string, v: string | undefined) => out.push(`${(k + ":").padEnd(12)}${v ?? "-"}`);
  field("Name", md.metadata?.name);
  field("Namespace", md.metadata?.namespace);
  field("Strategy", strategyName(md));
  field("Phase", s.phase ?? "Pending");
  field(
    "Spec",
    `${md.spec.model.version}, ${md.spec.replicas ?? 1} replicas${md.spec.paused ? ", paused" : ""}`,
  );
  field("Stable", s.stableVersion);
  if (s.candidateVersion) field("Candidate", candidateText(s));
  if (s.message) field("Message", s.message);
  const a = s.adoption;
  const ref = md.spec.workloadRef;
  if (a)
    field(
      "Adoption",
      `Deployment ${a.deployment}: ${a.phase} (scaleDown ${a.scaleDown ?? "never"}, it had ${a.originalReplicas} replica(s))`,
    );
  else if (ref && s.stableVersion === undefined)
    field("Adoption", `Deployment ${ref.name}: not started (scaleDown ${ref.scaleDown ?? "never"})`);
  if (s.aborted)
    field(
      "Aborted",
      `${s.aborted.version}: ${s.aborted.reason}${s.aborted.message ? `: ${s.aborted.message}` : ""}`,
    );
  return out;
}

/** Every version Deployment (one per revision), stable and candidate first. */
function versionsSection(view: GetView, opts: FormatOptions): string[] {
  const s = view.md.status ?? {};
  const role = (d: V1Deployment) =>
    isTrackOf(d, s.stableVersion, s.stableRevision)
      ? "stable"
      : isTrackOf(d, s.candidateVersion, s.candidateRevision)
        ? "candidate"
        : isTrackOf(d, s.aborted?.version, s.aborted?.revision)
          ? "aborted"
          : "old";
  const rank = (d: V1Deployment) => ["stable", "candidate", "aborted", "old"].indexOf(role(d));
  const deployments = [...view.deployments].sort(
    (a, b) => rank(a) - rank(b) || versionColumn(a).localeCompare(versionColumn(b)),
  );
  return tableSection(
    "Versions",
    ["VERSION", "ROLE", "DEPLOYMENT", "READY", "UPDATED", "AVAILABLE", "AGE"],
    deployments.map((d) => [
      versionColumn(d),
      role(d),
      d.metadata?.name ?? "",
      `${d.status?.readyReplicas ?? 0}/${d.spec?.replicas ?? 0}`,
      String(d.status?.updatedReplicas ?? 0),
      String(d.status?.availableReplicas ?? 0),
      formatAge(isoTime(d.metadata?.creationTimestamp), opts.now),
    ]),
    "(no version Deployments yet)",
  );
}

/** The route's rules and what its parents said (spec.traffic). */
function routeLines(route: NonNullable<ModelDeploymentStatus["route"]>): string[] {
  const out: string[] = [];
  if (route.backendKind === "InferencePool")
    out.push("  backends: InferencePools, one per version (the weights below are the pools')");
  for (const h of route.headerRoutes ?? []) out.push(`  header route ${h}: matching requests -> candidate`);
  if (route.mirror)
    out.push(
      `  mirror: ${route.mirror.percentage ?? 100}% of requests copied to ${route.backendKind === "InferencePool" ? "InferencePool " : ""}${route.mirror.service ?? "?"}`,
    );
  for (const p of route.parents ?? []) {
    const path = [p.namespace, p.name, p.sectionName].filter((x) => x !== undefined).join("/");
    // A Service parent is the mesh (GAMMA).
    const name = p.kind !== undefined ? `${p.kind} ${path}` : path;
    const why = p.reason ? ` (${p.reason}${p.message ? `: ${p.message}` : ""})` : "";
    out.push(
      `  parent ${name}: Accepted=${p.accepted ?? "Unknown"}, ResolvedRefs=${p.resolvedRefs ?? "Unknown"}${why}`,
    );
  }
  return out;
}

function trafficSection(s: ModelDeploymentStatus, opts: FormatOptions): string[] {
  // A route the user owns (httpRouteRef) names the rule whose weights these are.
  const route = s.route
    ? `Traffic (${s.route.kind ?? "HTTPRoute"} ${s.route.name ?? ""}${s.route.rule !== undefined ? `, your rule ${s.route.rule}` : ""}):`
    : "Traffic:";
  const out = ["", route];
  const traffic = s.traffic ?? [];
  if (s.route) out.push(...routeLines(s.route));
  const gate = s.readinessGate;
  if (gate?.message) out.push(`  readiness gate ${gate.conditionType ?? ""}: ${gate.message}`);
  if (traffic.length === 0) {
    out.push("  (no ready endpoints behind the clients' Service)");
    return out;
  }
  // Two revisions of one version: each line names its revision.
  const shared = new Set(traffic.map((t) => t.version)).size < traffic.length;
  const label = (t: (typeof traffic)[number]) =>
    shared && t.revision !== undefined ? `${t.version}@${t.revision}` : t.version;
  const width = Math.max(...traffic.map((t) => label(t).length));
  for (const t of traffic) {
    const ep =
      t.readyEndpoints === undefined
        ? ""
        : `  ${t.readyEndpoints} ready endpoint${t.readyEndpoints === 1 ? "" : "s"}`;
    out.push(
      `  ${label(t).padEnd(width)}  ${bar(t.weight, 20, opts.unicode)} ${String(t.weight).padStart(3)}%${ep}`,
    );
  }
  return out;
}

/** The canary's steps with the current one marked, or the blue/green settings and stage. */
function strategySection(view: GetView, opts: FormatOptions): string[] {
  const { md } = view;
  const s = md.status ?? {};
  const out: string[] = [];
  if (md.spec.strategy?.canary) {
    out.push("", "Steps:");
    const current = s.candidateVersion ? s.currentStep : undefined;
    const marker = opts.unicode ? "▶" : ">";
    for (const step of view.steps) {
      const mark =
        current === undefined ? " " : step.index < current ? "✓" : step.index === current ? marker : " ";
      const markAscii = !opts.unicode && mark === "✓" ? "+" : mark;
      out.push(`  ${markAscii} ${String(step.index).padStart(2)}  ${describeStep(step)}`);
    }
    if (current !== undefined && current >= view.steps.length) {
      out.push(`  ${marker}     promote: all steps done, waiting for the new version at full size`);
    }
  } else if (md.spec.strategy?.blueGreen) {
    const bg = md.spec.strategy.blueGreen;
    out.push("", "Blue/green:");
    out.push(
      `  preview replicas ${bg.previewReplicas ?? md.spec.replicas ?? 1}, ` +
        (bg.autoPromotionSeconds === undefined
          ? "promotion on a promote action"
          : `auto-promotion ${bg.autoPromotionSeconds}s after Available`) +
        `, old version kept ${bg.scaleDownDelaySeconds ?? 30}s after the switch`,
    );
    const r = s.rollout;
    if (r) {
      out.push(
        `  ${r.switchedAt ? "switched" : r.availableAt ? "preview Available, waiting to promote" : "preview coming up"}` +
          (r.availableAt ? ` (available ${formatAge(r.availableAt, opts.now)} ago)` : ""),
      );
    }
  }
  return out;
}

function checksSection(md: ModelDeployment, opts: FormatOptions): string[] {
  const configured = md.spec.healthChecks?.checks ?? [];
  const threshold = (name: string) => {
    const check = configured.find((c) => c.name === name);
    return check ? String(checkFailureThreshold(md, check)) : "-";
  };
  const measured = md.status?.checks ?? [];
  const names = [...new Set([...measured.map((c) => c.name), ...configured.map((c) => c.name)])];
  return tableSection(
    "Checks",
    ["NAME", "PHASE", "VALUE", "FAILURES", "MEASURED", "MESSAGE"],
    names.map((n) => {
      const c = measured.find((m) => m.name === n);
      const dryRun = c?.dryRun === true || configured.find((x) => x.name === n)?.dryRun === true;
      return [
        dryRun ? `${n} (dry run)` : n,
        c?.phase ?? "Pending",
        c?.stableValue !== undefined ? `${c.value ?? "-"} (stable ${c.stableValue})` : (c?.value ?? "-"),
        `${c?.consecutiveFailures ?? 0}/${threshold(n)}`,
        c?.lastMeasured ? `${formatAge(c.lastMeasured, opts.now)} ago` : "-",
        c?.message ?? "",
      ];
    }),
    "(none configured; the new version's readiness and progress deadline still gate the rollout)",
  );
}

/** `get`: the whole view of one ModelDeployment. */
export function formatGet(view: GetView, opts: FormatOptions): string {
  const { md } = view;
  const s = md.status ?? {};
  const out: string[] = [
    ...summarySection(md),
    ...versionsSection(view, opts),
    ...trafficSection(s, opts),
    ...strategySection(view, opts),
    ...checksSection(md, opts),
    ...tableSection(
      "Conditions",
      ["TYPE", "STATUS", "REASON", "AGE", "MESSAGE"],
      (s.conditions ?? []).map((c) => [
        c.type,
        c.status,
        c.reason,
        formatAge(c.lastTransitionTime, opts.now),
        c.message,
      ]),
      "(none yet: the operator has not reconciled this ModelDeployment)",
    ),
    ...tableSection(
      "Events",
      ["AGE", "TYPE", "REASON", "MESSAGE"],
      recentEvents(view.events, 10).map((e) => [
        formatAge(e.time, opts.now),
        e.type,
        e.reason,
        e.count > 1 ? `${e.message} (x${e.count})` : e.message,
      ]),
      "(none)",
    ),
  ];
  return out.join("\n") + "\n";
}

/** The newest `n` events, oldest first (as kubectl describe lists them). */
export function recentEvents(events: readonly EventRow[], n: number): EventRow[] {
  const time = (e: EventRow) => (e.time ? Date.parse(e.time) : 0);
  return [...events].sort((a, b) => time(a) - time(b)).slice(-n);
}

export function describeStep(step: StepPreview): string {
  if (step.kind === "pause") return `pause ${step.pause ?? "until promote"}`;
  if (step.route !== undefined) return `${step.route}, ${step.pause ?? "until promote"}`;
  return `setWeight ${step.weight}%: new ${step.candidateReplicas}, stable ${step.stableReplicas} replicas`;
}

/** validate: one line per problem, FILE:DOC: PATH: MESSAGE. */
export function formatProblem(file: string, doc: number, path: string, message: string): string {
  return `${file}:${doc}: ${path ? `${path}: ` : ""}${message}`;
}
