// Small helpers every benchmark case reports its figures with.
import { loadavg } from "node:os";

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
