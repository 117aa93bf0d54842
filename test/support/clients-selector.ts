// What the clients' Service NAME selected, moment by moment: a test samples its selector
// (kubectl get) until it stops, to see whether and when a version got the clients (the
// blue/green switch, or none before a check failed).
import { kubectlJson } from "./kube.ts";

/** How a selector without mlops.dev/version (a canary's: every version) is recorded. */
export const ANY_VERSION = "(any)";

export interface SelectorSamples {
  /**
   * When (Date.now()) the Service was first and last seen selecting each version
   * (ANY_VERSION for a selector without one), in the order the versions were first seen.
   */
  readonly selected: Map<string, { first: number; last: number }>;
  /** The versions seen, in that order. */
  versions(): string[];
  /** Ends the sampling once the sample under way is done. */
  stop(): Promise<void>;
}

/**
 * The version Service `name` in namespace `ns` selects now: its selector's
 * mlops.dev/version, ANY_VERSION when it has none.
 */
export async function clientsSelectedVersion(ns: string, name: string): Promise<string> {
  const svc = await kubectlJson<{ spec: { selector?: Record<string, string> } }>([
    "-n",
    ns,
    "get",
    "service",
    name,
  ]);
  return svc.spec.selector?.["mlops.dev/version"] ?? ANY_VERSION;
}

/**
 * Samples the selector of Service `name` in namespace `ns` every `intervalMs` (default 100)
 * until stop(); `alongside` runs after each sample (something else to sample at the same pace).
 */
export function sampleClientsSelector(
  ns: string,
  name: string,
  options: { intervalMs?: number; alongside?: () => Promise<void> } = {},
): SelectorSamples {
  const selected = new Map<string, { first: number; last: number }>();
  let running = true;
  const loop = (async () => {
    while (running) {
      const v = await clientsSelectedVersion(ns, name).catch(() => undefined);
      if (v !== undefined) {
        const now = Date.now();
        selected.set(v, { first: selected.get(v)?.first ?? now, last: now });
      }
      await options.alongside?.();
      await new Promise((r) => setTimeout(r, options.intervalMs ?? 100));
    }
  })();
  return {
    selected,
    versions: () => [...selected.keys()],
    stop: async () => {
      running = false;
      await loop;
    },
  };
}
