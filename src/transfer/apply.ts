// Applies account records (from an archive file or straight from another account) to an account
// session. Merge, never clobber: what the account already has wins unless the person chose the
// archive's for that section — contact names and groups, vCard, single-value PEP data (profile,
// avatar, nick), each private XML namespace; bookmarks and the blocklist are merged item by item.
// Subscription states are never faked: contacts are added with subscription none, and real requests
// are sent when asked for (tagged XEP-0283 <moved/> when the records belong to another address).
// Credentials are never applied.
//
// Each record is first *observed* (state only: the records' own address, held-back sections, whom to
// ask) and then acted on. A resumed job observes the records an earlier attempt already applied and
// acts only on the rest, so every section is applied exactly once.
import type { Element } from "@xmpp/xml";
import xml from "@xmpp/xml";
import { NS_DISCO_INFO, NS_MOVED } from "../xmpp/namespaces.js";
import { XmppStanzaError } from "../xmpp/stanza-error.js";
import { cloneElement } from "../xmpp/xml-util.js";
import { bareOf, withBare } from "../xmpp/jid.js";
import type {
  ArchivedMessage,
  NodeConfig,
  PepAffiliation,
  PepItem,
  RosterItem,
  Section,
} from "../account/model.js";
import type { AccountSession } from "../account/session.js";
import { getRoster, setRosterItem } from "../account/roster.js";
import { getItems, publish, publishPepNode } from "../account/pep.js";
import { getPrivate, setPrivate } from "../account/private-xml.js";
import { block } from "../account/blocklist.js";
import { getVcardTemp, setVcardTemp } from "../account/vcard.js";
import type { ArchiveRecord } from "../xep0227/records.js";
import type { TransferReport } from "./report.js";
import {
  FEATURE_BOOKMARKS2_COMPAT,
  NODE_BOOKMARKS2,
  NODE_LEGACY_BOOKMARKS,
  NODE_VCARD4,
  bookmarks2Options,
  isPortableNode,
  isSingleValueNode,
  hasOwnVcard,
  legacyBookmarks,
  valueNodeFor,
} from "./rules.js";

/** Sections where the person can choose the archive's data over the account's. */
export const REPLACEABLE = ["roster", "vcard", "pep", "private"] as const;
export type Replaceable = (typeof REPLACEABLE)[number];

export interface ApplyOptions {
  sections: readonly Section[];
  /** Sections where the archive's data replaces what the account has (default: the account's wins). */
  replace?: readonly Replaceable[];
  /** Collect subscription requests for contacts the old account was subscribed to (see requests()). */
  subscribe: boolean;
}

export interface SubscribeHooks {
  /** Before the request to `jid` goes out. */
  asking?: (jid: string) => Promise<void>;
  /** The server refused to send it. */
  refused?: (jid: string, err: XmppStanzaError) => Promise<void>;
  /** After each request (resume point: requests before it are not sent again). */
  sent?: (index: number) => Promise<void>;
}

const ARCHIVE_BATCH = 200;

/** Rewrites the records' own address to the importing account (resources kept). */
export function remapMessage(m: ArchivedMessage, oldJid: string, user: string): ArchivedMessage {
  if (!oldJid || oldJid === user) return m;
  const msg = cloneElement(m.message);
  for (const attr of ["from", "to"] as const) {
    const v = msg.attrs[attr];
    if (v && bareOf(v) === oldJid) msg.attrs[attr] = withBare(v, user);
  }
  return { ...m, message: msg };
}

export interface Applier {
  /** Observes and applies one record. */
  apply(r: ArchiveRecord): Promise<void>;
  /** Observes a record an earlier attempt applied (resume): state only, nothing is sent. */
  observe(r: ArchiveRecord): void;
  /** Writes what is buffered (archive batch); call before saving a resume point. */
  flush(): Promise<void>;
  /** Sends the collected subscription requests, from index `from` on (resume), throttled. */
  subscribeContacts(hooks?: SubscribeHooks, from?: number, delayMs?: number): Promise<void>;
  /** The contacts to ask, in order. */
  readonly toSubscribe: readonly string[];
  /** Archive messages waiting for the next batch (0: everything observed so far is written). */
  readonly buffered: number;
  /** The records' own address (the old account), once the user record was seen. */
  readonly oldJid: string;
}

export function createApplier(s: AccountSession, opts: ApplyOptions, report: TransferReport): Applier {
  const user = s.jid;
  const want = new Set(opts.sections);
  const replace = new Set<Section>(opts.replace ?? []);
  let oldJid = "";
  let local: Map<string, RosterItem> | null = null;
  const nodeConfigs = new Map<string, { config: NodeConfig; affiliations: PepAffiliation[] }>();
  let pendingVcard: Element | null = null;
  const pendingPrivate: Element[] = [];
  let pendingLegacyBookmarks: PepItem[] | null = null;
  let sawVcard4 = false;
  let sawBookmarks2 = false;
  let batch: ArchivedMessage[] = [];
  const toSubscribe: string[] = [];
  let bookmarks2Supported: boolean | undefined;

  /** Runs one step; a stanza error is counted and noted (and returned), anything else propagates. */
  async function guard(section: string, fn: () => Promise<void>, n = 1): Promise<XmppStanzaError | null> {
    try {
      await fn();
      report.count(section, "applied", n);
      return null;
    } catch (err) {
      if (err instanceof XmppStanzaError) {
        report.count(section, "failed", n);
        report.note(`${section}: ${err.message}`);
        return err;
      }
      throw err;
    }
  }

  async function flushArchive(): Promise<void> {
    if (batch.length === 0) return;
    const items = batch;
    batch = [];
    if (!(await s.capabilities()).has("archive-write")) {
      report.count("archive", "skipped", items.length);
      report.note(`message history not imported: ${s.missing("archive-write")}`);
      return;
    }
    const r = await s.appendArchive(items);
    report.count("archive", "applied", r.added);
    if (r.overQuota > 0) {
      report.count("archive", "skipped", r.overQuota);
      report.note("message history: the server's archive limit for your account was reached");
    }
    if (r.skipped > 0) {
      // Already there (a re-import, or history both accounts share): nothing to do.
      report.count("archive", "skipped", r.skipped);
      report.note("archive: messages already in your history were not added twice");
    }
  }

  async function localRoster(): Promise<Map<string, RosterItem>> {
    local ??= new Map((await getRoster(s)).map((i) => [bareOf(i.jid), i]));
    return local;
  }

  async function supportsBookmarks2(): Promise<boolean> {
    if (bookmarks2Supported === undefined) {
      const info = await s.iq("get", xml("query", { xmlns: NS_DISCO_INFO }), { to: user }).catch(() => null);
      const features = info?.getChild("query", NS_DISCO_INFO)?.getChildren("feature") ?? [];
      bookmarks2Supported = features.some((f) => f.attrs.var === FEATURE_BOOKMARKS2_COMPAT);
    }
    return bookmarks2Supported;
  }

  function observe(r: ArchiveRecord): void {
    switch (r.kind) {
      case "user":
        oldJid = bareOf(`${r.name}@${r.host}`);
        return;
      case "roster":
        if (!want.has("roster") || !opts.subscribe) return;
        for (const item of r.items) {
          const jid = bareOf(item.jid);
          if (jid === user || jid === oldJid) continue;
          if (item.subscription === "to" || item.subscription === "both") toSubscribe.push(jid);
        }
        return;
      case "vcard":
        if (want.has("vcard")) pendingVcard = r.vcard;
        return;
      case "private":
        if (want.has("private")) pendingPrivate.push(...r.payloads);
        return;
      case "pep-node":
        nodeConfigs.set(r.node, { config: r.config, affiliations: r.affiliations });
        if (r.node === NODE_VCARD4) sawVcard4 = true;
        if (r.node === NODE_BOOKMARKS2) sawBookmarks2 = true;
        return;
      case "pep-items":
        if (r.node === NODE_VCARD4) sawVcard4 = true;
        if (r.node === NODE_BOOKMARKS2) sawBookmarks2 = true;
        if (want.has("pep") && r.node === NODE_LEGACY_BOOKMARKS) pendingLegacyBookmarks = r.items;
        return;
      default:
        return;
    }
  }

  async function applyRoster(items: RosterItem[]): Promise<void> {
    const roster = await localRoster();
    for (const item of items) {
      const jid = bareOf(item.jid);
      if (jid === user || jid === oldJid) {
        report.count("roster", "skipped");
        continue;
      }
      const existing = roster.get(jid);
      if (existing && !replace.has("roster")) {
        report.count("roster", "kept");
        continue;
      }
      const merged: RosterItem = {
        jid,
        subscription: "none",
        groups: item.groups,
        ...(item.name ? { name: item.name } : existing?.name ? { name: existing.name } : {}),
      };
      await guard("roster", () => setRosterItem(s, merged));
      roster.set(jid, { ...merged, subscription: existing?.subscription ?? "none" });
    }
  }

  /** One PEP node; the section in the report is "vcard" for vCard4 (it is the person's vCard). */
  async function applyPep(node: string, items: PepItem[]): Promise<void> {
    const section = node === NODE_VCARD4 ? "vcard" : "pep";
    if (!isPortableNode(node)) {
      report.count(section, "skipped", items.length);
      return;
    }
    const c = nodeConfigs.get(node) ?? { config: new Map(), affiliations: [] };
    if (node === NODE_BOOKMARKS2) return applyBookmarks2(items);
    if (isSingleValueNode(node, c.config, items) && !replace.has(section === "vcard" ? "vcard" : "pep")) {
      const theirs = await getItems(s, valueNodeFor(node)).catch(() => []);
      if (theirs.length > 0) {
        report.count(section, "kept", items.length);
        return;
      }
    }
    await guard(
      section,
      async () => {
        const warnings = await publishPepNode(s, { node, ...c, items });
        for (const w of warnings) report.note(w);
      },
      items.length,
    );
  }

  /** XEP-0402 bookmarks, merged by room: the account's own bookmark of a room wins unless replaced. */
  async function applyBookmarks2(items: PepItem[]): Promise<void> {
    if (!(await supportsBookmarks2())) {
      // No XEP-0402 on this server: one legacy <storage/>, merged into what is there.
      pendingLegacyBookmarks = null;
      pendingPrivate.push(legacyBookmarks(items));
      report.note("bookmarks stored the old way (this server has no XEP-0402); extensions were not kept");
      return;
    }
    const existing = new Set((await getItems(s, NODE_BOOKMARKS2).catch(() => [])).map((i) => i.id));
    for (const item of items) {
      if (existing.has(item.id) && !replace.has("pep")) {
        report.count("pep", "kept");
        continue;
      }
      await guard("pep", () => publish(s, NODE_BOOKMARKS2, item, bookmarks2Options()));
    }
  }

  async function applyPrivate(fragment: Element): Promise<void> {
    const ns = fragment.attrs.xmlns ?? "";
    // storage:bookmarks is synchronised from XEP-0402 on such servers: writing it could delete bookmarks.
    if (ns === "storage:bookmarks" && sawBookmarks2 && (await supportsBookmarks2())) {
      report.count("private", "skipped");
      return;
    }
    if (!replace.has("private")) {
      const theirs = await getPrivate(s, fragment.name, ns).catch(() => undefined);
      if (theirs) {
        report.count("private", "kept");
        return;
      }
    }
    await guard("private", () => setPrivate(s, fragment));
  }

  /** Held back to the end of the account: they depend on what the whole account holds. */
  async function applyHeldBack(): Promise<void> {
    await flushArchive();
    // Once per account, also after a resume that appended nothing: history back in time order.
    if (want.has("archive") && (await s.capabilities()).has("archive-write")) await s.finishArchiveImport();
    // vcard-temp is a view of vCard4 on Prosody: only set it when the records have no vCard4.
    if (pendingVcard && !sawVcard4) {
      const card = pendingVcard;
      const theirs = replace.has("vcard") ? undefined : await getVcardTemp(s).catch(() => undefined);
      if (theirs && hasOwnVcard(theirs)) report.count("vcard", "kept");
      else await guard("vcard", () => setVcardTemp(s, card));
    }
    if (pendingLegacyBookmarks && !sawBookmarks2)
      await applyPep(NODE_LEGACY_BOOKMARKS, pendingLegacyBookmarks);
    for (const p of pendingPrivate) await applyPrivate(p);
  }

  return {
    observe,
    async apply(r) {
      observe(r);
      switch (r.kind) {
        case "user":
          if (r.hasPassword) report.note("the archive holds a password: never imported");
          return;
        case "scram":
          report.count("credentials", "skipped");
          return;
        case "roster":
          if (want.has("roster")) await applyRoster(r.items);
          return;
        case "pending":
          report.count("pending requests", "skipped");
          return;
        case "pep-items":
          if (!want.has("pep") || r.node === NODE_LEGACY_BOOKMARKS) return;
          await applyPep(r.node, r.items);
          return;
        case "blocklist":
          if (want.has("blocklist") && r.jids.length > 0)
            await guard("blocklist", () => block(s, r.jids), r.jids.length);
          return;
        case "offline":
          report.count("offline messages", "skipped");
          return;
        case "archive":
          if (!want.has("archive")) return;
          batch.push(remapMessage(r.message, oldJid, user));
          if (batch.length >= ARCHIVE_BATCH) await flushArchive();
          return;
        case "privacy":
          // Its blocklist-shaped part arrived as a `blocklist` record just before.
          if (r.skipped.length > 0) report.count("privacy rules", "skipped", r.skipped.length);
          for (const why of r.skipped) report.note(`not imported: ${why}`);
          return;
        case "unknown":
          report.count("other", "skipped");
          return;
        case "user-end":
          await applyHeldBack();
          return;
        default:
          return;
      }
    },
    flush: flushArchive,

    async subscribeContacts(hooks = {}, from = 0, delayMs = 0) {
      const pending = toSubscribe.slice(from);
      if (pending.length === 0) return;
      if (!(await s.capabilities()).has("presence-as-user")) {
        report.count("subscription requests", "skipped", pending.length);
        report.note(`subscription requests not sent: ${s.missing("presence-as-user")}`);
        return;
      }
      const roster = await getRoster(s);
      const subscribed = new Set(
        roster
          .filter((i) => i.subscription === "to" || i.subscription === "both" || i.ask)
          .map((i) => bareOf(i.jid)),
      );
      const moved = oldJid && oldJid !== user;
      for (const [i, jid] of pending.entries()) {
        if (subscribed.has(jid)) {
          report.count("subscription requests", "skipped");
        } else {
          const payload = moved ? [xml("moved", { xmlns: NS_MOVED }, xml("old-jid", {}, oldJid))] : [];
          await hooks.asking?.(jid);
          const err = await guard("subscription requests", () => s.sendPresence(jid, "subscribe", payload));
          if (err) await hooks.refused?.(jid, err);
          if (delayMs) await new Promise((r) => setTimeout(r, delayMs));
        }
        await hooks.sent?.(from + i + 1);
      }
    },
    get toSubscribe() {
      return toSubscribe;
    },
    get buffered() {
      return batch.length;
    },
    get oldJid() {
      return oldJid;
    },
  };
}
