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
import { childName, clientsServiceName, computeRevision, previewServiceName } from "./naming.ts";
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
import { computeTraffic } from "./traffic.ts";
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
  readonly deps = new Map<string, V1Deployment>();
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
    for (const d of input.observed.deployments) {
      const v = d.metadata?.labels?.[LABEL_VERSION];
      if (v !== undefined && d.metadata?.labels?.[LABEL_MODEL] === this.name && !this.deps.has(v))
        this.deps.set(v, d);
    }
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
    delete this.s.candidateWeight;
    delete this.s.currentStep;
  }

  /** Reacts to a spec that moved away from the rollout or the aborted rollout in the status. */
  followSpec(): void {
    const s = this.s;
    if (s.aborted && (s.aborted.version !== this.specVersion || s.aborted.revision !== this.revision)) {
      delete s.aborted;
    }
    const r = s.rollout;
    if (r && (r.version !== this.specVersion || r.revision !== this.revision)) {
      if (r.switchedAt !== undefined && this.clientsSelectedVersion() === r.version) {
        // Blue/green, switched but not yet promoted: the clients stay on r.version until the
        // stable version is Available and selected again, then it scales down as after a switch.
        const after = new Date(this.nowMs + scaleDownDelayMsOf(this.md)).toISOString();
        s.scaleDown = [
          ...(s.scaleDown ?? []).filter((e) => e.version !== r.version),
          { version: r.version, after },
        ];
      }
      if (this.specVersion === s.stableVersion) {
        this.history({
          version: r.version,
          revision: r.revision,
          outcome: "Reverted",
          reason: Reasons.RolloutReverted,
          message: `spec.model.version went back to ${this.specVersion}`,
        });
        this.event(
          "Normal",
          Reasons.RolloutReverted,
          `spec.model.version is back to ${this.specVersion}: the rollout of ${r.version} ended and ${r.version} scales to 0`,
        );
      } else {
        const what =
          r.version === this.specVersion
            ? `the template of ${r.version} changed`
            : `${this.specVersion} replaces it`;
        this.history({
          version: r.version,
          revision: r.revision,
          outcome: "Superseded",
          reason: Reasons.RolloutSuperseded,
          message: what,
        });
        this.event("Normal", Reasons.RolloutSuperseded, `the rollout of ${r.version} is superseded: ${what}`);
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
        `the strategy changed to ${this.strategy}: the rollout of ${r.version} starts again from its first step`,
      );
    }
  }

  mode(): Mode {
    const s = this.s;
    if (s.stableVersion === undefined) return "first";
    if (this.specVersion === s.stableVersion) return "rest";
    if (s.aborted) return "aborted";
    return "rollout";
  }

  /** Starts the rollout of the spec's version when one is due and none runs. */
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
    s.checks = checksOf(this.md).map((c) => ({ name: c.name, phase: "Pending" as const }));
    s.scaleDown = (s.scaleDown ?? []).filter((e) => e.version !== this.specVersion);
    if (s.scaleDown.length === 0) delete s.scaleDown;
    this.stepBegan = true;
    const how =
      this.strategy === "Canary"
        ? `canary in ${this.steps.length} step(s)`
        : `blue/green with ${previewReplicasOf(this.md)} preview replica(s)`;
    this.event(
      "Normal",
      Reasons.RolloutStarted,
      `rolling out ${this.specVersion} (revision ${this.revision}) beside ${s.stableVersion}: ${how}`,
    );
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
      `${r.version} rolled back (${reason}): ${message}; ${this.s.stableVersion} serves all traffic`,
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
    const d = this.deps.get(this.specVersion);
    if (!d || d.metadata?.annotations?.[ANNOTATION_REVISION] !== this.revision) return 0;
    return Math.min(d.status?.availableReplicas ?? 0, size);
  }

  /** Replicas of the candidate and the stable version at canary step i (steps.length = the final stage). */
  canarySizes(i: number): { candidate: number; stable: number } {
    const { candidate, stableMin } = computeCanaryReplicas(this.total, weightAtStep(this.md, i));
    const stable = Math.min(this.total, Math.max(stableMin, this.total - this.candidateAvailable(candidate)));
    return { candidate, stable };
  }

  stableDeployment(): V1Deployment | undefined {
    return this.s.stableVersion !== undefined ? this.deps.get(this.s.stableVersion) : undefined;
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
    const d = this.deps.get(this.specVersion);
    const available = this.candidateAvailable(size);
    const secs = progressDeadlineMsOf(this.md) / 1000;
    const detail = d ? `${available}/${size} replicas available` : "its Deployment does not exist";
    return `${this.specVersion} was not Available at ${size} replica(s) within progressDeadlineSeconds (${secs}s) ${what}: ${detail}`;
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
      const candReady = isAvailableAt(this.deps.get(this.specVersion), sizes.candidate, this.revision);
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
        this.promote(`${this.specVersion} is Available at ${this.total} replica(s) and took all traffic`);
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
        `all ${n} steps completed: ${this.specVersion} scales to ${this.total} replica(s) for promotion`,
      );
      return;
    }
    const step = this.steps[i];
    if (step?.setWeight !== undefined) {
      const { candidate, stableMin } = computeCanaryReplicas(this.total, step.setWeight);
      this.event(
        "Normal",
        Reasons.WeightChanged,
        `step ${i + 1}/${n}: weight ${step.setWeight}%: ${this.specVersion} scales to ${candidate} replica(s), ${this.s.stableVersion} to ${Math.max(stableMin, this.total - candidate)} once they are available`,
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
    s.stableVersion = r.version;
    s.stableRevision = r.revision;
    this.history({ version: r.version, revision: r.revision, outcome: "Promoted", message });
    this.event("Normal", Reasons.Promoted, `${r.version} promoted${old ? ` (was ${old})` : ""}: ${message}`);
    if (this.strategy === "BlueGreen" && old !== undefined && old !== r.version) {
      const after = new Date(this.nowMs + scaleDownDelayMsOf(this.md)).toISOString();
      s.scaleDown = [...(s.scaleDown ?? []).filter((e) => e.version !== old), { version: old, after }];
    }
    this.clearRollout();
  }

  // ---- blue/green ----------------------------------------------------------------------

  clientsSelectedVersion(): string | undefined {
    return this.services.get(clientsServiceName(this.md))?.spec?.selector?.[LABEL_VERSION];
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
      if (this.clientsSelectedVersion() === r.version) {
        this.promote(`the clients' Service selects ${r.version} alone`);
      }
      return;
    }
    let stage = s.currentStep === 1 ? 1 : 0;
    s.currentStep = stage;
    for (let guard = 0; guard < 3; guard++) {
      const size = this.bgCandidateSize();
      const ready = isAvailableAt(this.deps.get(this.specVersion), size, this.revision);
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
          `preview of ${r.version} is Available at ${size} replica(s) and every check passed: ${next}`,
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
            `promoting ${r.version}: it scales to ${this.total} replica(s) before the clients' Service switches`,
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
        `the clients' Service switches from ${s.stableVersion} to ${r.version}`,
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
      return `no rollout in progress: the rollout of ${a.version} was stopped (${a.reason}); use retry to start it again`;
    }
    if (this.s.stableVersion === undefined)
      return "no rollout in progress: the first version is still starting";
    return `no rollout in progress: ${this.s.stableVersion} serves all traffic`;
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
        if (r.switchedAt !== undefined) return refuse(`traffic already switched to ${r.version}`);
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
            `remaining steps and checks skipped: ${r.version} scales to ${this.total} replica(s) and takes all traffic once Available`,
          );
        }
        r.promote = "Step";
        if (this.strategy === "BlueGreen") {
          return accept(`${r.version} is promoted once its preview is Available (checks no longer wait)`);
        }
        const i = s.currentStep ?? 0;
        const step = this.steps[i];
        if (step && step.setWeight === undefined)
          return accept(`the pause of step ${i + 1}/${this.steps.length} ends`);
        const where = i < this.steps.length ? `step ${i + 1}/${this.steps.length}` : "the final step";
        return accept(
          `${where} completes as soon as ${r.version} is Available at its size (checks no longer wait)`,
        );
      }
      case "abort": {
        if (!r) return refuse(this.noRollout());
        if (r.switchedAt !== undefined) return refuse(`traffic already switched to ${r.version}`);
        const v = r.version;
        this.rollBack(Reasons.Aborted, "aborted by the abort action", "Aborted");
        return accept(
          `${v} scaled to 0, ${s.stableVersion} serves all traffic; the spec is unchanged (retry starts again)`,
        );
      }
      case "retry": {
        if (!s.aborted) return refuse("nothing to retry: no rollout was aborted or rolled back");
        const v = s.aborted.version;
        delete s.aborted;
        return accept(`the rollout of ${v} starts again`);
      }
      case "pause": {
        if (!r) return refuse(this.noRollout());
        if (r.pausedByAction) return refuse("the rollout is already paused");
        r.pausedByAction = true;
        return accept(`the rollout of ${r.version} holds where it is (health checks are still measured)`);
      }
      case "resume": {
        if (r?.pausedByAction) {
          delete r.pausedByAction;
          this.rearmAfterHold();
          return accept(
            this.md.spec.paused
              ? `the pause action is lifted, but spec.paused still holds the rollout`
              : `the rollout of ${r.version} carries on`,
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
    if (stable === undefined) return { ok: false, message: "no version has been promoted yet" };
    const target = (s.history ?? []).find(
      (h) => h.outcome === "Promoted" && h.version !== stable && this.deps.has(h.version),
    )?.version;
    if (target === undefined) {
      return {
        ok: false,
        message: `no version promoted before ${stable} still has a Deployment (revisionHistoryLimit keeps ${revisionHistoryLimitOf(this.md)})`,
      };
    }
    const r = s.rollout;
    const reason = `rolled back to ${target} by the rollback action`;
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
    const targetRevision = this.deps.get(target)?.metadata?.annotations?.[ANNOTATION_REVISION] ?? "";
    s.stableVersion = target;
    s.stableRevision = targetRevision;
    this.history({
      version: target,
      revision: targetRevision,
      outcome: "Promoted",
      reason: Reasons.RolledBack,
      message: `${reason} (was ${stable})`,
    });
    s.scaleDown = [...(s.scaleDown ?? []).filter((e) => e.version !== target && e.version !== stable)];
    s.scaleDown.push({ version: stable, after: this.nowIso });
    if (this.specVersion !== target) {
      s.aborted = {
        version: this.specVersion,
        revision: this.revision,
        reason: Reasons.RolledBack,
        message: `${reason}: change spec.model.version to ${target} or retry`,
        time: this.nowIso,
      };
    }
    return { ok: true, message: `${target} serves again instead of ${stable} (at ${this.total} replica(s))` };
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
      if (isAvailableAt(this.deps.get(this.specVersion), this.total, this.revision)) {
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
    } else if (mode === "rest" && s.stableRevision !== this.revision) {
      this.event(
        "Normal",
        Reasons.UpdatedInPlace,
        `the pod template or model of ${this.specVersion} changed (revision ${s.stableRevision ?? "none"} -> ${this.revision}): its Deployment is updated in place by a Kubernetes rolling update, without health-check gates; change spec.model.version for a gated rollout`,
      );
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

  /** Replicas of every version, the children to apply and those to delete. */
  desiredChildren(mode: Mode): { apply: KubernetesObject[]; del: ChildRef[] } {
    const s = this.s;
    const md = this.md;
    const want = new Map<string, number>();
    const stable = s.stableVersion;
    const r = s.rollout;
    if (mode === "first") want.set(this.specVersion, this.total);
    else if (mode === "rollout" && r && stable !== undefined) {
      if (this.strategy === "Canary") {
        const sizes = this.canarySizes(s.currentStep ?? 0);
        want.set(r.version, sizes.candidate);
        want.set(stable, sizes.stable);
      } else {
        want.set(r.version, this.bgCandidateSize());
        want.set(stable, this.total);
      }
    } else if (stable !== undefined) {
      want.set(stable, this.total);
    }

    // Old versions kept ready for a while (blue/green scaleDownDelaySeconds, a rollback).
    const stableDep = stable !== undefined ? this.deps.get(stable) : undefined;
    const stableRevision = stable === this.specVersion ? this.revision : undefined;
    const stableUp = stable !== undefined && isAvailableAt(stableDep, this.total, stableRevision);
    const clientsOnStable = this.strategy === "Canary" || this.clientsSelectedVersion() === stable;
    const keep: typeof s.scaleDown = [];
    for (const entry of s.scaleDown ?? []) {
      const d = this.deps.get(entry.version);
      if (!d || want.has(entry.version)) continue;
      if (this.nowMs >= timeMs(entry.after) && stableUp && clientsOnStable) {
        this.event(
          "Normal",
          Reasons.ScaledDown,
          `${entry.version} scaled to 0: ${stable} serves all traffic`,
        );
        continue;
      }
      keep.push(entry);
      want.set(entry.version, d.spec?.replicas ?? 0);
    }
    if (keep.length) s.scaleDown = keep;
    else delete s.scaleDown;
    // A rolled-back or aborted spec version serves nothing (unless it is still draining above).
    if (!want.has(this.specVersion)) want.set(this.specVersion, 0);

    // Versions that serve nothing: the most recent revisionHistoryLimit stay at 0, older ones go.
    const historyIndex = (v: string) => {
      const i = (s.history ?? []).findIndex((h) => h.version === v);
      return i < 0 ? Number.MAX_SAFE_INTEGER : i;
    };
    const created = (d: V1Deployment) => timeMs(String(d.metadata?.creationTimestamp ?? "")) || 0;
    const idle = [...this.deps.keys()]
      .filter((v) => !want.has(v))
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
    idle.forEach((v, i) => {
      if (i < limit) want.set(v, 0);
      else {
        const name = this.deps.get(v)?.metadata?.name ?? childName(this.name, v);
        del.push({ kind: "Deployment", name });
        if (this.services.has(name)) del.push({ kind: "Service", name });
      }
    });

    // Deployments: those scaling up first, those scaling down last.
    const deployments: { obj: V1Deployment; down: boolean }[] = [];
    const services: V1Service[] = [];
    const serving = new Set<string>([this.specVersion]);
    if (stable !== undefined) serving.add(stable);
    for (const e of s.scaleDown ?? []) serving.add(e.version);
    const ordered = [...want.keys()].sort((a, b) =>
      a === this.specVersion ? -1 : b === this.specVersion ? 1 : 0,
    );
    for (const v of ordered) {
      const n = want.get(v) ?? 0;
      const observed = this.deps.get(v);
      const obj =
        v === this.specVersion
          ? computeVersionDeployment(md, n)
          : observed
            ? computeRetainedDeployment(md, observed, n)
            : undefined;
      if (!obj) continue;
      deployments.push({ obj, down: n < (observed?.spec?.replicas ?? 0) });
      if (!serving.has(v)) continue;
      const svcName = obj.metadata?.name ?? childName(this.name, v);
      const observedSvc = this.services.get(svcName);
      services.push(
        v === this.specVersion
          ? computeVersionService(md, v)
          : observedSvc
            ? computeRetainedService(md, observedSvc, v)
            : computeVersionService(md, v, observed?.spec?.template),
      );
    }

    // The clients' Service and the preview Service.
    let active = stable ?? this.specVersion;
    if (r?.switchedAt !== undefined) active = r.version;
    else if (this.strategy === "BlueGreen" && stable !== undefined && !stableUp) {
      const selected = this.clientsSelectedVersion();
      // The clients stay where they are until the stable version is Available again: on a
      // version kept for scale-down, or on the one they were switched to before its rollout
      // started again (a template change right after the switch) while it has ready pods.
      const kept = (s.scaleDown ?? []).some((e) => e.version === selected);
      const restarted =
        selected !== undefined &&
        selected === r?.version &&
        (this.deps.get(selected)?.status?.readyReplicas ?? 0) > 0;
      if (selected !== undefined && (kept || restarted)) active = selected;
    }
    services.push(computeClientsService(md, active));
    const previewName = previewServiceName(md);
    if (this.strategy === "BlueGreen" && r && r.switchedAt === undefined) {
      services.push(computePreviewService(md, r.version));
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

  finishStatus(mode: Mode): void {
    const s = this.s;
    const gen = this.md.metadata?.generation;
    const r = s.rollout;
    const stable = s.stableVersion;
    const servingVersion = stable ?? this.specVersion;
    const servingDep = this.deps.get(servingVersion);
    s.replicas = servingDep?.status?.readyReplicas ?? 0;

    s.traffic = computeTraffic(
      this.input.observed,
      stable ?? (mode === "first" ? this.specVersion : undefined),
      r?.version,
    );
    if (r) {
      s.candidateVersion = r.version;
      s.candidateWeight = s.traffic.find((t) => t.version === r.version)?.weight ?? 0;
    } else {
      delete s.candidateVersion;
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
      const message = `waiting for ${this.specVersion} to be Available: ${servingDep?.status?.availableReplicas ?? 0}/${this.total} replica(s) available`;
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
          ? `${a.message ?? `rolled back to ${stable}`}`
          : `the rollout of ${a.version} was stopped: ${a.message ?? a.reason}; ${stable} serves all traffic; change the spec or retry`;
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
      return `rolling out ${r.version} beside ${s.stableVersion}: ${where}; ${avail}/${sizes.candidate} candidate replica(s) available${held}`;
    }
    const stage =
      r.switchedAt !== undefined
        ? "traffic switching"
        : (s.currentStep ?? 0) >= 1
          ? `scaling to ${this.total} replica(s) before the switch`
          : r.availableAt !== undefined
            ? "preview Available and healthy, waiting for promotion"
            : `preview at ${previewReplicasOf(this.md)} replica(s)`;
    return `rolling out ${r.version} beside ${s.stableVersion} (blue/green): ${stage}${held}`;
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
        (this.deps.get(r.version)?.status?.availableReplicas ?? 0) >= 1;
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
  s.traffic = computeTraffic(input.observed, s.stableVersion, s.rollout?.version);
  if (s.rollout) s.candidateWeight = s.traffic.find((t) => t.version === s.rollout?.version)?.weight ?? 0;
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
  const problems = validateModelDeployment(input.md);
  if (problems.length > 0) return planInvalid(input, formatProblems(problems));
  return new Planner(input).run();
}
