// Reads one account section by section through the data-access layer and feeds the XEP-0227 writer.
// A section the server does not let us read is skipped with a reason (reported to the user), never
// silently dropped and never fatal; the archive is streamed page by page.
import type { XmppLink } from "../xmpp/link.js";
import { XmppStanzaError } from "../xmpp/stanza-error.js";
import type { PrivilegeRegistry } from "../privilege/registry.js";
import type { CompanionClient, ArchiveQuery } from "../account/companion-api.js";
import type { PepNode, Section } from "../account/model.js";
import { CapabilityMissingError, grantedCapabilities, type Capability } from "../account/capabilities.js";
import { getRoster } from "../account/roster.js";
import { getVcardTemp } from "../account/vcard.js";
import { isPortableNode, listNodes, readPepNode } from "../account/pep.js";
import { KNOWN_PRIVATE, getPrivate } from "../account/private-xml.js";
import { getBlocklist } from "../account/blocklist.js";
import { queryArchivePage } from "../account/mam.js";
import type { ArchiveWriter } from "../xep0227/writer.js";
import { domainOf } from "../xmpp/jid.js";

export interface ExportDeps {
  link: XmppLink;
  privileges: PrivilegeRegistry;
  companion: CompanionClient;
  /** Archive page size (tests make it small to widen timing windows). */
  pageSize?: number;
}

export interface ExportOptions {
  sections: Section[];
  /** ISO 8601 bounds for the message archive. */
  start?: string;
  end?: string;
}

export interface ExportReport {
  counts: Record<string, number>;
  skipped: { section: string; reason: string }[];
}

const PAGE = 250;

/** Pages through a user's archive: the companion module when present, else MAM via privilege. */
export async function* archiveMessages(
  deps: ExportDeps,
  user: string,
  q: Omit<ArchiveQuery, "after" | "max">,
) {
  const useCompanion = await deps.companion.probe(domainOf(user));
  let after: string | undefined;
  for (;;) {
    const query: ArchiveQuery = { ...q, max: deps.pageSize ?? PAGE, ...(after ? { after } : {}) };
    let page;
    try {
      page = useCompanion
        ? await deps.companion.readArchive(user, query)
        : await queryArchivePage(deps.link, user, query);
    } catch (err) {
      // Stock mod_privilege crashes on MAM results (harness notes §5).
      if (!useCompanion && err instanceof XmppStanzaError && err.condition === "internal-server-error") {
        throw new CapabilityMissingError("archive-read", domainOf(user));
      }
      throw err;
    }
    for (const m of page.items) yield m;
    if (page.complete || page.items.length === 0 || !page.last) return;
    after = page.last;
  }
}

export async function collectAccount(
  deps: ExportDeps,
  user: string,
  opts: ExportOptions,
  w: ArchiveWriter,
  onArchiveProgress: (messages: number) => Promise<void> | void,
  signal?: AbortSignal,
): Promise<ExportReport> {
  const host = domainOf(user);
  const privileges = await deps.privileges.waitFor(host, 3000);
  const granted = grantedCapabilities(privileges, await deps.companion.probe(host));
  const skipped: ExportReport["skipped"] = [];
  const want = new Set(opts.sections);

  async function section<T>(name: Section, cap: Capability, read: () => Promise<T>): Promise<T | undefined> {
    if (!want.has(name)) return undefined;
    if (!granted.has(cap)) {
      skipped.push({ section: name, reason: new CapabilityMissingError(cap, host).message });
      return undefined;
    }
    try {
      return await read();
    } catch (err) {
      if (err instanceof XmppStanzaError || err instanceof CapabilityMissingError) {
        skipped.push({ section: name, reason: err.message });
        return undefined;
      }
      throw err;
    }
  }

  await w.begin(host, user.slice(0, user.indexOf("@")));
  const roster = await section("roster", "roster-get", () => getRoster(deps.link, user));
  if (roster) await w.roster(roster);
  const vcard = await section("vcard", "vcard", () => getVcardTemp(deps.link, user));
  if (vcard) await w.vcard(vcard);
  const pep = await section("pep", "pep", async () => {
    const nodes: PepNode[] = [];
    for (const node of (await listNodes(deps.link, user)).filter((n) => isPortableNode(n))) {
      // A listed node can be an empty server-side view (Prosody's storage:bookmarks): skip it alone.
      const n = await readPepNode(deps.link, user, node).catch((err: unknown) => {
        if (err instanceof XmppStanzaError && err.condition === "item-not-found") return null;
        throw err;
      });
      if (n) nodes.push(n);
    }
    return nodes;
  });
  if (pep) await w.pep(pep);
  const privateXml = await section("private", "private", async () => {
    // storage:bookmarks is a view of XEP-0402 on servers that publish bookmarks:1 (digest §8): export it once.
    const hasPepBookmarks = pep?.some((n) => n.node === "urn:xmpp:bookmarks:1") ?? false;
    const out = [];
    for (const p of KNOWN_PRIVATE) {
      if (p.ns === "storage:bookmarks" && hasPepBookmarks) continue;
      const el = await getPrivate(deps.link, user, p.name, p.ns);
      if (el) out.push(el);
    }
    return out;
  });
  if (privateXml) await w.privateXml(privateXml);
  const blocked = await section("blocklist", "blocklist", () => getBlocklist(deps.link, user));
  if (blocked) await w.blocklist(blocked);
  if (want.has("archive")) {
    await section("archive", "archive-read", async () => {
      let n = 0;
      const q = { ...(opts.start ? { start: opts.start } : {}), ...(opts.end ? { end: opts.end } : {}) };
      for await (const m of archiveMessages(deps, user, q)) {
        if (signal?.aborted) throw signal.reason instanceof Error ? signal.reason : new Error("aborted");
        await w.archiveMessage(m);
        n++;
        if (n % 1000 === 0) await onArchiveProgress(n);
      }
      await onArchiveProgress(n);
      return n;
    });
  }
  await w.end();
  return { counts: { ...w.counts }, skipped };
}
