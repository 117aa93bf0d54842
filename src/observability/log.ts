// Structured logging: one winston logger for the process, JSON lines by default (one
// object per line: ts, level, msg, then the fields), or human-readable text. Components
// log through child loggers that carry the context of the work being done:
// {controller, key, namespace, name}.
import winston from "winston";

export const LOG_LEVELS = ["error", "warn", "info", "debug"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export const LOG_FORMATS = ["json", "text"] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

export type Logger = winston.Logger;

/**
 * What generic components (informers, leader election) need of a logger. A winston
 * Logger is one; so is `console`.
 */
export interface LogSink {
  error(message: string, fields?: Record<string, unknown>): unknown;
  warn(message: string, fields?: Record<string, unknown>): unknown;
  info(message: string, fields?: Record<string, unknown>): unknown;
  debug(message: string, fields?: Record<string, unknown>): unknown;
}

/** A LogSink that drops everything. */
export const discardLogs: LogSink = { error() {}, warn() {}, info() {}, debug() {} };

/** Context fields of a child logger. */
export interface LogContext {
  /** The controller doing the work, e.g. "modeldeployment". */
  controller?: string;
  /** The work-queue key, `namespace/name`. */
  key?: string;
  namespace?: string;
  name?: string;
  [field: string]: unknown;
}

export interface LoggerOptions {
  level?: LogLevel;
  format?: LogFormat;
  /** Where lines go (default: standard error). */
  stream?: NodeJS.WritableStream;
  /** The time of each line (default: the system clock). */
  now?: () => Date;
}

const LEVEL_PRIORITY: Record<LogLevel, number> = { error: 0, warn: 1, info: 2, debug: 3 };
/** winston's own bookkeeping keys on a log record; never printed as fields. */
const RESERVED = new Set(["level", "message", "ts"]);

export function createLogger(options: LoggerOptions = {}): Logger {
  const now = options.now ?? (() => new Date());
  const stamp = winston.format((info) => {
    info.ts = now().toISOString();
    return info;
  });
  const line = options.format === "text" ? formatText : formatJson;
  return winston.createLogger({
    levels: LEVEL_PRIORITY,
    level: options.level ?? "info",
    format: winston.format.combine(stamp(), winston.format.printf(line)),
    transports: [new winston.transports.Stream({ stream: options.stream ?? process.stderr })],
    exitOnError: false,
  });
}

/** A child logger with context fields; fields that are undefined are left out. */
export function childLogger(logger: Logger, context: LogContext): Logger {
  const fields: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(context)) if (v !== undefined) fields[k] = v;
  return logger.child(fields);
}

/**
 * The logger of one reconcile: controller, key, and the namespace and name the key
 * stands for (`namespace/name`, or `name` for cluster-scoped objects).
 */
export function loggerForKey(logger: Logger, controller: string, key: string): Logger {
  const slash = key.indexOf("/");
  const namespace = slash >= 0 ? key.slice(0, slash) : undefined;
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  return childLogger(logger, { controller, key, namespace, name });
}

/** Parses a level name; undefined when it is not one of LOG_LEVELS. */
export function parseLogLevel(value: string): LogLevel | undefined {
  return (LOG_LEVELS as readonly string[]).includes(value) ? (value as LogLevel) : undefined;
}

type Info = winston.Logform.TransformableInfo;

function fieldsOf(info: Info): [string, unknown][] {
  return Object.entries(info)
    .filter(([k]) => !RESERVED.has(k))
    .map(([k, v]) => [k, plain(v)]);
}

/** Errors become their message (and stack at debug level is the caller's business). */
function plain(value: unknown): unknown {
  if (value instanceof Error) return value.message;
  return value;
}

function messageOf(info: Info): string {
  const m = info.message;
  if (typeof m === "string") return m;
  if (m instanceof Error) return m.message;
  return JSON.stringify(m) ?? "";
}

function formatJson(info: Info): string {
  const record: Record<string, unknown> = { ts: info.ts, level: info.level, msg: messageOf(info) };
  for (const [k, v] of fieldsOf(info)) if (!(k in record)) record[k] = v;
  return JSON.stringify(record, (_k, v: unknown) => (typeof v === "bigint" ? String(v) : v));
}

function formatText(info: Info): string {
  const parts = [String(info.ts), info.level.toUpperCase().padEnd(5), messageOf(info)];
  for (const [k, v] of fieldsOf(info)) parts.push(`${k}=${textValue(v)}`);
  return parts.join(" ");
}

function textValue(v: unknown): string {
  const s = typeof v === "string" ? v : (JSON.stringify(v) ?? String(v));
  return /^[^\s"=]+$/.test(s) ? s : JSON.stringify(s);
}
