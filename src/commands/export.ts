// export / admin-export-user / export-status: the user-facing side of account export.
import { command, type Command, type StepResult } from "../adhoc/command.js";
import { completed, completedWithTable, failed } from "../adhoc/command.js";
import { FormError, type FieldSpec, type FormValues } from "../adhoc/forms.js";
import { bareOf, domainOf } from "../xmpp/jid.js";
import type { AppServices } from "../services.js";
import type { Section } from "../account/model.js";
import { countActiveJobs, listJobs } from "../storage/jobs.js";
import { getArchive } from "../storage/archives.js";
import { EXPORT_JOB, type ExportJobOptions } from "../export/service.js";
import { describeSchedule } from "./export-schedule.js";
import { formatBytes } from "../text/bytes.js";

const FORM_TYPE = "urn:xmpp-account-portability:export:0";
const PARTS: { value: Section; label: string }[] = [
  { value: "roster", label: "Contacts (names, groups)" },
  { value: "vcard", label: "vCard" },
  { value: "pep", label: "Profile, avatar, nickname, bookmarks (PEP)" },
  { value: "private", label: "Private XML (client settings, notes)" },
  { value: "blocklist", label: "Blocklist" },
];

function optionFields(): FieldSpec[] {
  return [
    { var: "history", type: "boolean", label: "Include message history", value: true },
    { var: "start", type: "text-single", label: "History from (YYYY-MM-DD, optional)" },
    { var: "end", type: "text-single", label: "History until (YYYY-MM-DD, optional)" },
    {
      var: "parts",
      type: "list-multi",
      label: "Include",
      value: PARTS.map((p) => p.value),
      options: PARTS.map((p) => ({ value: p.value, label: p.label })),
    },
    { var: "compress", type: "boolean", label: "Compress (gzip)", value: true },
    {
      var: "passphrase",
      type: "text-private",
      label: "Passphrase to encrypt the file (optional)",
      desc: "Never stored. Decrypt with: portability archive decrypt FILE --out OUT",
    },
  ];
}

function parseDate(v: string, field: string, endOfDay: boolean): string | undefined {
  const s = v.trim();
  if (!s) return undefined;
  if (!/^\d{4}-\d{2}-\d{2}$/.test(s) || Number.isNaN(Date.parse(`${s}T00:00:00Z`))) {
    throw new FormError(`${field} must be a date like 2024-01-31`);
  }
  return `${s}T${endOfDay ? "23:59:59" : "00:00:00"}Z`;
}

function readOptions(v: FormValues, notify: string): { options: ExportJobOptions; passphrase?: string } {
  const parts = v
    .list(
      "parts",
      PARTS.map((p) => p.value),
    )
    .filter((p): p is Section => PARTS.some((x) => x.value === p));
  const history = v.bool("history", true);
  const start = parseDate(v.text("start"), "History from", false);
  const end = parseDate(v.text("end"), "History until", true);
  const passphrase = v.text("passphrase");
  return {
    options: {
      sections: history ? [...parts, "archive"] : parts,
      ...(start ? { start } : {}),
      ...(end ? { end } : {}),
      compress: v.bool("compress", true),
      encrypted: passphrase.length > 0,
      notify,
    },
    ...(passphrase ? { passphrase } : {}),
  };
}

async function startExport(
  s: AppServices,
  owner: string,
  requester: string,
  v: FormValues,
): Promise<StepResult> {
  if ((await countActiveJobs(s.db, owner, EXPORT_JOB)) > 0) {
    return failed(`An export of ${owner} is already running; you will get a message when it is ready.`);
  }
  const { options, passphrase } = readOptions(v, bareOf(requester));
  const jobId = await s.exports.start(owner, requester, options, passphrase);
  return completed([
    {
      type: "info",
      text: `Export of ${owner} started. You will get a chat message with the download link when it is ready.`,
    },
    { type: "info", text: `Reference: ${jobId}` },
  ]);
}

export function exportCommand(s: AppServices): Command {
  return command("export", "Export my account", "user", async (ctx) => {
    return {
      status: "executing",
      action: "complete",
      form: {
        title: "Export my account",
        instructions: `Creates a portable archive (XEP-0227) of ${ctx.user}. The link is valid for ${s.config.archiveTtlHours} hours.`,
        formType: FORM_TYPE,
        fields: optionFields(),
      },
      onSubmit: (v, c) => startExport(s, c.user, c.requester, v),
    };
  });
}

export function adminExportUserCommand(s: AppServices): Command {
  return command("admin-export-user", "Export a user's account", "admin", async () => {
    return {
      status: "executing",
      action: "complete",
      form: {
        title: "Export a user's account",
        formType: FORM_TYPE,
        fields: [{ var: "account", type: "jid-single", label: "Account", required: true }, ...optionFields()],
      },
      async onSubmit(v, c) {
        const account = bareOf(v.text("account").trim());
        if (!account.includes("@") || !s.config.xmppHosts.includes(domainOf(account))) {
          throw new FormError("Account must be a user of a domain this component serves");
        }
        return startExport(s, account, c.requester, v);
      },
    };
  });
}

export function exportStatusCommand(s: AppServices): Command {
  return command("export-status", "My exports", "user", async (ctx) => {
    const jobs = await listJobs(s.db, ctx.user, [EXPORT_JOB]);
    const schedule = describeSchedule(await s.schedules.get(ctx.user));
    if (jobs.length === 0) return completed(["No exports yet.", schedule].join("\n"));
    const rows: Record<string, string>[] = [];
    for (const j of jobs) {
      const a = j.archive_id ? await getArchive(s.db, j.archive_id) : undefined;
      const progress =
        j.progress && typeof j.progress.messages === "number" ? `${j.progress.messages} messages` : "";
      rows.push({
        started: new Date(j.created_at).toISOString().slice(0, 16).replace("T", " "),
        status: j.status === "failed" ? `failed: ${j.error ?? ""}` : j.status,
        progress,
        size: a && a.status === "ready" ? formatBytes(Number(a.byte_size)) : "",
        expires: a ? new Date(a.expires_at).toISOString().slice(0, 16).replace("T", " ") : "",
      });
    }
    const latest = jobs[0] as (typeof jobs)[number];
    const latestRow = rows[0] as Record<string, string>;
    return completedWithTable(
      [
        `Latest export: started ${latestRow.started} UTC, ${latestRow.status}${latestRow.size ? `, ${latestRow.size}` : ""}${latestRow.expires && latest.status === "done" ? `, link valid until ${latestRow.expires} UTC` : ""}.`,
        "Download links are sent by chat message when an export is ready.",
        schedule,
      ].join("\n"),
      {
        title: "Exports",
        columns: {
          started: "Started (UTC)",
          status: "Status",
          progress: "Progress",
          size: "Size",
          expires: "Link expires (UTC)",
        },
        rows,
      },
    );
  });
}
