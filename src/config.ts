// The operator's configuration: command-line flags (controller-runtime's names) and a few
// environment variables, parsed and validated into one typed object. Anything invalid is
// a ConfigError whose message says which flag, what was given and what is accepted; main
// prints it with the usage and exits with code 2.
//
// The parts are in config/: the flag table (flags.ts), the help text (usage.ts), the value
// checkers (values.ts) and one parse function per flag group (controller-flags.ts,
// check-flags.ts).
import {
  parseCheckBudgetFlags,
  parseCheckConditionFlags,
  parseCheckNetworkFlags,
  parseCheckPolicyFlags,
  parseCheckPromqlFlags,
  parseCheckCredentialFlags,
} from "./config/check-flags.ts";
import {
  parseApiClientFlags,
  parseLeaderElectionFlags,
  parseMetricsSecurityFlags,
  parseReconcileFlags,
  parseServerFlags,
  parseShardFlags,
} from "./config/controller-flags.ts";
import { envFlags, parseFlags, type FlagValue } from "./config/flags.ts";
import { parseNotificationFlags } from "./config/notification-flags.ts";
import type { Config } from "./config/types.ts";

export { DEFAULTS, ENV_PREFIX, envName } from "./config/flags.ts";
export type { BindAddress, Config } from "./config/types.ts";
export { usage } from "./config/usage.ts";
export { ConfigError, parseBindAddress } from "./config/values.ts";

/** Parses flags (process.argv.slice(2)) and environment; throws ConfigError on anything invalid. */
export function parseConfig(argv: readonly string[], env: Record<string, string | undefined> = {}): Config {
  const values = parseFlags([...envFlags(env), ...argv]);
  const flag: FlagValue = (name) => {
    const v = values[name];
    return typeof v === "string" ? v : undefined;
  };
  // The groups run in this order so that, of several invalid flags, the same one is reported first.
  return {
    help: values.help === true,
    ...parseServerFlags(flag),
    ...parseMetricsSecurityFlags(flag, values["metrics-secure"] === true),
    ...parseLeaderElectionFlags(flag, values["leader-elect"] === true, env),
    ...parseReconcileFlags(flag, env),
    ...parseShardFlags(flag),
    ...parseApiClientFlags(flag),
    ...parseCheckNetworkFlags(flag),
    ...parseCheckConditionFlags(flag),
    ...parseCheckBudgetFlags(flag),
    ...parseCheckPolicyFlags(flag),
    ...parseCheckPromqlFlags(flag),
    ...parseCheckCredentialFlags(flag),
    ...parseNotificationFlags(flag),
  };
}
