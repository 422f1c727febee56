// XEP-0283 §4.3 (server side) verification of an inbound moved notice, as a pure decision:
// given the user's roster entries and the fetched statement, either a plan of actions or a reason to
// do nothing (then the subscribe is delivered unchanged, as the XEP demands on failure).
import type { RosterItem } from "../account/model.js";
import type { Statement } from "../account/moved-statement.js";

export type { Statement };

export interface NoticeFacts {
  /** Local user the subscribe was addressed to (bare). */
  user: string;
  /** Bare JID that sent the subscribe. */
  from: string;
  /** <old-jid/> text. */
  oldJid: string;
  oldItem: RosterItem | undefined;
  newItem: RosterItem | undefined;
  statement: Statement | undefined;
}

export type Rejection =
  | "old-jid-invalid"
  | "same-jid"
  | "old-not-in-roster"
  | "old-not-subscribed"
  | "statement-missing"
  | "statement-timeout"
  | "statement-error"
  | "statement-mismatch"
  | "already-subscribed";

export interface Plan {
  /** Roster item to write for the new JID (subscription none: the presence exchange sets it). */
  newItem: RosterItem;
  /** Send 'subscribed' to the new JID (approve). */
  approve: true;
  /** Send 'subscribe' back, because the old item was 'both' (XEP-0283 MUST). */
  subscribeBack: boolean;
  /** The old contact to revoke ('unsubscribed') and retire. */
  retire: string;
}

/** `detail`: the error condition when the statement could not be fetched. */
export type Verdict = { ok: true; plan: Plan } | { ok: false; reason: Rejection; detail?: string };

const BARE = /^[^@/\s]+@[^@/\s]+$/;

export function normaliseBare(jid: string): string {
  return jid.trim().toLowerCase();
}

/** The JID named by a statement, or undefined when it names none. */
export function statementTarget(s: Statement | undefined): string | undefined {
  if (!s) return undefined;
  if (s.kind === "moved") return normaliseBare(s.newJid);
  if (s.kind === "gone") {
    const m = /^xmpp:([^?#]+)/i.exec(s.uri.trim());
    return m?.[1] ? normaliseBare(decodeURIComponent(m[1])) : undefined;
  }
  return undefined;
}

/** Step 2 of the check, before any network request: is the old JID a subscribed contact? */
export function precheck(f: Pick<NoticeFacts, "from" | "oldJid" | "oldItem" | "newItem">): Rejection | null {
  const old = normaliseBare(f.oldJid);
  const from = normaliseBare(f.from);
  if (!BARE.test(old)) return "old-jid-invalid";
  if (old === from) return "same-jid";
  if (!f.oldItem) return "old-not-in-roster";
  if (f.oldItem.subscription !== "from" && f.oldItem.subscription !== "both") return "old-not-subscribed";
  if (f.newItem && (f.newItem.subscription === "from" || f.newItem.subscription === "both")) {
    return "already-subscribed";
  }
  return null;
}

export function verify(f: NoticeFacts): Verdict {
  const pre = precheck(f);
  if (pre) return { ok: false, reason: pre };
  const s = f.statement;
  // A fetch that failed says nothing about the move; only "no such item" means there is no statement.
  if (s?.kind === "error" && s.condition === "remote-server-timeout")
    return { ok: false, reason: "statement-timeout", detail: s.condition };
  if (s?.kind === "error" && s.condition !== "item-not-found")
    return { ok: false, reason: "statement-error", detail: s.condition };
  const target = statementTarget(s);
  if (!target) return { ok: false, reason: "statement-missing" };
  if (target !== normaliseBare(f.from)) return { ok: false, reason: "statement-mismatch" };
  return { ok: true, plan: planMove(f as Omit<NoticeFacts, "statement"> & { oldItem: RosterItem }) };
}

/**
 * What a verified move does, from the roster entries alone (precheck passed: the old contact is in the
 * roster): the new contact takes the old one's name and groups (or keeps its own when the old has none).
 */
export function planMove(f: Omit<NoticeFacts, "statement" | "user"> & { oldItem: RosterItem }): Plan {
  const old = f.oldItem;
  const newItem: RosterItem = {
    jid: normaliseBare(f.from),
    subscription: f.newItem?.subscription ?? "none",
    groups: old.groups.length > 0 ? [...old.groups] : (f.newItem?.groups ?? []),
    ...(old.name ? { name: old.name } : f.newItem?.name ? { name: f.newItem.name } : {}),
  };
  return {
    newItem,
    approve: true,
    subscribeBack: old.subscription === "both",
    retire: normaliseBare(f.oldJid),
  };
}

export const REJECTION_TEXT: Record<Rejection, string> = {
  "old-jid-invalid": "the old address is not a bare JID",
  "same-jid": "the old and new addresses are the same",
  "old-not-in-roster": "the old address is not in the contact list",
  "old-not-subscribed": "the old address was not subscribed to the user's presence",
  "statement-missing": "the old account publishes no moved statement",
  "statement-timeout": "the old account's server did not answer in time",
  "statement-error": "the old account's moved statement could not be fetched",
  "statement-mismatch": "the old account's moved statement names a different address",
  "already-subscribed": "the new address is already an approved contact",
};
