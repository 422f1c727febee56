// Plain chat messages from the component to a user (progress, results, moved notices).
import xml from "@xmpp/xml";
import type { XmppLink } from "./link.js";
import { NS_OOB } from "./namespaces.js";

export async function sendChat(
  link: XmppLink,
  to: string,
  body: string,
  oob?: { url: string; desc?: string },
): Promise<void> {
  await link.send(
    xml(
      "message",
      { to, from: link.domain, type: "chat" },
      xml("body", {}, body),
      oob
        ? xml("x", { xmlns: NS_OOB }, xml("url", {}, oob.url), oob.desc ? xml("desc", {}, oob.desc) : null)
        : null,
    ),
  );
}
