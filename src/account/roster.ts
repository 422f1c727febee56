// Roster (RFC 6121) on an account session. Prosody answers a multi-item set once per item, so we
// always send exactly one item (RFC 6121 says so too).
import xml from "@xmpp/xml";
import type { Element } from "@xmpp/xml";
import type { AccountSession } from "./session.js";
import { NS_ROSTER } from "../xmpp/namespaces.js";
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

export async function getRoster(s: AccountSession): Promise<RosterItem[]> {
  const res = await s.iq("get", xml("query", { xmlns: NS_ROSTER }));
  const items = res.getChild("query", NS_ROSTER)?.getChildren("item") ?? [];
  return items.map(parseRosterItem).filter((i): i is RosterItem => i !== null);
}

/**
 * Adds or updates one item's name and groups. The subscription attribute is omitted on purpose:
 * Prosody's privileged set writes it verbatim (phantom subscriptions, docs/server-facts.md "Roster"),
 * so subscription state only ever changes through real presence.
 */
export async function setRosterItem(s: AccountSession, item: RosterItem): Promise<void> {
  await s.iq("set", xml("query", { xmlns: NS_ROSTER }, rosterItemElement(item, false)));
}

export async function removeRosterItem(s: AccountSession, jid: string): Promise<void> {
  await s.iq("set", xml("query", { xmlns: NS_ROSTER }, xml("item", { jid, subscription: "remove" })));
}
