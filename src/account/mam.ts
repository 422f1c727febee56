// Reading a user's archive with XEP-0313 through a privileged IQ. Results arrive as separate
// <message><result queryid/></message> stanzas before the IQ result (digest §6.1), so they are
// collected by queryid. Stock Prosody mod_privilege crashes on this (harness notes §5); the probe
// in capabilities.ts detects that and access.ts falls back to the companion module.
import xml from "@xmpp/xml";
import type { Element } from "@xmpp/xml";
import { randomUUID } from "node:crypto";
import type { XmppLink } from "../xmpp/link.js";
import { NS_DATA, NS_DELAY, NS_FORWARD, NS_MAM, NS_RSM } from "../xmpp/namespaces.js";
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

export async function queryArchivePage(link: XmppLink, user: string, q: ArchiveQuery): Promise<ArchivePage> {
  const queryid = randomUUID();
  const items: ArchivedMessage[] = [];
  const off = link.onStanza((el) => {
    if (el.name !== "message" || el.attrs.from?.toLowerCase() !== user) return;
    const result = el.getChild("result", NS_MAM);
    if (result?.attrs.queryid !== queryid) return;
    const m = parseMamResult(result);
    if (m) items.push(m);
  });
  try {
    const fields: Element[] = [];
    if (q.start) fields.push(xml("field", { var: "start" }, xml("value", {}, q.start)));
    if (q.end) fields.push(xml("field", { var: "end" }, xml("value", {}, q.end)));
    const res = await privilegedIq(link, {
      user,
      type: "set",
      payload: xml(
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
      ),
    });
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
