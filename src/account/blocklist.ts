// Blocking command (XEP-0191). Not part of XEP-0227; archives carry it as <blocklist xmlns='urn:xmpp:blocking'>.
import xml from "@xmpp/xml";
import type { XmppLink } from "../xmpp/link.js";
import { NS_BLOCKING } from "../xmpp/namespaces.js";
import { privilegedIq } from "../privilege/privileged-iq.js";

export async function getBlocklist(link: XmppLink, user: string): Promise<string[]> {
  const res = await privilegedIq(link, {
    user,
    type: "get",
    payload: xml("blocklist", { xmlns: NS_BLOCKING }),
  });
  const items = res.getChild("blocklist", NS_BLOCKING)?.getChildren("item") ?? [];
  return items.map((i) => i.attrs.jid).filter((j): j is string => typeof j === "string");
}

export async function block(link: XmppLink, user: string, jids: string[]): Promise<void> {
  if (jids.length === 0) return;
  await privilegedIq(link, {
    user,
    type: "set",
    payload: xml(
      "block",
      { xmlns: NS_BLOCKING },
      jids.map((jid) => xml("item", { jid })),
    ),
  });
}
