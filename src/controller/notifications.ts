// What a reconcile does about notifications (spec.notifications): it reads the transitions
// off the status it planned (plan/notifications.ts), adds them to the outbox in that same
// status with the deliveries the notifier settled taken out, and turns the notifier's
// failures into Events. The notifier (notify/notifier.ts) is handed the status once it is
// written; nothing here waits for a destination.
import { Reasons } from "../api/reasons.ts";
import type { ModelDeployment } from "../api/types.ts";
import type { DestinationRegistry } from "../notify/destinations.ts";
import type { Notifier } from "../notify/notifier.ts";
import {
  computeTransitions,
  planOutbox,
  subscribersOf,
  type PendingNotification,
} from "../plan/notifications.ts";
import type { Plan, PlannedEvent } from "../plan/types.ts";
import type { SpecWarning } from "../plan/warnings.ts";

export interface NotificationWiring {
  notifier: Pick<Notifier, "offer" | "settled" | "takeReports" | "forget">;
  destinations: DestinationRegistry;
  /** A notification pushed out of a full outbox, by destination. */
  countDropped?: (destination: string) => void;
}

/** Subscriptions the platform does not allow: warnings, nothing is sent to them. */
export function computeNotificationWarnings(
  md: ModelDeployment,
  destinations: DestinationRegistry,
): SpecWarning[] {
  const ns = md.metadata?.namespace ?? "";
  const out: SpecWarning[] = [];
  (md.spec.notifications ?? []).forEach((s, i) => {
    const verdict = destinations.judge(s.destination, ns);
    if (!verdict.allowed)
      out.push({
        path: `spec.notifications[${i}].destination`,
        message: `${verdict.reason}; nothing is sent to it`,
      });
  });
  return out;
}

/** The plan with status.pendingNotifications brought up to date and the notifier's failures as Events. */
export function withNotifications(
  key: string,
  p: Plan,
  md: ModelDeployment,
  n: NotificationWiring,
  nowIso: string,
): Plan {
  const ns = md.metadata?.namespace ?? "";
  const transitions = computeTransitions(md, md.status, p.status, nowIso);
  const subscribers = subscribersOf(md, (d) => n.destinations.judge(d, ns).allowed);
  const previous: readonly PendingNotification[] | undefined = md.status?.pendingNotifications;
  const outbox = planOutbox(previous, transitions, subscribers, n.notifier.settled(key));
  const status = { ...p.status };
  if (outbox.pending.length > 0) status.pendingNotifications = outbox.pending;
  else delete status.pendingNotifications;
  const events: PlannedEvent[] = [];
  for (const r of n.notifier.takeReports(key))
    events.push({
      type: "Warning",
      reason: r.kind === "failed" ? Reasons.NotificationFailed : Reasons.NotificationDropped,
      message: r.message,
    });
  for (const o of outbox.overflow) {
    for (const d of o.destinations) n.countDropped?.(d);
    events.push({
      type: "Warning",
      reason: Reasons.NotificationDropped,
      message: `notification ${o.event} (id ${o.id}) to ${o.destinations.join(", ")} was given up: more than ${outbox.pending.length} notifications wait to be delivered`,
    });
  }
  return events.length > 0 ? { ...p, status, events: [...p.events, ...events] } : { ...p, status };
}
