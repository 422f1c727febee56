// The rules for carrying account data from one server to another, in one place. Why each exists is in
// docs/server-facts.md ("Bookmarks", "vCard", "PEP").
import xml from "@xmpp/xml";
import type { Element } from "@xmpp/xml";
import type { NodeConfig, PepItem } from "../account/model.js";

export const NODE_BOOKMARKS2 = "urn:xmpp:bookmarks:1";
/** XEP-0048 bookmarks kept in PEP: on Prosody a view of XEP-0402 bookmarks. */
export const NODE_LEGACY_BOOKMARKS = "storage:bookmarks";
export const NODE_VCARD4 = "urn:xmpp:vcard4";
export const NODE_AVATAR_DATA = "urn:xmpp:avatar:data";
export const NODE_AVATAR_METADATA = "urn:xmpp:avatar:metadata";
/** Advertised on the account by servers that keep legacy bookmarks in sync with XEP-0402. */
export const FEATURE_BOOKMARKS2_COMPAT = "urn:xmpp:bookmarks:1#compat";

/** Nodes never carried to another account: device keys are per account, the moved statement is per move. */
export function isPortableNode(node: string): boolean {
  if (node.startsWith("eu.siacs.conversations.axolotl")) return false;
  if (node.startsWith("urn:xmpp:omemo:")) return false;
  return node !== "urn:xmpp:moved:1";
}

/** Reading order: XEP-0402 bookmarks before anything that a server may derive from them. */
export function pepReadOrder(nodes: string[]): string[] {
  const portable = nodes.filter(isPortableNode);
  const hasBookmarks2 = portable.includes(NODE_BOOKMARKS2);
  return [
    ...(hasBookmarks2 ? [NODE_BOOKMARKS2] : []),
    // The legacy PEP node is a view of XEP-0402 where both exist: carried once, as XEP-0402.
    ...portable.filter((n) => n !== NODE_BOOKMARKS2 && !(hasBookmarks2 && n === NODE_LEGACY_BOOKMARKS)),
  ];
}

/** Nodes that hold one current value (profile, avatar, nick…): the account's own value wins on import. */
export function isSingleValueNode(node: string, config: NodeConfig, items: PepItem[]): boolean {
  if (node === NODE_BOOKMARKS2) return false;
  const max = config.get("pubsub#max_items")?.[0];
  return max === "1" || (max === undefined && items.length <= 1);
}

/** Avatar data and metadata are one value: decide both by the metadata node. */
export function valueNodeFor(node: string): string {
  return node === NODE_AVATAR_DATA ? NODE_AVATAR_METADATA : node;
}

/**
 * Whether a vcard-temp holds the person's own card. Prosody builds vcard-temp from PEP: the avatar
 * becomes PHOTO and the PEP nickname NICKNAME (docs/server-facts.md, "vCard"), so a card with nothing
 * else is a view of data the person set elsewhere, not a card they wrote.
 */
export function hasOwnVcard(card: Element): boolean {
  return card.getChildElements().some((c) => c.name !== "PHOTO" && c.name !== "NICKNAME");
}

/** The publish-options XEP-0402 asks clients to use; servers reject bookmarks published otherwise. */
export function bookmarks2Options(): NodeConfig {
  return new Map([
    ["pubsub#persist_items", ["true"]],
    ["pubsub#max_items", ["max"]],
    ["pubsub#send_last_published_item", ["never"]],
    ["pubsub#access_model", ["whitelist"]],
  ]);
}

/** XEP-0402 items as one XEP-0048 <storage/> for servers without XEP-0402 (extensions cannot travel). */
export function legacyBookmarks(items: PepItem[]): Element {
  return xml(
    "storage",
    { xmlns: "storage:bookmarks" },
    items.map((it) => {
      const c = it.payload;
      const nick = c.getChildText("nick");
      const password = c.getChildText("password");
      return xml(
        "conference",
        { jid: it.id, name: c.attrs.name, autojoin: c.attrs.autojoin },
        nick ? xml("nick", {}, nick) : null,
        password ? xml("password", {}, password) : null,
      );
    }),
  );
}
