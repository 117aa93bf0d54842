// Mocha reporter of the tests against the real control plane: mocha's spec output, then
// where the time went: each file's wall time (its hooks included) and the slowest tests.
// MRO_TEST_TIMINGS=FILE also writes the figures as JSON there, for test/cluster/run-e2e.ts,
// which prints them for all its workers' files at once (and then this reporter does not).
import { writeFileSync } from "node:fs";
import { relative } from "node:path";
import Mocha from "mocha";

const {
  EVENT_SUITE_BEGIN,
  EVENT_SUITE_END,
  EVENT_TEST_END,
  EVENT_TEST_PASS,
  EVENT_TEST_FAIL,
  EVENT_RUN_END,
} = Mocha.Runner.constants;

export interface FileTiming {
  file: string;
  seconds: number;
  passed: number;
  /** Failed tests and hooks. */
  failed: number;
}

export interface TestTiming {
  file: string;
  title: string;
  seconds: number;
}

export interface Timings {
  files: FileTiming[];
  tests: TestTiming[];
}

const SLOWEST_TESTS = 10;

class TimingReporter extends Mocha.reporters.Spec {
  constructor(runner: Mocha.Runner, options?: Mocha.MochaOptions) {
    super(runner, options);
    const root = process.cwd();
    const fileOf = (s: Mocha.Suite | Mocha.Runnable) => (s.file ? relative(root, s.file) : "(no file)");
    const files = new Map<string, FileTiming & { startedAt: number }>();
    const tests: TestTiming[] = [];
    // A file's top-level suites run one after the other: its time runs from the first one's
    // start to the last one's end, before/after hooks included.
    runner.on(EVENT_SUITE_BEGIN, (suite: Mocha.Suite) => {
      if (!suite.parent?.root) return;
      const file = fileOf(suite);
      const f = files.get(file);
      if (f) f.startedAt = Date.now();
      else files.set(file, { file, seconds: 0, passed: 0, failed: 0, startedAt: Date.now() });
    });
    runner.on(EVENT_SUITE_END, (suite: Mocha.Suite) => {
      if (!suite.parent?.root) return;
      const f = files.get(fileOf(suite));
      if (f) f.seconds += (Date.now() - f.startedAt) / 1000;
    });
    runner.on(EVENT_TEST_PASS, (test: Mocha.Test) => {
      const f = files.get(fileOf(test));
      if (f) f.passed += 1;
    });
    // A failing hook counts too: it fails the file as a failing test does.
    runner.on(EVENT_TEST_FAIL, (test: Mocha.Runnable) => {
      const f = files.get(fileOf(test));
      if (f) f.failed += 1;
    });
    runner.on(EVENT_TEST_END, (test: Mocha.Test) => {
      tests.push({ file: fileOf(test), title: test.fullTitle(), seconds: (test.duration ?? 0) / 1000 });
    });
    runner.once(EVENT_RUN_END, () => {
      const timings: Timings = {
        files: [...files.values()]
          .map(({ file, seconds, passed, failed }) => ({ file, seconds: round(seconds), passed, failed }))
          .sort((a, b) => b.seconds - a.seconds),
        tests: tests.sort((a, b) => b.seconds - a.seconds).map((t) => ({ ...t, seconds: round(t.seconds) })),
      };
      if (!process.env.MRO_E2E_WORKER) printTimings(timings);
      const out = process.env.MRO_TEST_TIMINGS;
      if (out) writeFileSync(out, JSON.stringify(timings, null, 2) + "\n");
    });
  }
}

const round = (s: number) => Math.round(s * 10) / 10;

function printTimings({ files, tests }: Timings): void {
  if (files.length === 0) return;
  const total = files.reduce((t, f) => t + f.seconds, 0);
  console.log(`\n  time per file (${round(total)} s in all):`);
  for (const f of files)
    console.log(
      `  ${f.seconds.toFixed(1).padStart(7)} s  ${String(f.passed + f.failed).padStart(3)} tests  ${f.file}`,
    );
  console.log(`\n  slowest tests:`);
  for (const t of tests.slice(0, SLOWEST_TESTS))
    console.log(`  ${t.seconds.toFixed(1).padStart(7)} s  ${t.title}`);
}

export default TimingReporter;
