// Plain chat messages from the component to a user (progress, results, moved notices). They carry the
// XEP-0334 <no-permanent-store/> hint: Prosody's mod_mam skips messages with <no-store/> or
// <no-permanent-store/>, so they stay out of the user's history (and the next export), while this one,
// unlike <no-store/>, still lets offline storage keep them for a user who is not online.
import xml from "@xmpp/xml";
import type { XmppLink } from "./link.js";
import { NS_HINTS, NS_OOB } from "./namespaces.js";
import { clip } from "./stanza-size.js";

/** Long reports (many notes) are cut: a chat message must stay far below the stanza limit. */
const MAX_BODY = 16_000;

export async function sendChat(
  link: Pick<XmppLink, "send" | "domain">,
  to: string,
  body: string,
  oob?: { url: string; desc?: string },
): Promise<void> {
  await link.send(
    xml(
      "message",
      { to, from: link.domain, type: "chat" },
      xml("body", {}, clip(body, MAX_BODY)),
      oob
        ? xml("x", { xmlns: NS_OOB }, xml("url", {}, oob.url), oob.desc ? xml("desc", {}, oob.desc) : null)
        : null,
      xml("no-permanent-store", { xmlns: NS_HINTS }),
    ),
  );
}
