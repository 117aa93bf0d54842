// Notification destinations, declared once by the platform (--notification-destinations-file,
// a ConfigMap mounted into the operator's pod), never by a tenant: a name, the format of the
// payload, where it goes, and which namespaces' ModelDeployments may subscribe. A webhook URL
// that carries a token (Slack's, Teams') is not written here: `urlFile` names a file mounted
// from a Secret the platform owns, read when a notification is sent (as the check credentials'
// files are, credential-files.ts), so the operator never reads a Secret through the API. Pure:
// parsing the file's text and judging a subscription.
import { absolutePath, entryNamespaces, isObj, parseNamedEntries } from "../health/platform-file.ts";

export const NOTIFICATION_FORMATS = ["webhook", "cloudevents", "slack", "teams"] as const;
export type NotificationFormat = (typeof NOTIFICATION_FORMATS)[number];

export const CLOUDEVENTS_MODES = ["binary", "structured"] as const;
export type CloudEventsMode = (typeof CLOUDEVENTS_MODES)[number];

export interface NotificationDestination {
  name: string;
  format: NotificationFormat;
  /** The URL as written (no secret in it); exactly one of url and urlFile. */
  url?: string;
  /** A file holding the URL (one line), mounted from a Secret. */
  urlFile?: string;
  /** A file holding a token, sent as `Authorization: Bearer <token>`. */
  bearerTokenFile?: string;
  /** Namespaces whose ModelDeployments may subscribe; "*" = every namespace. */
  namespaces: readonly string[];
  /** cloudevents: binary (attributes in ce-* headers, data as the body) or structured (one JSON envelope). */
  cloudEventsMode: CloudEventsMode;
  /** One attempt's time limit, ms. */
  timeoutMs: number;
  /** Attempts before the notification is given up on (with a NotificationDropped Event). */
  maxAttempts: number;
}

export const DEFAULT_TIMEOUT_MS = 5_000;
export const MAX_TIMEOUT_MS = 30_000;
export const DEFAULT_MAX_ATTEMPTS = 8;
export const MAX_ATTEMPTS = 20;

const KEYS = new Set([
  "name",
  "format",
  "url",
  "urlFile",
  "bearerTokenFile",
  "namespaces",
  "cloudEvents",
  "timeoutSeconds",
  "maxAttempts",
]);

/**
 * Reads the destinations file:
 *
 *   destinations:
 *     - name: team-a-slack
 *       format: slack                       # webhook | cloudevents | slack | teams
 *       urlFile: /etc/model-rollout-operator/notifications/team-a-slack/url
 *       namespaces: [team-a]                # or ["*"]
 *     - name: audit
 *       format: cloudevents
 *       url: http://audit.platform.svc:8080/events
 *       cloudEvents: { mode: structured }   # default binary
 *       timeoutSeconds: 5                   # 1..30, default 5
 *       maxAttempts: 8                      # 1..20, default 8
 *       namespaces: ["*"]
 *
 * Throws an Error naming the entry and the field that is wrong.
 */
export function parseDestinations(text: string): NotificationDestination[] {
  return parseNamedEntries(text, "destinations", "destination", KEYS, (entry, at, name) => {
    const format = entry.format;
    if (typeof format !== "string" || !(NOTIFICATION_FORMATS as readonly string[]).includes(format))
      throw new Error(`${at}.format must be one of ${NOTIFICATION_FORMATS.join(", ")}`);
    if ((entry.url === undefined) === (entry.urlFile === undefined))
      throw new Error(`${at}: exactly one of url and urlFile`);
    const dest: NotificationDestination = {
      name,
      format: format as NotificationFormat,
      namespaces: [],
      cloudEventsMode: "binary",
      timeoutMs: DEFAULT_TIMEOUT_MS,
      maxAttempts: DEFAULT_MAX_ATTEMPTS,
    };
    if (entry.url !== undefined) {
      if (typeof entry.url !== "string" || !isHttpUrl(entry.url))
        throw new Error(`${at}.url must be an http:// or https:// URL`);
      dest.url = entry.url;
    }
    for (const field of ["urlFile", "bearerTokenFile"] as const) {
      const path = absolutePath(entry[field], `${at}.${field}`);
      if (path !== undefined) dest[field] = path;
    }
    dest.namespaces = entryNamespaces(entry, at, "may subscribe");
    if (entry.cloudEvents !== undefined) {
      if (format !== "cloudevents") throw new Error(`${at}.cloudEvents is for format cloudevents`);
      const ce = entry.cloudEvents;
      if (!isObj(ce) || Object.keys(ce).some((k) => k !== "mode"))
        throw new Error(`${at}.cloudEvents must be a mapping with one key, mode`);
      if (typeof ce.mode !== "string" || !(CLOUDEVENTS_MODES as readonly string[]).includes(ce.mode))
        throw new Error(`${at}.cloudEvents.mode must be binary or structured`);
      dest.cloudEventsMode = ce.mode as CloudEventsMode;
    }
    if (entry.timeoutSeconds !== undefined) {
      const t = entry.timeoutSeconds;
      if (typeof t !== "number" || !(t >= 0.1 && t * 1000 <= MAX_TIMEOUT_MS))
        throw new Error(`${at}.timeoutSeconds must be a number from 0.1 to ${MAX_TIMEOUT_MS / 1000}`);
      dest.timeoutMs = Math.round(t * 1000);
    }
    if (entry.maxAttempts !== undefined) {
      const n = entry.maxAttempts;
      if (typeof n !== "number" || !Number.isInteger(n) || n < 1 || n > MAX_ATTEMPTS)
        throw new Error(`${at}.maxAttempts must be a whole number from 1 to ${MAX_ATTEMPTS}`);
      dest.maxAttempts = n;
    }
    return dest;
  });
}

export type SubscriptionVerdict =
  { allowed: true; destination: NotificationDestination } | { allowed: false; reason: string };

/** The platform's destinations and who may subscribe to them. */
export class DestinationRegistry {
  readonly #byName: Map<string, NotificationDestination>;

  constructor(destinations: readonly NotificationDestination[]) {
    this.#byName = new Map(destinations.map((d) => [d.name, d]));
  }

  get(name: string): NotificationDestination | undefined {
    return this.#byName.get(name);
  }

  /** May a ModelDeployment in `namespace` subscribe to destination `name`? */
  judge(name: string, namespace: string): SubscriptionVerdict {
    const d = this.#byName.get(name);
    if (!d) {
      const declared =
        this.#byName.size === 0 ? "the platform declares none" : "the platform does not declare it";
      return {
        allowed: false,
        reason: `notification destination ${name} is unknown: ${declared} (--notification-destinations-file)`,
      };
    }
    if (!d.namespaces.includes("*") && !d.namespaces.includes(namespace))
      return {
        allowed: false,
        reason: `notification destination ${name} may not be used in namespace ${namespace}: the platform allows it in ${d.namespaces.join(", ")}`,
      };
    return { allowed: true, destination: d };
  }
}

function isHttpUrl(text: string): boolean {
  try {
    const u = new URL(text);
    return u.protocol === "http:" || u.protocol === "https:";
  } catch {
    return false;
  }
}
