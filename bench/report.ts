// The benchmark's figures as Markdown tables (printed by run.ts, pasted into docs/benchmarks.md).
import { PRIORITIES } from "../src/controller/queue.ts";
import type { WaitedOn } from "./figures.ts";
import type { BenchResult, Load } from "./harness.ts";
import { STEADY_MEASUREMENTS, type SlowChecksResult } from "./slow-checks.ts";

const kb = (bytes: number) => `${(bytes / 1024).toFixed(1)} KB`;
const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;
const ld = (l: Load) => `${l.load1.toFixed(2)}`;
/** "kube-apiserver 0.9, etcd 0.1, ..." */
export const cpuText = (cpu: Record<string, number>) =>
  Object.entries(cpu)
    .map(([name, cores]) => `${name} ${cores}`)
    .join(", ");
const ms = (x: number) => (Number.isFinite(x) ? `${x.toFixed(0)} ms` : "n/a");

/** "cpu 40%, io 0.1%, memory 0% of the time; kube-apiserver: 2 collections, 2003 ms in all, longest 1802 ms, 900 MB live, 1900 MB goal". */
function stallText({ pressure, gc }: WaitedOn): string {
  const parts: string[] = [];
  if (pressure && Object.keys(pressure).length)
    parts.push(
      `${Object.entries(pressure)
        .map(([kind, pct]) => `${kind} ${pct}%`)
        .join(", ")} of the time`,
    );
  for (const [name, g] of Object.entries(gc ?? {}))
    parts.push(
      `${name}: ${g.cycles} collection${g.cycles === 1 ? "" : "s"}, ${ms(g.wallMs)} in all, longest ${ms(g.longestMs)}, ${g.liveMb} MB live, ${g.goalMb} MB goal`,
    );
  return parts.join("; ");
}

export function markdownReport(r: BenchResult): string {
  const out: string[] = [];
  const m = r.machine;
  out.push(
    `Machine: ${m.cores} cores (${m.cpuModel}), ${(m.memoryBytes / 1024 ** 3).toFixed(1)} GiB RAM, Node ${m.node}, Linux ${m.kernel}. ` +
      `Run ${r.startedAt} to ${r.finishedAt}. "load" is the 1-minute load average (uptime) when the figure was taken.`,
    "",
  );

  out.push("### With no ModelDeployment", "");
  out.push("| entry point | measured | RSS | heap (after a full GC) | load |");
  out.push("| --- | --- | ---: | ---: | ---: |");
  for (const b of r.baselines) {
    const row = (what: string, m: (typeof b)["atStart"]) =>
      `| \`node ${b.entry}\` | ${what} | ${mb(m.rssBytes)} | ${mb(m.heapUsedBytes)} | ${ld(b.load)} |`;
    out.push(row("right after start (caches synced)", b.atStart));
    out.push(
      row("after the first reconcile (one ModelDeployment Ready, then deleted)", b.afterFirstReconcile),
    );
    if (b.restCpuSecondsPerMinute !== undefined)
      out.push(
        `| \`node ${b.entry}\` | CPU at rest (${r.options.restSeconds} s) | ${b.restCpuSecondsPerMinute.toFixed(3)} s per minute | | ${ld(b.load)} |`,
      );
  }
  out.push("");

  out.push("### Convergence, at rest, memory", "");
  out.push(
    "| N | all Ready | children created | operator CPU | requests / MD (writes) | informer lists + watches | writes at rest (" +
      `${r.options.restSeconds} s) | CPU at rest (per minute) | heap at 0 | heap at N | heap / MD | RSS at 0 | RSS at N | RSS / MD | load |`,
  );
  out.push(
    "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
  );
  for (const s of r.sizes) {
    const c = s.convergence;
    const mem = s.memory;
    out.push(
      `| ${s.n} | ${c.allReadySeconds.toFixed(1)} s | ${c.childrenCreatedSeconds.toFixed(1)} s | ${c.cpuSeconds.toFixed(2)} s | ` +
        `${c.requestsPerModelDeployment} (${c.writesPerModelDeployment}) | ${c.requests.listWatch} | ${s.rest.writes} | ${s.rest.cpuSeconds.toFixed(2)} s (${((s.rest.cpuSeconds * 60) / s.rest.seconds).toFixed(3)} s) | ` +
        `${mb(mem.atZero.heapUsedBytes)} | ${mb(mem.atN.heapUsedBytes)} | ${kb(mem.heapPerModelDeploymentBytes)} | ` +
        `${mb(mem.atZero.rssBytes)} | ${mb(mem.atN.rssBytes)} | ${kb(mem.rssPerModelDeploymentBytes)} | ` +
        `${ld(c.load)} / ${ld(s.rest.load)} / ${ld(mem.load)} |`,
    );
  }
  out.push("");
  out.push("Requests the operator sent to converge, by verb and resource (API server audit log):", "");
  out.push("| N | requests | API server's latency for them (writes): p50 / p90 / p99 |");
  out.push("| ---: | --- | ---: |");
  for (const s of r.sizes) {
    const parts = Object.entries(s.convergence.requests.byVerbResource)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([k, v]) => `${k}: ${v}`);
    const api = s.convergence.requests.writeLatencyMs;
    const apiText = api ? `${ms(api.p50)} / ${ms(api.p90)} / ${ms(api.p99)}` : "n/a";
    out.push(`| ${s.n} | ${parts.join(", ")} | ${apiText} |`);
  }
  out.push("");

  out.push("### Reaction time to spec changes", "");
  out.push(
    "| N | changes | rate | p50 | p95 | p99 | max | timed out | API server's latency for the operator's writes: p50 / p90 / p99 | load |",
  );
  out.push("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
  for (const s of r.sizes) {
    const x = s.reaction;
    const api = x.apiWriteLatencyMs;
    const apiText = api ? `${ms(api.p50)} / ${ms(api.p90)} / ${ms(api.p99)}` : "n/a";
    out.push(
      `| ${s.n} | ${x.samples + x.timedOut} | ${x.ratePerSecond}/s | ${ms(x.p50Ms)} | ${ms(x.p95Ms)} | ${ms(x.p99Ms)} | ${ms(x.maxMs)} | ${x.timedOut} | ${apiText} | ${ld(x.load)} |`,
    );
  }
  out.push("");
  const cpus = r.sizes.filter((s) => s.reaction.cpu);
  if (cpus.length > 0) {
    out.push("CPU during the stream (cores):", "");
    for (const s of cpus) out.push(`- N = ${s.n}: ${cpuText(s.reaction.cpu!)}`);
    out.push("");
  }
  const stalls = r.sizes.filter((s) => s.reaction.pressure || s.reaction.gc);
  if (stalls.length > 0) {
    out.push(
      "Waiting during the stream (pressure stall information; garbage collections that overlapped it):",
      "",
    );
    for (const s of stalls) out.push(`- N = ${s.n}: ${stallText(s.reaction)}`);
    out.push("");
  }

  const p = r.promotion;
  out.push("### Blue/green promotion (autoPromotionSeconds: 0)", "");
  out.push("| measured | promotions | p50 | p95 | p99 | max | load |");
  out.push("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
  out.push(
    `| Available -> clients' Service switched (operator overhead) | ${p.overhead.samples} | ${ms(p.overhead.p50Ms)} | ${ms(p.overhead.p95Ms)} | ${ms(p.overhead.p99Ms)} | ${ms(p.overhead.maxMs)} | ${ld(p.load)} |`,
  );
  out.push(
    `| version changed -> clients' Service switched (incl. pods) | ${p.total.samples} | ${ms(p.total.p50Ms)} | ${ms(p.total.p95Ms)} | ${ms(p.total.p99Ms)} | ${ms(p.total.maxMs)} | ${ld(p.load)} |`,
  );
  out.push("");
  if (p.cpu) out.push(`CPU during the promotions (cores): ${cpuText(p.cpu)}`, "");
  if (p.pressure || p.gc) out.push(`Waiting during the promotions: ${stallText(p)}`, "");

  if (r.rolloutCost?.length) {
    out.push("### API requests per rollout, with a route and by replica ratio", "");
    out.push(
      "| mode | N | requests / MD to converge (writes) | converged in | requests / rollout (writes) | rolled out in | load |",
    );
    out.push("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    for (const x of r.rolloutCost)
      out.push(
        `| ${x.mode} | ${x.n} | ${x.converge.requestsPerModelDeployment} (${x.converge.writesPerModelDeployment}) | ${x.converge.seconds.toFixed(1)} s | ` +
          `${x.rollout.requestsPerRollout} (${x.rollout.writesPerRollout}) | ${x.rollout.seconds.toFixed(1)} s | ${ld(x.converge.load)} / ${ld(x.rollout.load)} |`,
      );
    out.push("");
    out.push("Requests the operator sent per rollout, by verb and resource (API server audit log):", "");
    out.push("| mode | converge | rollout |");
    out.push("| --- | --- | --- |");
    const byVerb = (c: Record<string, number>) =>
      Object.entries(c)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([k, v]) => `${k}: ${v}`)
        .join(", ");
    for (const x of r.rolloutCost)
      out.push(
        `| ${x.mode} | ${byVerb(x.converge.requests.byVerbResource)} | ${byVerb(x.rollout.requests.byVerbResource)} |`,
      );
    out.push("");
  }

  if (r.slowChecks) out.push(...slowChecksReport(r.slowChecks), "");

  out.push("### Planner (in-process)", "");
  out.push("| scenario | plans / s | mean |");
  out.push("| --- | ---: | ---: |");
  for (const x of r.planner) out.push(`| ${x.scenario} | ${x.plansPerSecond} | ${x.meanMicros} µs |`);
  out.push("");

  out.push("### Targets", "");
  out.push("| target | measured | met |");
  out.push("| --- | --- | --- |");
  for (const t of r.targets) out.push(`| ${t.target} | ${t.measured} | ${t.met ? "met" : "**missed**"} |`);
  out.push("");
  return out.join("\n");
}

function slowChecksReport(x: SlowChecksResult): string[] {
  const out = [
    `### Slow health checks under load (${x.rollouts} rollouts, checks answering after ${x.checkDelayMs} ms)`,
    "",
  ];
  out.push(
    `${x.rollouts} canary rollouts at once, each gated by an HTTP check (interval ${x.checkInterval}) against one of ${x.servers} test servers on ` +
      `127.0.0.1; ${x.unrelated} unrelated ModelDeployments without checks get one spec.replicas change each ` +
      `in each stream (up: 1 to 2, down: 2 to 1): with no rollout under way (up); with the same ${x.rollouts} rolled out at once without checks, ` +
      `all paused at 50% (after ${x.withoutChecksPausedSeconds.toFixed(1)} s) and the operator quiet, down and then up (then promoted, all Ready again after ` +
      `${x.withoutChecksDoneSeconds.toFixed(1)} s); right after every rollout with checks was first measured (up); ` +
      `and once steady (down; each check measured ${STEADY_MEASUREMENTS} times, and again every interval). ` +
      `Each stream with checks is compared with the one without checks that makes the same change. Operator: \`${x.entry}\`.`,
    "",
  );
  out.push("| stream | changes | rate | p50 | p95 | p99 | max | timed out | load |");
  out.push("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
  const streams = [
    ["no rollout under way (up)", x.baseline],
    [`${x.rollouts} rollouts paused, no check (down)`, x.withoutChecks],
    [`${x.rollouts} rollouts paused, no check (up)`, x.withoutChecksUp],
    [`${x.rollouts} rollouts measuring (up)`, x.loaded],
    ...(x.steady ? [[`${x.rollouts} rollouts measuring, steady (down)`, x.steady] as const] : []),
  ] as const;
  for (const [what, l] of streams)
    out.push(
      `| ${what} | ${l.samples + l.timedOut} | ${l.ratePerSecond}/s | ${ms(l.p50Ms)} | ${ms(l.p95Ms)} | ${ms(l.p99Ms)} | ${ms(l.maxMs)} | ${l.timedOut} | ${ld(l.load)} |`,
    );
  out.push("");
  // One column per stream: the operator and the API server during each.
  const cols = streams.map(([, l]) => l);
  out.push(`| during the stream | ${streams.map(([what]) => what).join(" | ")} |`);
  out.push(`| --- |${" ---: |".repeat(cols.length)}`);
  const row = (what: string, cell: (l: SlowChecksResult["baseline"]) => string) =>
    out.push(`| ${what} | ${cols.map(cell).join(" | ")} |`);
  row(
    "operator: most keys in its work queue, keys queued / s, CPU (cores)",
    ({ operator: o }) => `${o.peakQueueDepth}, ${o.queueAddsPerSecond}, ${o.cpuCores}`,
  );
  row("operator: mean wait in its work queue of the keys taken, high / normal / low", ({ operator: o }) =>
    o.queueWaitMs === undefined
      ? "n/a"
      : PRIORITIES.map((p) => (o.queueWaitMs?.[p] === undefined ? "-" : ms(o.queueWaitMs[p]))).join(" / "),
  );
  row("operator: requests / s, mean wait for the client-side rate limit", ({ operator: o }) =>
    o.requestsPerSecond === undefined ? "n/a" : `${o.requestsPerSecond}, ${o.rateLimitWaitMs} ms`,
  );
  row(
    "CPU (cores): the control plane's processes and the benchmark (its test servers included)",
    ({ cpu }) => (cpu ? cpuText(cpu) : "n/a"),
  );
  row(
    "waiting: pressure stall information; the API server's and etcd's garbage collections that overlapped it",
    (l) => stallText(l) || "n/a",
  );
  row("API server: the operator's writes / s, their latency p50 / p90 / p99 (audit log)", ({ api: a }) => {
    const l = a?.writeLatencyMs;
    return a === undefined
      ? "n/a"
      : `${a.writesPerSecond}, ${l ? `${ms(l.p50)} / ${ms(l.p90)} / ${ms(l.p99)}` : "no write"}`;
  });
  out.push("");
  const c = x.checksDuringStream;
  out.push("| measured | value |");
  out.push("| --- | ---: |");
  const r = x.ratios;
  out.push(
    `| p99 ratio to ${x.rollouts} rollouts paused without checks, the same change: measuring (up), steady (down) (the target) | ${r.loaded}, ${r.steady} |`,
  );
  out.push(
    `| p99 ratio to no rollout under way: measuring, steady | ${r.loadedToNoRollout}, ${r.steadyToNoRollout} |`,
  );
  out.push(`| checks in flight when the stream started | ${c.inFlightAtStart} |`);
  out.push(`| checks in flight at most during the stream | ${c.peakInFlight} |`);
  out.push(`| check requests received during the stream | ${c.received} |`);
  out.push(`| ${x.rollouts} version changes sent in | ${x.versionChangesSentSeconds.toFixed(1)} s |`);
  out.push(
    `| from the version change until every rollout was measuring | ${x.allMeasuringAfterSeconds.toFixed(1)} s (${x.measuring} of ${x.rollouts}) |`,
  );
  out.push(`| check requests received in all | ${x.checks.received} |`);
  out.push(
    `| most in flight at once: in all, of one rollout | ${x.checks.peakInFlight}, ${x.checks.peakInFlightPerRollout} |`,
  );
  out.push(
    `| load (1, 5, 15 min) at the end | ${x.load.load1.toFixed(2)}, ${x.load.load5.toFixed(2)}, ${x.load.load15.toFixed(2)} |`,
  );
  return out;
}
