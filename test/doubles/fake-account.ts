// An in-memory account behind the AccountSession interface, in the spirit of xmpp.js's @xmpp/test:
// it answers the IQs collect and apply send (roster, vCard, PEP, private XML, blocking, disco) the way
// Prosody does, records every stanza it was sent (`sent`), and can be told to refuse a namespace.
// Unit tests of the transfer pipeline run against it without a server.
import xml from "@xmpp/xml";
import type { Element } from "@xmpp/xml";
import {
  NS_BLOCKING,
  NS_DATA,
  NS_DISCO_INFO,
  NS_DISCO_ITEMS,
  NS_PRIVATE,
  NS_PUBSUB,
  NS_PUBSUB_OWNER,
  NS_ROSTER,
  NS_VCARD_TEMP,
} from "../../src/xmpp/namespaces.js";
import { XmppStanzaError } from "../../src/xmpp/stanza-error.js";
import { CAPABILITIES, type Capability } from "../../src/account/capabilities.js";
import type { ArchivedMessage, RosterItem } from "../../src/account/model.js";
import type { AccountSession, IqOptions } from "../../src/account/session.js";
import type { SubscriptionPresence } from "../../src/account/companion-api.js";
import { parseRosterItem, rosterItemElement } from "../../src/account/roster.js";

export interface FakeNode {
  config: Map<string, string[]>;
  /** Oldest first. */
  items: { id: string; payload: Element }[];
}

export interface FakeAccountState {
  roster: Map<string, RosterItem>;
  vcard: Element | null;
  pep: Map<string, FakeNode>;
  /** Keyed "name ns". */
  privateXml: Map<string, Element>;
  blocklist: Set<string>;
  archive: ArchivedMessage[];
  /** Features of the account's disco#info (XEP-0402 compat by default). */
  features: Set<string>;
}

export interface SentPresence {
  to: string;
  type: SubscriptionPresence;
  payload: Element[];
}

export interface FakeAccount extends AccountSession {
  readonly state: FakeAccountState;
  /** Every IQ set this account received, in order. */
  readonly sets: Element[];
  readonly presences: SentPresence[];
  /** Namespaces answered with an error (condition). */
  readonly refuse: Map<string, string>;
  /** Capabilities taken away. */
  readonly without: Set<Capability>;
  /** Called before each archive page (tests throw here to simulate a lost server). */
  beforeArchivePage?: (after: string | undefined) => void;
}

export function fakeAccount(jid: string, kind: "privileged" | "client" = "privileged"): FakeAccount {
  const state: FakeAccountState = {
    roster: new Map(),
    vcard: null,
    pep: new Map(),
    privateXml: new Map(),
    blocklist: new Set(),
    archive: [],
    features: new Set(["urn:xmpp:bookmarks:1#compat"]),
  };
  const sets: Element[] = [];
  const presences: SentPresence[] = [];
  const refuse = new Map<string, string>();
  const without = new Set<Capability>();

  const result = (...children: Element[]): Element => xml("iq", { type: "result" }, ...children);

  function pubsubGet(ps: Element): Element {
    const items = ps.getChild("items");
    const node = state.pep.get(items?.attrs.node ?? "");
    if (!node) throw new XmppStanzaError("item-not-found", "cancel");
    // Prosody answers newest first.
    const out = [...node.items].reverse().map((i) => xml("item", { id: i.id }, i.payload));
    return result(xml("pubsub", { xmlns: NS_PUBSUB }, xml("items", { node: items?.attrs.node }, out)));
  }

  function formValues(x: Element | undefined): Map<string, string[]> {
    const m = new Map<string, string[]>();
    for (const f of x?.getChildren("field") ?? []) {
      if (f.attrs.var && f.attrs.var !== "FORM_TYPE")
        m.set(
          f.attrs.var,
          f.getChildren("value").map((v) => v.getText()),
        );
    }
    return m;
  }

  function pubsubSet(ps: Element): Element {
    const pub = ps.getChild("publish");
    if (!pub?.attrs.node) throw new XmppStanzaError("bad-request", "modify");
    const options = formValues(ps.getChild("publish-options")?.getChild("x", NS_DATA));
    let node = state.pep.get(pub.attrs.node);
    if (node) {
      // Like Prosody: publish-options must match the node's configuration.
      for (const [k, v] of options) {
        const have = node.config.get(k);
        if (have && have.join() !== v.join()) throw new XmppStanzaError("conflict", "cancel");
      }
    } else {
      node = { config: options, items: [] };
      state.pep.set(pub.attrs.node, node);
    }
    const item = pub.getChild("item");
    const payload = item?.getChildElements()[0];
    if (!item?.attrs.id || !payload) throw new XmppStanzaError("bad-request", "modify");
    node.items = node.items.filter((i) => i.id !== item.attrs.id);
    node.items.push({ id: item.attrs.id, payload });
    return result();
  }

  function handle(type: "get" | "set", payload: Element): Element {
    const ns = payload.attrs.xmlns ?? "";
    const refused = refuse.get(ns);
    if (refused) throw new XmppStanzaError(refused, "cancel");
    if (type === "set") sets.push(payload);
    switch (ns) {
      case NS_ROSTER: {
        if (type === "get")
          return result(
            xml(
              "query",
              { xmlns: NS_ROSTER },
              [...state.roster.values()].map((i) => rosterItemElement(i)),
            ),
          );
        const el = payload.getChild("item");
        if (!el?.attrs.jid) throw new XmppStanzaError("bad-request", "modify");
        if (el.attrs.subscription === "remove") state.roster.delete(el.attrs.jid);
        else {
          const parsed = parseRosterItem(el);
          const old = state.roster.get(el.attrs.jid);
          if (parsed)
            state.roster.set(el.attrs.jid, {
              ...parsed,
              subscription: old?.subscription ?? "none",
              ...(old?.ask ? { ask: old.ask } : {}),
            });
        }
        return result();
      }
      case NS_VCARD_TEMP:
        if (type === "get") return result(state.vcard ?? xml("vCard", { xmlns: NS_VCARD_TEMP }));
        state.vcard = payload;
        return result();
      case NS_DISCO_ITEMS:
        return result(
          xml(
            "query",
            { xmlns: NS_DISCO_ITEMS },
            [...state.pep.keys()].map((node) => xml("item", { jid: jid, node })),
          ),
        );
      case NS_DISCO_INFO:
        return result(
          xml(
            "query",
            { xmlns: NS_DISCO_INFO },
            [...state.features].map((v) => xml("feature", { var: v })),
          ),
        );
      case NS_PUBSUB:
        return type === "get" ? pubsubGet(payload) : pubsubSet(payload);
      case NS_PUBSUB_OWNER: {
        const conf = payload.getChild("configure");
        const node = state.pep.get(conf?.attrs.node ?? "");
        if (payload.getChild("affiliations")) throw new XmppStanzaError("feature-not-implemented", "cancel");
        if (!node) throw new XmppStanzaError("item-not-found", "cancel");
        if (type === "set") {
          for (const [k, v] of formValues(conf?.getChild("x", NS_DATA))) node.config.set(k, v);
          return result();
        }
        return result(
          xml(
            "pubsub",
            { xmlns: NS_PUBSUB_OWNER },
            xml(
              "configure",
              { node: conf?.attrs.node },
              xml(
                "x",
                { xmlns: NS_DATA, type: "form" },
                [...node.config].map(([k, vs]) =>
                  xml(
                    "field",
                    { var: k },
                    vs.map((v) => xml("value", {}, v)),
                  ),
                ),
              ),
            ),
          ),
        );
      }
      case NS_PRIVATE: {
        const frag = payload.getChildElements()[0];
        if (!frag) throw new XmppStanzaError("bad-request", "modify");
        const key = `${frag.name} ${frag.attrs.xmlns ?? ""}`;
        if (type === "get")
          return result(
            xml(
              "query",
              { xmlns: NS_PRIVATE },
              state.privateXml.get(key) ?? xml(frag.name, { xmlns: frag.attrs.xmlns }),
            ),
          );
        state.privateXml.set(key, frag);
        return result();
      }
      case NS_BLOCKING:
        if (type === "get")
          return result(
            xml(
              "blocklist",
              { xmlns: NS_BLOCKING },
              [...state.blocklist].map((j) => xml("item", { jid: j })),
            ),
          );
        for (const i of payload.getChildren("item")) if (i.attrs.jid) state.blocklist.add(i.attrs.jid);
        return result();
      default:
        throw new XmppStanzaError("service-unavailable", "cancel");
    }
  }

  const account: FakeAccount = {
    jid,
    kind,
    state,
    sets,
    presences,
    refuse,
    without,
    iq(type: "get" | "set", payload: Element, _opts?: IqOptions) {
      try {
        return Promise.resolve(handle(type, payload));
      } catch (err) {
        return Promise.reject(err instanceof Error ? err : new Error(String(err)));
      }
    },
    capabilities: () => Promise.resolve(new Set(CAPABILITIES.filter((c) => !without.has(c)))),
    missing: (c) => `no ${c} in this test`,
    readArchive(q) {
      account.beforeArchivePage?.(q.after);
      const matching = state.archive.filter(
        (m) => (!q.start || m.stamp >= q.start) && (!q.end || m.stamp <= q.end),
      );
      const from = q.after ? matching.findIndex((m) => m.id === q.after) + 1 : 0;
      const items = matching.slice(from, from + (q.max ?? 100));
      const last = items[items.length - 1]?.id;
      return Promise.resolve({
        items,
        complete: from + items.length >= matching.length,
        ...(last ? { last } : {}),
      });
    },
    appendArchive(items) {
      let added = 0;
      for (const m of items) {
        if (state.archive.some((x) => x.id === m.id)) continue;
        state.archive.push(m);
        added++;
      }
      return Promise.resolve({ added, skipped: items.length - added, overQuota: 0 });
    },
    finishArchiveImport() {
      // Like the companion module: the history ends up in time order.
      state.archive.sort((a, b) => a.stamp.localeCompare(b.stamp));
      return Promise.resolve();
    },
    sendPresence(to, type, payload = []) {
      presences.push({ to, type, payload });
      return Promise.resolve();
    },
  };
  return account;
}
