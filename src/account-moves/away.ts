// move-away (XEP-0283, sender side): the user names their new account and its password. The component
// logs in there as an ordinary client and runs the transfer pipeline — collect(this user's privileged
// session) → apply(the new account's client session) — so contacts (names, groups; no faked
// subscriptions), vCard, PEP, private XML and the blocklist follow the same rules as an import. It
// then publishes the moved statement here and asks every contact the old account was subscribed to,
// from the new account, with moved-tagged subscription requests (throttled, progress per contact).
// The password lives only in this process's memory for the job's duration: never logged or stored.
import type { Kysely } from "kysely";
import type { Config } from "../config/config.js";
import type { Database } from "../storage/schema.js";
import type { JobContext, JobResult } from "../jobs/runner.js";
import type { JobDeps } from "../jobs/definition.js";
import { defineMoveJob, type MoveJob } from "./move-job.js";
import { sendChat } from "../xmpp/chat.js";
import { localOf } from "../xmpp/jid.js";
import type { RosterItem } from "../account/model.js";
import { clientSession } from "../account/client-session.js";
import { privilegedSession, type PrivilegedAccess } from "../account/privileged-session.js";
import { publishMovedStatement } from "../account/moved-statement.js";
import { collectAccount } from "../transfer/collect.js";
import { createApplier } from "../transfer/apply.js";
import { TransferReport } from "../transfer/report.js";
import { countStates } from "./contacts.js";
import { loginForMove } from "./login.js";
import { askAndSettle, openSession } from "./requests.js";

export const MOVE_AWAY_JOB = "move-away";
const DEFAULT_WATCH_MS = 20_000;
/** What moves with the account; history stays (a client cannot write its own archive). */
const MOVED_SECTIONS = ["roster", "vcard", "pep", "private", "blocklist"] as const;

export type MoveAwayService = MoveJob;

export function createMoveAwayService(
  deps: JobDeps &
    PrivilegedAccess & {
      db: Kysely<Database>;
      config: Config;
      /** Pause between subscription requests. */
      throttleMs?: number;
      /** How long the session stays open for answers to the requests (ends early once all answered). */
      watchMs?: number;
    },
): MoveAwayService {
  async function run(ctx: JobContext, newJid: string, password: string): Promise<JobResult> {
    const user = ctx.job.owner_jid;
    const here = privilegedSession(deps, user);
    const target = await loginForMove(deps.config, newJid, password);
    try {
      const report = new TransferReport();
      const applier = createApplier(
        clientSession(target, newJid),
        { sections: MOVED_SECTIONS, subscribe: false },
        report,
      );
      const collection = collectAccount(here, { sections: MOVED_SECTIONS, signal: ctx.signal });
      let roster: RosterItem[] = [];
      for await (const r of collection.records) {
        if (ctx.signal.aborted) return;
        if (r.kind === "roster") roster = r.items;
        await applier.apply(r);
      }
      for (const s of collection.skipped) report.note(`${s.section} not copied: ${s.reason}`);
      await ctx.progress({ stage: "copied", report: report.toJSON() });

      // The statement contacts will verify; then the requests from the new account.
      await publishMovedStatement(here, newJid);
      const followers = roster.filter(
        (i) => (i.subscription === "to" || i.subscription === "both") && i.jid !== newJid && i.jid !== user,
      );
      await openSession(target);
      const rows = await askAndSettle({
        client: target,
        db: deps.db,
        jobId: ctx.job.id,
        oldJid: user,
        ...(roster.length > 0 ? { nick: localOf(user) } : {}),
        contacts: followers.map((f) => f.jid),
        watchMs: deps.watchMs ?? DEFAULT_WATCH_MS,
        ...(deps.throttleMs ? { throttleMs: deps.throttleMs } : {}),
        signal: ctx.signal,
        onAsked: (n) => ctx.progress({ stage: "notifying", notified: n, total: followers.length }),
      });
      if (ctx.signal.aborted) return;
      const counts = countStates(rows);
      const text =
        `Moved to ${newJid}: copied ${report.summary() || "nothing"}${
          report.notes.length ? ` (${report.notes.join("; ")})` : ""
        }. Published the moved notice here and asked ${rows.length} contacts to follow you: ` +
        `${counts.approved} approved, ${counts.notified} pending, ${counts.declined} declined, ${counts.failed} failed ` +
        `(move-status shows each; move-renotify asks the others again). Keep this account for a while so they can verify the move.`;
      return {
        report: { ...report.toJSON(), notified: rows.length, contacts: counts },
        announce: () => sendChat(deps.link, user, text),
      };
    } finally {
      await target.stop().catch(() => undefined);
    }
  }

  return defineMoveJob(deps, { kind: MOVE_AWAY_JOB, field: "newJid", limits: deps.config.limits, run });
}
