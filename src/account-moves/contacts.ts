// Per-contact progress of a move (table move_contacts): who was asked, what came back, and how the
// asking account's roster settles it. Pure reconciliation plus the table's few queries.
import type { Kysely } from "kysely";
import type { RosterItem } from "../account/model.js";
import type { Database, MoveContact, MoveContactStatus } from "../storage/schema.js";

/** An answer observed for one request (a presence from the contact, or the request bounced). */
export interface ContactOutcome {
  status: MoveContactStatus;
  detail: string | null;
}

/** Display order of the states; "notified" is shown as pending. */
export const CONTACT_STATES: readonly MoveContactStatus[] = ["approved", "notified", "declined", "failed"];

const STATE_LABEL: Record<MoveContactStatus, string> = {
  approved: "approved",
  notified: "pending",
  declined: "declined",
  failed: "failed",
};

const UNREACHABLE = new Set(["remote-server-not-found", "remote-server-timeout"]);

/** A bounced request's error, short: "unreachable (remote-server-not-found)", "not-allowed: text". */
export function describeError(condition: string, text?: string): string {
  const base = UNREACHABLE.has(condition) ? `unreachable (${condition})` : condition;
  return (text ? `${base}: ${text}` : base).slice(0, 200);
}

/**
 * The settled state of one contact. The roster is authoritative for approval (to/both: the asking
 * account is subscribed to the contact); otherwise an observed answer wins, else what was recorded.
 * A pending ask does not undo failed/declined: Prosody keeps ask='subscribe' after a bounce.
 */
export function settleContact(
  recorded: ContactOutcome,
  item: RosterItem | undefined,
  observed?: ContactOutcome,
): ContactOutcome {
  if (item && (item.subscription === "to" || item.subscription === "both"))
    return { status: "approved", detail: recorded.status === "approved" ? recorded.detail : "subscribed" };
  if (observed) return observed;
  if (recorded.status === "approved") return { status: "declined", detail: "no longer subscribed" };
  return recorded;
}

/** Settles every row against a roster; returns only the rows whose state changed. */
export function reconcileRows(
  rows: MoveContact[],
  roster: RosterItem[],
  observed: ReadonlyMap<string, ContactOutcome> = new Map(),
): (ContactOutcome & { jid: string })[] {
  const byJid = new Map(roster.map((i) => [i.jid.toLowerCase(), i]));
  const changed: (ContactOutcome & { jid: string })[] = [];
  for (const r of rows) {
    const next = settleContact(r, byJid.get(r.contact_jid), observed.get(r.contact_jid));
    if (next.status !== r.status || next.detail !== r.detail) changed.push({ jid: r.contact_jid, ...next });
  }
  return changed;
}

export function countStates(rows: { status: MoveContactStatus }[]): Record<MoveContactStatus, number> {
  const counts: Record<MoveContactStatus, number> = { approved: 0, notified: 0, declined: 0, failed: 0 };
  for (const r of rows) counts[r.status]++;
  return counts;
}

/** "1 approved, 2 pending, 0 declined, 1 failed". */
export function summarizeStates(rows: { status: MoveContactStatus }[]): string {
  const counts = countStates(rows);
  return CONTACT_STATES.map((s) => `${counts[s]} ${STATE_LABEL[s]}`).join(", ");
}

export function stateLabel(status: MoveContactStatus): string {
  return STATE_LABEL[status];
}

/** Contacts worth asking again: no answer yet, or the request bounced. */
export function isStraggler(status: MoveContactStatus): boolean {
  return status === "notified" || status === "failed";
}

export function listContacts(db: Kysely<Database>, jobId: string): Promise<MoveContact[]> {
  return db
    .selectFrom("move_contacts")
    .selectAll()
    .where("job_id", "=", jobId)
    .orderBy("contact_jid")
    .execute();
}

/** Before a request goes out (so an immediate answer finds the row): pending, one more attempt. */
export async function recordAsked(db: Kysely<Database>, jobId: string, jid: string): Promise<void> {
  const now = new Date();
  await db
    .insertInto("move_contacts")
    .values({ job_id: jobId, contact_jid: jid, status: "notified", detail: null, updated_at: now })
    .onConflict((oc) =>
      oc.columns(["job_id", "contact_jid"]).doUpdateSet((eb) => ({
        status: "notified",
        detail: null,
        attempts: eb("move_contacts.attempts", "+", 1),
        updated_at: now,
      })),
    )
    .execute();
}

export async function recordOutcome(
  db: Kysely<Database>,
  jobId: string,
  jid: string,
  outcome: ContactOutcome,
): Promise<void> {
  await db
    .updateTable("move_contacts")
    .set({ status: outcome.status, detail: outcome.detail, updated_at: new Date() })
    .where("job_id", "=", jobId)
    .where("contact_jid", "=", jid)
    .execute();
}

/** Reconciles the job's rows against a roster (and observed answers) and stores the changes. */
export async function reconcileJob(
  db: Kysely<Database>,
  jobId: string,
  roster: RosterItem[],
  observed?: ReadonlyMap<string, ContactOutcome>,
): Promise<MoveContact[]> {
  const rows = await listContacts(db, jobId);
  for (const c of reconcileRows(rows, roster, observed)) await recordOutcome(db, jobId, c.jid, c);
  return listContacts(db, jobId);
}
