// Bounces of subscription requests sent on a user's behalf (move-here, move-renotify, import): the
// companion module forwards each presence error, and the contact's latest row becomes `failed` with
// the reason, instead of waiting as pending forever.
import type { Kysely } from "kysely";
import type { Logger } from "../log/logger.js";
import type { CompanionClient, PresenceBounce } from "../account/companion-api.js";
import type { Database } from "../storage/schema.js";
import { describeError, recordOutcome } from "./contacts.js";

export async function recordBounce(db: Kysely<Database>, b: PresenceBounce): Promise<boolean> {
  const row = await db
    .selectFrom("move_contacts")
    .innerJoin("jobs", "jobs.id", "move_contacts.job_id")
    .select("move_contacts.job_id")
    .where("jobs.owner_jid", "=", b.user)
    .where("move_contacts.contact_jid", "=", b.contact)
    .where("move_contacts.status", "=", "notified")
    .orderBy("move_contacts.updated_at", "desc")
    .executeTakeFirst();
  if (!row) return false;
  await recordOutcome(db, row.job_id, b.contact, {
    status: "failed",
    detail: describeError(b.condition, b.text),
  });
  return true;
}

/** Listens for bounces until the returned function is called. */
export function watchBounces(companion: CompanionClient, db: Kysely<Database>, log: Logger): () => void {
  return companion.onPresenceBounce((b) => {
    recordBounce(db, b).then(
      (found) =>
        found && log.info({ user: b.user, contact: b.contact, condition: b.condition }, "request bounced"),
      (err: unknown) => log.warn({ err }, "could not record a bounced request"),
    );
  });
}
