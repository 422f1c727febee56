// move-away / move-here / move-status: move an account between servers (XEP-0283).
import { command, type Command } from "../adhoc/command.js";
import { completed, completedWithTable, failed } from "../adhoc/command.js";
import { FormError } from "../adhoc/forms.js";
import type { AppServices } from "../services.js";
import { countActiveJobs } from "../storage/jobs.js";
import { MOVE_AWAY_JOB } from "../account-moves/away.js";
import { MOVE_HERE_JOB } from "../account-moves/here.js";
import { latestMove, moveContacts } from "../account-moves/progress.js";
import { summarizeStates } from "../account-moves/contacts.js";

const BARE = /^[^@/\s]+@[^@/\s]+\.[^@/\s]+$|^[^@/\s]+@localhost$/;

interface MoveSpec {
  node: string;
  name: string;
  jobKind: string;
  /** The other account's field and label ("new" or "old"). */
  other: "new" | "old";
  instructions: (user: string) => string;
  started: (other: string) => string;
  start: (
    s: AppServices,
    user: string,
    requester: string,
    other: string,
    password: string,
  ) => Promise<string>;
}

/** move-away and move-here share one form: the other account's address and its password (never stored). */
function moveCommand(spec: MoveSpec): (s: AppServices) => Command {
  const field = `${spec.other}-jid`;
  const Other = spec.other === "new" ? "New" : "Old";
  return (s) => ({
    node: spec.node,
    name: spec.name,
    access: "user",
    async start(ctx) {
      return {
        status: "executing",
        action: "complete",
        form: {
          title: spec.name,
          instructions: [
            spec.instructions(ctx.user),
            "The password is used once to log in there and is never stored.",
          ],
          fields: [
            { var: field, type: "jid-single", label: `${Other} address`, required: true },
            {
              var: "password",
              type: "text-private",
              label: `Password of the ${spec.other} account`,
              required: true,
            },
          ],
        },
        async onSubmit(v, c) {
          const other = v.text(field).trim().toLowerCase();
          if (!BARE.test(other)) throw new FormError(`${Other} address must look like name@example.org`);
          if (other === c.user) throw new FormError("That is this account");
          if ((await countActiveJobs(s.db, c.user, spec.jobKind)) > 0)
            return failed("A move is already running.");
          await spec.start(s, c.user, c.requester, other, v.text("password"));
          return completed(spec.started(other));
        },
      };
    },
  });
}

export const moveAwayCommand = moveCommand({
  node: "move-away",
  name: "Move to a new account",
  jobKind: MOVE_AWAY_JOB,
  other: "new",
  instructions: (user) =>
    `Copies your contacts, profile, bookmarks and settings from ${user} to your new account, tells your contacts you moved, and asks them to follow you.`,
  started: (other) =>
    `Moving to ${other}. You will get a chat message when your contacts have been asked to follow you.`,
  start: (s, user, requester, other, password) => s.moves.start(user, requester, other, password),
});

export const moveHereCommand = moveCommand({
  node: "move-here",
  name: "Move here from my old account",
  jobKind: MOVE_HERE_JOB,
  other: "old",
  instructions: (user) =>
    `Brings contacts, profile, bookmarks, settings and message history from your old account into ${user}, publishes a moved notice there, and asks your contacts to follow you here.`,
  started: (other) => `Moving here from ${other}. You will get a chat message when it is done.`,
  start: (s, user, requester, other, password) => s.movesHere.start(user, requester, other, password),
});

export function moveStatusCommand(s: AppServices): Command {
  return command("move-status", "My move: contacts", "user", async (ctx) => {
    const move = await latestMove(s.db, ctx.user);
    if (!move) return completed("No move yet.");
    const rows = await moveContacts(s, move);
    const { job } = move;
    const what = move.direction === "away" ? `Move to ${move.newJid}` : `Move here from ${move.oldJid}`;
    return completedWithTable(
      [
        { type: "info", text: `${what}: ${job.status}${job.error ? ` (${job.error})` : ""}.` },
        { type: "info", text: `Contacts: ${summarizeStates(rows)}.` },
      ],
      {
        title: "Contacts",
        columns: { contact: "Contact", status: "Status", detail: "Detail", attempts: "Asked" },
        rows: rows.map((r) => ({
          contact: r.contact_jid,
          status: r.status,
          detail: r.detail ?? "",
          attempts: String(r.attempts),
        })),
      },
    );
  });
}
