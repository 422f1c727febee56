// Reads an account through its session, section by section, as the same records the XEP-0227 reader
// yields. Export writes them to a file; the moves feed them straight to apply. A section the session
// cannot read is skipped with a reason (reported to the person), never silently dropped, never fatal.
import type { Element } from "@xmpp/xml";
import { XmppStanzaError } from "../xmpp/stanza-error.js";
import { domainOf, localOf } from "../xmpp/jid.js";
import { CapabilityMissingError, type Capability } from "../account/capabilities.js";
import type { Section } from "../account/model.js";
import { archiveMessages, type AccountSession } from "../account/session.js";
import { getRoster } from "../account/roster.js";
import { getVcardTemp } from "../account/vcard.js";
import { listNodes, readPepNode } from "../account/pep.js";
import { KNOWN_PRIVATE, getPrivate } from "../account/private-xml.js";
import { getBlocklist } from "../account/blocklist.js";
import type { ArchiveRecord } from "../xep0227/records.js";
import { NODE_BOOKMARKS2, pepReadOrder } from "./rules.js";

export interface CollectOptions {
  sections: readonly Section[];
  /** ISO 8601 bounds for the message archive. */
  start?: string;
  end?: string;
  /** Archive page size. */
  pageSize?: number;
  /** Called every 1,000 archived messages and at the end of the archive. */
  onArchiveProgress?: (messages: number) => Promise<void> | void;
  signal?: AbortSignal;
}

export interface SkippedSection {
  section: string;
  reason: string;
}

export interface Collection {
  records: AsyncGenerator<ArchiveRecord>;
  /** Sections left out so far, with why (complete once `records` is exhausted). */
  readonly skipped: SkippedSection[];
}

const SECTION_NEEDS: Record<Section, Capability | null> = {
  roster: "roster-get",
  vcard: "vcard",
  pep: "pep",
  private: "private",
  blocklist: "blocklist",
  offline: null,
  archive: "archive-read",
};

export function collectAccount(s: AccountSession, opts: CollectOptions): Collection {
  const skipped: SkippedSection[] = [];
  const want = new Set(opts.sections);

  /** Reads one section; undefined when unwanted, not possible here, or refused by the server. */
  async function read<T>(name: Section, fn: () => Promise<T>): Promise<T | undefined> {
    if (!want.has(name)) return undefined;
    const need = SECTION_NEEDS[name];
    if (need && !(await s.capabilities()).has(need)) {
      skipped.push({ section: name, reason: s.missing(need) });
      return undefined;
    }
    try {
      return await fn();
    } catch (err) {
      if (err instanceof XmppStanzaError || err instanceof CapabilityMissingError) {
        skipped.push({ section: name, reason: err.message });
        return undefined;
      }
      throw err;
    }
  }

  async function* records(): AsyncGenerator<ArchiveRecord> {
    const host = domainOf(s.jid);
    const name = localOf(s.jid);
    yield { kind: "user", host, name, hasPassword: false };
    const roster = await read("roster", () => getRoster(s));
    if (roster) yield { kind: "roster", items: roster };
    const vcard = await read("vcard", () => getVcardTemp(s));
    if (vcard) yield { kind: "vcard", vcard };
    const nodes = await read("pep", async () => pepReadOrder(await listNodes(s)));
    let hasBookmarks2 = false;
    for (const node of nodes ?? []) {
      const n = await read("pep", () =>
        readPepNode(s, node).catch((err: unknown) => {
          // A listed node can be an empty server-side view (Prosody's storage:bookmarks): skip it alone.
          if (err instanceof XmppStanzaError && err.condition === "item-not-found") return null;
          throw err;
        }),
      );
      if (!n) continue;
      if (node === NODE_BOOKMARKS2) hasBookmarks2 = true;
      yield { kind: "pep-node", node, config: n.config, affiliations: n.affiliations };
      if (n.items.length > 0) yield { kind: "pep-items", node, items: n.items };
    }
    const payloads = await read("private", async () => {
      const out: Element[] = [];
      for (const p of KNOWN_PRIVATE) {
        // storage:bookmarks is a view of XEP-0402 where the account has both: carried once.
        if (p.ns === "storage:bookmarks" && hasBookmarks2) continue;
        const el = await getPrivate(s, p.name, p.ns);
        if (el) out.push(el);
      }
      return out;
    });
    if (payloads && payloads.length > 0) yield { kind: "private", payloads };
    const blocked = await read("blocklist", () => getBlocklist(s));
    if (blocked && blocked.length > 0) yield { kind: "blocklist", jids: blocked };
    if (want.has("archive")) yield* archive();
    yield { kind: "user-end", host, name };
  }

  async function* archive(): AsyncGenerator<ArchiveRecord> {
    if (!(await s.capabilities()).has("archive-read")) {
      skipped.push({ section: "archive", reason: s.missing("archive-read") });
      return;
    }
    let n = 0;
    const q = { ...(opts.start ? { start: opts.start } : {}), ...(opts.end ? { end: opts.end } : {}) };
    try {
      for await (const message of archiveMessages(s, q, opts.pageSize)) {
        if (opts.signal?.aborted)
          throw opts.signal.reason instanceof Error ? opts.signal.reason : new Error("aborted");
        yield { kind: "archive", message };
        if (++n % 1000 === 0) await opts.onArchiveProgress?.(n);
      }
    } catch (err) {
      // Nothing written yet: the section is left out with its reason. Once messages went out, a
      // partial history must not pass for a whole one, so the error ends the transfer.
      if (n === 0 && (err instanceof XmppStanzaError || err instanceof CapabilityMissingError)) {
        skipped.push({ section: "archive", reason: err.message });
        return;
      }
      throw err;
    }
    await opts.onArchiveProgress?.(n);
  }

  return { records: records(), skipped };
}
