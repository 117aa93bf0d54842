// Keeps V8's young generation at its initial size, for the life of the process.
//
// V8 doubles the young generation's semi-spaces after scavenges that keep much alive, up
// to 16 MiB each, and does not give the pages back: one burst of allocation (compiling the
// CRD schema at start, a relist) leaves about 14 MiB of resident memory in a new space that
// holds about 1 MiB of live objects. For an operator whose steady state is a watch that
// delivers a few events a second, that is a tenth of its memory at rest for nothing.
// Measured with the operator's import graph (`node --expose-gc`, after a full GC): RSS 93
// MiB with V8's default growth, 84 MiB with growth off; new space 14.3 MiB -> 1.0 MiB of
// physical pages. The price is more scavenges while a burst lasts (each copies only what
// is still alive, which for watch events and reconciles is little): docs/benchmarks.md has
// the convergence CPU before and after.
//
// `--semi-space-growth-factor` is a V8 flag, read at every growth decision, so setting it
// here (before the other modules are evaluated: main.ts imports this first) takes effect
// for what follows. test/unit/young-generation.test.ts fails if a Node.js upgrade stops
// honouring it.
import { setFlagsFromString } from "node:v8";

setFlagsFromString("--semi-space-growth-factor=1");
