// Waiting for a condition: poll with a deadline, never a fixed sleep.
export async function pollUntil(
  what: string,
  probe: () => Promise<boolean> | boolean,
  timeoutMs: number,
  intervalMs = 100,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await probe()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/**
 * How long `objects` ModelDeployments may take to converge: --converge-timeout when given,
 * else 1.8 s each (a busy 2-core local control plane), at least 5 minutes.
 */
export function convergeTimeoutMs(convergeTimeoutSeconds: number | undefined, objects: number): number {
  return (convergeTimeoutSeconds ?? Math.max(300, objects * 1.8)) * 1000;
}

/** Percentile (0..100) of `values` by nearest rank; NaN when empty. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1] as number;
}
