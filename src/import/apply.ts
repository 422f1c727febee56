// Applies archive records to a local account. Merge, never clobber: existing contacts keep their local
// names unless `overwrite`; subscription states are never faked (contacts are added with subscription
// none, and real subscription requests are sent if asked, tagged XEP-0283 <moved/> when the archive
// belongs to another address); credentials are never applied. Every step is idempotent, so a resumed
// or repeated import changes nothing twice.
import type { Element } from "@xmpp/xml";
import xml from "@xmpp/xml";
import type { XmppLink } from "../xmpp/link.js";
import { NS_MOVED } from "../xmpp/namespaces.js";
import { XmppStanzaError } from "../xmpp/stanza-error.js";
import { cloneElement } from "../xmpp/xml-util.js";
import type { CompanionClient } from "../account/companion-api.js";
import type { ArchivedMessage, NodeConfig, PepAffiliation, RosterItem, Section } from "../account/model.js";
import { getRoster, setRosterItem } from "../account/roster.js";
import { isPortableNode, publishPepNode } from "../account/pep.js";
import { setPrivate } from "../account/private-xml.js";
import { block } from "../account/blocklist.js";
import { setVcardTemp } from "../account/vcard.js";
import type { ArchiveRecord } from "../xep0227/records.js";

export interface ImportOptions {
  sections: Section[];
  /** Replace names/groups of contacts that already exist locally. */
  overwrite: boolean;
  /** Send subscription requests to imported contacts the old account was subscribed to. */
  subscribe: boolean;
}

export interface ImportDeps {
  link: XmppLink;
  companion: CompanionClient;
  companionPresent: boolean;
  /** Pause between subscription requests (throttle). */
  subscribeDelayMs?: number;
}

export type Outcome = "applied" | "skipped" | "failed";

export interface SubscribeHooks {
  /** Before the request to `jid` goes out. */
  asking?: (jid: string) => Promise<void>;
  /** The server refused to send it. */
  refused?: (jid: string, err: XmppStanzaError) => Promise<void>;
}

export class ImportReport {
  readonly sections: Record<string, Record<Outcome, number>> = {};
  readonly notes: string[] = [];
  count(section: string, outcome: Outcome, n = 1): void {
    const s = (this.sections[section] ??= { applied: 0, skipped: 0, failed: 0 });
    s[outcome] += n;
  }
  note(text: string): void {
    if (this.notes.length < 50 && !this.notes.includes(text)) this.notes.push(text);
  }
  toJSON(): Record<string, unknown> {
    return { sections: this.sections, notes: this.notes };
  }
  summary(): string {
    return Object.entries(this.sections)
      .map(
        ([k, v]) =>
          `${k}: ${v.applied} applied${v.skipped ? `, ${v.skipped} skipped` : ""}${v.failed ? `, ${v.failed} failed` : ""}`,
      )
      .join("; ");
  }
}

const ARCHIVE_BATCH = 200;

function bare(jid: string | undefined): string {
  return (jid ?? "").split("/")[0]?.toLowerCase() ?? "";
}

/** Rewrites the archive's own address to the importing account (resources kept). */
export function remapMessage(m: ArchivedMessage, oldJid: string, user: string): ArchivedMessage {
  if (!oldJid || oldJid === user) return m;
  const msg = cloneElement(m.message);
  for (const attr of ["from", "to"] as const) {
    const v = msg.attrs[attr];
    if (v && bare(v) === oldJid) msg.attrs[attr] = user + v.slice(v.split("/")[0]?.length ?? 0);
  }
  return { ...m, message: msg };
}

export function createImporter(deps: ImportDeps, user: string, opts: ImportOptions, report: ImportReport) {
  const want = new Set(opts.sections);
  let oldJid = "";
  let local: Map<string, RosterItem> | null = null;
  const nodeConfigs = new Map<string, { config: NodeConfig; affiliations: PepAffiliation[] }>();
  let pendingVcard: Element | null = null;
  const pendingPrivate: Element[] = [];
  let sawVcard4 = false;
  let sawBookmarks2 = false;
  let batch: ArchivedMessage[] = [];
  const toSubscribe: string[] = [];

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
    if (!deps.companionPresent) {
      report.count("archive", "skipped", items.length);
      report.note("message history not imported: capability missing (load mod_account_portability)");
      return;
    }
    const r = await deps.companion.appendArchive(user, items);
    report.count("archive", "applied", r.added);
    report.count("archive", "skipped", r.skipped);
  }

  return {
    async apply(r: ArchiveRecord): Promise<void> {
      switch (r.kind) {
        case "user":
          oldJid = `${r.name}@${r.host}`.toLowerCase();
          if (r.hasPassword) report.note("the archive holds a password: never imported");
          return;
        case "scram":
          report.count("credentials", "skipped");
          return;
        case "roster": {
          if (!want.has("roster")) return;
          local ??= new Map((await getRoster(deps.link, user)).map((i) => [i.jid.toLowerCase(), i]));
          for (const item of r.items) {
            const jid = item.jid.toLowerCase();
            if (jid === user || jid === oldJid) {
              report.count("roster", "skipped");
              continue;
            }
            const existing = local.get(jid);
            if (existing && !opts.overwrite) {
              report.count("roster", "skipped");
            } else {
              const merged: RosterItem = {
                jid,
                subscription: "none",
                groups: item.groups,
                ...(item.name ? { name: item.name } : existing?.name ? { name: existing.name } : {}),
              };
              await guard("roster", () => setRosterItem(deps.link, user, merged));
              local.set(jid, { ...merged, subscription: existing?.subscription ?? "none" });
            }
            const current = local.get(jid);
            const alreadySubscribed =
              current?.subscription === "to" || current?.subscription === "both" || current?.ask;
            if (
              opts.subscribe &&
              (item.subscription === "to" || item.subscription === "both") &&
              !alreadySubscribed
            ) {
              toSubscribe.push(jid);
            }
          }
          return;
        }
        case "pending":
          report.count("pending requests", "skipped");
          return;
        case "vcard":
          if (want.has("vcard")) pendingVcard = r.vcard;
          return;
        case "private":
          if (want.has("private")) pendingPrivate.push(...r.payloads);
          return;
        case "pep-node":
          nodeConfigs.set(r.node, { config: r.config, affiliations: r.affiliations });
          if (r.node === "urn:xmpp:vcard4") sawVcard4 = true;
          if (r.node === "urn:xmpp:bookmarks:1") sawBookmarks2 = true;
          return;
        case "pep-items": {
          if (!want.has("pep")) return;
          if (r.node === "urn:xmpp:vcard4") sawVcard4 = true;
          if (r.node === "urn:xmpp:bookmarks:1") sawBookmarks2 = true;
          if (!isPortableNode(r.node)) {
            report.count("pep", "skipped", r.items.length);
            return;
          }
          const c = nodeConfigs.get(r.node) ?? { config: new Map(), affiliations: [] };
          await guard(
            "pep",
            async () => {
              const warnings = await publishPepNode(deps.link, user, { node: r.node, ...c, items: r.items });
              for (const w of warnings) report.note(w);
            },
            r.items.length,
          );
          return;
        }
        case "blocklist":
          if (want.has("blocklist") && r.jids.length > 0)
            await guard("blocklist", () => block(deps.link, user, r.jids), r.jids.length);
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
        case "unknown":
          report.count("other", "skipped");
          return;
        case "user-end":
          await flushArchive();
          // vcard-temp is a view of vCard4 on Prosody: only set it when the archive has no vCard4.
          if (pendingVcard && !sawVcard4)
            await guard("vcard", () => setVcardTemp(deps.link, user, pendingVcard as Element));
          else if (pendingVcard) report.count("vcard", "skipped");
          for (const p of pendingPrivate) {
            // storage:bookmarks is synchronised from XEP-0402 on Prosody: writing it could delete bookmarks.
            if (p.attrs.xmlns === "storage:bookmarks" && sawBookmarks2) {
              report.count("private", "skipped");
              continue;
            }
            await guard("private", () => setPrivate(deps.link, user, p));
          }
          return;
        case "host":
        case "host-end":
          return;
        default:
          return;
      }
    },

    /** After the data: real subscription requests, throttled; `hooks` follow each one (move progress). */
    async subscribeContacts(hooks: SubscribeHooks = {}): Promise<void> {
      if (toSubscribe.length === 0) return;
      if (!deps.companionPresent) {
        report.count("subscription requests", "skipped", toSubscribe.length);
        report.note("subscription requests not sent: capability missing (load mod_account_portability)");
        return;
      }
      const moved = oldJid && oldJid !== user;
      for (const jid of toSubscribe) {
        const payload = moved ? [xml("moved", { xmlns: NS_MOVED }, xml("old-jid", {}, oldJid))] : [];
        await hooks.asking?.(jid);
        const err = await guard("subscription requests", () =>
          deps.companion.sendPresence(user, jid, "subscribe", payload),
        );
        if (err) await hooks.refused?.(jid, err);
        if (deps.subscribeDelayMs) await new Promise((r) => setTimeout(r, deps.subscribeDelayMs));
      }
    },

    get oldJid(): string {
      return oldJid;
    },
  };
}
