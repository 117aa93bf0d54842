// Preloaded into the operator process by the benchmark only (node --expose-gc --import):
// on SIGUSR2 it runs a full garbage collection and then writes how many it ran to the
// file named by MRO_BENCH_GC_FILE, so the benchmark reads the live heap (the operator's
// /metrics) right after it. Nothing else in the operator changes. Plain JavaScript, so
// that it does not itself load Node's TypeScript stripper (about 20 MiB of RSS) into an
// operator run from its compiled JavaScript (--operator-entry dist/main.js).
import { writeFileSync } from "node:fs";
import process from "node:process";

const file = process.env.MRO_BENCH_GC_FILE;
const gc = globalThis.gc;
let count = 0;
if (file && gc) {
  process.on("SIGUSR2", () => {
    gc();
    gc();
    count++;
    writeFileSync(file, String(count));
  });
}
