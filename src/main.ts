// Wiring only: flags, logger, the operator, signals.
// First, so that it holds while the other modules load (they compile the CRD schema).
import "./observability/young-generation.ts";
import { ConfigError, parseConfig, usage } from "./config.ts";
import { createLogger } from "./observability/log.ts";
import { startOperator } from "./operator.ts";

let config;
try {
  config = parseConfig(process.argv.slice(2), process.env);
} catch (err) {
  if (err instanceof ConfigError) {
    process.stderr.write(`model-rollout-operator: ${err.message}\n\n${usage()}\n`);
    process.exit(2);
  }
  throw err;
}
if (config.help) {
  process.stdout.write(`${usage()}\n`);
  process.exit(0);
}

const logger = createLogger({ level: config.logLevel, format: config.logFormat });

// Running half-dead is worse than restarting: anything unhandled ends the process.
process.on("unhandledRejection", (reason) => {
  logger.error("unhandled rejection: exiting", {
    err: reason instanceof Error ? (reason.stack ?? reason.message) : String(reason),
  });
  process.exitCode = 1;
  setImmediate(() => process.exit(1));
});
process.on("uncaughtException", (err) => {
  logger.error("uncaught exception: exiting", { err: err.stack ?? err.message });
  process.exitCode = 1;
  setImmediate(() => process.exit(1));
});

logger.info("starting", {
  version: process.env.npm_package_version,
  node: process.version,
  watchNamespaces: config.watchNamespaces?.join(",") ?? "(all)",
  watchLabelSelector: config.watchLabelSelector?.text ?? "(all)",
  workers: config.workers,
  leaderElect: config.leaderElect,
});

let operator;
try {
  operator = await startOperator(config, logger);
} catch (err) {
  logger.error("could not start", { err: (err as Error).message });
  process.exit(1);
}

let stopping = false;
const shutdown = (signal: string) => {
  if (stopping) return;
  stopping = true;
  logger.info("shutting down: finishing the reconciles in flight", { signal });
  const force = setTimeout(() => {
    logger.error("shutdown took longer than 25s: exiting");
    process.exit(1);
  }, 25_000);
  force.unref();
  operator.stop().then(
    () => {
      logger.info("stopped");
      process.exit(0);
    },
    (err: unknown) => {
      logger.error("shutdown failed", { err: (err as Error).message });
      process.exit(1);
    },
  );
};
process.on("SIGTERM", () => shutdown("SIGTERM"));
process.on("SIGINT", () => shutdown("SIGINT"));

void operator.lostLeadership.then(() => {
  if (stopping) return;
  logger.error("exiting: no longer the leader or the controller stopped");
  process.exit(1);
});
