// Client of the companion Prosody module (prosody-module/mod_account_portability.lua). Protocol, in
// this project's namespace, all IQs addressed to the user's host (see prosody-module/README.md):
//   get <archive-query user after? max? start? end?/>  → <archive-page complete last?> <result xmlns=mam:2>… </archive-page>
//   set <archive-append user> <result id><forwarded><delay stamp/><message/></forwarded></result>… → <archive-appended added skipped/>
//   set <presence-as user to type> payload* </presence-as>
//   set <apply-move user new old> <name/>? <group/>* </apply-move> → <move-applied subscribed-back/>, or conflict + reason
//   moved notices arrive as <message from=host><moved-subscribe xmlns=NS user><presence xmlns=jabber:client…/>
//     <roster-item jid subscription name? ask?><group/>*</roster-item>*</moved-subscribe></message>
import xml from "@xmpp/xml";
import type { Element } from "@xmpp/xml";
import { cloneElement } from "../xmpp/xml-util.js";
import type { XmppLink } from "../xmpp/link.js";
import { domainOf } from "../xmpp/jid.js";
import {
  NS_CLIENT,
  NS_COMPANION,
  NS_DELAY,
  NS_DISCO_INFO,
  NS_FORWARD,
  NS_MAM,
  NS_MOVED,
} from "../xmpp/namespaces.js";
import { asStanzaError, XmppStanzaError } from "../xmpp/stanza-error.js";
import type { ArchivedMessage, RosterItem } from "./model.js";
import {
  MoveNotApplicable,
  type ArchivePage,
  type CompanionClient,
  type MovedSubscribe,
} from "./companion-api.js";
import { parseMamResult } from "./mam.js";
import { parseRosterItem } from "./roster.js";

function localOf(jid: string): string {
  return jid.slice(0, jid.indexOf("@"));
}

export function archivedToResult(m: ArchivedMessage): Element {
  const message = cloneElement(m.message);
  message.attrs.xmlns = NS_CLIENT;
  return xml(
    "result",
    { xmlns: NS_MAM, id: m.id },
    xml("forwarded", { xmlns: NS_FORWARD }, xml("delay", { xmlns: NS_DELAY, stamp: m.stamp }), message),
  );
}

export function createCompanionClient(link: XmppLink): CompanionClient {
  const probed = new Map<string, boolean>();
  link.onOffline(() => probed.clear());

  async function call(
    user: string,
    type: "get" | "set",
    payload: Element,
    timeoutMs = 60_000,
  ): Promise<Element> {
    try {
      return await link.request(xml("iq", { type, to: domainOf(user) }, payload), timeoutMs);
    } catch (err) {
      throw asStanzaError(err) ?? err;
    }
  }

  return {
    async probe(host) {
      const known = probed.get(host);
      if (known !== undefined) return known;
      let ok: boolean;
      try {
        const res = await link.request(
          xml("iq", { type: "get", to: host }, xml("query", { xmlns: NS_DISCO_INFO })),
          5000,
        );
        ok = (res.getChild("query", NS_DISCO_INFO)?.getChildren("feature") ?? []).some(
          (f) => f.attrs.var === NS_COMPANION,
        );
      } catch {
        ok = false;
      }
      probed.set(host, ok);
      return ok;
    },

    async readArchive(user, q): Promise<ArchivePage> {
      const res = await call(
        user,
        "get",
        xml("archive-query", {
          xmlns: NS_COMPANION,
          user: localOf(user),
          after: q.after,
          max: q.max !== undefined ? String(q.max) : undefined,
          start: q.start,
          end: q.end,
        }),
      );
      const page = res.getChild("archive-page", NS_COMPANION);
      if (!page)
        throw new XmppStanzaError("undefined-condition", "cancel", "companion reply without archive-page");
      const items = page
        .getChildren("result", NS_MAM)
        .map(parseMamResult)
        .filter((m): m is ArchivedMessage => m !== null);
      const last = page.attrs.last ?? items[items.length - 1]?.id;
      return { items, complete: page.attrs.complete === "true", ...(last ? { last } : {}) };
    },

    async appendArchive(user, items) {
      if (items.length === 0) return { added: 0, skipped: 0 };
      const res = await call(
        user,
        "set",
        xml("archive-append", { xmlns: NS_COMPANION, user: localOf(user) }, items.map(archivedToResult)),
        120_000,
      );
      const r = res.getChild("archive-appended", NS_COMPANION);
      return { added: Number(r?.attrs.added ?? 0), skipped: Number(r?.attrs.skipped ?? 0) };
    },

    async sendPresence(user, to, type, payload = []) {
      await call(
        user,
        "set",
        xml(
          "presence-as",
          { xmlns: NS_COMPANION, user: localOf(user), to, type },
          payload.map((p) => cloneElement(p)),
        ),
        20_000,
      );
    },

    async applyMove(user, move) {
      try {
        const res = await call(
          user,
          "set",
          xml(
            "apply-move",
            { xmlns: NS_COMPANION, user: localOf(user), new: move.newJid, old: move.oldJid },
            move.name ? xml("name", {}, move.name) : null,
            move.groups.map((g) => xml("group", {}, g)),
          ),
          20_000,
        );
        const done = res.getChild("move-applied", NS_COMPANION);
        return { subscribedBack: done?.attrs["subscribed-back"] === "true" };
      } catch (err) {
        if (err instanceof XmppStanzaError && err.condition === "conflict")
          throw new MoveNotApplicable(err.text ?? "conflict");
        throw err;
      }
    },

    onMovedSubscribe(listener) {
      return link.onStanza((el) => {
        if (el.name !== "message") return;
        const from = el.attrs.from ?? "";
        const wrap = el.getChild("moved-subscribe", NS_COMPANION);
        // Only a host itself (no @) may speak for the module; probed hosts only.
        if (!wrap || from.includes("@") || from.includes("/") || probed.get(from) !== true) return;
        const presence = wrap.getChild("presence");
        const moved = presence?.getChild("moved", NS_MOVED);
        if (!presence || !moved || presence.attrs.type !== "subscribe") return;
        const user = (presence.attrs.to ?? "").split("/")[0]?.toLowerCase() ?? "";
        const sender = (presence.attrs.from ?? "").split("/")[0]?.toLowerCase() ?? "";
        if (domainOf(user) !== from || !sender) return;
        const oldJid = moved.getChildText("old-jid")?.trim() ?? "";
        const items = wrap
          .getChildren("roster-item", NS_COMPANION)
          .map(parseRosterItem)
          .filter((i): i is RosterItem => i !== null);
        const itemFor = (jid: string) => items.find((i) => i.jid.toLowerCase() === jid.toLowerCase());
        const notice: MovedSubscribe = {
          user,
          from: sender,
          oldJid,
          presence,
          senderItem: itemFor(sender),
          oldItem: oldJid ? itemFor(oldJid) : undefined,
        };
        listener(notice);
      });
    },
  };
}
