// Element → record decoding for each XEP-0227 section, tolerant of the variants real exporters write
// (docs/server-facts.md, "XEP-0227 files"): Prosody's pending <presence/> without a namespace, submit forms listing empty
// fields, ejabberd's password attribute, items without timestamps.
import type { Element } from "@xmpp/xml";
import { NS_DATA, NS_PIE_SCRAM, NS_PUBSUB, NS_PUBSUB_OWNER } from "../xmpp/namespaces.js";
import { parseRosterItem } from "../account/roster.js";
import { parseForm, parsePepItems } from "../account/pep.js";
import { parseMamResult } from "../account/mam.js";
import type { PepAffiliation, RosterItem } from "../account/model.js";
import type { ArchiveRecord } from "./records.js";

export function decodeRoster(query: Element): ArchiveRecord {
  const items = query
    .getChildren("item")
    .map(parseRosterItem)
    .filter((i): i is RosterItem => i !== null);
  return { kind: "roster", items };
}

export function decodePending(presence: Element): ArchiveRecord | null {
  const from = presence.attrs.from;
  if (presence.attrs.type !== "subscribe" || !from) return null;
  return { kind: "pending", subscription: { from, payload: presence.getChildElements() } };
}

export function decodeScram(el: Element): ArchiveRecord | null {
  const iterations = Number(el.getChildText("iter-count", NS_PIE_SCRAM) ?? el.getChildText("iter-count"));
  const salt = el.getChildText("salt", NS_PIE_SCRAM) ?? el.getChildText("salt");
  const serverKey = el.getChildText("server-key", NS_PIE_SCRAM) ?? el.getChildText("server-key");
  const storedKey = el.getChildText("stored-key", NS_PIE_SCRAM) ?? el.getChildText("stored-key");
  const mechanism = el.attrs.mechanism;
  if (!mechanism || !salt || !serverKey || !storedKey || !(iterations > 0)) return null;
  return { kind: "scram", credential: { mechanism, iterations, salt, serverKey, storedKey } };
}

/** <pubsub xmlns='…#owner'>: one record per node with its config and affiliations. */
export function decodePepOwner(pubsub: Element): ArchiveRecord[] {
  const byNode = new Map<string, { config: ReturnType<typeof parseForm>; affiliations: PepAffiliation[] }>();
  const get = (node: string) => {
    let e = byNode.get(node);
    if (!e) {
      e = { config: new Map(), affiliations: [] };
      byNode.set(node, e);
    }
    return e;
  };
  for (const child of pubsub.getChildElements()) {
    const node = child.attrs.node;
    if (!node) continue;
    if (child.name === "configure") get(node).config = parseForm(child.getChild("x", NS_DATA));
    if (child.name === "affiliations") {
      get(node).affiliations = child
        .getChildren("affiliation")
        .filter((a) => a.attrs.jid && a.attrs.affiliation)
        .map((a) => ({ jid: a.attrs.jid as string, affiliation: a.attrs.affiliation as string }));
    }
  }
  return [...byNode].map(([node, e]) => ({
    kind: "pep-node",
    node,
    config: e.config,
    affiliations: e.affiliations,
  }));
}

/** One <items node> of <pubsub xmlns='…pubsub'>, in file order (oldest first by convention). */
export function decodePepItems(items: Element): ArchiveRecord | null {
  const node = items.attrs.node;
  if (!node) return null;
  return { kind: "pep-items", node, items: parsePepItems(items.getChildren("item")) };
}

export function decodeArchiveResult(result: Element): ArchiveRecord | null {
  const m = parseMamResult(result);
  return m ? { kind: "archive", message: m } : null;
}

export function decodeBlocklist(el: Element): ArchiveRecord {
  const jids = el
    .getChildren("item")
    .map((i) => i.attrs.jid)
    .filter((j): j is string => typeof j === "string" && j.length > 0);
  return { kind: "blocklist", jids };
}

export function isPepOwner(el: Element): boolean {
  return el.name === "pubsub" && el.getNS() === NS_PUBSUB_OWNER;
}

export function isPepItems(el: Element): boolean {
  return el.name === "pubsub" && el.getNS() === NS_PUBSUB;
}

const STANZA_KINDS = ["message", "iq", "presence-in", "presence-out"];
/** ejabberd keeps the XEP-0191 blocklist as a privacy list of this name (made the default). */
const EJABBERD_BLOCKLIST = "Blocked contacts";

/**
 * XEP-0016 privacy lists → what XEP-0191 can carry: the "deny a JID completely" items of the default
 * list (or of ejabberd's "Blocked contacts" list when no default is named) become blocklist entries;
 * every other rule and list is reported, with the reason it has no blocklist equivalent.
 */
export function decodePrivacy(query: Element): ArchiveRecord[] {
  const lists = query.getChildren("list");
  const named = query.getChild("default")?.attrs.name;
  const chosen =
    named ?? (lists.some((l) => l.attrs.name === EJABBERD_BLOCKLIST) ? EJABBERD_BLOCKLIST : null);
  const jids: string[] = [];
  const skipped: string[] = [];
  for (const list of lists) {
    const name = list.attrs.name ?? "";
    const items = list.getChildren("item");
    if (name !== chosen) {
      if (items.length > 0)
        skipped.push(
          `privacy list "${name}" (${items.length} rule${items.length === 1 ? "" : "s"}): not your default list, and only the default one can become a blocklist`,
        );
      continue;
    }
    for (const item of items) {
      const what = item.attrs.type ? `${item.attrs.type} ${item.attrs.value ?? ""}` : "everyone else";
      const kinds = item.getChildElements().map((c) => c.name);
      const whole = kinds.length === 0 || STANZA_KINDS.every((k) => kinds.includes(k));
      if (item.attrs.action !== "deny") {
        skipped.push(`privacy rule "${item.attrs.action ?? "?"} ${what}": a blocklist only blocks`);
      } else if (item.attrs.type !== "jid" || !item.attrs.value) {
        skipped.push(`privacy rule "deny ${what}": a blocklist only holds addresses`);
      } else if (!whole) {
        skipped.push(
          `privacy rule "deny ${what}" for ${kinds.join(", ")} only: a blocklist blocks everything from an address`,
        );
      } else {
        jids.push(item.attrs.value);
      }
    }
  }
  const records: ArchiveRecord[] = [];
  if (jids.length > 0) records.push({ kind: "blocklist", jids });
  records.push({ kind: "privacy", element: query, skipped });
  return records;
}
