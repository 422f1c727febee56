// XEP-0283 moved statement: PEP node urn:xmpp:moved:1, item 'current', access model presence (so the
// new address does not leak to non-contacts).
import xml from "@xmpp/xml";
import type { Element } from "@xmpp/xml";
import type { XmppLink } from "../xmpp/link.js";
import { NS_MOVED, NS_PUBSUB } from "../xmpp/namespaces.js";
import { XmppStanzaError } from "../xmpp/stanza-error.js";
import { privilegedIq } from "../privilege/privileged-iq.js";
import { publish } from "./pep.js";
import type { AccountSession } from "./session.js";

/** What the old account says about itself (XEP-0283): a moved statement, <gone/>, or an error. */
export type Statement =
  | { kind: "moved"; newJid: string }
  /** <gone/> with an xmpp: URI counts as a statement naming that JID (XEP-0283 §4.2). */
  | { kind: "gone"; uri: string }
  | { kind: "error"; condition: string };

/** Publishes the statement on the session's account (the one being left). */
export async function publishMovedStatement(s: AccountSession, newJid: string): Promise<void> {
  await publish(
    s,
    NS_MOVED,
    { id: "current", payload: xml("moved", { xmlns: NS_MOVED }, xml("new-jid", {}, newJid)) },
    new Map([["pubsub#access_model", ["presence"]]]),
  );
}

/** The statement in a pubsub items reply (`parent` holds the <pubsub/>): item-not-found when none. */
export function statementFromItems(parent: Element): Statement {
  const item = parent.getChild("pubsub", NS_PUBSUB)?.getChild("items")?.getChildren("item")[0];
  const newJid = item?.getChild("moved", NS_MOVED)?.getChildText("new-jid")?.trim();
  return newJid ? { kind: "moved", newJid } : { kind: "error", condition: "item-not-found" };
}

/** The statement an error answer stands for: <gone/> with a URI names that address (XEP-0283 §4.2). */
export function statementFromError(err: XmppStanzaError): Statement {
  const gone = err.element?.getChildElements().find((c) => c.name === "gone");
  const uri = gone?.getText().trim();
  if (err.condition === "gone" && uri) return { kind: "gone", uri };
  return { kind: "error", condition: err.condition };
}

/**
 * Fetches `oldJid`'s statement as `asUser` (privileged IQ with inner to = old JID). Never throws:
 * errors come back as { kind: "error" }, a timeout as remote-server-timeout.
 */
export async function fetchMovedStatement(
  link: XmppLink,
  asUser: string,
  oldJid: string,
  timeoutMs = 10_000,
): Promise<Statement> {
  try {
    const res = await privilegedIq(link, {
      user: asUser,
      to: oldJid,
      type: "get",
      timeoutMs,
      payload: xml(
        "pubsub",
        { xmlns: NS_PUBSUB },
        xml("items", { node: NS_MOVED }, xml("item", { id: "current" })),
      ),
    });
    return statementFromItems(res);
  } catch (err) {
    if (err instanceof XmppStanzaError) return statementFromError(err);
    return { kind: "error", condition: "remote-server-timeout" };
  }
}
