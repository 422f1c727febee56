// Reads a whole archive (streaming) into a summary: the hosts and accounts it holds, and for one account
// (the chosen one, or the first) per-section counts, the date range of its message archive, and
// warnings for what an import would not carry.
import type { ArchiveRecord } from "./records.js";

export interface ArchiveSummary {
  hosts: string[];
  /** Every account in the file (name@host), in file order. */
  users: string[];
  /** The account the counts are for (null when the file holds none). */
  account: string | null;
  counts: Record<string, number>;
  archiveRange: { first: string; last: string } | null;
  warnings: string[];
  /** Files an XInclude points to (ejabberd's main export file holds only these). */
  includes: string[];
}

const COUNTED: Partial<Record<ArchiveRecord["kind"], string>> = {
  pending: "pending subscriptions",
  vcard: "vcard",
  "pep-node": "pep nodes",
  offline: "offline messages",
  archive: "messages",
  scram: "credentials",
};

/** `account` (name@host): whose sections to count; default the first account in the file. */
export function createSummary(account?: string): { add(r: ArchiveRecord): void; result(): ArchiveSummary } {
  const hosts = new Set<string>();
  const users: string[] = [];
  const includes: string[] = [];
  const counts: Record<string, number> = {};
  const warnings: string[] = [];
  let chosen: string | null = null;
  let inChosen = false;
  let first: string | null = null;
  let last: string | null = null;
  let unknown = 0;
  const bump = (k: string, n = 1): void => {
    counts[k] = (counts[k] ?? 0) + n;
  };
  return {
    add(r) {
      if (r.kind === "user") {
        const jid = `${r.name}@${r.host}`;
        if (!users.includes(jid)) users.push(jid);
        inChosen = chosen === null && (account === undefined || account.toLowerCase() === jid.toLowerCase());
        if (inChosen) chosen = jid;
      } else if (r.kind === "unknown" && r.where === "xinclude") {
        const href = r.element.attrs.href;
        if (href) includes.push(href);
      }
      if (r.kind === "host") hosts.add(r.jid);
      if (!inChosen) return;
      const key = COUNTED[r.kind];
      if (key) bump(key);
      switch (r.kind) {
        case "user":
          if (r.hasPassword)
            warnings.push(`${r.name}@${r.host}: contains a plaintext password (never imported)`);
          break;
        case "user-end":
          inChosen = false;
          break;
        case "roster":
          bump("contacts", r.items.length);
          bump("groups", new Set(r.items.flatMap((i) => i.groups)).size);
          break;
        case "private":
          bump("private xml", r.payloads.length);
          break;
        case "pep-items":
          bump("pep items", r.items.length);
          if (r.node === "urn:xmpp:bookmarks:1") bump("bookmarks", r.items.length);
          break;
        case "blocklist":
          bump("blocklist entries", r.jids.length);
          break;
        case "privacy":
          if (r.skipped.length > 0) bump("privacy rules not imported", r.skipped.length);
          for (const why of r.skipped.slice(0, 10)) warnings.push(`not imported: ${why}`);
          break;
        case "archive": {
          const s = r.message.stamp;
          if (first === null || s < first) first = s;
          if (last === null || s > last) last = s;
          break;
        }
        case "unknown":
          unknown++;
          if (unknown <= 20) {
            warnings.push(
              `unknown element <${r.element.name} xmlns='${r.element.attrs.xmlns ?? ""}'> in ${r.where} (ignored)`,
            );
          }
          break;
        default:
          break;
      }
    },
    result() {
      if (unknown > 20) warnings.push(`… and ${unknown - 20} more unknown elements`);
      if (includes.length > 0)
        warnings.push(`XInclude is not followed: upload the included file itself (${includes.join(", ")})`);
      return {
        hosts: [...hosts],
        users,
        account: chosen,
        counts,
        archiveRange: first !== null && last !== null ? { first, last } : null,
        warnings,
        includes,
      };
    },
  };
}
