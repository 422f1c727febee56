// move-away / move-status: move this account to a new address on another server (XEP-0283).
import type { Command } from "../adhoc/command.js";
import { completed, failed } from "../adhoc/command.js";
import { FormError, renderTable } from "../adhoc/forms.js";
import type { AppServices } from "../app.js";
import { countActiveJobs, listJobs } from "../storage/jobs.js";
import { MOVE_AWAY_JOB } from "../move/away.js";
import { MOVE_HERE_JOB } from "../move/here.js";

const BARE = /^[^@/\s]+@[^@/\s]+\.[^@/\s]+$|^[^@/\s]+@localhost$/;

export function moveAwayCommand(s: AppServices): Command {
  return {
    node: "move-away",
    name: "Move to a new account",
    access: "user",
    async start(ctx) {
      return {
        status: "executing",
        action: "complete",
        form: {
          title: "Move to a new account",
          instructions: [
            `Copies your contacts, profile, bookmarks and settings from ${ctx.user} to your new account, tells your contacts you moved, and asks them to follow you.`,
            "The password is used once to log in there and is never stored.",
          ],
          fields: [
            { var: "new-jid", type: "jid-single", label: "New address", required: true },
            { var: "password", type: "text-private", label: "Password of the new account", required: true },
          ],
        },
        async onSubmit(v, c) {
          const newJid = v.text("new-jid").trim().toLowerCase();
          if (!BARE.test(newJid)) throw new FormError("New address must look like name@example.org");
          if (newJid === c.user) throw new FormError("That is this account");
          if ((await countActiveJobs(s.db, c.user, MOVE_AWAY_JOB)) > 0)
            return failed("A move is already running.");
          await s.moves.start(c.user, c.requester, newJid, v.text("password"));
          return completed(
            `Moving to ${newJid}. You will get a chat message when your contacts have been asked to follow you.`,
          );
        },
      };
    },
  };
}

export function moveStatusCommand(s: AppServices): Command {
  return {
    node: "move-status",
    name: "My move: contacts",
    access: "user",
    async start(ctx) {
      const [job] = await listJobs(s.db, ctx.user, [MOVE_AWAY_JOB]);
      if (!job) return completed("No move yet.");
      const rows = await s.db
        .selectFrom("move_contacts")
        .selectAll()
        .where("job_id", "=", job.id)
        .orderBy("contact_jid")
        .execute();
      const newJid = typeof job.options.newJid === "string" ? job.options.newJid : "";
      return completed(`Move to ${newJid}: ${job.status}${job.error ? ` (${job.error})` : ""}.`, [
        renderTable({
          title: "Contacts",
          columns: [
            { var: "contact", label: "Contact" },
            { var: "status", label: "Status" },
          ],
          rows: rows.map((r) => ({ contact: r.contact_jid, status: r.status })),
        }),
      ]);
    },
  };
}

export function moveHereCommand(s: AppServices): Command {
  return {
    node: "move-here",
    name: "Move here from my old account",
    access: "user",
    async start(ctx) {
      return {
        status: "executing",
        action: "complete",
        form: {
          title: "Move here from another account",
          instructions: [
            `Brings contacts, profile, bookmarks, settings and message history from your old account into ${ctx.user}, publishes a moved notice there, and asks your contacts to follow you here.`,
            "The password is used once to log in there and is never stored.",
          ],
          fields: [
            { var: "old-jid", type: "jid-single", label: "Old address", required: true },
            { var: "password", type: "text-private", label: "Password of the old account", required: true },
          ],
        },
        async onSubmit(v, c) {
          const oldJid = v.text("old-jid").trim().toLowerCase();
          if (!BARE.test(oldJid)) throw new FormError("Old address must look like name@example.org");
          if (oldJid === c.user) throw new FormError("That is this account");
          if ((await countActiveJobs(s.db, c.user, MOVE_HERE_JOB)) > 0)
            return failed("A move is already running.");
          await s.movesHere.start(c.user, c.requester, oldJid, v.text("password"));
          return completed(`Moving here from ${oldJid}. You will get a chat message when it is done.`);
        },
      };
    },
  };
}
