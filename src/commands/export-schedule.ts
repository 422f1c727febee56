// export-schedule: a user turns weekly/monthly exports on or off (exodus/schedule.ts runs them).
import type { Command } from "../adhoc/command.js";
import { completed } from "../adhoc/command.js";
import { FormError } from "../adhoc/forms.js";
import type { AppServices } from "../services.js";
import type { ExportSchedule } from "../storage/schema.js";
import { DEFAULT_KEEP } from "../exodus/schedule.js";

const FORM_TYPE = "urn:xmpp-account-portability:export-schedule:0";
const MAX_KEEP = 10;

const utc = (d: Date | string) => new Date(d).toISOString().slice(0, 16).replace("T", " ");

/** One line for forms and export-status. */
export function describeSchedule(s: ExportSchedule | undefined): string {
  if (!s) return "Scheduled exports are off.";
  return (
    `Scheduled exports: ${s.frequency}, next on ${utc(s.next_run_at)} UTC, the last ${s.keep} kept` +
    (s.archive_key ? ", encrypted with your passphrase." : ", not encrypted.")
  );
}

export function exportScheduleCommand(s: AppServices): Command {
  return {
    node: "export-schedule",
    name: "Scheduled exports",
    access: "user",
    async start(ctx) {
      const current = await s.schedules.get(ctx.user);
      return {
        status: "executing",
        action: "complete",
        form: {
          title: "Scheduled exports",
          instructions: [
            describeSchedule(current),
            "Each run exports your whole account and sends you the download link by chat message.",
          ],
          formType: FORM_TYPE,
          fields: [
            {
              var: "frequency",
              type: "list-single",
              label: "Export",
              value: current?.frequency ?? "weekly",
              options: [
                { value: "off", label: "Off" },
                { value: "weekly", label: "Every week" },
                { value: "monthly", label: "Every month" },
              ],
            },
            {
              var: "keep",
              type: "text-single",
              label: "Archives to keep",
              value: String(current?.keep ?? DEFAULT_KEEP),
            },
            {
              var: "passphrase",
              type: "text-private",
              label: current?.archive_key
                ? "New passphrase (empty: keep the current one)"
                : "Passphrase to encrypt the archives (optional)",
              desc: "The passphrase itself is never stored: only the key derived from it, so archives can be encrypted while you are away.",
            },
            ...(current?.archive_key
              ? [{ var: "unencrypted", type: "boolean" as const, label: "Stop encrypting", value: false }]
              : []),
          ],
        },
        async onSubmit(v, c) {
          const frequency = v.text("frequency", "weekly").trim();
          if (frequency !== "off" && frequency !== "weekly" && frequency !== "monthly") {
            throw new FormError("Export must be off, weekly or monthly");
          }
          const keep = Number(v.text("keep", String(DEFAULT_KEEP)).trim());
          if (!Number.isInteger(keep) || keep < 1 || keep > MAX_KEEP) {
            throw new FormError(`Archives to keep must be a whole number from 1 to ${MAX_KEEP}`);
          }
          const passphrase = v.text("passphrase");
          const saved = await s.schedules.set(c.user, {
            frequency,
            keep,
            ...(passphrase ? { passphrase } : {}),
            removeEncryption: v.bool("unencrypted", false),
          });
          // A new schedule's first run is due now.
          if (saved) void s.schedules.runDue().catch(() => undefined);
          return completed(describeSchedule(saved));
        },
      };
    },
  };
}
