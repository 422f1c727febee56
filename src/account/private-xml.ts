// Private XML storage (XEP-0049). It cannot be enumerated, so export probes known namespaces.
// storage:bookmarks is skipped where the server derives it from XEP-0402 (writing it there can delete
// bookmarks, docs/server-facts.md "Bookmarks"); the caller decides with the account's disco features.
import xml from "@xmpp/xml";
import type { Element } from "@xmpp/xml";
import { cloneElement } from "../xmpp/xml-util.js";
import type { AccountSession } from "./session.js";
import { NS_PRIVATE } from "../xmpp/namespaces.js";
import { XmppStanzaError } from "../xmpp/stanza-error.js";

export const KNOWN_PRIVATE = [
  { name: "storage", ns: "storage:bookmarks" },
  { name: "storage", ns: "storage:rosternotes" },
  { name: "storage", ns: "storage:metacontacts" },
  { name: "roster", ns: "roster:delimiter" },
  { name: "gajim", ns: "gajim:prefs" },
  { name: "prefs", ns: "http://psi-im.org/options" },
] as const;

/** The stored fragment for one namespace, or undefined when empty or refused. */
export async function getPrivate(s: AccountSession, name: string, ns: string): Promise<Element | undefined> {
  try {
    const res = await s.iq("get", xml("query", { xmlns: NS_PRIVATE }, xml(name, { xmlns: ns })));
    const el = res.getChild("query", NS_PRIVATE)?.getChild(name, ns);
    if (!el) return undefined;
    const hasContent =
      el.getChildElements().length > 0 || el.getText().trim() !== "" || Object.keys(el.attrs).length > 1;
    return hasContent ? el : undefined;
  } catch (err) {
    if (
      err instanceof XmppStanzaError &&
      ["not-acceptable", "item-not-found", "bad-request"].includes(err.condition)
    ) {
      return undefined;
    }
    throw err;
  }
}

export async function setPrivate(s: AccountSession, fragment: Element): Promise<void> {
  await s.iq("set", xml("query", { xmlns: NS_PRIVATE }, cloneElement(fragment)));
}
