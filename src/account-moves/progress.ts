// The user's latest move (either direction) and its per-contact progress. A move-here asked from the
// local account, whose roster the component reads at any time, so it is settled live; a move-away
// asked from the remote new account, readable only with its password (the job, move-renotify).
import type { Kysely } from "kysely";
import { privilegedSession, type PrivilegedAccess } from "../account/privileged-session.js";
import { XmppStanzaError } from "../xmpp/stanza-error.js";
import { getRoster } from "../account/roster.js";
import type { Database, Job, MoveContact } from "../storage/schema.js";
import { listJobs } from "../storage/jobs.js";
import { MOVE_AWAY_JOB } from "./away.js";
import { MOVE_HERE_JOB } from "./here.js";
import { listContacts, reconcileJob } from "./contacts.js";

export interface MoveRef {
  job: Job;
  direction: "away" | "here";
  /** The account that sent the requests (new address) and the one it moved from. */
  newJid: string;
  oldJid: string;
}

function option(job: Job, key: string): string {
  const v = job.options[key];
  return typeof v === "string" ? v : "";
}

export async function latestMove(db: Kysely<Database>, user: string): Promise<MoveRef | null> {
  const [job] = await listJobs(db, user, [MOVE_AWAY_JOB, MOVE_HERE_JOB]);
  if (!job) return null;
  return job.kind === MOVE_AWAY_JOB
    ? { job, direction: "away", newJid: option(job, "newJid"), oldJid: job.owner_jid }
    : { job, direction: "here", newJid: job.owner_jid, oldJid: option(job, "oldJid") };
}

/** The move's contacts; a move-here's are first settled against the local roster (stored when changed). */
export async function moveContacts(
  deps: { db: Kysely<Database> } & PrivilegedAccess,
  move: MoveRef,
): Promise<MoveContact[]> {
  if (move.direction === "away") return listContacts(deps.db, move.job.id);
  try {
    return await reconcileJob(deps.db, move.job.id, await getRoster(privilegedSession(deps, move.newJid)));
  } catch (err) {
    // No roster privilege (or the server is busy): the recorded states are still right, only older.
    if (err instanceof XmppStanzaError) return listContacts(deps.db, move.job.id);
    throw err;
  }
}
