// --notification-destinations-file: the platform's notification destinations, read once at
// start (the files they name, URLs with tokens, are read when a notification is sent).
import { readFileSync } from "node:fs";
import { parseDestinations, type NotificationDestination } from "../notify/destinations.ts";
import type { FlagValue } from "./flags.ts";
import type { Config } from "./types.ts";
import { ConfigError, nonEmpty } from "./values.ts";

export function parseNotificationFlags(
  flag: FlagValue,
): Pick<Config, "notificationDestinationsFile" | "notificationDestinations"> {
  const notificationDestinationsFile = nonEmpty(flag("notification-destinations-file"));
  if (notificationDestinationsFile === undefined)
    return { notificationDestinationsFile, notificationDestinations: [] };
  let text: string;
  try {
    text = readFileSync(notificationDestinationsFile, "utf8");
  } catch (err) {
    const code = (err as { code?: string }).code;
    throw new ConfigError(
      `--notification-destinations-file: cannot read ${notificationDestinationsFile} (${code === "ENOENT" ? "no such file" : (code ?? String(err))})`,
    );
  }
  let notificationDestinations: NotificationDestination[];
  try {
    notificationDestinations = parseDestinations(text);
  } catch (err) {
    throw new ConfigError(
      `--notification-destinations-file: ${notificationDestinationsFile}: ${(err as Error).message}`,
    );
  }
  return { notificationDestinationsFile, notificationDestinations };
}
