// Slack's published rules for an incoming-webhook message with Block Kit blocks, checked at
// run time on a message that is already typed with @slack/types (which checks the shape at
// compile time): the limits Slack's Block Kit reference gives for the blocks the operator
// sends (header, section, context, divider), and the text objects in them. Slack publishes
// its types, not a JSON schema; these are its documented limits.
import type { KnownBlock } from "@slack/types";

const MAX_BLOCKS = 50;

type TextObject = { type?: unknown; text?: unknown; emoji?: unknown };

function textProblems(
  at: string,
  t: TextObject | undefined,
  max: number,
  types: readonly string[],
): string[] {
  if (t === undefined) return [`${at}: missing`];
  const out: string[] = [];
  if (typeof t.type !== "string" || !types.includes(t.type))
    out.push(`${at}.type must be ${types.join(" or ")}`);
  if (typeof t.text !== "string" || t.text.length === 0) out.push(`${at}.text must be a non-empty string`);
  else if (t.text.length > max) out.push(`${at}.text is longer than ${max} characters`);
  return out;
}

/** What is wrong with the message by Slack's Block Kit rules; [] when nothing is. */
export function checkSlackMessage(message: { text: string; blocks: KnownBlock[] }): string[] {
  const out: string[] = [];
  if (typeof message.text !== "string" || message.text === "")
    out.push("text: the message's fallback text must be set when blocks are sent");
  if (!Array.isArray(message.blocks) || message.blocks.length === 0) return [...out, "blocks: none"];
  if (message.blocks.length > MAX_BLOCKS) out.push(`blocks: more than ${MAX_BLOCKS}`);
  message.blocks.forEach((b, i) => {
    const at = `blocks[${i}]`;
    if (b.block_id !== undefined && (typeof b.block_id !== "string" || b.block_id.length > 255))
      out.push(`${at}.block_id must be at most 255 characters`);
    switch (b.type) {
      case "header":
        out.push(...textProblems(`${at}.text`, b.text, 150, ["plain_text"]));
        break;
      case "section": {
        if (b.text === undefined && b.fields === undefined) out.push(`${at}: a section needs text or fields`);
        if (b.text !== undefined)
          out.push(...textProblems(`${at}.text`, b.text, 3000, ["plain_text", "mrkdwn"]));
        if (b.fields !== undefined) {
          if (b.fields.length === 0 || b.fields.length > 10) out.push(`${at}.fields: 1 to 10 fields`);
          b.fields.forEach((f, j) =>
            out.push(...textProblems(`${at}.fields[${j}]`, f, 2000, ["plain_text", "mrkdwn"])),
          );
        }
        break;
      }
      case "context":
        if (b.elements.length === 0 || b.elements.length > 10) out.push(`${at}.elements: 1 to 10 elements`);
        b.elements.forEach((e, j) => {
          if (e.type === "plain_text" || e.type === "mrkdwn")
            out.push(...textProblems(`${at}.elements[${j}]`, e, 3000, ["plain_text", "mrkdwn"]));
          else if ((e as { type: unknown }).type !== "image")
            out.push(
              `${at}.elements[${j}].type ${String((e as { type: unknown }).type)} is not allowed in a context block`,
            );
        });
        break;
      case "divider":
        break;
      default:
        out.push(`${at}.type ${(b as { type: string }).type} is not a block the operator sends`);
    }
  });
  return out;
}
