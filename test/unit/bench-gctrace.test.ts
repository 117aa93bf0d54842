// The benchmark's reading of the control plane's garbage collections (bench/gctrace.ts).
import { expect } from "chai";
import { gcDuring, parseGcTrace, processStartMs } from "../../bench/gctrace.ts";

// Lines as Go's runtime writes them with GODEBUG=gctrace=1, among a component's own log lines.
const LOG = [
  "I1202 06:00:00.000000       1 server.go:100] Serving securely on 127.0.0.1:6443",
  "gc 1 @0.012s 2%: 0.026+0.39+0.10 ms clock, 0.21+0.16/0.33/0.31+0.80 ms cpu, 4->4->0 MB, 4 MB goal, 0 MB stacks, 0 MB globals, 8 P",
  "gc 41 @100.500s 3%: 0.5+1800+1.5 ms clock, 1.0+300/1700/0+3.0 ms cpu, 1900->2000->950 MB, 1950 MB goal, 1 MB stacks, 0 MB globals, 2 P",
  "gc 42 @130.000s 3%: 0.2+200+0.8 ms clock, 0.4+50/190/0+1.6 ms cpu, 1800->1850->900 MB, 1900 MB goal, 1 MB stacks, 0 MB globals, 2 P",
  "W1202 06:02:30.000000       1 cacher.go:200] Terminating all watchers",
].join("\n");

describe("bench gctrace", () => {
  const start = 1_000_000;

  it("reads each cycle's start, wall-clock time and heap sizes, and nothing else", () => {
    const cycles = parseGcTrace(LOG, start);
    expect(cycles).to.have.length(3);
    expect(cycles[1]).to.deep.equal({
      startedAtMs: start + 100_500,
      wallMs: 1802,
      heapStartMb: 1900,
      heapEndMb: 2000,
      liveMb: 950,
      goalMb: 1950,
    });
  });

  it("counts the cycles that overlapped a window, even one that started before it", () => {
    const cycles = parseGcTrace(LOG, start);
    // From 101 s to 131 s: cycle 41 (100.5 s to 102.3 s) ran into it, cycle 42 started in it.
    const both = gcDuring(cycles, start + 101_000, start + 131_000);
    expect(both).to.deep.equal({ cycles: 2, wallMs: 2003, longestMs: 1802, liveMb: 900, goalMb: 1900 });
    // Between the two cycles: none, and the live heap is the one the last cycle left.
    expect(gcDuring(cycles, start + 103_000, start + 129_000)).to.deep.equal({
      cycles: 0,
      wallMs: 0,
      longestMs: 0,
      liveMb: 950,
      goalMb: 1950,
    });
  });

  it("dates a running process from /proc", () => {
    const started = processStartMs(process.pid);
    const uptime = process.uptime() * 1000;
    // Clock ticks are 10 ms; Node's uptime starts a little after the process.
    expect(Date.now() - started).to.be.within(uptime - 50, uptime + 2000);
  });
});
