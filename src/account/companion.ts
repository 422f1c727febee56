// Client of the companion Prosody module (prosody-module/mod_account_portability.lua); the protocol is
// described in prosody-module/README.md. All IQs go to the user's host; forwarded stanzas (moved
// subscribes, bounces) are trusted only from a probed host itself.
import { randomUUID } from "node:crypto";
import xml from "@xmpp/xml";
import type { Element } from "@xmpp/xml";
import { cloneElement } from "../xmpp/xml-util.js";
import type { XmppLink } from "../xmpp/link.js";
import { bareOf, domainOf, localOf } from "../xmpp/jid.js";
import { NS_COMPANION, NS_DISCO_INFO, NS_MAM, NS_MOVED } from "../xmpp/namespaces.js";
import { asStanzaError, XmppStanzaError } from "../xmpp/stanza-error.js";
import { DEFAULT_STANZA_LIMIT, stanzaBytes } from "../xmpp/stanza-size.js";
import type { ArchivedMessage, RosterItem } from "./model.js";
import {
  CompanionOpMissing,
  MoveNotApplicable,
  type MoveToApply,
  type ArchivePage,
  type CompanionClient,
  type PresenceBounce,
} from "./companion-api.js";
import { archivedToResult, parseMamResult } from "./mam.js";
import { parseRosterItem } from "./roster.js";
import { statementFromError, statementFromItems } from "./moved-statement.js";

/** Room for the <iq/> and <archive-append/> around a batch. */
const APPEND_OVERHEAD = 2048;

/**
 * Splits archive items into batches whose serialised results fit in `budget` bytes each; an item that
 * alone is larger can never be sent and is returned apart.
 */
export function batchByBytes(
  items: ArchivedMessage[],
  budget: number,
): { batches: Element[][]; tooLarge: ArchivedMessage[] } {
  const batches: Element[][] = [];
  const tooLarge: ArchivedMessage[] = [];
  let current: Element[] = [];
  let bytes = 0;
  for (const m of items) {
    const el = archivedToResult(m);
    const size = stanzaBytes(el);
    if (size > budget) {
      tooLarge.push(m);
      continue;
    }
    if (bytes + size > budget && current.length > 0) {
      batches.push(current);
      current = [];
      bytes = 0;
    }
    current.push(el);
    bytes += size;
  }
  if (current.length > 0) batches.push(current);
  return { batches, tooLarge };
}

/**
 * Who sent a forwarded moved subscribe, to whom, and the <old-jid/> text. The module sends these as
 * attributes; a module before that sent the whole presence, still understood.
 */
export function movedFacts(
  wrap: Element,
  host: string,
): { user: string; sender: string; oldJid: string } | undefined {
  const presence = wrap.getChild("presence");
  if (presence) {
    const moved = presence.getChild("moved", NS_MOVED);
    if (!moved || presence.attrs.type !== "subscribe") return;
    const user = bareOf(presence.attrs.to ?? "");
    const sender = bareOf(presence.attrs.from ?? "");
    if (domainOf(user) !== host || !sender) return;
    return { user, sender, oldJid: moved.getChildText("old-jid")?.trim() ?? "" };
  }
  const { user: local, from: sender, "old-jid": oldJid } = wrap.attrs;
  if (!local || !sender || local.includes("@") || local.includes("/")) return;
  return { user: `${local}@${host}`, sender: bareOf(sender), oldJid: (oldJid ?? "").trim() };
}

export function createCompanionClient(
  link: XmppLink,
  opts: {
    stanzaLimitBytes?: number;
    /** How much longer than its statement fetch a verify-move may take to answer (tests shorten it). */
    verifyReplyMarginMs?: number;
  } = {},
): CompanionClient {
  const verifyReplyMarginMs = opts.verifyReplyMarginMs ?? 10_000;
  const appendBudget = (opts.stanzaLimitBytes ?? DEFAULT_STANZA_LIMIT) - APPEND_OVERHEAD;
  const probed = new Map<string, boolean>();
  link.onOffline(() => probed.clear());

  /** The module's wrapper element `name` of a message, when a probed host itself (no @) sent it. */
  function fromModule(el: Element, name: string): Element | undefined {
    const from = el.attrs.from ?? "";
    if (el.name !== "message" || from.includes("@") || from.includes("/") || probed.get(from) !== true)
      return;
    return el.getChild(name, NS_COMPANION);
  }

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

  /** verify-cancel: whether a verify-move that got no answer in time was applied (else it never will be). */
  async function cancelVerify(
    user: string,
    ticket: string,
  ): Promise<{ state: string; subscribedBack: boolean }> {
    const res = await call(
      user,
      "set",
      xml("verify-cancel", { xmlns: NS_COMPANION, user: localOf(user), ticket }),
      20_000,
    );
    const c = res.getChild("verify-canceled", NS_COMPANION);
    return { state: c?.attrs.state ?? "", subscribedBack: c?.attrs["subscribed-back"] === "true" };
  }

  /** apply-move or verify-move: the roster no longer fitting is MoveNotApplicable, an unknown op CompanionOpMissing. */
  async function moveRequest(
    op: "apply-move" | "verify-move",
    user: string,
    move: MoveToApply,
    attrs: Record<string, string>,
    timeoutMs: number,
  ): Promise<Element> {
    try {
      return await call(
        user,
        "set",
        xml(
          op,
          {
            xmlns: NS_COMPANION,
            user: localOf(user),
            new: move.newJid,
            old: move.oldJid,
            hold: move.hold,
            ...attrs,
          },
          move.name ? xml("name", {}, move.name) : null,
          move.groups.map((g) => xml("group", {}, g)),
        ),
        timeoutMs,
      );
    } catch (err) {
      if (err instanceof XmppStanzaError && err.condition === "conflict")
        throw new MoveNotApplicable(err.text ?? "conflict");
      if (
        err instanceof XmppStanzaError &&
        (err.condition === "service-unavailable" || err.condition === "feature-not-implemented")
      )
        throw new CompanionOpMissing(op);
      throw err;
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
      if (items.length === 0) return { added: 0, skipped: 0, overQuota: 0 };
      // Split by bytes: a batch of large messages must not exceed the stanza limit (stanza-size.ts).
      const { batches, tooLarge } = batchByBytes(items, appendBudget);
      let added = 0;
      let skipped = tooLarge.length;
      let overQuota = 0;
      for (const batch of batches) {
        const res = await call(
          user,
          "set",
          xml("archive-append", { xmlns: NS_COMPANION, user: localOf(user) }, batch),
          120_000,
        );
        const r = res.getChild("archive-appended", NS_COMPANION);
        added += Number(r?.attrs.added ?? 0);
        skipped += Number(r?.attrs.skipped ?? 0);
        overQuota += Number(r?.attrs["over-quota"] ?? 0);
      }
      return { added, skipped, overQuota, ...(tooLarge.length > 0 ? { tooLarge: tooLarge.length } : {}) };
    },

    async endArchiveImport(user) {
      // Sorting a large archive on internal storage rewrites it once: allow for that.
      const res = await call(
        user,
        "set",
        xml("archive-import-end", { xmlns: NS_COMPANION, user: localOf(user) }),
        300_000,
      );
      return { reordered: res.getChild("archive-import-ended", NS_COMPANION)?.attrs.reordered === "true" };
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
      const res = await moveRequest("apply-move", user, move, {}, 20_000);
      const done = res.getChild("move-applied", NS_COMPANION);
      return { subscribedBack: done?.attrs["subscribed-back"] === "true" };
    },

    async verifyAndApplyMove(user, move, timeoutMs) {
      const seconds = Math.max(1, Math.ceil(timeoutMs / 1000));
      const ticket = randomUUID();
      let res: Element;
      try {
        res = await moveRequest(
          "verify-move",
          user,
          move,
          { timeout: String(seconds), ticket },
          Math.max(100, seconds * 1000 + verifyReplyMarginMs),
        );
      } catch (err) {
        // No answer in time (a swamped server): the module may still apply the move afterwards, which
        // would go unrecorded and untold. Ask; from then on it is either applied or never will be.
        if (!(err instanceof XmppStanzaError && err.condition === "remote-server-timeout")) throw err;
        const after = await cancelVerify(user, ticket).catch(() => undefined);
        if (after?.state === "applied") return { applied: true, subscribedBack: after.subscribedBack };
        throw err;
      }
      const done = res.getChild("move-applied", NS_COMPANION);
      if (done) return { applied: true, subscribedBack: done.attrs["subscribed-back"] === "true" };
      const fetched = res.getChild("move-not-verified", NS_COMPANION);
      if (!fetched)
        throw new XmppStanzaError("undefined-condition", "cancel", "companion reply without a verdict");
      const error = fetched.getChild("error");
      const statement = error
        ? statementFromError(XmppStanzaError.fromStanza(fetched))
        : statementFromItems(fetched);
      return { applied: false, statement };
    },

    async releaseMoved(user, hold) {
      try {
        await call(
          user,
          "set",
          xml("moved-release", { xmlns: NS_COMPANION, user: localOf(user), hold }),
          20_000,
        );
        return true;
      } catch (err) {
        if (err instanceof XmppStanzaError && err.condition === "item-not-found") return false;
        throw err;
      }
    },

    async listUsers(host, after, max) {
      const res = await call(
        host, // domainOf(host) is the host itself
        "get",
        xml("list-users", { xmlns: NS_COMPANION, after, max: max !== undefined ? String(max) : undefined }),
      );
      const list = res.getChild("users", NS_COMPANION);
      if (!list) throw new XmppStanzaError("undefined-condition", "cancel", "companion reply without users");
      return {
        users: list.getChildren("user").map((u) => u.attrs.name ?? ""),
        total: Number(list.attrs.total ?? 0),
        complete: list.attrs.complete === "true",
      };
    },

    onMovedSubscribe(listener) {
      return link.onStanza((el) => {
        const from = el.attrs.from ?? "";
        // The module sends the notices of one burst together, several to a message.
        if (!fromModule(el, "moved-subscribe")) return;
        for (const wrap of el.getChildren("moved-subscribe", NS_COMPANION)) {
          const facts = movedFacts(wrap, from);
          if (!facts) continue;
          const { user, sender, oldJid } = facts;
          const items = wrap
            .getChildren("roster-item", NS_COMPANION)
            .map(parseRosterItem)
            .filter((i): i is RosterItem => i !== null);
          const itemFor = (jid: string) => items.find((i) => i.jid.toLowerCase() === jid.toLowerCase());
          listener({
            user,
            from: sender,
            oldJid,
            senderItem: itemFor(sender),
            oldItem: oldJid ? itemFor(oldJid) : undefined,
            ...(wrap.attrs.hold ? { hold: wrap.attrs.hold } : {}),
          });
        }
      });
    },

    onPresenceBounce(listener) {
      return link.onStanza((el) => {
        const wrap = fromModule(el, "presence-error");
        const presence = wrap?.getChild("presence");
        if (!wrap || !presence || presence.attrs.type !== "error") return;
        const user = bareOf(presence.attrs.to ?? "");
        const contact = bareOf(presence.attrs.from ?? "");
        if (!contact || domainOf(user) !== el.attrs.from) return;
        const err = XmppStanzaError.fromStanza(presence);
        const bounce: PresenceBounce = {
          user,
          contact,
          condition: err.condition,
          ...(err.text ? { text: err.text } : {}),
        };
        listener(bounce);
      });
    },
  };
}
