// Prosody disconnects a component that sends a stanza over its component_stanza_size_limit (512 KiB by
// default), and with it every user's request in flight. So every stanza is measured before it leaves:
// one over the configured limit is refused locally with a reason, and the stream stays up.
import type { Element } from "@xmpp/xml";
import { XmppStanzaError } from "./stanza-error.js";

export const DEFAULT_STANZA_LIMIT = 256 * 1024;

/** Serialised size in bytes (UTF-8), as it goes on the wire. */
export function stanzaBytes(el: Element): number {
  return Buffer.byteLength(el.toString(), "utf8");
}

const kib = (n: number): string => `${Math.ceil(n / 1024)} KiB`;

/** A stanza the component refused to send because of its size. */
export class StanzaTooLarge extends XmppStanzaError {
  constructor(
    readonly bytes: number,
    readonly limit: number,
  ) {
    super("not-acceptable", "modify", `too large to send (${kib(bytes)}; the limit is ${kib(limit)})`);
    this.name = "StanzaTooLarge";
  }
}

/** Throws StanzaTooLarge when `el` is over `limit` bytes. */
export function checkStanzaSize(el: Element, limit: number): void {
  const bytes = stanzaBytes(el);
  if (bytes > limit) throw new StanzaTooLarge(bytes, limit);
}

/** Shortens a user-facing text to `max` characters, saying so. */
export function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max)}… (${text.length - max} more characters)`;
}
