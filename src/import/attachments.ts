// Files sent to the component as ordinary attachments (XEP-0363 upload + XEP-0066 OOB in a message):
// fetched and staged for the sender, who then runs the import command.
import type { Logger } from "../log/logger.js";
import type { XmppLink } from "../xmpp/link.js";
import { NS_OOB } from "../xmpp/namespaces.js";
import { sendChat } from "../xmpp/chat.js";
import { bareOf, domainOf } from "../xmpp/jid.js";
import { readableError, type ImportService } from "./service.js";

export function startAttachmentIntake(deps: {
  link: XmppLink;
  imports: ImportService;
  hosts: string[];
  log: Logger;
}): () => void {
  const hosts = new Set(deps.hosts);
  return deps.link.onStanza((el) => {
    if (el.name !== "message" || el.attrs.type === "error") return;
    const from = el.attrs.from ?? "";
    const to = bareOf(el.attrs.to ?? "");
    const url = el.getChild("x", NS_OOB)?.getChildText("url")?.trim();
    if (!url || to !== deps.link.domain || !from.includes("@") || !hosts.has(domainOf(from))) return;
    const user = bareOf(from);
    void (async () => {
      try {
        await deps.imports.stageUrl(user, url);
        await sendChat(
          deps.link,
          user,
          'Received your archive. Run the "Import an account archive" command to review and import it.',
        );
      } catch (err) {
        const msg = readableError(err);
        if (!msg) deps.log.error({ err }, "attachment intake failed");
        await sendChat(deps.link, user, `I could not use that file: ${msg ?? "internal error"}`);
      }
    })().catch((err: unknown) => deps.log.warn({ err }, "could not answer an attachment"));
  });
}
