// Durations, the one parser and formatter of the project (spec fields, the operator's flags,
// the plugin's --timeout): a subset of Go's time.ParseDuration syntax, one or more
// <number><unit> parts with units ms, s, m, h, such as 30s, 1m30s, 500ms, 2.5s or 1h; and,
// as in Go, a bare "0" (--resync-period=0 disables the relist). The CRD's pattern for spec
// fields wants a unit on every part, so isDuration, which mirrors it, says no to "0".

const DURATION = /^(?:[0-9]+(?:\.[0-9]+)?(?:ms|s|m|h))+$/;
const PART = /([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)/g;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Whether `s` is a duration as the CRD's pattern writes them (a unit on every part). */
export function isDuration(s: string): boolean {
  return DURATION.test(s);
}

/**
 * Milliseconds of a duration such as `1h30m`, `500ms` or `2.5s` (rounded to whole ms).
 * Throws an Error that says what is wrong when `s` is not a duration.
 */
export function parseDuration(s: string): number {
  if (s === "0") return 0;
  if (!isDuration(s)) {
    throw new Error(`${JSON.stringify(s)} is not a duration: write it like 30s, 5m, 1h30m or 500ms`);
  }
  let ms = 0;
  for (const m of s.matchAll(PART)) ms += Number(m[1]) * (UNIT_MS[m[2] ?? ""] ?? 0);
  return Math.round(ms);
}

/** A short human form of milliseconds, as Go prints a Duration: 90000 -> "1m30s", 500 -> "500ms", 0 -> "0s". */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  let rest = Math.round(ms / 1000);
  const h = Math.floor(rest / 3600);
  rest -= h * 3600;
  const m = Math.floor(rest / 60);
  const s = rest - m * 60;
  return `${h ? `${h}h` : ""}${m ? `${m}m` : ""}${s || (!h && !m) ? `${s}s` : ""}`;
}
