// move-renotify: asks the contacts of the latest move who have not accepted (no answer yet, or the
// request bounced) again, after settling who did. move-away asks from the remote new account (logged
// in once with the password, held in memory for this call only); move-here from the local account
// through the companion module.
import xml from "@xmpp/xml";
import type { Kysely } from "kysely";
import type { Config } from "../config/config.js";
import type { Logger } from "../log/logger.js";
import { NS_MOVED } from "../xmpp/namespaces.js";
import { XmppStanzaError } from "../xmpp/stanza-error.js";
import { privilegedSession, type PrivilegedAccess } from "../account/privileged-session.js";
import { getRoster } from "../account/roster.js";
import type { Database, MoveContact } from "../storage/schema.js";
import { localOf } from "../xmpp/jid.js";
import { loginForMove } from "./login.js";
import { describeError, isStraggler, reconcileJob, recordAsked, recordOutcome } from "./contacts.js";
import { askAndSettle, openSession } from "./requests.js";
import type { MoveRef } from "./progress.js";

export interface RenotifyDeps extends PrivilegedAccess {
  db: Kysely<Database>;
  config: Config;
  log: Logger;
}

export interface RenotifyResult {
  /** Contacts asked again. */
  asked: number;
  /** Contacts that had already accepted (after settling). */
  approved: number;
  /** move-away: the answers are awaited in the background; settles when they are recorded. */
  answers?: Promise<void>;
}

function stragglers(rows: MoveContact[]): string[] {
  return rows.filter((r) => isStraggler(r.status)).map((r) => r.contact_jid);
}

function approvedCount(rows: MoveContact[]): number {
  return rows.filter((r) => r.status === "approved").length;
}

/** From the new account: settle from its roster, ask the stragglers, keep the session for their answers. */
export async function renotifyAway(
  deps: RenotifyDeps,
  move: MoveRef,
  password: string,
): Promise<RenotifyResult> {
  const c = await loginForMove(deps.config, move.newJid, password);
  let handedOff = false;
  try {
    const rows = await reconcileJob(deps.db, move.job.id, await openSession(c));
    const contacts = stragglers(rows);
    if (contacts.length === 0) return { asked: 0, approved: approvedCount(rows) };
    // The requests are throttled and the answers take a while: both continue after the command replies.
    const answers = askAndSettle({
      client: c,
      db: deps.db,
      jobId: move.job.id,
      oldJid: move.oldJid,
      nick: localOf(move.oldJid),
      contacts,
      watchMs: deps.config.moveWatchSeconds * 1000,
      throttleMs: 200,
    })
      .then(() => undefined)
      .catch((err: unknown) => {
        const message = err instanceof Error ? err.message : String(err);
        deps.log.warn({ job: move.job.id, err: { message } }, "renotify: answers not recorded");
      })
      .finally(() => c.stop().catch(() => undefined));
    handedOff = true;
    return { asked: contacts.length, approved: approvedCount(rows), answers };
  } finally {
    if (!handedOff) await c.stop().catch(() => undefined);
  }
}

/** From the local account: settle from its roster, ask the stragglers through the companion module. */
export async function renotifyHere(deps: RenotifyDeps, move: MoveRef): Promise<RenotifyResult> {
  const user = move.newJid;
  const rows = await reconcileJob(deps.db, move.job.id, await getRoster(privilegedSession(deps, user)));
  const contacts = stragglers(rows);
  const payload = [xml("moved", { xmlns: NS_MOVED }, xml("old-jid", {}, move.oldJid))];
  for (const jid of contacts) {
    await recordAsked(deps.db, move.job.id, jid);
    try {
      await deps.companion.sendPresence(user, jid, "subscribe", payload);
    } catch (err) {
      if (!(err instanceof XmppStanzaError)) throw err;
      await recordOutcome(deps.db, move.job.id, jid, {
        status: "failed",
        detail: describeError(err.condition, err.text),
      });
    }
  }
  return { asked: contacts.length, approved: approvedCount(rows) };
}
