// admin-export-all / admin-export-status / admin-export-stop: the shutdown kit's admin side
// (exodus/bulk.ts does the work).
import type { Command, Note } from "../adhoc/command.js";
import { completed, completedWithTable, failed } from "../adhoc/command.js";
import { FormError, type FieldSpec } from "../adhoc/forms.js";
import type { AppServices } from "../services.js";
import { formatEta, summary, type BulkProgress } from "../exodus/bulk.js";
import { DEFAULT_BULK_NOTICE, NOTICE_PLACEHOLDERS } from "../exodus/notice.js";
import { formatBytes } from "../text/bytes.js";
import type { BulkExportOptions } from "../storage/schema.js";

const FORM_TYPE = "urn:xmpp-account-portability:export-all:0";
export const MAX_BULK_CONCURRENCY = 32;

function wholeNumber(raw: string, field: string, min: number, max: number): number {
  const n = Number(raw.trim());
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new FormError(`${field} must be a whole number from ${min} to ${max}`);
  }
  return n;
}

/** Reads and checks the admin's choices (shared by the command and the command line). */
export function bulkOptions(
  raw: { days: string; concurrency: string; text: string; history: boolean },
  maxConcurrency: number,
): BulkExportOptions {
  const text = raw.text.trim();
  if (text.length > 4000) throw new FormError("The message may be at most 4000 characters");
  return {
    ttlDays: wholeNumber(raw.days, "Link validity (days)", 1, 365),
    concurrency: wholeNumber(raw.concurrency, "Exports at once", 1, maxConcurrency),
    text: text || DEFAULT_BULK_NOTICE,
    history: raw.history,
  };
}

export function adminExportAllCommand(s: AppServices): Command {
  const fields = (): FieldSpec[] => [
    {
      var: "host",
      type: "list-single",
      label: "Domain",
      required: true,
      value: s.config.xmppHosts[0] ?? "",
      options: s.config.xmppHosts.map((h) => ({ value: h })),
    },
    { var: "days", type: "text-single", label: "Link validity (days)", value: "14", required: true },
    {
      var: "concurrency",
      type: "text-single",
      label: "Exports at once",
      value: String(Math.min(4, s.config.jobConcurrency)),
      desc: `At most JOB_CONCURRENCY (${s.config.jobConcurrency}) run at the same time.`,
    },
    { var: "history", type: "boolean", label: "Include message history", value: true },
    {
      var: "text",
      type: "text-multi",
      label: "Message sent to each user with their link",
      desc: `Placeholders: ${NOTICE_PLACEHOLDERS}`,
      value: DEFAULT_BULK_NOTICE,
    },
  ];
  return {
    node: "admin-export-all",
    name: "Export every account and message each user",
    access: "admin",
    async start() {
      return {
        status: "executing",
        action: "complete",
        form: {
          title: "Export every account",
          instructions: [
            "Exports each account of the domain into its own archive and sends each user a chat message with their own download link.",
            "Safe to run again: a stopped export continues where it stopped, no account is exported twice. Progress: admin-export-status.",
          ],
          formType: FORM_TYPE,
          fields: fields(),
        },
        async onSubmit(v, c) {
          const host = v.text("host").trim().toLowerCase();
          if (!s.config.xmppHosts.includes(host))
            throw new FormError("Domain must be one this component serves");
          const options = bulkOptions(
            {
              days: v.text("days", "14"),
              concurrency: v.text("concurrency", "4"),
              text: v.text("text"),
              history: v.bool("history", true),
            },
            Math.min(MAX_BULK_CONCURRENCY, s.config.jobConcurrency),
          );
          const r = await s.bulk.start(host, c.user, options);
          if (r.kind === "refused") return failed(r.reason);
          if (r.kind === "running") {
            return failed(`A bulk export of ${host} is already running; see admin-export-status.`);
          }
          return completed([
            {
              type: "info",
              text:
                r.kind === "resumed"
                  ? `The stopped bulk export of ${host} continues; accounts already exported are not exported again.`
                  : `Bulk export of ${host} started. Each user gets a chat message with their link (valid ${options.ttlDays} days) when their archive is ready; you get a message when all are done.`,
            },
            { type: "info", text: "Progress: run admin-export-status." },
            { type: "info", text: `Reference: ${r.id}` },
          ]);
        },
      };
    },
  };
}

function row(p: BulkProgress): Record<string, string> {
  return {
    host: p.host,
    status: p.status,
    done: `${p.done}/${p.total}`,
    failed: String(p.failed),
    running: String(p.inFlight),
    eta: p.etaSeconds !== undefined ? formatEta(p.etaSeconds) : "",
  };
}

export function adminExportStatusCommand(s: AppServices): Command {
  return {
    node: "admin-export-status",
    name: "Bulk export status",
    access: "admin",
    async start() {
      const all = await s.bulk.latest();
      const reading = await s.bulk.storage();
      const notes: Note[] = [];
      if (all.length === 0) notes.push({ type: "info", text: "No bulk export yet." });
      for (const p of all) notes.push({ type: p.status === "stopped" ? "warn" : "info", text: summary(p) });
      const storage = [`Staged export archives: ${formatBytes(reading.staged)}.`];
      if (reading.databaseBytes !== undefined)
        storage.push(`Database size: ${formatBytes(reading.databaseBytes)}.`);
      if (reading.freeBytes !== undefined)
        storage.push(`Free disk for the data directory: ${formatBytes(reading.freeBytes)}.`);
      if (reading.limit) storage.push(`Limit reached: ${reading.limit}.`);
      notes.push({ type: reading.limit ? "warn" : "info", text: storage.join(" ") });
      if (all.length === 0) return completed(notes);
      return completedWithTable(notes, {
        title: "Bulk exports",
        columns: {
          host: "Domain",
          status: "Status",
          done: "Exported",
          failed: "Failed",
          running: "In progress",
          eta: "Time left",
        },
        rows: all.map(row),
      });
    },
  };
}

function canceledText(n: number): string {
  if (n === 0) return "No export was under way.";
  if (n === 1) return "1 export not finished yet was canceled; its user got no message.";
  return `${n} exports not finished yet were canceled; those users got no message.`;
}

export function adminExportStopCommand(s: AppServices): Command {
  return {
    node: "admin-export-stop",
    name: "Stop a bulk export",
    access: "admin",
    async start() {
      const running = (await s.bulk.latest()).filter((p) => p.status === "running");
      const first = running[0];
      if (!first) return completed("No bulk export is running.");
      return {
        status: "executing",
        action: "complete",
        form: {
          title: "Stop a bulk export",
          instructions: [
            "Nothing new starts, and exports not finished yet are canceled: those users get no message.",
            "Users already messaged keep their links. Run admin-export-all again to continue (you can change the message); no account is exported twice.",
          ],
          fields: [
            {
              var: "host",
              type: "list-single",
              label: "Domain",
              required: true,
              value: first.host,
              options: running.map((p) => ({
                value: p.host,
                label: `${p.host} (${p.done} of ${p.total} exported)`,
              })),
            },
          ],
        },
        async onSubmit(v, c) {
          const host = v.text("host", first.host).trim().toLowerCase();
          const r = await s.bulk.halt(host, c.user);
          if (r.kind === "none") return failed(`No bulk export of ${host} is running.`);
          const p = await s.bulk.progress(r.id);
          return completed([
            {
              type: "info",
              text: `Stopped the bulk export of ${host}. ${canceledText(r.canceled)}`,
            },
            ...(p ? [{ type: "info" as const, text: summary(p) }] : []),
            { type: "info", text: `To continue, run admin-export-all for ${host} again.` },
          ]);
        },
      };
    },
  };
}
