// Installs the loopback guard in the process that loads it: mocha (first in
// .mocharc.*.json's "require", so before the global fixture starts the control plane)
// and the operators the tests and the playground start (node --import). For mocha it
// also brings the root hooks that fail a test in which a connection was refused.
import { installLoopbackGuard } from "./loopback-guard.ts";

installLoopbackGuard();

export { mochaHooks } from "./loopback-guard.ts";
