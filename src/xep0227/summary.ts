// Reads a whole archive (streaming) into a summary: per-section counts, hosts and users, the date
// range of the message archive, and warnings for what an import would not carry.
import type { ArchiveRecord } from "./records.js";

export interface ArchiveSummary {
  hosts: string[];
  users: string[];
  counts: Record<string, number>;
  archiveRange: { first: string; last: string } | null;
  warnings: string[];
}

const COUNTED: Partial<Record<ArchiveRecord["kind"], string>> = {
  pending: "pending subscriptions",
  vcard: "vcard",
  privacy: "privacy lists",
  "pep-node": "pep nodes",
  offline: "offline messages",
  archive: "messages",
  scram: "credentials",
};

export function createSummary(): { add(r: ArchiveRecord): void; result(): ArchiveSummary } {
  const hosts = new Set<string>();
  const users = new Set<string>();
  const counts: Record<string, number> = {};
  const warnings: string[] = [];
  let first: string | null = null;
  let last: string | null = null;
  let unknown = 0;
  const bump = (k: string, n = 1): void => {
    counts[k] = (counts[k] ?? 0) + n;
  };
  return {
    add(r) {
      const key = COUNTED[r.kind];
      if (key) bump(key);
      switch (r.kind) {
        case "host":
          hosts.add(r.jid);
          break;
        case "user":
          users.add(`${r.name}@${r.host}`);
          if (r.hasPassword)
            warnings.push(`${r.name}@${r.host}: contains a plaintext password (never imported)`);
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
              r.where === "xinclude"
                ? `XInclude is not followed: use the included file (${r.element.attrs.href ?? "?"}) itself`
                : `unknown element <${r.element.name} xmlns='${r.element.attrs.xmlns ?? ""}'> in ${r.where} (ignored)`,
            );
          }
          break;
        default:
          break;
      }
    },
    result() {
      if (unknown > 20) warnings.push(`… and ${unknown - 20} more unknown elements`);
      if (users.size > 1) warnings.push(`the archive holds ${users.size} accounts; an import takes one`);
      return {
        hosts: [...hosts],
        users: [...users],
        counts,
        archiveRange: first !== null && last !== null ? { first, last } : null,
        warnings,
      };
    },
  };
}
