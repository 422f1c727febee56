// A client's own XEP-0313 queries: one page with RSM and optional start/end, results in stanza order.
import xml from "@xmpp/xml";
import type { TestClient } from "./clients.js";

const NS_MAM = "urn:xmpp:mam:2";
const NS_RSM = "http://jabber.org/protocol/rsm";

export interface MamItem {
  id: string;
  stamp: string;
  body: string;
  from: string;
}

export interface MamPage {
  items: MamItem[];
  first?: string;
  complete: boolean;
}

export async function mamPage(
  c: TestClient,
  q: { max: number; before?: string | true; after?: string; start?: string; end?: string },
): Promise<MamPage> {
  const queryid = `q${Math.random().toString(36).slice(2)}`;
  const fields = [
    xml("field", { var: "FORM_TYPE", type: "hidden" }, xml("value", {}, NS_MAM)),
    ...(q.start ? [xml("field", { var: "start" }, xml("value", {}, q.start))] : []),
    ...(q.end ? [xml("field", { var: "end" }, xml("value", {}, q.end))] : []),
  ];
  const fin = await c.request(
    xml(
      "iq",
      { type: "set" },
      xml(
        "query",
        { xmlns: NS_MAM, queryid },
        xml("x", { xmlns: "jabber:x:data", type: "submit" }, fields),
        xml(
          "set",
          { xmlns: NS_RSM },
          xml("max", {}, String(q.max)),
          q.before === true ? xml("before") : q.before ? xml("before", {}, q.before) : null,
          q.after ? xml("after", {}, q.after) : null,
        ),
      ),
    ),
    60_000,
  );
  const items = c.inbox
    .filter((m) => m.getChild("result", NS_MAM)?.attrs.queryid === queryid)
    .map((m) => {
      const r = m.getChild("result", NS_MAM);
      const fwd = r?.getChild("forwarded", "urn:xmpp:forward:0");
      const msg = fwd?.getChild("message");
      return {
        id: r?.attrs.id ?? "",
        stamp: fwd?.getChild("delay", "urn:xmpp:delay")?.attrs.stamp ?? "",
        body: msg?.getChildText("body") ?? "",
        from: msg?.attrs.from ?? "",
      };
    });
  const f = fin.getChild("fin", NS_MAM);
  const first = f?.getChild("set", NS_RSM)?.getChildText("first") ?? undefined;
  return { items, complete: f?.attrs.complete === "true", ...(first ? { first } : {}) };
}

/** The number of messages in the client's own archive (MAM with RSM max 0). */
export async function archiveCount(c: TestClient, timeoutMs = 120_000): Promise<number> {
  const fin = await c.request(
    xml(
      "iq",
      { type: "set" },
      xml("query", { xmlns: NS_MAM }, xml("set", { xmlns: NS_RSM }, xml("max", {}, "0"))),
    ),
    timeoutMs,
  );
  return Number(fin.getChild("fin", NS_MAM)?.getChild("set", NS_RSM)?.getChildText("count") ?? 0);
}
