// The lines that say why a file failed, for the end of a run: a CI log is often read from
// its tail, where the file's own output (printed when it ended) is long gone.

/** Most lines of one file's excerpt. */
export const EXCERPT_LINES = 14;

// Terminal colours, which mocha adds when its output is a terminal.
// eslint-disable-next-line no-control-regex
const COLOURS = /\x1b\[[0-9;]*m/g;

// A stack frame: "at" and a place, "(file:line:col)", "file:line:col", "(<anonymous>)" or
// "(native)". Not any line that starts with "at": a test's title may ("at setWeight 0 …").
const STACK_FRAME = /^\s+at \S.*(:\d+:\d+\)?|\(<anonymous>\)|\(native\))$/;

/**
 * What mocha printed after "N failing" (each failing test's title and its error), without
 * blank lines and stack frames, at most `max` lines; the last lines when mocha never got
 * there (a file stopped by its time limit, a hook that crashed the process).
 */
export function failureExcerpt(output: string, max = EXCERPT_LINES): string[] {
  const lines = output
    .replace(COLOURS, "")
    .split("\n")
    .map((l) => l.trimEnd());
  const start = lines.findIndex((l) => /^\s*\d+ failing\b/.test(l));
  const kept = (start >= 0 ? lines.slice(start + 1) : lines).filter(
    (l) => l.trim() !== "" && !STACK_FRAME.test(l),
  );
  if (start < 0) return kept.slice(-max);
  return kept.length > max
    ? [...kept.slice(0, max - 1), `… ${kept.length - max + 1} more lines in its output above`]
    : kept;
}
