// PURE: the HTTP request of one notification in each format a destination can take. Every
// field comes from the pending notification in status (bounded there: a message of at most
// 1024 characters, a check value of at most 256), so a payload is small by construction;
// MAX_PAYLOAD_BYTES is the hard limit on top. Text a ModelDeployment's author can influence
// (messages, versions, check names) is escaped where the format gives it meaning (Slack's
// mrkdwn: `<!channel>`, links), so a tenant cannot mention a whole channel.
//
// - webhook: one JSON object; header Idempotency-Key carries the id.
// - cloudevents: CloudEvents 1.0 over HTTP, binary mode by default (attributes in ce-*
//   headers, the JSON object as the body) or structured mode (application/cloudevents+json).
// - slack: an incoming-webhook message: `text` (the notification's one-line summary, also
//   what Slack shows where blocks cannot be shown) and Block Kit blocks.
// - teams: a Microsoft Teams incoming-webhook message: one Adaptive Card attachment.
import type { ContextBlock, HeaderBlock, KnownBlock, SectionBlock } from "@slack/types";
import type { PendingNotification } from "../plan/notifications.ts";
import type { CloudEventsMode, NotificationFormat } from "./destinations.ts";

/** The hard limit on a request body. */
export const MAX_PAYLOAD_BYTES = 16 * 1024;

export interface NotificationSubject {
  namespace: string;
  name: string;
  uid: string;
}

export interface NotificationRequest {
  headers: Record<string, string>;
  body: string;
}

/** The JSON object of the webhook and CloudEvents formats. */
export interface NotificationData {
  id: string;
  event: string;
  time: string;
  modelDeployment: NotificationSubject;
  summary: string;
  version?: string;
  revision?: string;
  stableVersion?: string;
  step?: number;
  steps?: number;
  weight?: number;
  reason?: string;
  message?: string;
  check?: { name?: string; value?: string };
}

export const CLOUDEVENT_TYPE_PREFIX = "dev.mlops.modeldeployment.";

/** The CloudEvents source of a ModelDeployment: its API path. */
export function cloudEventSource(s: NotificationSubject): string {
  return `/apis/mlops.dev/v1alpha1/namespaces/${s.namespace}/modeldeployments/${s.name}`;
}

/** One line that says what happened. */
export function summaryOf(n: PendingNotification, s: NotificationSubject): string {
  const who = `${s.namespace}/${s.name}`;
  const v = n.version ?? "?";
  switch (n.event) {
    case "RolloutStarted":
      return `${who}: rollout of ${v} started${n.stableVersion ? ` (stable ${n.stableVersion})` : ""}`;
    case "StepStarted":
      return `${who}: ${v} at step ${(n.step ?? 0) + 1} of ${n.steps ?? "?"}${n.weight !== undefined ? ` (${n.weight}% of traffic)` : ""}`;
    case "AwaitingPromotion":
      return `${who}: ${v} waits for a promote`;
    case "Promoted":
      return `${who}: ${v} promoted`;
    case "RolledBack": {
      const c = n.check
        ? ` after check ${n.check.name}${n.check.value !== undefined ? ` = ${n.check.value}` : ""} failed`
        : "";
      return `${who}: ${v} rolled back${c}${n.reason && !n.check ? ` (${n.reason})` : ""}`;
    }
    case "Aborted":
      return `${who}: rollout of ${v} aborted`;
    case "Stalled":
      return `${who}: stalled (${n.reason ?? "unknown"})`;
    default:
      return `${who}: ${n.event}`;
  }
}

export function notificationData(n: PendingNotification, s: NotificationSubject): NotificationData {
  const d: NotificationData = {
    id: n.id,
    event: n.event,
    time: n.time,
    modelDeployment: { namespace: s.namespace, name: s.name, uid: s.uid },
    summary: summaryOf(n, s),
  };
  for (const k of [
    "version",
    "revision",
    "stableVersion",
    "step",
    "steps",
    "weight",
    "reason",
    "message",
  ] as const)
    if (n[k] !== undefined) (d as unknown as Record<string, unknown>)[k] = n[k];
  if (n.check) d.check = { ...n.check };
  return d;
}

export interface FormatOptions {
  format: NotificationFormat;
  cloudEventsMode?: CloudEventsMode;
}

/** The request for `n` in the destination's format; its body is at most MAX_PAYLOAD_BYTES. */
export function buildRequest(
  n: PendingNotification,
  s: NotificationSubject,
  o: FormatOptions,
): NotificationRequest {
  let req = build(n, s, o);
  // Cannot happen with the bounds of status; a last guard that keeps the limit whatever comes.
  if (Buffer.byteLength(req.body) > MAX_PAYLOAD_BYTES)
    req = build(
      {
        ...n,
        message: n.message?.slice(0, 200),
        check: n.check && { name: n.check.name?.slice(0, 200), value: n.check.value?.slice(0, 200) },
      },
      s,
      o,
    );
  if (Buffer.byteLength(req.body) > MAX_PAYLOAD_BYTES)
    throw new Error(`notification ${n.id} is larger than ${MAX_PAYLOAD_BYTES} bytes`);
  return req;
}

function build(n: PendingNotification, s: NotificationSubject, o: FormatOptions): NotificationRequest {
  const data = notificationData(n, s);
  switch (o.format) {
    case "webhook":
      return {
        headers: { "content-type": "application/json", "idempotency-key": n.id },
        body: JSON.stringify(data),
      };
    case "cloudevents":
      return cloudEvent(data, s, o.cloudEventsMode ?? "binary");
    case "slack":
      return { headers: { "content-type": "application/json" }, body: JSON.stringify(slackMessage(data)) };
    case "teams":
      return { headers: { "content-type": "application/json" }, body: JSON.stringify(teamsMessage(data)) };
  }
}

function cloudEvent(
  data: NotificationData,
  s: NotificationSubject,
  mode: CloudEventsMode,
): NotificationRequest {
  const attributes = {
    specversion: "1.0",
    id: data.id,
    source: cloudEventSource(s),
    type: `${CLOUDEVENT_TYPE_PREFIX}${data.event}`,
    time: data.time,
    ...(data.version !== undefined ? { subject: data.version } : {}),
    datacontenttype: "application/json",
  };
  if (mode === "structured")
    return {
      headers: { "content-type": "application/cloudevents+json; charset=utf-8" },
      body: JSON.stringify({ ...attributes, data }),
    };
  const headers: Record<string, string> = { "content-type": "application/json" };
  for (const [k, v] of Object.entries(attributes)) if (k !== "datacontenttype") headers[`ce-${k}`] = v;
  return { headers, body: JSON.stringify(data) };
}

/** Slack's mrkdwn gives &, < and > a meaning (mentions, links): escaped as Slack documents. */
export function escapeMrkdwn(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

const clip = (text: string, max: number) => (text.length <= max ? text : `${text.slice(0, max - 1)}…`);

/** Facts shown in Slack's fields and Teams' FactSet. */
function factsOf(d: NotificationData): { title: string; value: string }[] {
  const facts: { title: string; value: string }[] = [
    { title: "ModelDeployment", value: `${d.modelDeployment.namespace}/${d.modelDeployment.name}` },
    { title: "Event", value: d.event },
  ];
  if (d.version !== undefined) facts.push({ title: "Version", value: d.version });
  if (d.stableVersion !== undefined) facts.push({ title: "Stable version", value: d.stableVersion });
  if (d.step !== undefined) facts.push({ title: "Step", value: `${d.step + 1} of ${d.steps ?? "?"}` });
  if (d.weight !== undefined) facts.push({ title: "Weight", value: `${d.weight}%` });
  if (d.check?.name !== undefined) facts.push({ title: "Failed check", value: d.check.name });
  if (d.check?.value !== undefined) facts.push({ title: "Check value", value: d.check.value });
  if (d.reason !== undefined) facts.push({ title: "Reason", value: d.reason });
  return facts;
}

/** Slack's incoming-webhook message, typed with Slack's own Block Kit types. */
export interface SlackMessage {
  text: string;
  blocks: KnownBlock[];
}

export function slackMessage(d: NotificationData): SlackMessage {
  const header: HeaderBlock = { type: "header", text: { type: "plain_text", text: clip(d.summary, 150) } };
  const facts: SectionBlock = {
    type: "section",
    // Block Kit: at most 10 fields of at most 2000 characters.
    fields: factsOf(d)
      .slice(0, 10)
      .map((f) => ({ type: "mrkdwn" as const, text: clip(`*${f.title}*\n${escapeMrkdwn(f.value)}`, 2000) })),
  };
  const blocks: KnownBlock[] = [header, facts];
  if (d.message !== undefined) {
    const message: SectionBlock = {
      type: "section",
      text: { type: "mrkdwn", text: clip(escapeMrkdwn(d.message), 3000) },
    };
    blocks.push(message);
  }
  const context: ContextBlock = {
    type: "context",
    elements: [{ type: "mrkdwn", text: escapeMrkdwn(`${d.time} · id ${d.id}`) }],
  };
  blocks.push(context);
  return { text: escapeMrkdwn(d.summary), blocks };
}

export const ADAPTIVE_CARD_SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json";
export const ADAPTIVE_CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive";

/** Teams' incoming-webhook message: one Adaptive Card (TextBlocks and a FactSet only). */
export function teamsMessage(d: NotificationData) {
  const bad = d.event === "RolledBack" || d.event === "Aborted" || d.event === "Stalled";
  const body: Record<string, unknown>[] = [
    {
      type: "TextBlock",
      text: d.summary,
      weight: "bolder",
      size: "medium",
      wrap: true,
      ...(bad ? { color: "attention" } : {}),
    },
  ];
  if (d.message !== undefined) body.push({ type: "TextBlock", text: d.message, wrap: true });
  body.push({ type: "FactSet", facts: factsOf(d) });
  body.push({ type: "TextBlock", text: `${d.time} · id ${d.id}`, isSubtle: true, size: "small", wrap: true });
  return {
    type: "message",
    summary: d.summary,
    attachments: [
      {
        contentType: ADAPTIVE_CARD_CONTENT_TYPE,
        contentUrl: null,
        content: { $schema: ADAPTIVE_CARD_SCHEMA, type: "AdaptiveCard", version: "1.4", body },
      },
    ],
  };
}
