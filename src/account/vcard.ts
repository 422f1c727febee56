// vcard-temp (XEP-0054) through a privileged IQ. On Prosody 0.12 it is a view over the vcard4 and
// avatar PEP nodes (mod_vcard_legacy), so import prefers those and sets vcard-temp only without them.
import xml from "@xmpp/xml";
import type { Element } from "@xmpp/xml";
import { cloneElement } from "../xmpp/xml-util.js";
import type { XmppLink } from "../xmpp/link.js";
import { NS_VCARD_TEMP } from "../xmpp/namespaces.js";
import { XmppStanzaError } from "../xmpp/stanza-error.js";
import { privilegedIq } from "../privilege/privileged-iq.js";

/** The vCard, or undefined when the account has none (empty element or item-not-found). */
export async function getVcardTemp(link: XmppLink, user: string): Promise<Element | undefined> {
  try {
    const res = await privilegedIq(link, {
      user,
      type: "get",
      payload: xml("vCard", { xmlns: NS_VCARD_TEMP }),
    });
    const card = res.getChild("vCard", NS_VCARD_TEMP);
    return card && card.getChildElements().length > 0 ? card : undefined;
  } catch (err) {
    if (err instanceof XmppStanzaError && err.condition === "item-not-found") return undefined;
    throw err;
  }
}

export async function setVcardTemp(link: XmppLink, user: string, card: Element): Promise<void> {
  const copy = cloneElement(card);
  copy.attrs.xmlns = NS_VCARD_TEMP;
  await privilegedIq(link, { user, type: "set", payload: copy });
}
