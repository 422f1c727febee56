// move-here (XEP-0283, the reverse): the user on this server names their OLD account and its password.
// The component logs in there as a client and runs the transfer pipeline — collect(the old account's
// client session) → apply(this user's privileged session), the same rules as an archive import — then
// publishes the moved statement on the old account and asks the contacts, from here and tagged
// <moved/>, to follow.
import type { Kysely } from "kysely";
import type { Config } from "../config/config.js";
import type { Database } from "../storage/schema.js";
import type { JobContext, JobResult } from "../jobs/runner.js";
import type { JobDeps } from "../jobs/definition.js";
import { defineMoveJob, type MoveJob } from "./move-job.js";
import { sendChat } from "../xmpp/chat.js";
import { clientSession } from "../account/client-session.js";
import { privilegedSession, type PrivilegedAccess } from "../account/privileged-session.js";
import { publishMovedStatement } from "../account/moved-statement.js";
import { collectAccount } from "../transfer/collect.js";
import { createApplier } from "../transfer/apply.js";
import { TransferReport } from "../transfer/report.js";
import { loginForMove } from "./login.js";
import { describeError, recordAsked, recordOutcome } from "./contacts.js";

export const MOVE_HERE_JOB = "move-here";
const SECTIONS = ["roster", "vcard", "pep", "private", "blocklist", "archive"] as const;

export type MoveHereService = MoveJob;

export function createMoveHereService(
  deps: JobDeps &
    PrivilegedAccess & {
      db: Kysely<Database>;
      config: Config;
      /** Pause between subscription requests. */
      throttleMs?: number;
    },
): MoveHereService {
  async function run(ctx: JobContext, oldJid: string, password: string): Promise<JobResult> {
    const user = ctx.job.owner_jid;
    const old = await loginForMove(deps.config, oldJid, password);
    const report = new TransferReport();
    try {
      const oldAccount = clientSession(old, oldJid);
      const applier = createApplier(
        privilegedSession(deps, user),
        { sections: SECTIONS, subscribe: true },
        report,
      );
      const collection = collectAccount(oldAccount, {
        sections: SECTIONS,
        pageSize: 100,
        signal: ctx.signal,
      });
      for await (const r of collection.records) {
        if (ctx.signal.aborted) return;
        await applier.apply(r);
      }
      for (const s of collection.skipped) report.note(`${s.section} not copied: ${s.reason}`);
      // The statement the contacts' servers and clients verify, on the old account.
      await publishMovedStatement(oldAccount, user);
      // Progress per contact; move-status settles it later from this account's roster.
      await applier.subscribeContacts(
        {
          asking: async (jid) => {
            ctx.signal.throwIfAborted();
            await recordAsked(deps.db, ctx.job.id, jid);
          },
          refused: (jid, err) =>
            recordOutcome(deps.db, ctx.job.id, jid, {
              status: "failed",
              detail: describeError(err.condition, err.text),
            }),
        },
        0,
        deps.throttleMs,
      );
    } finally {
      await old.stop().catch(() => undefined);
    }
    const text = `Moved here from ${oldJid}. ${report.summary()}. Keep the old account for a while so your contacts can verify the move.`;
    return { report: report.toJSON(), announce: () => sendChat(deps.link, user, text) };
  }

  return defineMoveJob(deps, { kind: MOVE_HERE_JOB, field: "oldJid", limits: deps.config.limits, run });
}
