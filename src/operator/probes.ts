// The operator's probe and metrics servers: /metrics (optionally over HTTPS with reviewed
// tokens and a certificate that is renewed from its files), /healthz and /readyz.
import type { KubernetesObject } from "@kubernetes/client-node";
import type { Config } from "../config.ts";
import type { Informer } from "../controller/informer.ts";
import { kubeAccessReviewer } from "../kube/access-review.ts";
import type { KubeConnection } from "../kube/kubeconfig.ts";
import type { LeaderElector } from "../kube/leader.ts";
import { rateLimiter } from "../kube/ratelimit.ts";
import {
  inMemoryCertificate,
  readCertificateFiles,
  watchCertificateFiles,
} from "../observability/cert-files.ts";
import type { Logger } from "../observability/log.ts";
import { MetricsAuthorizer } from "../observability/metrics-auth.ts";
import type { OperatorMetrics } from "../observability/metrics.ts";
import {
  cachesSyncedCheck,
  leaderElectionCheck,
  startProbeServers,
  type ProbeServers,
} from "../observability/probes.ts";

/** The reviews of a secure metrics request take at most this long; then the answer is 503. */
const METRICS_REVIEW_TIMEOUT_MS = 10_000;

/**
 * --metrics-secure: the certificate (from the files, else self-signed) and the authorizer that
 * asks the API server about each new token. Reviews have a rate limit of their own, so that a
 * flood of tokens never takes the reconciles' share of the API budget.
 */
function secureMetrics(
  config: Config,
  kc: KubeConnection,
  onRequest: (method: string, code: number) => void,
  logger: Logger,
): { tls: { cert: string; key: string }; authorizer: MetricsAuthorizer } | undefined {
  if (!config.metricsSecure || !config.metricsBindAddress) return undefined;
  const tls =
    config.metricsCertFile && config.metricsKeyFile
      ? readCertificateFiles(config.metricsCertFile, config.metricsKeyFile)
      : inMemoryCertificate();
  if (!config.metricsCertFile) logger.info("serving metrics with a self-signed certificate made at start");
  const reviewer = kubeAccessReviewer(
    kc,
    { onRequest, rateLimiter: rateLimiter(10, 20) },
    METRICS_REVIEW_TIMEOUT_MS,
  );
  return { tls, authorizer: new MetricsAuthorizer({ reviewer }) };
}

/** Serves a renewed --metrics-cert-file from the next connection on; returns stop. */
function watchMetricsCertificate(
  config: Config,
  probes: ProbeServers,
  logger: Logger,
): (() => void) | undefined {
  const { metricsCertFile, metricsKeyFile } = config;
  if (!config.metricsSecure || !metricsCertFile || !metricsKeyFile) return undefined;
  return watchCertificateFiles(metricsCertFile, metricsKeyFile, (pair) => {
    if (pair instanceof Error) {
      logger.error("the metrics certificate files changed but cannot be used: keeping the old one", {
        err: pair.message,
      });
      return;
    }
    probes.setMetricsCertificate(pair);
    logger.info("serving metrics with the renewed certificate", { file: metricsCertFile });
  });
}

/**
 * /metrics (with --metrics-secure over HTTPS, for reviewed tokens only), /healthz and /readyz;
 * ready once the caches are synced and, with leader election, the Lease is read and renewed.
 */
export async function startProbes(
  config: Config,
  metrics: OperatorMetrics,
  informers: readonly Informer<KubernetesObject>[],
  elector: LeaderElector | undefined,
  logger: Logger,
  kc: KubeConnection,
  onRequest: (method: string, code: number) => void,
): Promise<ProbeServers> {
  const secure = secureMetrics(config, kc, onRequest, logger);
  const probes = await startProbeServers({
    metricsAddress: config.metricsBindAddress,
    metricsTls: secure?.tls,
    metricsAuthorizer: secure?.authorizer,
    healthAddress: config.healthProbeBindAddress,
    metrics,
    readiness: elector
      ? [cachesSyncedCheck(informers), leaderElectionCheck(elector)]
      : [cachesSyncedCheck(informers)],
    logger,
  });
  const stopWatching = watchMetricsCertificate(config, probes, logger);
  return {
    ...probes,
    close: async () => {
      stopWatching?.();
      await probes.close();
    },
  };
}
