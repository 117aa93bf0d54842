// The value checkers every flag group uses: each throws a ConfigError that names the flag,
// what was given and what is accepted.
import { parseDuration } from "../plan/duration.ts";
import type { BindAddress } from "./types.ts";

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

/**
 * ":8080" (every interface), "127.0.0.1:8080", "[::1]:8080", "localhost:8080"; "0" is
 * disabled (undefined). Port 0 picks a free port.
 */
export function parseBindAddress(flagName: string, value: string): BindAddress | undefined {
  const text = value.trim();
  if (text === "0") return undefined;
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s[\]]*)):(\d{1,5})$/.exec(text);
  if (!m) {
    const hint = /^\d+$/.test(text) ? ` (did you mean ":${text}"?)` : "";
    throw new ConfigError(
      `${flagName}: "${value}" is not an address like ":8080" or "127.0.0.1:8080", or "0" to disable${hint}`,
    );
  }
  const port = Number(m[3]);
  if (port > 65535) throw new ConfigError(`${flagName}: port ${port} is out of range (0..65535)`);
  const host = m[1] ?? (m[2] || undefined);
  return { host, port };
}

export function parseDurationFlag(flagName: string, value: string): number {
  try {
    return parseDuration(value.trim());
  } catch {
    throw new ConfigError(`${flagName}: "${value}" is not a duration like 30s, 5m or 1h30m`);
  }
}

export function oneOf<T extends string>(flagName: string, value: string, allowed: readonly T[]): T {
  if ((allowed as readonly string[]).includes(value)) return value as T;
  throw new ConfigError(`${flagName}: "${value}" is not one of ${allowed.join(", ")}`);
}

export function nonEmpty(value: string | undefined): string | undefined {
  const v = value?.trim();
  return v ? v : undefined;
}

export function checkDnsLabel(flagName: string, value: string): void {
  if (value.length > 63 || !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(value)) {
    throw new ConfigError(
      `${flagName}: "${value}" is not a valid namespace name (lower-case letters, digits and '-', at most 63)`,
    );
  }
}

export function checkDnsSubdomain(flagName: string, value: string): void {
  if (
    value.length > 253 ||
    !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/.test(value)
  ) {
    throw new ConfigError(
      `${flagName}: "${value}" is not a valid object name (lower-case letters, digits, '-' and '.')`,
    );
  }
}

/** "a, b,,c" -> ["a", "b", "c"]; undefined or "" -> []. */
export function listFlag(text: string | undefined): string[] {
  return [
    ...new Set(
      (text ?? "")
        .split(",")
        .map((s) => s.trim())
        .filter((s) => s !== ""),
    ),
  ];
}

export function wholeNumberFlag(flagName: string, text: string, min: number, max: number): number {
  const value = Number(text);
  if (!/^\d+$/.test(text.trim()) || value < min || value > max) {
    throw new ConfigError(`${flagName}: "${text}" is not a whole number from ${min} to ${max}`);
  }
  return value;
}
