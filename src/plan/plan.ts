// The rollout state machine. PURE: plan(input) decides everything from the ModelDeployment
// (its status is the memory of the rollout), what is observed, the measurements taken in
// this reconcile and `now`. The same input always gives the same plan, and a plan whose
// status is fed back with the world unchanged gives the same status and no events.
import type { KubernetesObject, V1Deployment, V1Service } from "@kubernetes/client-node";
import {
  ACTIONS,
  ANNOTATION_ACTION,
  ANNOTATION_REVISION,
  CONDITION_READY,
  CONDITION_RECONCILING,
  CONDITION_STALLED,
  LABEL_MODEL,
  LABEL_REVISION,
  LABEL_VERSION,
} from "../api/constants.ts";
import { Reasons, type Reason } from "../api/reasons.ts";
import type {
  CheckStatus,
  HistoryEntry,
  ModelDeployment,
  ModelDeploymentStatus,
  RolloutState,
} from "../api/types.ts";
import { computeCanaryReplicas, weightAtStep } from "./canary.ts";
import { checkDueAt, timeMs } from "./checks.ts";
import {
  computeClientsService,
  computePreviewService,
  computeRetainedDeployment,
  computeRetainedService,
  computeVersionDeployment,
  computeVersionService,
} from "./children.ts";
import { findCondition, setCondition } from "./conditions.ts";
import { parseDuration } from "./duration.ts";
import { clientsServiceName, computeRevision, previewServiceName } from "./naming.ts";
import {
  deploymentsByName,
  findTrackDeployment,
  isLegacyDeployment,
  observedTrack,
  revisionOf,
  specTrack,
  trackSelector,
  versionOf,
  type Track,
} from "./tracks.ts";
import {
  checkFailureThreshold,
  checksOf,
  HISTORY_LIMIT,
  previewReplicasOf,
  progressDeadlineMsOf,
  replicasOf,
  revisionHistoryLimitOf,
  scaleDownDelayMsOf,
  strategyOf,
} from "./spec.ts";
import { computeTraffic, trafficOf } from "./traffic.ts";
import type { ChildRef, Measurement, Plan, PlanInput, PlannedEvent } from "./types.ts";
import { formatProblems, validateModelDeployment } from "./validate.ts";

/** Is `d` Available at size n: its controller saw the current spec, replicas == n, n updated and available. */
export function isAvailableAt(d: V1Deployment | undefined, n: number, revision?: string): boolean {
  if (!d) return n === 0;
  if (revision !== undefined && d.metadata?.annotations?.[ANNOTATION_REVISION] !== revision) return false;
  if ((d.status?.observedGeneration ?? 0) < (d.metadata?.generation ?? 0)) return false;
  if ((d.spec?.replicas ?? 1) !== n) return false;
  const available = d.status?.availableReplicas ?? 0;
  if (n === 0) return available === 0;
  return (d.status?.updatedReplicas ?? 0) >= n && available >= n;
}

type Mode = "first" | "rest" | "rollout" | "aborted";

/** Everything one plan() call works with; `s` is the next status, built up step by step. */
class Planner {
  readonly md: ModelDeployment;
  readonly input: PlanInput;
  readonly now: Date;
  readonly nowMs: number;
  readonly nowIso: string;
  readonly name: string;
  readonly total: number;
  readonly revision: string;
  readonly specVersion: string;
  readonly strategy: "Canary" | "BlueGreen";
  readonly prev: ModelDeploymentStatus;
  /** The ModelDeployment's Deployments by name: one per track (a version at a revision). */
  readonly deps: Map<string, V1Deployment>;
  /** The spec's version at the spec's revision: the track a rollout brings in. */
  readonly spec: Track;
  readonly services = new Map<string, V1Service>();
  s: ModelDeploymentStatus;
  events: PlannedEvent[] = [];
  clearAction = false;
  /** A step began in this plan: its readiness is timed from now, not from before the measurements. */
  stepBegan = false;

  constructor(input: PlanInput) {
    this.input = input;
    this.md = input.md;
    this.now = input.now;
    this.nowMs = input.now.getTime();
    this.nowIso = input.now.toISOString();
    this.name = this.md.metadata?.name ?? "";
    this.prev = this.md.status ?? {};
    this.s = clone(this.prev);
    this.total = replicasOf(this.md);
    this.revision = computeRevision(this.md);
    this.specVersion = this.md.spec.model.version;
    this.strategy = strategyOf(this.md);
    this.deps = deploymentsByName(this.md, input.observed.deployments);
    this.spec = specTrack(this.md, this.deps, this.revision);
    for (const svc of input.observed.services)
      if (svc.metadata?.name) this.services.set(svc.metadata.name, svc);
  }

  event(type: "Normal" | "Warning", reason: Reason, message: string): void {
    this.events.push({ type, reason, message });
  }

  history(entry: Omit<HistoryEntry, "time">): void {
    const h: HistoryEntry = { ...entry, time: this.nowIso } as HistoryEntry;
    for (const k of Object.keys(h) as (keyof HistoryEntry)[]) if (h[k] === undefined) delete h[k];
    this.s.history = [h, ...(this.s.history ?? [])].slice(0, HISTORY_LIMIT);
  }

  // ---- tracks --------------------------------------------------------------------------

  /** The spec's track's Deployment as observed. */
  get specDep(): V1Deployment | undefined {
    return this.deps.get(this.spec.name);
  }

  /** Is `version` at `revision` the spec's track? */
  isSpec(version: string | undefined, revision: string | undefined): boolean {
    return version === this.specVersion && revision === this.revision;
  }

  /** The Deployment name of `version` at `revision` (any revision when undefined), if observed. */
  nameOf(version: string, revision: string | undefined): string | undefined {
    if (this.isSpec(version, revision)) return this.spec.name;
    return findTrackDeployment(this.deps.values(), version, revision)?.metadata?.name;
  }

  /**
   * The stable track's name: the spec's when the spec is stable (its Deployment is made
   * from the spec), else the observed Deployment of the stable version at the stable
   * revision (or, for a status without one, another Deployment of the stable version).
   */
  stableName(): string | undefined {
    const { stableVersion, stableRevision } = this.s;
    if (stableVersion === undefined) return undefined;
    if (this.isSpec(stableVersion, stableRevision)) return this.spec.name;
    const exact = this.nameOf(stableVersion, stableRevision);
    if (exact !== undefined) return exact;
    for (const [name, d] of this.deps)
      if (versionOf(d) === stableVersion && name !== this.spec.name) return name;
    return undefined;
  }

  /** The track named `name`: observed, or the spec's. */
  track(name: string): Track | undefined {
    if (name === this.spec.name) return this.spec;
    const d = this.deps.get(name);
    return d ? observedTrack(this.md, d) : undefined;
  }

  /**
   * How a version is named in messages: "1.2.0", or "1.2.0 (revision abc)" while another
   * revision of the same version is in play.
   */
  describe(version: string | undefined, revision: string | undefined): string {
    if (version === undefined) return "none";
    if (revision === undefined) return version;
    const others = [
      ...[...this.deps.values()].map((d) => ({ v: versionOf(d), r: revisionOf(d) })),
      { v: this.specVersion, r: this.revision },
      { v: this.s.stableVersion, r: this.s.stableRevision },
    ];
    const shared = others.some((o) => o.v === version && o.r !== undefined && o.r !== revision);
    return shared ? `${version} (revision ${revision})` : version;
  }

  get stableLabel(): string {
    return this.describe(this.s.stableVersion, this.s.stableRevision);
  }

  get specLabel(): string {
    return this.describe(this.specVersion, this.revision);
  }

  get held(): boolean {
    return this.md.spec.paused === true || this.s.rollout?.pausedByAction === true;
  }

  get steps() {
    return this.md.spec.strategy?.canary?.steps ?? [];
  }

  /** The time a step's readiness is recorded at: before this reconcile's measurements were taken. */
  readyTime(): string {
    if (this.stepBegan) return this.nowIso;
    let t = this.nowMs;
    for (const m of this.input.measurements) {
      const ms = timeMs(m.time);
      if (!Number.isNaN(ms) && ms < t) t = ms;
    }
    return new Date(t).toISOString();
  }

  // ---- rollout bookkeeping -------------------------------------------------------------

  clearRollout(): void {
    delete this.s.rollout;
    delete this.s.candidateVersion;
    delete this.s.candidateRevision;
    delete this.s.candidateWeight;
    delete this.s.currentStep;
  }

  /** Reacts to a spec that moved away from the rollout or the aborted rollout in the status. */
  followSpec(): void {
    const s = this.s;
    if (s.aborted && !this.isSpec(s.aborted.version, s.aborted.revision)) delete s.aborted;
    const r = s.rollout;
    if (r && !this.isSpec(r.version, r.revision)) {
      const was = this.describe(r.version, r.revision);
      const rName = this.nameOf(r.version, r.revision);
      if (r.switchedAt !== undefined && rName !== undefined && this.clientsSelected() === rName) {
        // Blue/green, switched but not yet promoted: the clients stay on r's track until the
        // stable one is Available and selected again, then it scales down as after a switch.
        const after = new Date(this.nowMs + scaleDownDelayMsOf(this.md)).toISOString();
        s.scaleDown = [
          ...(s.scaleDown ?? []).filter((e) => !sameTrack(e, r)),
          { version: r.version, revision: r.revision, after },
        ];
      }
      if (this.isSpec(s.stableVersion, s.stableRevision ?? this.revision)) {
        const back =
          r.version === this.specVersion
            ? `the pod template of ${this.specVersion} went back to the stable revision ${this.revision}`
            : `spec.model.version went back to ${this.specVersion}`;
        this.history({
          version: r.version,
          revision: r.revision,
          outcome: "Reverted",
          reason: Reasons.RolloutReverted,
          message: back,
        });
        this.event(
          "Normal",
          Reasons.RolloutReverted,
          r.version === this.specVersion
            ? `${back}: the rollout of revision ${r.revision} ended and it scales to 0`
            : `spec.model.version is back to ${this.specVersion}: the rollout of ${was} ended and ${was} scales to 0`,
        );
      } else {
        const what =
          r.version === this.specVersion
            ? `the template of ${r.version} changed (revision ${this.revision})`
            : `${this.specVersion} replaces it`;
        this.history({
          version: r.version,
          revision: r.revision,
          outcome: "Superseded",
          reason: Reasons.RolloutSuperseded,
          message: what,
        });
        this.event("Normal", Reasons.RolloutSuperseded, `the rollout of ${was} is superseded: ${what}`);
      }
      this.clearRollout();
    } else if (r && this.prev.strategy !== undefined && this.prev.strategy !== this.strategy) {
      s.rollout = {
        version: r.version,
        revision: r.revision,
        startedAt: r.startedAt,
        stepStartedAt: this.nowIso,
      };
      s.currentStep = 0;
      this.stepBegan = true;
      this.event(
        "Normal",
        Reasons.RolloutStarted,
        `the strategy changed to ${this.strategy}: the rollout of ${this.specLabel} starts again from its first step`,
      );
    }
  }

  mode(): Mode {
    const s = this.s;
    if (s.stableVersion === undefined) return "first";
    // A status without stableRevision (none is written so) counts its version as the spec's.
    if (this.isSpec(s.stableVersion, s.stableRevision ?? this.revision)) return "rest";
    if (s.aborted) return "aborted";
    return "rollout";
  }

  /** Starts the rollout of the spec's track when one is due and none runs. */
  ensureRollout(): void {
    const s = this.s;
    if (this.mode() !== "rollout" || s.rollout) return;
    s.rollout = {
      version: this.specVersion,
      revision: this.revision,
      startedAt: this.nowIso,
      stepStartedAt: this.nowIso,
    };
    s.currentStep = 0;
    s.candidateVersion = this.specVersion;
    s.candidateRevision = this.revision;
    s.checks = checksOf(this.md).map((c) => ({ name: c.name, phase: "Pending" as const }));
    s.scaleDown = (s.scaleDown ?? []).filter(
      (e) => !sameTrack(e, { version: this.specVersion, revision: this.revision }),
    );
    if (s.scaleDown.length === 0) delete s.scaleDown;
    this.stepBegan = true;
    const how =
      this.strategy === "Canary"
        ? `canary in ${this.steps.length} step(s)`
        : `blue/green with ${previewReplicasOf(this.md)} preview replica(s)`;
    const what =
      this.specVersion === s.stableVersion
        ? `a new pod template of ${this.specVersion} (revision ${this.revision}, Deployment ${this.spec.name}) beside revision ${s.stableRevision}`
        : `${this.specVersion} (revision ${this.revision}) beside ${this.stableLabel}`;
    this.event("Normal", Reasons.RolloutStarted, `rolling out ${what}: ${how}`);
  }

  /** Moves all traffic back to the stable version and records why. */
  rollBack(reason: Reason, message: string, outcome: "RolledBack" | "Aborted"): void {
    const r = this.s.rollout;
    if (!r) return;
    this.s.aborted = { version: r.version, revision: r.revision, reason, message, time: this.nowIso };
    this.history({ version: r.version, revision: r.revision, outcome, reason, message });
    this.event(
      "Warning",
      Reasons.RolledBack,
      `${this.describe(r.version, r.revision)} rolled back (${reason}): ${message}; ${this.stableLabel} serves all traffic`,
    );
    this.clearRollout();
  }

  // ---- health checks -------------------------------------------------------------------

  mergeMeasurements(): void {
    const r = this.s.rollout;
    if (!r) return;
    const started = timeMs(r.startedAt);
    const previous = this.s.checks ?? [];
    const byName = new Map<string, Measurement>();
    for (const m of this.input.measurements) byName.set(m.name, m);
    this.s.checks = checksOf(this.md).map((check) => {
      const old = previous.find((c) => c.name === check.name);
      const current: CheckStatus =
        old && old.lastMeasured !== undefined && timeMs(old.lastMeasured) >= started
          ? old
          : { name: check.name, phase: "Pending" };
      const m = byName.get(check.name);
      if (!m || timeMs(m.time) < started) return current;
      if (current.lastMeasured !== undefined && timeMs(m.time) <= timeMs(current.lastMeasured))
        return current;
      const next: CheckStatus = {
        name: check.name,
        phase: m.phase,
        consecutiveFailures: m.phase === "Successful" ? 0 : (current.consecutiveFailures ?? 0) + 1,
        lastMeasured: m.time,
      };
      if (m.value !== undefined) next.value = m.value;
      if (m.message !== undefined) next.message = m.message;
      return next;
    });
  }

  /** The first check that reached its failure threshold, if any. */
  failedCheck(): { status: CheckStatus; threshold: number } | undefined {
    for (const check of checksOf(this.md)) {
      const status = this.s.checks?.find((c) => c.name === check.name);
      const threshold = checkFailureThreshold(this.md, check);
      if (status && (status.consecutiveFailures ?? 0) >= threshold) return { status, threshold };
    }
    return undefined;
  }

  /** Every configured check measured Successful at or after `since`. */
  checksPassedSince(since: string | undefined): boolean {
    const t = timeMs(since);
    return checksOf(this.md).every((check) => {
      const st = this.s.checks?.find((c) => c.name === check.name);
      return st?.phase === "Successful" && !Number.isNaN(t) && timeMs(st.lastMeasured) >= t;
    });
  }

  /** A configured check whose last measurement in this rollout is Failed or Error. */
  checkFailing(): boolean {
    return checksOf(this.md).some((c) => {
      const phase = this.s.checks?.find((x) => x.name === c.name)?.phase;
      return phase === "Failed" || phase === "Error";
    });
  }

  checksAllSuccessful(): boolean {
    return checksOf(this.md).every(
      (c) => this.s.checks?.find((x) => x.name === c.name)?.phase === "Successful",
    );
  }

  // ---- canary --------------------------------------------------------------------------

  candidateAvailable(size: number): number {
    const d = this.specDep;
    if (!d || revisionOf(d) !== this.revision) return 0;
    return Math.min(d.status?.availableReplicas ?? 0, size);
  }

  /** Replicas of the candidate and the stable version at canary step i (steps.length = the final stage). */
  canarySizes(i: number): { candidate: number; stable: number } {
    const { candidate, stableMin } = computeCanaryReplicas(this.total, weightAtStep(this.md, i));
    const stable = Math.min(this.total, Math.max(stableMin, this.total - this.candidateAvailable(candidate)));
    return { candidate, stable };
  }

  stableDeployment(): V1Deployment | undefined {
    const name = this.stableName();
    return name !== undefined ? this.deps.get(name) : undefined;
  }

  /** Track readiness of the current step: set stepReadyAt when reached, re-arm the deadline when lost. */
  trackReadiness(r: RolloutState, ready: boolean, pauseStep: boolean): void {
    if (ready && r.stepReadyAt === undefined) r.stepReadyAt = this.readyTime();
    else if (!ready && r.stepReadyAt !== undefined && !pauseStep) {
      delete r.stepReadyAt;
      r.stepStartedAt = this.nowIso;
    }
  }

  deadlineExceeded(r: RolloutState, ready: boolean, pauseStep: boolean): boolean {
    if (ready || pauseStep || this.held || r.stepReadyAt !== undefined) return false;
    return this.nowMs >= timeMs(r.stepStartedAt ?? r.startedAt) + progressDeadlineMsOf(this.md);
  }

  deadlineMessage(size: number, what: string): string {
    const d = this.specDep;
    const available = this.candidateAvailable(size);
    const secs = progressDeadlineMsOf(this.md) / 1000;
    const detail = d ? `${available}/${size} replicas available` : "its Deployment does not exist";
    return `${this.specLabel} was not Available at ${size} replica(s) within progressDeadlineSeconds (${secs}s) ${what}: ${detail}`;
  }

  runCanary(): void {
    const r = this.s.rollout;
    if (!r) return;
    const n = this.steps.length;
    let i = Math.min(Math.max(this.s.currentStep ?? 0, 0), n);
    this.s.currentStep = i;
    for (let guard = 0; guard <= n + 1; guard++) {
      const step = i < n ? this.steps[i] : undefined;
      const pauseStep = step !== undefined && step.setWeight === undefined;
      const sizes = this.canarySizes(i);
      const candReady = isAvailableAt(this.specDep, sizes.candidate, this.revision);
      const stableDep = this.stableDeployment();
      const ready = candReady && (!stableDep || isAvailableAt(stableDep, sizes.stable));
      this.trackReadiness(r, ready, pauseStep);
      if (this.deadlineExceeded(r, ready, pauseStep)) {
        const what = i < n ? `at step ${i + 1}/${n}` : "for promotion";
        this.rollBack(
          Reasons.ProgressDeadlineExceeded,
          this.deadlineMessage(sizes.candidate, what),
          "RolledBack",
        );
        return;
      }
      if (this.held) return;
      let complete: boolean;
      if (pauseStep) {
        // A timed pause does not end into the next step's weight while a check is failing.
        const duration = step?.pause?.duration;
        complete =
          r.promote !== undefined ||
          (duration !== undefined &&
            this.nowMs >= timeMs(r.stepStartedAt ?? r.startedAt) + parseDuration(duration) &&
            !this.checkFailing());
      } else {
        complete =
          ready &&
          (r.promote !== undefined ||
            // setWeight 0 has no pod to measure (spec.replicas 0 is not such a step: it waits).
            (i < n && weightAtStep(this.md, i) === 0 && !this.checkFailing()) ||
            this.checksPassedSince(r.stepReadyAt));
      }
      if (!complete) return;
      if (i === n) {
        this.promote(`${this.specLabel} is Available at ${this.total} replica(s) and took all traffic`);
        return;
      }
      i++;
      this.s.currentStep = i;
      r.stepStartedAt = this.nowIso;
      delete r.stepReadyAt;
      if (r.promote === "Step") delete r.promote;
      this.stepBegan = true;
      this.announceStep(i);
    }
  }

  announceStep(i: number): void {
    const n = this.steps.length;
    if (i >= n) {
      this.event(
        "Normal",
        Reasons.StepCompleted,
        `all ${n} steps completed: ${this.specLabel} scales to ${this.total} replica(s) for promotion`,
      );
      return;
    }
    const step = this.steps[i];
    if (step?.setWeight !== undefined) {
      const { candidate, stableMin } = computeCanaryReplicas(this.total, step.setWeight);
      this.event(
        "Normal",
        Reasons.WeightChanged,
        `step ${i + 1}/${n}: weight ${step.setWeight}%: ${this.specLabel} scales to ${candidate} replica(s), ${this.stableLabel} to ${Math.max(stableMin, this.total - candidate)} once they are available`,
      );
    } else {
      const d = step?.pause?.duration;
      this.event(
        "Normal",
        Reasons.PauseStarted,
        `step ${i + 1}/${n}: pause ${d !== undefined ? `for ${d}` : "until a promote action"}`,
      );
    }
  }

  /** The candidate becomes the stable version. */
  promote(message: string): void {
    const s = this.s;
    const r = s.rollout;
    if (!r) return;
    const old = s.stableVersion;
    const oldRevision = s.stableRevision;
    const oldLabel = this.stableLabel;
    const label = this.describe(r.version, r.revision);
    s.stableVersion = r.version;
    s.stableRevision = r.revision;
    this.history({ version: r.version, revision: r.revision, outcome: "Promoted", message });
    this.event("Normal", Reasons.Promoted, `${label} promoted${old ? ` (was ${oldLabel})` : ""}: ${message}`);
    if (
      this.strategy === "BlueGreen" &&
      old !== undefined &&
      !(old === r.version && oldRevision === r.revision)
    ) {
      const gone = { version: old, ...(oldRevision !== undefined ? { revision: oldRevision } : {}) };
      const after = new Date(this.nowMs + scaleDownDelayMsOf(this.md)).toISOString();
      s.scaleDown = [...(s.scaleDown ?? []).filter((e) => !sameTrack(e, gone)), { ...gone, after }];
    }
    this.clearRollout();
  }

  // ---- blue/green ----------------------------------------------------------------------

  /**
   * The track whose pods the clients' Service selects alone (blue/green): the one whose
   * selector it equals, else (a selector written before revisions) one of its version.
   */
  clientsSelected(): string | undefined {
    const sel = this.services.get(clientsServiceName(this.md))?.spec?.selector;
    if (!sel || sel[LABEL_VERSION] === undefined) return undefined;
    let loose: string | undefined;
    for (const name of new Set([this.spec.name, ...this.deps.keys()])) {
      const t = this.track(name);
      if (!t) continue;
      if (sameLabels(sel, t.selector)) return name;
      if (
        loose === undefined &&
        sel[LABEL_VERSION] === t.version &&
        (sel[LABEL_REVISION] === undefined || sel[LABEL_REVISION] === t.revision)
      )
        loose = name;
    }
    return loose;
  }

  bgCandidateSize(): number {
    return (this.s.currentStep ?? 0) >= 1 || this.s.rollout?.switchedAt !== undefined
      ? this.total
      : previewReplicasOf(this.md);
  }

  runBlueGreen(): void {
    const s = this.s;
    const r = s.rollout;
    if (!r) return;
    const auto = this.md.spec.strategy?.blueGreen?.autoPromotionSeconds;
    if (r.switchedAt !== undefined) {
      if (this.clientsSelected() === this.spec.name) {
        this.promote(`the clients' Service selects ${this.specLabel} alone`);
      }
      return;
    }
    let stage = s.currentStep === 1 ? 1 : 0;
    s.currentStep = stage;
    for (let guard = 0; guard < 3; guard++) {
      const size = this.bgCandidateSize();
      const ready = isAvailableAt(this.specDep, size, this.revision);
      this.trackReadiness(r, ready, false);
      if (this.deadlineExceeded(r, ready, false)) {
        const what = stage === 0 ? "as a preview" : "before the switch";
        this.rollBack(Reasons.ProgressDeadlineExceeded, this.deadlineMessage(size, what), "RolledBack");
        return;
      }
      if (
        stage === 0 &&
        ready &&
        r.availableAt === undefined &&
        (r.promote === "Full" || this.checksPassedSince(r.stepReadyAt))
      ) {
        r.availableAt = this.nowIso;
        const next =
          auto !== undefined ? `promotion in ${auto}s unless a check fails` : "waiting for a promote action";
        this.event(
          "Normal",
          Reasons.StepCompleted,
          `preview of ${this.specLabel} is Available at ${size} replica(s) and every check passed: ${next}`,
        );
      }
      if (this.held) return;
      if (stage === 0) {
        const byAction = r.promote !== undefined && ready;
        // Auto-promotion also needs the preview Available now, not only once at availableAt.
        const byTime =
          auto !== undefined &&
          ready &&
          r.availableAt !== undefined &&
          this.nowMs >= timeMs(r.availableAt) + auto * 1000 &&
          this.checksAllSuccessful();
        if (!byAction && !byTime) return;
        if (previewReplicasOf(this.md) < this.total) {
          stage = 1;
          s.currentStep = 1;
          r.stepStartedAt = this.nowIso;
          delete r.stepReadyAt;
          this.stepBegan = true;
          this.event(
            "Normal",
            Reasons.StepCompleted,
            `promoting ${this.specLabel}: it scales to ${this.total} replica(s) before the clients' Service switches`,
          );
          continue;
        }
      } else if (!ready || (r.promote === undefined && this.checkFailing())) {
        // Promoted by time: the switch also waits while a check is failing.
        return;
      }
      r.switchedAt = this.nowIso;
      this.event(
        "Normal",
        Reasons.TrafficSwitched,
        `the clients' Service switches from ${this.stableLabel} to ${this.specLabel}`,
      );
      return;
    }
  }

  // ---- actions -------------------------------------------------------------------------

  handleAction(): void {
    const action = this.md.metadata?.annotations?.[ANNOTATION_ACTION];
    if (action === undefined) return;
    this.clearAction = true;
    const rv = this.md.metadata?.resourceVersion;
    const key = rv ? `${action}@${rv}` : action;
    if (rv && this.s.lastAction === key) return; // acted on already; only the annotation is left
    const result = this.act(action);
    this.s.lastAction = key;
    if (result.ok) this.event("Normal", Reasons.ActionAccepted, `${action}: ${result.message}`);
    else this.event("Warning", Reasons.ActionRefused, `${action}: ${result.message}`);
  }

  noRollout(): string {
    const a = this.s.aborted;
    if (a) {
      return `no rollout in progress: the rollout of ${this.describe(a.version, a.revision)} was stopped (${a.reason}); use retry to start it again`;
    }
    if (this.s.stableVersion === undefined)
      return "no rollout in progress: the first version is still starting";
    return `no rollout in progress: ${this.stableLabel} serves all traffic`;
  }

  act(action: string): { ok: boolean; message: string } {
    const s = this.s;
    const r = s.rollout;
    const refuse = (message: string) => ({ ok: false, message });
    const accept = (message: string) => ({ ok: true, message });
    if (!(ACTIONS as readonly string[]).includes(action)) {
      return refuse(`unknown action; use one of ${ACTIONS.join(", ")}`);
    }
    const whilePaused = () =>
      this.md.spec.paused === true
        ? refuse("the rollout is held by spec.paused: set it to false first")
        : refuse("the rollout is paused: resume it first");
    switch (action) {
      case "promote":
      case "promote-full": {
        if (!r) return refuse(this.noRollout());
        if (r.switchedAt !== undefined) return refuse(`traffic already switched to ${this.specLabel}`);
        if (this.held) return whilePaused();
        if (r.promote === "Full") return refuse("promote-full is already under way");
        if (action === "promote-full") {
          r.promote = "Full";
          if (this.strategy === "Canary") {
            this.s.currentStep = this.steps.length;
            r.stepStartedAt = this.nowIso;
            delete r.stepReadyAt;
            this.stepBegan = true;
          }
          return accept(
            `remaining steps and checks skipped: ${this.specLabel} scales to ${this.total} replica(s) and takes all traffic once Available`,
          );
        }
        r.promote = "Step";
        if (this.strategy === "BlueGreen") {
          return accept(
            `${this.specLabel} is promoted once its preview is Available (checks no longer wait)`,
          );
        }
        const i = s.currentStep ?? 0;
        const step = this.steps[i];
        if (step && step.setWeight === undefined)
          return accept(`the pause of step ${i + 1}/${this.steps.length} ends`);
        const where = i < this.steps.length ? `step ${i + 1}/${this.steps.length}` : "the final step";
        return accept(
          `${where} completes as soon as ${this.specLabel} is Available at its size (checks no longer wait)`,
        );
      }
      case "abort": {
        if (!r) return refuse(this.noRollout());
        if (r.switchedAt !== undefined) return refuse(`traffic already switched to ${this.specLabel}`);
        const v = this.specLabel;
        this.rollBack(Reasons.Aborted, "aborted by the abort action", "Aborted");
        return accept(
          `${v} scaled to 0, ${this.stableLabel} serves all traffic; the spec is unchanged (retry starts again)`,
        );
      }
      case "retry": {
        if (!s.aborted) return refuse("nothing to retry: no rollout was aborted or rolled back");
        const v = this.describe(s.aborted.version, s.aborted.revision);
        delete s.aborted;
        return accept(`the rollout of ${v} starts again`);
      }
      case "pause": {
        if (!r) return refuse(this.noRollout());
        if (r.pausedByAction) return refuse("the rollout is already paused");
        r.pausedByAction = true;
        return accept(
          `the rollout of ${this.specLabel} holds where it is (health checks are still measured)`,
        );
      }
      case "resume": {
        if (r?.pausedByAction) {
          delete r.pausedByAction;
          this.rearmAfterHold();
          return accept(
            this.md.spec.paused
              ? `the pause action is lifted, but spec.paused still holds the rollout`
              : `the rollout of ${this.specLabel} carries on`,
          );
        }
        if (this.md.spec.paused) return refuse("the rollout is held by spec.paused: set it to false");
        return refuse(r ? "the rollout is not paused" : this.noRollout());
      }
      case "rollback":
        return this.rollbackAction();
    }
    return refuse("unknown action");
  }

  /** After a hold ends, a step waiting for replicas gets a fresh progress deadline. */
  rearmAfterHold(): void {
    const r = this.s.rollout;
    if (!r || this.held || r.stepReadyAt !== undefined) return;
    const step = this.steps[this.s.currentStep ?? 0];
    if (this.strategy === "Canary" && step && step.setWeight === undefined) return;
    r.stepStartedAt = this.nowIso;
  }

  rollbackAction(): { ok: boolean; message: string } {
    const s = this.s;
    const stable = s.stableVersion;
    const stableRevision = s.stableRevision;
    if (stable === undefined) return { ok: false, message: "no version has been promoted yet" };
    const stableLabel = this.stableLabel;
    let targetDep: V1Deployment | undefined;
    for (const h of s.history ?? []) {
      if (h.outcome !== "Promoted") continue;
      if (h.version === stable && (h.revision === undefined || h.revision === stableRevision)) continue;
      targetDep = findTrackDeployment(this.deps.values(), h.version, h.revision);
      if (targetDep) break;
    }
    if (targetDep === undefined) {
      return {
        ok: false,
        message: `no version promoted before ${stableLabel} still has a Deployment (revisionHistoryLimit keeps ${revisionHistoryLimitOf(this.md)})`,
      };
    }
    const target = versionOf(targetDep) ?? "";
    const targetRevision = revisionOf(targetDep) ?? "";
    const targetLabel = this.describe(target, targetRevision);
    const r = s.rollout;
    const reason = `rolled back to ${targetLabel} by the rollback action`;
    if (r) {
      this.history({
        version: r.version,
        revision: r.revision,
        outcome: "RolledBack",
        reason: Reasons.RolledBack,
        message: reason,
      });
      this.clearRollout();
    }
    s.stableVersion = target;
    s.stableRevision = targetRevision;
    this.history({
      version: target,
      revision: targetRevision,
      outcome: "Promoted",
      reason: Reasons.RolledBack,
      message: `${reason} (was ${stableLabel})`,
    });
    const old = { version: stable, ...(stableRevision !== undefined ? { revision: stableRevision } : {}) };
    s.scaleDown = [
      ...(s.scaleDown ?? []).filter(
        (e) => !sameTrack(e, { version: target, revision: targetRevision }) && !sameTrack(e, old),
      ),
    ];
    s.scaleDown.push({ ...old, after: this.nowIso });
    if (!this.isSpec(target, targetRevision)) {
      const how =
        this.specVersion === target
          ? `set the pod template of ${target} back to revision ${targetRevision}`
          : `change spec.model.version to ${target}`;
      s.aborted = {
        version: this.specVersion,
        revision: this.revision,
        reason: Reasons.RolledBack,
        message: `${reason}: ${how} or retry`,
        time: this.nowIso,
      };
    }
    return {
      ok: true,
      message: `${targetLabel} serves again instead of ${stableLabel} (at ${this.total} replica(s))`,
    };
  }

  // ---- the desired world -------------------------------------------------------------

  run(): Plan {
    const md = this.md;
    const s = this.s;
    s.observedGeneration = md.metadata?.generation ?? s.observedGeneration;
    s.strategy = this.strategy;
    s.selector = `${LABEL_MODEL}=${this.name}`;

    this.followSpec();
    this.ensureRollout();
    this.handleAction();
    this.ensureRollout();

    if (s.rollout && this.prev.phase === "Paused" && !this.held && !this.prev.rollout?.pausedByAction) {
      this.rearmAfterHold();
    }

    let mode = this.mode();
    if (mode === "first") {
      if (isAvailableAt(this.specDep, this.total, this.revision)) {
        s.stableVersion = this.specVersion;
        s.stableRevision = this.revision;
        this.history({
          version: this.specVersion,
          revision: this.revision,
          outcome: "Promoted",
          message: `first version, Available at ${this.total} replica(s)`,
        });
        this.event(
          "Normal",
          Reasons.Promoted,
          `${this.specVersion} is the first version: Available at ${this.total} replica(s), it serves all traffic`,
        );
        mode = "rest";
      }
    } else if (mode === "rest" && s.stableRevision === undefined) {
      s.stableRevision = this.revision;
    } else if (mode === "rollout") {
      this.mergeMeasurements();
      const failed = s.rollout?.promote === "Full" ? undefined : this.failedCheck();
      if (failed) {
        const st = failed.status;
        const seen = st.value !== undefined ? `value ${st.value}` : "no value";
        const message = `check ${st.name} failed ${st.consecutiveFailures} time(s) in a row (failureThreshold ${failed.threshold}), last saw ${seen}${st.message ? `: ${st.message}` : ""}`;
        this.event(
          "Warning",
          Reasons.CheckFailed,
          `check ${st.name} saw ${seen}${st.message ? `: ${st.message}` : ""}`,
        );
        this.rollBack(Reasons.HealthCheckFailed, message, "RolledBack");
      } else if (this.strategy === "Canary") this.runCanary();
      else this.runBlueGreen();
      mode = this.mode();
    }

    const { apply, del } = this.desiredChildren(mode);
    this.finishStatus(mode);
    const requeueAfterMs = this.requeue();
    const plan: Plan = { apply, delete: del, status: s, events: this.events, clearAction: this.clearAction };
    if (requeueAfterMs !== undefined) plan.requeueAfterMs = requeueAfterMs;
    return plan;
  }

  /** Replicas of every track, the children to apply and those to delete. */
  desiredChildren(mode: Mode): { apply: KubernetesObject[]; del: ChildRef[] } {
    const s = this.s;
    const md = this.md;
    const spec = this.spec.name;
    // Deployment name -> replicas.
    const want = new Map<string, number>();
    const stable = this.stableName();
    const r = s.rollout;
    if (mode === "first") want.set(spec, this.total);
    else if (mode === "rollout" && r && s.stableVersion !== undefined) {
      if (this.strategy === "Canary") {
        const sizes = this.canarySizes(s.currentStep ?? 0);
        want.set(spec, sizes.candidate);
        if (stable !== undefined) want.set(stable, sizes.stable);
      } else {
        want.set(spec, this.bgCandidateSize());
        if (stable !== undefined) want.set(stable, this.total);
      }
    } else if (stable !== undefined) {
      want.set(stable, this.total);
    }

    // Old tracks kept ready for a while (blue/green scaleDownDelaySeconds, a rollback).
    const stableDep = stable !== undefined ? this.deps.get(stable) : undefined;
    const stableRevision = stable === spec ? this.revision : undefined;
    const stableUp = stable !== undefined && isAvailableAt(stableDep, this.total, stableRevision);
    const clientsOnStable = this.strategy === "Canary" || this.clientsSelected() === stable;
    const keep: typeof s.scaleDown = [];
    const draining = new Set<string>();
    for (const entry of s.scaleDown ?? []) {
      const name = this.nameOf(entry.version, entry.revision);
      const d = name !== undefined ? this.deps.get(name) : undefined;
      if (name === undefined || !d || want.has(name)) continue;
      if (this.nowMs >= timeMs(entry.after) && stableUp && clientsOnStable) {
        this.event(
          "Normal",
          Reasons.ScaledDown,
          `${this.describe(entry.version, revisionOf(d))} scaled to 0: ${this.stableLabel} serves all traffic`,
        );
        continue;
      }
      keep.push(entry);
      draining.add(name);
      want.set(name, d.spec?.replicas ?? 0);
    }
    if (keep.length) s.scaleDown = keep;
    else delete s.scaleDown;
    // A rolled-back or aborted spec track serves nothing (unless it is still draining above).
    if (!want.has(spec)) want.set(spec, 0);

    // Tracks that serve nothing: the most recent revisionHistoryLimit stay at 0, older ones go.
    const historyIndex = (name: string) => {
      const d = this.deps.get(name);
      const i = (s.history ?? []).findIndex(
        (h) => h.version === versionOf(d) && (h.revision === undefined || h.revision === revisionOf(d)),
      );
      return i < 0 ? Number.MAX_SAFE_INTEGER : i;
    };
    const created = (d: V1Deployment) => timeMs(String(d.metadata?.creationTimestamp ?? "")) || 0;
    const idle = [...this.deps.keys()]
      .filter((name) => !want.has(name))
      .sort((a, b) => {
        const da = this.deps.get(a);
        const db = this.deps.get(b);
        return (
          historyIndex(a) - historyIndex(b) ||
          (db ? created(db) : 0) - (da ? created(da) : 0) ||
          (a < b ? -1 : a > b ? 1 : 0)
        );
      });
    const limit = revisionHistoryLimitOf(md);
    const del: ChildRef[] = [];
    idle.forEach((name, i) => {
      if (i < limit) want.set(name, 0);
      else {
        del.push({ kind: "Deployment", name });
        if (this.services.has(name)) del.push({ kind: "Service", name });
      }
    });

    // Deployments: those scaling up first, those scaling down last.
    const deployments: { obj: V1Deployment; down: boolean }[] = [];
    const services: V1Service[] = [];
    const serving = new Set<string>([spec, ...draining]);
    if (stable !== undefined) serving.add(stable);
    const ordered = [...want.keys()].sort((a, b) => (a === spec ? -1 : b === spec ? 1 : 0));
    for (const name of ordered) {
      const n = want.get(name) ?? 0;
      const observed = this.deps.get(name);
      const fromSpec = name === spec && !(observed && isLegacyDeployment(observed));
      const obj = fromSpec
        ? computeVersionDeployment(md, n, this.spec)
        : observed
          ? computeRetainedDeployment(md, observed, n)
          : undefined;
      if (!obj) continue;
      deployments.push({ obj, down: n < (observed?.spec?.replicas ?? 0) });
      if (!serving.has(name)) continue;
      const observedSvc = this.services.get(name);
      const track = this.track(name) ?? this.spec;
      services.push(
        fromSpec
          ? computeVersionService(md, this.spec)
          : observedSvc
            ? computeRetainedService(md, observedSvc, track.version)
            : computeVersionService(md, track, observed?.spec?.template),
      );
    }

    // The clients' Service and the preview Service.
    // The stable track (by its status when its Deployment is gone), the spec's before the first.
    let active: string | undefined = s.stableVersion === undefined ? spec : stable;
    if (r?.switchedAt !== undefined) active = spec;
    else if (this.strategy === "BlueGreen" && stable !== undefined && !stableUp) {
      const selected = this.clientsSelected();
      // The clients stay where they are until the stable track is Available again: on a
      // track kept for scale-down, or on the one they were switched to before its rollout
      // started again (a template change right after the switch) while it has ready pods.
      const kept = selected !== undefined && draining.has(selected);
      const restarted =
        selected !== undefined &&
        r !== undefined &&
        selected === spec &&
        (this.deps.get(selected)?.status?.readyReplicas ?? 0) > 0;
      if (selected !== undefined && (kept || restarted)) active = selected;
    }
    services.push(computeClientsService(md, this.selectorOf(active)));
    const previewName = previewServiceName(md);
    if (this.strategy === "BlueGreen" && r && r.switchedAt === undefined) {
      services.push(computePreviewService(md, this.spec.selector));
    } else if (this.services.has(previewName)) {
      del.push({ kind: "Service", name: previewName });
    }

    const apply: KubernetesObject[] = [
      ...deployments.filter((d) => !d.down).map((d) => d.obj),
      ...services,
      ...deployments.filter((d) => d.down).map((d) => d.obj),
    ];
    return { apply, del };
  }

  /** The pod selector of a track (the stable one's from the status when its Deployment is gone). */
  selectorOf(name: string | undefined): Record<string, string> {
    const t = name !== undefined ? this.track(name) : undefined;
    if (t) return t.selector;
    return trackSelector(this.md, this.s.stableVersion ?? this.specVersion, this.s.stableRevision);
  }

  finishStatus(mode: Mode): void {
    const s = this.s;
    const gen = this.md.metadata?.generation;
    const r = s.rollout;
    const stable = s.stableVersion;
    const servingVersion = stable === undefined ? this.specLabel : this.stableLabel;
    const servingName = stable === undefined ? this.spec.name : this.stableName();
    const servingDep = servingName !== undefined ? this.deps.get(servingName) : undefined;
    s.replicas = servingDep?.status?.readyReplicas ?? 0;

    s.traffic = computeTraffic(
      this.input.observed,
      stable !== undefined
        ? { version: stable, revision: s.stableRevision }
        : mode === "first"
          ? { version: this.specVersion, revision: this.revision }
          : undefined,
      r,
    );
    if (r) {
      s.candidateVersion = r.version;
      s.candidateRevision = r.revision;
      s.candidateWeight = trafficOf(s.traffic, r.version, r.revision)?.weight ?? 0;
    } else {
      delete s.candidateVersion;
      delete s.candidateRevision;
      delete s.candidateWeight;
      delete s.currentStep;
    }

    type C = { status: "True" | "False"; reason: string; message: string };
    let ready: C;
    let reconciling: C;
    let stalled: C;
    const ok = (reason: string, message = ""): C => ({ status: "False", reason, message });
    const ready0 = servingDep?.status?.readyReplicas ?? 0;
    if (mode === "first") {
      const message = `waiting for ${this.specLabel} to be Available: ${servingDep?.status?.availableReplicas ?? 0}/${this.total} replica(s) available`;
      s.phase = "Progressing";
      ready = { status: "False", reason: Reasons.WaitingForAvailable, message };
      reconciling = { status: "True", reason: Reasons.WaitingForAvailable, message };
      stalled = ok(Reasons.WaitingForAvailable);
    } else if (mode === "rollout" && r) {
      const message = this.progressMessage(r);
      if (this.held) {
        s.phase = "Paused";
        ready = { status: "False", reason: Reasons.Paused, message };
        reconciling = { status: "True", reason: Reasons.Paused, message };
        stalled = ok(Reasons.Paused);
      } else {
        s.phase = "Progressing";
        ready = { status: "False", reason: Reasons.RolloutInProgress, message };
        reconciling = { status: "True", reason: Reasons.RolloutInProgress, message };
        stalled = ok(Reasons.RolloutInProgress);
      }
    } else if (mode === "aborted" && s.aborted) {
      const a = s.aborted;
      const message =
        a.reason === Reasons.RolledBack
          ? `${a.message ?? `rolled back to ${this.stableLabel}`}`
          : `the rollout of ${this.describe(a.version, a.revision)} was stopped: ${a.message ?? a.reason}; ${this.stableLabel} serves all traffic; change the spec or retry`;
      s.phase = "Degraded";
      ready = { status: "False", reason: a.reason, message };
      reconciling = ok(a.reason, message);
      stalled = { status: "True", reason: a.reason, message };
    } else {
      const up = isAvailableAt(servingDep, this.total, this.revision);
      if (up) {
        const message = `version ${servingVersion} serves all traffic with ${ready0}/${this.total} ready replica(s)`;
        s.phase = "Healthy";
        ready = { status: "True", reason: Reasons.Ready, message };
        reconciling = ok(Reasons.Ready);
        stalled = ok(Reasons.Ready);
      } else {
        const message = `waiting for ${servingVersion} to be Available at ${this.total} replica(s): ${servingDep?.status?.availableReplicas ?? 0} available`;
        s.phase = "Progressing";
        ready = { status: "False", reason: Reasons.WaitingForAvailable, message };
        reconciling = { status: "True", reason: Reasons.WaitingForAvailable, message };
        stalled = ok(Reasons.WaitingForAvailable);
      }
    }
    s.message = ready.message;
    for (const [type, c] of [
      [CONDITION_READY, ready],
      [CONDITION_RECONCILING, reconciling],
      [CONDITION_STALLED, stalled],
    ] as const) {
      s.conditions = setCondition(
        s.conditions,
        { type, ...c, ...(gen !== undefined ? { observedGeneration: gen } : {}) },
        this.now,
      );
    }
  }

  progressMessage(r: RolloutState): string {
    const s = this.s;
    const held = this.held ? ` (paused by ${this.md.spec.paused ? "spec.paused" : "the pause action"})` : "";
    if (this.strategy === "Canary") {
      const n = this.steps.length;
      const i = s.currentStep ?? 0;
      const sizes = this.canarySizes(i);
      const avail = this.candidateAvailable(sizes.candidate);
      const step = this.steps[i];
      const where =
        i >= n
          ? `all ${n} steps done, promoting at ${this.total} replica(s)`
          : step?.setWeight !== undefined
            ? `step ${i + 1}/${n}, weight ${step.setWeight}%`
            : `step ${i + 1}/${n}, pause ${step?.pause?.duration ?? "until promote"}`;
      return `rolling out ${this.describe(r.version, r.revision)} beside ${this.stableLabel}: ${where}; ${avail}/${sizes.candidate} candidate replica(s) available${held}`;
    }
    const stage =
      r.switchedAt !== undefined
        ? "traffic switching"
        : (s.currentStep ?? 0) >= 1
          ? `scaling to ${this.total} replica(s) before the switch`
          : r.availableAt !== undefined
            ? "preview Available and healthy, waiting for promotion"
            : `preview at ${previewReplicasOf(this.md)} replica(s)`;
    return `rolling out ${this.describe(r.version, r.revision)} beside ${this.stableLabel} (blue/green): ${stage}${held}`;
  }

  /** The soonest time-driven change: pause end, next check, deadline, auto-promotion, scale-down. */
  requeue(): number | undefined {
    const s = this.s;
    const r = s.rollout;
    const future: number[] = [];
    const at = (t: number) => {
      if (!Number.isNaN(t) && t > this.nowMs) future.push(t);
    };
    let due: number | undefined;
    if (r) {
      const startMs = timeMs(r.stepStartedAt ?? r.startedAt);
      if (!this.held) {
        if (this.strategy === "Canary") {
          const step = this.steps[s.currentStep ?? 0];
          if (step && step.setWeight === undefined && step.pause?.duration !== undefined) {
            at(startMs + parseDuration(step.pause.duration));
          } else if (r.stepReadyAt === undefined) at(startMs + progressDeadlineMsOf(this.md));
        } else if (r.switchedAt === undefined) {
          if (r.stepReadyAt === undefined) at(startMs + progressDeadlineMsOf(this.md));
          const auto = this.md.spec.strategy?.blueGreen?.autoPromotionSeconds;
          if (auto !== undefined && r.availableAt !== undefined && (s.currentStep ?? 0) === 0) {
            at(timeMs(r.availableAt) + auto * 1000);
          }
        }
      }
      const measurable =
        r.switchedAt === undefined &&
        r.promote !== "Full" &&
        (this.specDep?.status?.availableReplicas ?? 0) >= 1;
      if (measurable) {
        const view: ModelDeployment = { ...this.md, status: s };
        for (const check of checksOf(this.md)) {
          const t = Math.max(
            checkDueAt(
              view,
              check,
              s.checks?.find((c) => c.name === check.name),
            ),
            this.nowMs,
          );
          due = due === undefined ? t : Math.min(due, t);
        }
      }
    }
    for (const e of s.scaleDown ?? []) at(timeMs(e.after));
    const all = due === undefined ? future : [...future, due];
    if (all.length === 0) return undefined;
    return Math.max(0, Math.min(...all) - this.nowMs);
  }
}

/** Is a status entry (scaleDown) of the track `t`? An entry without a revision matches any. */
function sameTrack(
  e: { version: string; revision?: string | undefined },
  t: { version: string; revision?: string | undefined },
): boolean {
  return (
    e.version === t.version &&
    (e.revision === undefined || t.revision === undefined || e.revision === t.revision)
  );
}

function sameLabels(a: Record<string, string>, b: Record<string, string>): boolean {
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => a[k] === b[k]);
}

function clone<T>(value: T): T {
  return JSON.parse(JSON.stringify(value ?? {})) as T;
}

/** The plan for an invalid spec: stall with the problems, keep every child as it is. */
function planInvalid(input: PlanInput, problems: string): Plan {
  const md = input.md;
  const s = clone(md.status ?? {});
  const gen = md.metadata?.generation;
  const message = `the spec is invalid: ${problems}`;
  const events: PlannedEvent[] = [];
  const prevStalled = findCondition(s.conditions, CONDITION_STALLED);
  if (!(
    prevStalled?.status === "True" &&
    prevStalled.reason === Reasons.InvalidSpec &&
    prevStalled.message === message
  )) {
    events.push({ type: "Warning", reason: Reasons.InvalidSpec, message });
  }
  if (gen !== undefined) s.observedGeneration = gen;
  s.phase = "Degraded";
  s.message = message;
  s.traffic = computeTraffic(
    input.observed,
    s.stableVersion !== undefined ? { version: s.stableVersion, revision: s.stableRevision } : undefined,
    s.rollout,
  );
  if (s.rollout) s.candidateWeight = trafficOf(s.traffic, s.rollout.version, s.rollout.revision)?.weight ?? 0;
  const g = gen !== undefined ? { observedGeneration: gen } : {};
  s.conditions = setCondition(
    s.conditions,
    { type: CONDITION_READY, status: "False", reason: Reasons.InvalidSpec, message, ...g },
    input.now,
  );
  s.conditions = setCondition(
    s.conditions,
    { type: CONDITION_RECONCILING, status: "False", reason: Reasons.InvalidSpec, message, ...g },
    input.now,
  );
  s.conditions = setCondition(
    s.conditions,
    { type: CONDITION_STALLED, status: "True", reason: Reasons.InvalidSpec, message, ...g },
    input.now,
  );
  let clearAction = false;
  const action = md.metadata?.annotations?.[ANNOTATION_ACTION];
  if (action !== undefined) {
    clearAction = true;
    const rv = md.metadata?.resourceVersion;
    const key = rv ? `${action}@${rv}` : action;
    if (!(rv && s.lastAction === key)) {
      s.lastAction = key;
      events.push({
        type: "Warning",
        reason: Reasons.ActionRefused,
        message: `${action}: the spec is invalid; fix it first (${problems})`,
      });
    }
  }
  return { apply: [], delete: [], status: s, events, clearAction };
}

/**
 * The whole decision of one reconcile: the complete desired children, children to delete,
 * the next status, Events, whether to clear the action annotation, and when to come back.
 * Pure and deterministic; see docs/rollouts.md for the behaviour it implements.
 */
export function plan(input: PlanInput): Plan {
  const problems = [...validateModelDeployment(input.md), ...(input.platformProblems ?? [])];
  if (problems.length > 0) return planInvalid(input, formatProblems(problems));
  return new Planner(input).run();
}
