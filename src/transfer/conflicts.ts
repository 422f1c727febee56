// What an import would not change because the account already has its own (the merge rules of
// apply.ts, seen before the import): shown in the preview, where the person can choose the archive's
// version per section. Reads the records once, streaming, and the account a few times.
import type { Element } from "@xmpp/xml";
import type { AccountSession } from "../account/session.js";
import { getRoster } from "../account/roster.js";
import { getItems } from "../account/pep.js";
import { getPrivate } from "../account/private-xml.js";
import { getVcardTemp } from "../account/vcard.js";
import { bareOf } from "../xmpp/jid.js";
import type { ArchiveRecord } from "../xep0227/records.js";
import type { Replaceable } from "./apply.js";
import {
  NODE_BOOKMARKS2,
  NODE_VCARD4,
  hasOwnVcard,
  isPortableNode,
  isSingleValueNode,
  valueNodeFor,
} from "./rules.js";

export interface Conflict {
  section: Replaceable;
  text: string;
}

const NODE_NAMES: Record<string, string> = {
  "http://jabber.org/protocol/nick": "nickname",
  "urn:xmpp:avatar:metadata": "avatar",
  "urn:xmpp:avatar:data": "avatar",
  [NODE_VCARD4]: "vCard",
};

export async function findConflicts(
  s: AccountSession,
  records: AsyncIterable<ArchiveRecord>,
): Promise<Conflict[]> {
  const roster = new Map((await getRoster(s).catch(() => [])).map((i) => [bareOf(i.jid), i]));
  let contacts = 0;
  let differing = 0;
  let vcard = false;
  const valueNodes = new Set<string>();
  let bookmarks: string[] = [];
  const privates: Element[] = [];
  let users = 0;
  for await (const r of records) {
    if (r.kind === "user" && ++users > 1) break;
    if (r.kind === "roster") {
      for (const item of r.items) {
        const mine = roster.get(bareOf(item.jid));
        if (!mine) continue;
        contacts++;
        if ((mine.name ?? "") !== (item.name ?? "") || mine.groups.join("\n") !== item.groups.join("\n"))
          differing++;
      }
    } else if (r.kind === "vcard") vcard = true;
    else if (r.kind === "pep-items" && isPortableNode(r.node)) {
      if (r.node === NODE_BOOKMARKS2) bookmarks = r.items.map((i) => i.id);
      else if (isSingleValueNode(r.node, new Map(), r.items)) valueNodes.add(valueNodeFor(r.node));
    } else if (r.kind === "private") privates.push(...r.payloads);
  }

  const out: Conflict[] = [];
  if (contacts > 0)
    out.push({
      section: "roster",
      text: `Contacts: ${contacts} you already have keep your names and groups${differing ? ` (${differing} differ in the archive)` : ""}.`,
    });
  const myCard = vcard ? await getVcardTemp(s).catch(() => undefined) : undefined;
  if (myCard && hasOwnVcard(myCard))
    out.push({ section: "vcard", text: "vCard: yours is kept; the archive has one too." });
  for (const node of valueNodes) {
    const mine = await getItems(s, node).catch(() => []);
    if (mine.length > 0)
      out.push({
        section: "pep",
        text: `${NODE_NAMES[node] ?? node}: yours is kept; the archive has one too.`,
      });
  }
  if (bookmarks.length > 0) {
    const mine = new Set((await getItems(s, NODE_BOOKMARKS2).catch(() => [])).map((i) => i.id));
    const both = bookmarks.filter((b) => mine.has(b)).length;
    if (both > 0) out.push({ section: "pep", text: `Bookmarks: your bookmarks of ${both} rooms are kept.` });
  }
  for (const p of privates) {
    const ns = p.attrs.xmlns ?? "";
    if (await getPrivate(s, p.name, ns).catch(() => undefined))
      out.push({
        section: "private",
        text: `Private storage ${ns}: yours is kept; the archive has one too.`,
      });
  }
  return out;
}
