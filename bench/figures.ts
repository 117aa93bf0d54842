// Small helpers every benchmark case reports its figures with.
import { readFileSync } from "node:fs";
import { loadavg } from "node:os";
import { performance } from "node:perf_hooks";
import type { GcSummary } from "./gctrace.ts";

/** Clock ticks per second of /proc's times (USER_HZ, 100 on Linux). */
export const CLK_TCK = 100;

/**
 * The fields of /proc/PID/stat after the command name "(...)", which may hold spaces:
 * index 0 is field 3 (state), so field N of proc(5) is index N - 3.
 */
export function procStatFields(pid: number): string[] {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
}

/** CPU seconds (user + system) process `pid` has used, from /proc; NaN once it is gone. */
export function processCpuSeconds(pid: number): number {
  try {
    // utime is field 14, stime 15.
    const fields = procStatFields(pid);
    return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
  } catch {
    return NaN;
  }
}

/** The machine's load when a figure was taken (os.loadavg, like uptime). */
export interface Load {
  load1: number;
  load5: number;
  load15: number;
}

/** The 1, 5 and 15-minute load averages now. */
export function machineLoad(): Load {
  const [load1 = 0, load5 = 0, load15 = 0] = loadavg();
  return { load1, load5, load15 };
}

/** `x` with `digits` decimals, as a number (for the JSON result). */
export function round(x: number, digits = 2): number {
  return Number(x.toFixed(digits));
}

/** From now, the CPU of each named process and of this one; cores() gives their cores per second since. */
export function cpuOf(pids: Record<string, number>): { cores: () => Record<string, number> } {
  const t0 = performance.now();
  const self0 = process.cpuUsage();
  const before = Object.entries(pids).map(([name, pid]) => [name, pid, processCpuSeconds(pid)] as const);
  return {
    cores: () => {
      const seconds = (performance.now() - t0) / 1000;
      const out: Record<string, number> = {};
      for (const [name, pid, cpu0] of before) {
        const used = processCpuSeconds(pid) - cpu0;
        if (Number.isFinite(used)) out[name] = round(used / seconds);
      }
      const self = process.cpuUsage(self0);
      out.benchmark = round((self.user + self.system) / 1e6 / seconds);
      return out;
    },
  };
}

/** Time stalled (PSI "some" totals, microseconds) in /proc/pressure's three kinds; {} where absent. */
function pressureTotals(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const kind of ["cpu", "io", "memory"]) {
    try {
      const some = readFileSync(`/proc/pressure/${kind}`, "utf8").split("\n")[0] ?? "";
      const total = /total=(\d+)/.exec(some)?.[1];
      if (total !== undefined) out[kind] = Number(total);
    } catch {
      // No PSI in this kernel: the figure is left out.
    }
  }
  return out;
}

/** What the machine waited on during a stream or a case (bench/report.ts's stallText prints it). */
export interface WaitedOn {
  /** Percent of the time in which some task waited for CPU, disk I/O or memory (pressureOf). */
  pressure?: Record<string, number>;
  /** The API server's and etcd's garbage collections that overlapped it (gctrace; filled in at the end of the run). */
  gc?: Record<string, GcSummary>;
}

/**
 * From now, the machine's pressure stall information: percent() gives, for cpu, io and
 * memory, the share of the time since in which at least one task waited for that resource.
 * A control plane waiting on the disk shows here, where CPU figures do not.
 */
export function pressureOf(): { percent: () => Record<string, number> } {
  const t0 = performance.now();
  const before = pressureTotals();
  return {
    percent: () => {
      const micros = (performance.now() - t0) * 1000;
      const now = pressureTotals();
      const out: Record<string, number> = {};
      for (const [kind, total0] of Object.entries(before)) {
        const total = now[kind];
        if (total !== undefined) out[kind] = round(((total - total0) / micros) * 100, 1);
      }
      return out;
    },
  };
}
