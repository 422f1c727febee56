// Roster through XEP-0356 roster permission: a plain IQ to the user's bare JID (not wrapped).
// Prosody answers a multi-item set once per item, so we always send exactly one item (RFC 6121 too).
import xml from "@xmpp/xml";
import type { Element } from "@xmpp/xml";
import type { XmppLink } from "../xmpp/link.js";
import { NS_ROSTER } from "../xmpp/namespaces.js";
import { asStanzaError } from "../xmpp/stanza-error.js";
import type { RosterItem, Subscription } from "./model.js";

const SUBSCRIPTIONS = new Set(["none", "to", "from", "both"]);

export function parseRosterItem(el: Element): RosterItem | null {
  const jid = el.attrs.jid;
  if (!jid) return null;
  const sub = el.attrs.subscription ?? "none";
  return {
    jid,
    subscription: (SUBSCRIPTIONS.has(sub) ? sub : "none") as Subscription,
    groups: el.getChildren("group").map((g) => g.getText()),
    ...(el.attrs.name ? { name: el.attrs.name } : {}),
    ...(el.attrs.ask === "subscribe" ? { ask: "subscribe" as const } : {}),
  };
}

export function rosterItemElement(item: RosterItem, withSubscription = true): Element {
  return xml(
    "item",
    {
      jid: item.jid,
      name: item.name,
      ...(withSubscription ? { subscription: item.subscription, ask: item.ask } : {}),
    },
    item.groups.map((g) => xml("group", {}, g)),
  );
}

async function rosterIq(link: XmppLink, user: string, type: "get" | "set", query: Element): Promise<Element> {
  try {
    return await link.request(xml("iq", { type, to: user }, query), 20_000);
  } catch (err) {
    throw asStanzaError(err) ?? err;
  }
}

export async function getRoster(link: XmppLink, user: string): Promise<RosterItem[]> {
  const res = await rosterIq(link, user, "get", xml("query", { xmlns: NS_ROSTER }));
  const items = res.getChild("query", NS_ROSTER)?.getChildren("item") ?? [];
  return items.map(parseRosterItem).filter((i): i is RosterItem => i !== null);
}

/**
 * Adds or updates one item's name and groups. The subscription attribute is omitted on purpose:
 * Prosody's privileged set writes it verbatim (phantom subscriptions, digest §9.11), so subscription
 * state only ever changes through real presence.
 */
export async function setRosterItem(link: XmppLink, user: string, item: RosterItem): Promise<void> {
  await rosterIq(link, user, "set", xml("query", { xmlns: NS_ROSTER }, rosterItemElement(item, false)));
}

export async function removeRosterItem(link: XmppLink, user: string, jid: string): Promise<void> {
  await rosterIq(
    link,
    user,
    "set",
    xml("query", { xmlns: NS_ROSTER }, xml("item", { jid, subscription: "remove" })),
  );
}
