// move-renotify: ask the contacts of my latest move who have not accepted yet (or whose request
// bounced) again. A move-away needs the new account's password once more (never stored).
import { command, type Command, type StepResult } from "../adhoc/command.js";
import { completed, failed } from "../adhoc/command.js";
import type { AppServices } from "../services.js";
import { JobFailure } from "../jobs/runner.js";
import { latestMove, type MoveRef } from "../account-moves/progress.js";
import { renotifyAway, renotifyHere, type RenotifyResult } from "../account-moves/renotify.js";

function report(r: RenotifyResult, move: MoveRef): StepResult {
  if (r.asked === 0) return completed(`Nobody to ask again: ${r.approved} contacts already accepted.`);
  const later =
    move.direction === "away"
      ? " Their answers are recorded over the next moments; move-status shows them."
      : " move-status shows their answers.";
  return completed(`Asked ${r.asked} contacts again (${r.approved} had already accepted).${later}`);
}

function unfinished(move: MoveRef): string | null {
  const s = move.job.status;
  return s === "queued" || s === "running" ? "The move is still running; try again when it is done." : null;
}

export function moveRenotifyCommand(s: AppServices): Command {
  return command("move-renotify", "Ask my contacts again", "user", async (ctx) => {
    const move = await latestMove(s.db, ctx.user);
    if (!move) return completed("No move yet.");
    const busy = unfinished(move);
    if (busy) return failed(busy);
    if (move.direction === "here") return report(await renotifyHere(s, move), move);
    return {
      status: "executing",
      action: "complete",
      form: {
        title: "Ask my contacts again",
        instructions: [
          `Asks the contacts who have not accepted ${move.newJid} yet again, from ${move.newJid}.`,
          "The password is used once to log in there and is never stored.",
        ],
        fields: [
          {
            var: "password",
            type: "text-private",
            label: `Password of ${move.newJid}`,
            required: true,
          },
        ],
      },
      async onSubmit(v) {
        try {
          return report(await renotifyAway(s, move, v.text("password")), move);
        } catch (err) {
          if (err instanceof JobFailure) return failed(err.message);
          throw err;
        }
      },
    };
  });
}
