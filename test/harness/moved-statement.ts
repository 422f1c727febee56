// XEP-0283 stanzas as other servers send them: a statement fetch's answer, a moved subscription request.
import xml from "@xmpp/xml";
import type { Element } from "@xmpp/xml";

/** The statement itself: the item payload an old account publishes at urn:xmpp:moved:1 "current". */
export function movedStatement(newJid: string): Element {
  return xml("moved", { xmlns: "urn:xmpp:moved:1" }, xml("new-jid", {}, newJid));
}

export function movedStatementPubsub(newJid: string): Element {
  return xml(
    "pubsub",
    { xmlns: "http://jabber.org/protocol/pubsub" },
    xml("items", { node: "urn:xmpp:moved:1" }, xml("item", { id: "current" }, movedStatement(newJid))),
  );
}

/** A XEP-0283 subscription request: "I am the new address of `oldJid`". */
export function movedSubscribe(to: string, oldJid: string): Element {
  return xml(
    "presence",
    { to, type: "subscribe" },
    xml("moved", { xmlns: "urn:xmpp:moved:1" }, xml("old-jid", {}, oldJid)),
  );
}
