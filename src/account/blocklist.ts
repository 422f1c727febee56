// Blocking command (XEP-0191). Not part of XEP-0227; archives carry it as <blocklist xmlns='urn:xmpp:blocking'>.
import xml from "@xmpp/xml";
import type { AccountSession } from "./session.js";
import { NS_BLOCKING } from "../xmpp/namespaces.js";

export async function getBlocklist(s: AccountSession): Promise<string[]> {
  const res = await s.iq("get", xml("blocklist", { xmlns: NS_BLOCKING }));
  const items = res.getChild("blocklist", NS_BLOCKING)?.getChildren("item") ?? [];
  return items.map((i) => i.attrs.jid).filter((j): j is string => typeof j === "string");
}

export async function block(s: AccountSession, jids: string[]): Promise<void> {
  if (jids.length === 0) return;
  await s.iq(
    "set",
    xml(
      "block",
      { xmlns: NS_BLOCKING },
      jids.map((jid) => xml("item", { jid })),
    ),
  );
}
