// XEP-0283 moved statement: PEP node urn:xmpp:moved:1, item 'current', access model presence (so the
// new address does not leak to non-contacts).
import xml from "@xmpp/xml";
import type { XmppLink } from "../xmpp/link.js";
import { NS_MOVED, NS_PUBSUB } from "../xmpp/namespaces.js";
import { XmppStanzaError } from "../xmpp/stanza-error.js";
import { privilegedIq } from "../privilege/privileged-iq.js";
import type { Statement } from "../moved/verify.js";
import { publish } from "./pep.js";

export async function publishMovedStatement(link: XmppLink, user: string, newJid: string): Promise<void> {
  await publish(
    link,
    user,
    NS_MOVED,
    { id: "current", payload: xml("moved", { xmlns: NS_MOVED }, xml("new-jid", {}, newJid)) },
    new Map([["pubsub#access_model", ["presence"]]]),
  );
}

/** Fetches `oldJid`'s statement as `asUser` (privileged IQ with inner to = old JID). Never throws for protocol errors. */
export async function fetchMovedStatement(
  link: XmppLink,
  asUser: string,
  oldJid: string,
): Promise<Statement> {
  try {
    const res = await privilegedIq(link, {
      user: asUser,
      to: oldJid,
      type: "get",
      timeoutMs: 10_000,
      payload: xml(
        "pubsub",
        { xmlns: NS_PUBSUB },
        xml("items", { node: NS_MOVED }, xml("item", { id: "current" })),
      ),
    });
    const item = res.getChild("pubsub", NS_PUBSUB)?.getChild("items")?.getChildren("item")[0];
    const newJid = item?.getChild("moved", NS_MOVED)?.getChildText("new-jid")?.trim();
    return newJid ? { kind: "moved", newJid } : { kind: "error", condition: "item-not-found" };
  } catch (err) {
    if (err instanceof XmppStanzaError) {
      const gone = err.element?.getChildElements().find((c) => c.name === "gone");
      const uri = gone?.getText().trim();
      if (err.condition === "gone" && uri) return { kind: "gone", uri };
      return { kind: "error", condition: err.condition };
    }
    return { kind: "error", condition: "remote-server-timeout" };
  }
}
