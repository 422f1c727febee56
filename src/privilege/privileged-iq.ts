// XEP-0356 §IQ: act as a local user. Shapes and quirks (docs/server-facts.md, "Privileged IQs"):
// - the inner <iq> must carry xmlns='jabber:client' explicitly and an id, and should carry `to`;
// - Prosody returns inner errors inside an outer type='result' (newer versions copy the type), so
//   the inner type decides; ejabberd drops refused IQs silently, so callers keep timeouts short.
import xml from "@xmpp/xml";
import type { Element } from "@xmpp/xml";
import { randomUUID } from "node:crypto";
import type { XmppLink } from "../xmpp/link.js";
import { NS_CLIENT, NS_FORWARD, NS_PRIVILEGE_2 } from "../xmpp/namespaces.js";
import { XmppStanzaError, asStanzaError } from "../xmpp/stanza-error.js";

export interface PrivilegedIqOptions {
  /** The local user (bare JID) to act as. */
  user: string;
  type: "get" | "set";
  payload: Element;
  /** Inner recipient; defaults to the user's own bare JID. */
  to?: string;
  timeoutMs?: number;
  namespace?: string;
}

/** Sends a privileged IQ; resolves with the inner result <iq/>, throws XmppStanzaError on any error. */
export async function privilegedIq(link: XmppLink, o: PrivilegedIqOptions): Promise<Element> {
  const ns = o.namespace ?? NS_PRIVILEGE_2;
  const inner = xml(
    "iq",
    { xmlns: NS_CLIENT, type: o.type, id: `in-${randomUUID()}`, to: o.to ?? o.user },
    o.payload,
  );
  const outer = xml(
    "iq",
    { type: o.type, to: o.user, id: `priv-${randomUUID()}` },
    xml("privileged_iq", { xmlns: ns }, inner),
  );
  let reply: Element;
  try {
    reply = await link.request(outer, o.timeoutMs ?? 30_000);
  } catch (err) {
    throw asStanzaError(err) ?? err;
  }
  const fwd = reply.getChild("privilege", ns)?.getChild("forwarded", NS_FORWARD);
  const innerReply = fwd?.getChildElements().find((c) => c.name === "iq");
  if (!innerReply)
    throw new XmppStanzaError("undefined-condition", "cancel", "privileged reply without forwarded iq");
  if (innerReply.attrs.type === "error") throw XmppStanzaError.fromStanza(innerReply);
  return innerReply;
}

/** The first element child of an inner IQ result, if any. */
export function payloadOf(iq: Element): Element | undefined {
  return iq.getChildElements()[0];
}
