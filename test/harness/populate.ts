// Fills an account through a real client, the way a person's apps would.
import { createHash } from "node:crypto";
import xml from "@xmpp/xml";
import type { Element } from "@xmpp/xml";
import type { TestClient } from "./clients.js";

import { until } from "./wait.js";

const NS_PUBSUB = "http://jabber.org/protocol/pubsub";

export function publishOptions(fields: Record<string, string>): Element {
  return xml(
    "publish-options",
    {},
    xml(
      "x",
      { xmlns: "jabber:x:data", type: "submit" },
      xml(
        "field",
        { var: "FORM_TYPE", type: "hidden" },
        xml("value", {}, "http://jabber.org/protocol/pubsub#publish-options"),
      ),
      Object.entries(fields).map(([k, v]) => xml("field", { var: k }, xml("value", {}, v))),
    ),
  );
}

/** The publish-options XEP-0402 asks for. */
export const BOOKMARKS2_OPTIONS = {
  "pubsub#persist_items": "true",
  "pubsub#max_items": "max",
  "pubsub#send_last_published_item": "never",
  "pubsub#access_model": "whitelist",
};

export async function publish(
  c: TestClient,
  node: string,
  id: string,
  payload: Element,
  options?: Record<string, string>,
) {
  await c.request(
    xml(
      "iq",
      { type: "set" },
      xml(
        "pubsub",
        { xmlns: NS_PUBSUB },
        xml("publish", { node }, xml("item", { id }, payload)),
        options ? publishOptions(options) : null,
      ),
    ),
  );
}

/** A roster set from the client itself (no subscription: that takes the presence exchange). */
export async function addContact(c: TestClient, jid: string, name?: string, groups: string[] = []) {
  await c.request(
    xml(
      "iq",
      { type: "set" },
      xml(
        "query",
        { xmlns: "jabber:iq:roster" },
        xml(
          "item",
          { jid, name },
          groups.map((g) => xml("group", {}, g)),
        ),
      ),
    ),
  );
}

/** Mutual subscription between two online clients (ends as 'both' on each side). */
export async function befriend(
  a: TestClient,
  aJid: string,
  b: TestClient,
  bJid: string,
  nameForB?: string,
  groups: string[] = [],
) {
  await addContact(a, bJid, nameForB, groups);
  await a.xmpp.send(xml("presence", { to: bJid, type: "subscribe" }));
  await b.waitFor((el) => el.name === "presence" && el.attrs.type === "subscribe" && el.attrs.from === aJid);
  await b.xmpp.send(xml("presence", { to: aJid, type: "subscribed" }));
  await b.xmpp.send(xml("presence", { to: aJid, type: "subscribe" }));
  await a.waitFor((el) => el.name === "presence" && el.attrs.type === "subscribe" && el.attrs.from === bJid);
  await a.xmpp.send(xml("presence", { to: bJid, type: "subscribed" }));
  // Done once both rosters say so.
  for (const [c, other] of [
    [a, bJid],
    [b, aJid],
  ] as const) {
    await until(
      async () =>
        (await c.request(xml("iq", { type: "get" }, xml("query", { xmlns: "jabber:iq:roster" }))))
          .getChild("query")
          ?.getChildren("item")
          .find((i) => i.attrs.jid === other)?.attrs.subscription,
      (sub) => sub === "both",
      { what: `${other} to be a mutual contact` },
    );
  }
}

export interface Profile {
  /** Messages exchanged with the friend. */
  messages: number;
  /** Store private XML (XEP-0049); false on servers without mod_private, such as Snikket. */
  privateXml?: boolean;
}

/** A typical account: friend with name and groups, vCard, nick, bookmarks, private XML, blocklist, chat history. */
export async function populateAccount(
  user: TestClient,
  userJid: string,
  friend: TestClient,
  friendJid: string,
  p: Profile,
) {
  await befriend(user, userJid, friend, friendJid, "Bob Builder", ["Work", "Friends"]);
  await user.request(
    xml(
      "iq",
      { type: "set" },
      xml("vCard", { xmlns: "vcard-temp" }, xml("FN", {}, "Alice Liddell"), xml("NICKNAME", {}, "ali")),
    ),
  );
  await publish(
    user,
    "http://jabber.org/protocol/nick",
    "current",
    xml("nick", { xmlns: "http://jabber.org/protocol/nick" }, "Ali ✨"),
  );
  const bm = BOOKMARKS2_OPTIONS;
  await publish(
    user,
    "urn:xmpp:bookmarks:1",
    "tea@rooms.example.net",
    xml(
      "conference",
      { xmlns: "urn:xmpp:bookmarks:1", name: "Tea room", autojoin: "true" },
      xml("nick", {}, "ali"),
    ),
    bm,
  );
  await publish(
    user,
    "urn:xmpp:bookmarks:1",
    "chess@rooms.example.net",
    xml("conference", { xmlns: "urn:xmpp:bookmarks:1", name: "Chess" }),
    bm,
  );
  if (p.privateXml !== false)
    await user.request(
      xml(
        "iq",
        { type: "set" },
        xml(
          "query",
          { xmlns: "jabber:iq:private" },
          xml("storage", { xmlns: "storage:rosternotes" }, xml("note", { jid: friendJid }, "owes me tea")),
        ),
      ),
    );
  await user.request(
    xml(
      "iq",
      { type: "set" },
      xml("block", { xmlns: "urn:xmpp:blocking" }, xml("item", { jid: "spam@example.com" })),
    ),
  );
  // Avatar (XEP-0084): data first, then metadata pointing at it.
  const png = Buffer.from(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d49444154789c6360000000000500010d0a2db40000000049454e44ae426082",
    "hex",
  );
  const sha = createHash("sha1").update(png).digest("hex");
  await publish(
    user,
    "urn:xmpp:avatar:data",
    sha,
    xml("data", { xmlns: "urn:xmpp:avatar:data" }, png.toString("base64")),
  );
  await publish(
    user,
    "urn:xmpp:avatar:metadata",
    sha,
    xml(
      "metadata",
      { xmlns: "urn:xmpp:avatar:metadata" },
      xml("info", { id: sha, bytes: String(png.length), type: "image/png", width: "1", height: "1" }),
    ),
  );
  for (let i = 0; i < p.messages; i++) {
    const [from, to] = i % 2 === 0 ? [user, friendJid] : [friend, userJid];
    await from.xmpp.send(
      xml("message", { to, type: "chat", id: `msg-${i}` }, xml("body", {}, `message ${i} ✓`)),
    );
  }
  if (p.messages > 0) {
    const lastFrom = (p.messages - 1) % 2 === 0 ? friend : user;
    // Received means archived on both sides: mod_mam stores a message before delivering it.
    await lastFrom.waitFor((el) => el.getChildText("body") === `message ${p.messages - 1} ✓`, 30_000);
  }
}
