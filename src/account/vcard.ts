// vcard-temp (XEP-0054) on an account session. On Prosody it is a view over the vcard4 and avatar PEP
// nodes (mod_vcard_legacy), so import prefers those and sets vcard-temp only without them.
import xml from "@xmpp/xml";
import type { Element } from "@xmpp/xml";
import { cloneElement } from "../xmpp/xml-util.js";
import type { AccountSession } from "./session.js";
import { NS_VCARD_TEMP } from "../xmpp/namespaces.js";
import { XmppStanzaError } from "../xmpp/stanza-error.js";

/** The vCard, or undefined when the account has none (empty element or item-not-found). */
export async function getVcardTemp(s: AccountSession): Promise<Element | undefined> {
  try {
    const res = await s.iq("get", xml("vCard", { xmlns: NS_VCARD_TEMP }));
    const card = res.getChild("vCard", NS_VCARD_TEMP);
    return card && card.getChildElements().length > 0 ? card : undefined;
  } catch (err) {
    if (err instanceof XmppStanzaError && err.condition === "item-not-found") return undefined;
    throw err;
  }
}

export async function setVcardTemp(s: AccountSession, card: Element): Promise<void> {
  const copy = cloneElement(card);
  copy.attrs.xmlns = NS_VCARD_TEMP;
  await s.iq("set", copy);
}
