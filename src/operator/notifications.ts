// The notifier the reconciler is given: the platform's destinations (an empty list when
// --notification-destinations-file is not set, so notifications left in a status by an
// earlier configuration are given up with an Event instead of waiting forever), sent with
// the checks' fetch (the destination policy judges every resolved address) beside the queue.
import type { Config } from "../config.ts";
import type { WorkQueue } from "../controller/queue.ts";
import type { NotificationWiring } from "../controller/notifications.ts";
import { CredentialFiles } from "../health/credential-files.ts";
import type { DestinationPolicyJudge } from "../health/destination-policy.ts";
import type { CheckFetch } from "../health/dial.ts";
import { DestinationRegistry } from "../notify/destinations.ts";
import { Notifier } from "../notify/notifier.ts";
import type { OperatorMetrics } from "../observability/metrics.ts";

export function createNotifications(
  config: Config,
  policy: DestinationPolicyJudge,
  send: CheckFetch,
  metrics: OperatorMetrics,
  queue: WorkQueue,
): NotificationWiring & { notifier: Notifier } {
  const destinations = new DestinationRegistry(config.notificationDestinations);
  const notifier = new Notifier({
    destinations,
    policy,
    send,
    files: new CredentialFiles(),
    metrics,
    onChange: (key) => queue.add(key),
  });
  return { notifier, destinations, countDropped: (d) => metrics.countNotification(d, "dropped") };
}
