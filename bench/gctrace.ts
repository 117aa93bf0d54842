// When a Go component of the local control plane collected garbage, from the lines its
// runtime logs with GODEBUG=gctrace=1 (the tuned cluster sets it, test/cluster/cluster.ts).
// At 10,000 ModelDeployments the API server holds every object in its watch cache, and a
// collection of that heap on two shared cores is one of the suspects when every request
// slows down at once: the reaction stream reports the cycles that overlapped it.
import { readFileSync } from "node:fs";
import { CLK_TCK, procStatFields, round } from "./figures.ts";

/** One garbage collection: when it started (epoch ms), how long it took, the heap it left. */
export interface GcCycle {
  startedAtMs: number;
  /** Wall-clock time of the cycle: stop-the-world, concurrent mark, stop-the-world. */
  wallMs: number;
  /** Heap at the start of the cycle, at its end, and marked live, in MB. */
  heapStartMb: number;
  heapEndMb: number;
  liveMb: number;
  /**
   * The heap size the cycle was paced to finish by ("N MB goal"): the cycle before's live
   * heap times 1 + GOGC/100, so twice it with Go's default and five times with GOGC=400
   * (capped by GOMEMLIMIT). The cycle starts earlier, when the pacer expects to need it.
   */
  goalMb: number;
}

// "gc 12 @345.678s 3%: 0.1+250+0.2 ms clock, ..., 800->850->400 MB, 820 MB goal, ..."
const LINE =
  /^gc \d+ @([\d.]+)s \d+%: ([\d.]+)\+([\d.]+)\+([\d.]+) ms clock, .*? (\d+)->(\d+)->(\d+) MB, (\d+) MB goal/;

/** The cycles in a gctrace log of a process that started at `processStartMs` (epoch ms). */
export function parseGcTrace(text: string, processStartMs: number): GcCycle[] {
  const cycles: GcCycle[] = [];
  for (const line of text.split("\n")) {
    const m = LINE.exec(line);
    if (!m) continue;
    const [, at, stw1, mark, stw2, start, end, live, goal] = m.map(Number) as number[];
    cycles.push({
      startedAtMs: processStartMs + (at as number) * 1000,
      wallMs: (stw1 as number) + (mark as number) + (stw2 as number),
      heapStartMb: start as number,
      heapEndMb: end as number,
      liveMb: live as number,
      goalMb: goal as number,
    });
  }
  return cycles;
}

/**
 * When process `pid` started, in epoch ms, from /proc (its start in clock ticks after boot,
 * and the boot time from /proc/uptime, which is finer than /proc/stat's whole seconds).
 */
export function processStartMs(pid: number): number {
  // starttime is field 22.
  const startTicks = Number(procStatFields(pid)[19]);
  const uptimeS = Number(readFileSync("/proc/uptime", "utf8").split(" ")[0]);
  const bootMs = Date.now() - uptimeS * 1000;
  return bootMs + (startTicks / CLK_TCK) * 1000;
}

/** The collections of a window: how many overlapped it, their time, the longest, the live heap. */
export interface GcSummary {
  cycles: number;
  wallMs: number;
  longestMs: number;
  /** Live heap after the last cycle of the window (or before it, if none overlapped), MB. */
  liveMb: number;
  /** That cycle's heap goal, MB: how far the collector let the heap grow (GcCycle.goalMb). */
  goalMb: number;
}

/** The cycles of `cycles` that overlapped [fromMs, toMs]. */
export function gcDuring(cycles: readonly GcCycle[], fromMs: number, toMs: number): GcSummary {
  const overlapping = cycles.filter((c) => c.startedAtMs <= toMs && c.startedAtMs + c.wallMs >= fromMs);
  const before = cycles.filter((c) => c.startedAtMs <= toMs);
  return {
    cycles: overlapping.length,
    wallMs: round(
      overlapping.reduce((s, c) => s + c.wallMs, 0),
      1,
    ),
    longestMs: round(Math.max(0, ...overlapping.map((c) => c.wallMs)), 1),
    liveMb: before.at(-1)?.liveMb ?? NaN,
    goalMb: before.at(-1)?.goalMb ?? NaN,
  };
}

/** gcDuring() for a running component's log; undefined when it logged no cycle (not traced). */
export function componentGcDuring(
  logFile: string,
  pid: number,
  fromMs: number,
  toMs: number,
): GcSummary | undefined {
  let cycles: GcCycle[];
  try {
    cycles = parseGcTrace(readFileSync(logFile, "utf8"), processStartMs(pid));
  } catch {
    return undefined;
  }
  return cycles.length ? gcDuring(cycles, fromMs, toMs) : undefined;
}
