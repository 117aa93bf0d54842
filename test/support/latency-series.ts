// Known latency series for the analysis tests, written into a test Prometheus before it
// starts (promtool tsdb create-blocks-from openmetrics), so that every measurement of a
// check sees the same samples whatever the timing of the test.
//
// Each version's series is one gauge, model_request_latency_p95_seconds{version}, with one
// sample per second for BLOCKS blocks of BLOCK_SECONDS; within a block the value stays the
// same, so a range query with a step of BLOCK_SECONDS takes one value per block wherever
// its steps fall (with a lookback of 1s: no value after the last sample).

export const METRIC = "model_request_latency_p95_seconds";
export const BLOCKS = 60;
export const BLOCK_SECONDS = 10;

/** The stable version's p95 latency in block j: 95 to 105 ms. */
export const baseline = (j: number): number => 0.1 + (((j * 7) % 11) - 5) / 1000;

const range = (n: number) => Array.from({ length: n }, (_, j) => j);

/** Versions and their values per block (undefined: no sample in that block). */
export function latencyProfiles(): Record<string, (number | undefined)[]> {
  const stable = range(BLOCKS).map(baseline);
  // Most blocks 10% slower, one in five much faster: the same mean as the stable version.
  const outlier = (j: number) => j % 5 === 0;
  const bulk = range(BLOCKS).map((j) => baseline(j) * 1.1);
  const sum = (v: number[]) => v.reduce((a, b) => a + b, 0);
  const bulkSum = sum(bulk.filter((_, j) => !outlier(j)));
  const outliers = range(BLOCKS).filter(outlier).length;
  const low = (sum(stable) - bulkSum) / outliers;
  return {
    "1.0.0": stable,
    // 30% above the stable version.
    "2.0.0": stable.map((v) => v * 1.3),
    // 3% above: within 5%.
    "2.1.0": stable.map((v) => v * 1.03),
    "2.2.0": bulk.map((v, j) => (outlier(j) ? low : v)),
    // Only the last three blocks: too few samples for a judge.
    "2.3.0": stable.map((v, j) => (j >= BLOCKS - 3 ? v : undefined)),
  };
}

/** The mean of a version's samples (every block has as many samples). */
export function meanOf(values: (number | undefined)[]): number {
  const present = values.filter((v): v is number => v !== undefined);
  return present.reduce((a, b) => a + b, 0) / present.length;
}

/** OpenMetrics text of every profile, its last sample at `endS` (unix seconds, whole). */
export function latencyOpenMetrics(endS: number): string {
  const lines = [`# HELP ${METRIC} p95 latency of the model server.`, `# TYPE ${METRIC} gauge`];
  const startS = endS - BLOCKS * BLOCK_SECONDS + 1;
  for (const [version, values] of Object.entries(latencyProfiles())) {
    for (let t = startS; t <= endS; t++) {
      const value = values[Math.floor((t - startS) / BLOCK_SECONDS)];
      if (value !== undefined) lines.push(`${METRIC}{version="${version}"} ${value} ${t}`);
    }
  }
  lines.push("# EOF", "");
  return lines.join("\n");
}
