// The message archive over XEP-0313, for any session that can send an IQ and see the result messages.
// Results arrive as separate <message><result queryid/></message> stanzas before the IQ result
// (docs/server-facts.md, "MAM"), so they are collected by queryid. Stock mod_privilege on Prosody 0.12
// crashes while delivering them; the companion module reads the archive there instead.
import xml from "@xmpp/xml";
import type { Element } from "@xmpp/xml";
import { randomUUID } from "node:crypto";
import { NS_CLIENT, NS_DATA, NS_DELAY, NS_FORWARD, NS_MAM, NS_RSM } from "../xmpp/namespaces.js";
import { cloneElement } from "../xmpp/xml-util.js";
import { bareOf } from "../xmpp/jid.js";
import type { XmppLink } from "../xmpp/link.js";
import { privilegedIq } from "../privilege/privileged-iq.js";
import type { ArchivePage, ArchiveQuery } from "./companion-api.js";
import type { ArchivedMessage } from "./model.js";

/** Parses <result xmlns='urn:xmpp:mam:2' id><forwarded><delay stamp/><message/></forwarded></result>. */
export function parseMamResult(result: Element): ArchivedMessage | null {
  const fwd = result.getChild("forwarded", NS_FORWARD);
  const stamp = fwd?.getChild("delay", NS_DELAY)?.attrs.stamp;
  const message = fwd?.getChild("message");
  if (!result.attrs.id || !stamp || !message) return null;
  return { id: result.attrs.id, stamp, message };
}

/** The reverse of parseMamResult (archives and the companion protocol carry this shape). */
export function archivedToResult(m: ArchivedMessage): Element {
  const message = cloneElement(m.message);
  message.attrs.xmlns = NS_CLIENT;
  return xml(
    "result",
    { xmlns: NS_MAM, id: m.id },
    xml("forwarded", { xmlns: NS_FORWARD }, xml("delay", { xmlns: NS_DELAY, stamp: m.stamp }), message),
  );
}

export interface MamTransport {
  /** Sends the MAM query IQ (type set) as the account; resolves with the result <iq/>. */
  query(payload: Element): Promise<Element>;
  /** Inbound <message/> stanzas for the account while the query runs. */
  onMessage(listener: (message: Element) => void): () => void;
}

/** MAM as a local user through a privileged IQ; the results come to the component from the user's JID. */
export function privilegedMamTransport(link: XmppLink, user: string, timeoutMs?: number): MamTransport {
  return {
    query: (payload) =>
      privilegedIq(link, { user, type: "set", payload, ...(timeoutMs ? { timeoutMs } : {}) }),
    onMessage: (listener) =>
      link.onStanza((el) => {
        if (el.name === "message" && bareOf(el.attrs.from ?? "") === user) listener(el);
      }),
  };
}

export function mamQuery(q: ArchiveQuery, queryid: string): Element {
  const fields: Element[] = [];
  if (q.start) fields.push(xml("field", { var: "start" }, xml("value", {}, q.start)));
  if (q.end) fields.push(xml("field", { var: "end" }, xml("value", {}, q.end)));
  return xml(
    "query",
    { xmlns: NS_MAM, queryid },
    fields.length > 0
      ? xml(
          "x",
          { xmlns: NS_DATA, type: "submit" },
          xml("field", { var: "FORM_TYPE", type: "hidden" }, xml("value", {}, NS_MAM)),
          fields,
        )
      : null,
    xml(
      "set",
      { xmlns: NS_RSM },
      xml("max", {}, String(q.max ?? 100)),
      q.after ? xml("after", {}, q.after) : null,
    ),
  );
}

export async function queryArchivePage(t: MamTransport, q: ArchiveQuery): Promise<ArchivePage> {
  const queryid = randomUUID();
  const items: ArchivedMessage[] = [];
  const off = t.onMessage((el) => {
    const result = el.getChild("result", NS_MAM);
    if (result?.attrs.queryid !== queryid) return;
    const m = parseMamResult(result);
    if (m) items.push(m);
  });
  try {
    const res = await t.query(mamQuery(q, queryid));
    const fin = res.getChild("fin", NS_MAM);
    const last = fin?.getChild("set", NS_RSM)?.getChildText("last") ?? items[items.length - 1]?.id;
    return {
      items,
      complete: fin?.attrs.complete === "true" || items.length === 0,
      ...(last ? { last } : {}),
    };
  } finally {
    off();
  }
}
