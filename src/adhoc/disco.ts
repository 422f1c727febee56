// Service discovery for the component (XEP-0030) and its command list (XEP-0050 §2). The list differs
// per requester: users of other domains see nothing, admin commands only show to admins.
import xml from "@xmpp/xml";
import type { Element } from "@xmpp/xml";
import type { XmppLink } from "../xmpp/link.js";
import { NS_COMMANDS, NS_DATA, NS_DISCO_INFO, NS_DISCO_ITEMS } from "../xmpp/namespaces.js";
import { stanzaError } from "../xmpp/stanza-error.js";
import type { CommandRouter } from "./router.js";

export const COMPONENT_NAME = "Account portability";

export function registerDisco(link: XmppLink, router: CommandRouter): void {
  link.handleIq("get", NS_DISCO_INFO, "query", (iq) => discoInfo(iq, router));
  link.handleIq("get", NS_DISCO_ITEMS, "query", (iq) => discoItems(iq, link.domain, router));
  link.handleIq("set", NS_COMMANDS, "command", (iq) => router.handle(iq));
}

export function discoInfo(iq: Element, router: CommandRouter): Element {
  const node = iq.getChild("query", NS_DISCO_INFO)?.attrs.node;
  const from = iq.attrs.from ?? "";
  if (!node) {
    return xml(
      "query",
      { xmlns: NS_DISCO_INFO },
      xml("identity", { category: "component", type: "generic", name: COMPONENT_NAME }),
      xml("feature", { var: NS_DISCO_INFO }),
      xml("feature", { var: NS_DISCO_ITEMS }),
      xml("feature", { var: NS_COMMANDS }),
      xml("feature", { var: NS_DATA }),
    );
  }
  if (node === NS_COMMANDS) {
    return xml(
      "query",
      { xmlns: NS_DISCO_INFO, node },
      xml("identity", { category: "automation", type: "command-list", name: "Commands" }),
    );
  }
  const cmd = router.find(node);
  if (!cmd) return stanzaError("cancel", "item-not-found");
  if (!router.mayRun(from, cmd)) return stanzaError("cancel", "forbidden");
  return xml(
    "query",
    { xmlns: NS_DISCO_INFO, node },
    xml("identity", { category: "automation", type: "command-node", name: cmd.name }),
    xml("feature", { var: NS_COMMANDS }),
    xml("feature", { var: NS_DATA }),
  );
}

export function discoItems(iq: Element, domain: string, router: CommandRouter): Element {
  const node = iq.getChild("query", NS_DISCO_ITEMS)?.attrs.node;
  if (node !== NS_COMMANDS) return xml("query", { xmlns: NS_DISCO_ITEMS, ...(node ? { node } : {}) });
  return xml(
    "query",
    { xmlns: NS_DISCO_ITEMS, node },
    router.visible(iq.attrs.from ?? "").map((c) => xml("item", { jid: domain, node: c.node, name: c.name })),
  );
}
