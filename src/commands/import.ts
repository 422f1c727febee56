// import / import-status: bring an XEP-0227 archive into my account, after a preview.
import xml from "@xmpp/xml";
import type { Command, StepResult } from "../adhoc/command.js";
import { completed, failed } from "../adhoc/command.js";
import { renderTable, type FieldSpec } from "../adhoc/forms.js";
import { CommandFailure } from "../adhoc/router.js";
import type { AppServices } from "../app.js";
import type { Section } from "../account/model.js";
import { NS_OOB } from "../xmpp/namespaces.js";
import { countActiveJobs, listJobs } from "../storage/jobs.js";
import { IMPORT_JOB, readableError } from "../import/service.js";

const FORM_TYPE = "urn:xmpp-account-portability:import:0";
const UPLOAD = "upload";
const PARTS: { value: Section; label: string }[] = [
  { value: "roster", label: "Contacts (added without subscription; you choose below whether to ask them)" },
  { value: "vcard", label: "vCard" },
  { value: "pep", label: "Profile, avatar, nickname, bookmarks (PEP)" },
  { value: "private", label: "Private XML" },
  { value: "blocklist", label: "Blocklist" },
  { value: "archive", label: "Message history" },
];

async function preview(
  s: AppServices,
  user: string,
  archiveId: string,
  passphrase: string,
): Promise<StepResult> {
  let summary;
  try {
    summary = await s.imports.preview(archiveId, passphrase || undefined);
  } catch (err) {
    const msg = readableError(err);
    if (msg) throw new CommandFailure(`This archive cannot be imported: ${msg}`);
    throw err;
  }
  const lines: FieldSpec[] = [
    { type: "fixed", value: `Account in the archive: ${summary.users.join(", ") || "none"}` },
    ...Object.entries(summary.counts).map(([k, v]): FieldSpec => ({ type: "fixed", value: `${k}: ${v}` })),
    ...(summary.archiveRange
      ? [
          {
            type: "fixed" as const,
            value: `messages from ${summary.archiveRange.first} to ${summary.archiveRange.last}`,
          },
        ]
      : []),
    ...summary.warnings.map((w): FieldSpec => ({ type: "fixed", value: `warning: ${w}` })),
  ];
  const other = summary.users[0] && summary.users[0] !== user;
  if (other) {
    lines.push({
      type: "fixed",
      value: `It will be imported into ${user}; your old address is mapped to it in the message history.`,
    });
    lines.push({
      type: "fixed",
      value: `Your old address (${summary.users[0]}) may still appear inside bookmarks or your vCard: review them after the import.`,
    });
  }
  if (summary.users.length === 0) throw new CommandFailure("This archive contains no account.");
  return {
    status: "executing",
    action: "complete",
    form: {
      title: "Import preview",
      formType: FORM_TYPE,
      fields: [
        ...lines,
        {
          var: "parts",
          type: "list-multi",
          label: "Import",
          value: PARTS.map((p) => p.value),
          options: PARTS,
        },
        {
          var: "overwrite",
          type: "boolean",
          label: "Overwrite names and groups of contacts I already have",
          value: false,
        },
        {
          var: "subscribe",
          type: "boolean",
          label: other
            ? "Ask my old contacts to follow me here (subscription requests marked as a move, XEP-0283)"
            : "Send subscription requests to imported contacts",
          value: true,
        },
      ],
    },
    async onSubmit(v, ctx) {
      if ((await countActiveJobs(s.db, ctx.user, IMPORT_JOB)) > 0)
        return failed("An import into your account is already running.");
      // Fields left out of a submission keep their defaults (XEP-0004 §3.2): everything.
      const sections = v
        .list(
          "parts",
          PARTS.map((p) => p.value),
        )
        .filter((p): p is Section => PARTS.some((x) => x.value === p));
      const jobId = await s.imports.start(
        ctx.user,
        ctx.requester,
        archiveId,
        {
          sections,
          overwrite: v.bool("overwrite", false),
          subscribe: v.bool("subscribe", true),
          notify: ctx.user,
        },
        passphrase || undefined,
      );
      return completed([
        { type: "info", text: "Import started. You will get a chat message with the result." },
        { type: "info", text: `Reference: ${jobId}` },
      ]);
    },
  };
}

export function importCommand(s: AppServices): Command {
  return {
    node: "import",
    name: "Import an account archive",
    access: "user",
    async start(ctx) {
      const staged = await s.db
        .selectFrom("archives")
        .selectAll()
        .where("owner_jid", "=", ctx.user)
        .where("kind", "=", "import")
        .where("status", "=", "ready")
        .where("expires_at", ">", new Date())
        .orderBy("created_at", "desc")
        .limit(10)
        .execute();
      return {
        status: "executing",
        action: "next",
        form: {
          title: "Import an account archive",
          instructions:
            "Choose an uploaded archive, or get a link to upload one (XEP-0227: from this service, Prosody, ejabberd…).",
          formType: FORM_TYPE,
          fields: [
            {
              var: "source",
              type: "list-single",
              label: "Archive",
              required: true,
              value: staged[0]?.id ?? UPLOAD,
              options: [
                ...staged.map((a) => ({
                  value: a.id,
                  label: `uploaded ${new Date(a.created_at).toISOString().slice(0, 16).replace("T", " ")} (${Math.ceil(Number(a.byte_size) / 1024)} KiB)`,
                })),
                { value: UPLOAD, label: "Upload a new file" },
              ],
            },
            {
              var: "url",
              type: "text-single",
              label: "…or a link to the archive (https://…)",
              desc: "For example an HTTP upload link from your old server. You can also send the file to me as an attachment.",
            },
            { var: "passphrase", type: "text-private", label: "Passphrase (only for encrypted archives)" },
          ],
        },
        async onSubmit(v, c) {
          const url = v.text("url").trim();
          if (url) {
            let archiveId: string;
            try {
              archiveId = await s.imports.stageUrl(c.user, url);
            } catch (err) {
              const msg = readableError(err);
              if (msg) throw new CommandFailure(`That link cannot be imported: ${msg}`);
              throw err;
            }
            return preview(s, c.user, archiveId, v.text("passphrase"));
          }
          const source = v.text("source");
          if (source === UPLOAD) {
            const url = await s.imports.uploadLink(c.user);
            return completed(
              [
                {
                  type: "info",
                  text: `Upload your archive (valid 24 hours, one use): curl -T FILE '${url}'`,
                },
                { type: "info", text: "Then run this command again." },
              ],
              [xml("x", { xmlns: NS_OOB }, xml("url", {}, url), xml("desc", {}, "Upload link (HTTP PUT)"))],
            );
          }
          if (!staged.some((a) => a.id === source)) throw new CommandFailure("Unknown archive.");
          return preview(s, c.user, source, v.text("passphrase"));
        },
      };
    },
  };
}

export function importStatusCommand(s: AppServices): Command {
  return {
    node: "import-status",
    name: "My imports",
    access: "user",
    async start(ctx) {
      const jobs = await listJobs(s.db, ctx.user, [IMPORT_JOB]);
      if (jobs.length === 0) return completed("No imports yet.");
      const rows = jobs.map((j) => {
        const sections = (j.report?.sections ?? {}) as Record<
          string,
          { applied: number; skipped: number; failed: number }
        >;
        return {
          started: new Date(j.created_at).toISOString().slice(0, 16).replace("T", " "),
          status: j.status === "failed" ? `failed: ${j.error ?? ""}` : j.status,
          result: Object.entries(sections)
            .map(([k, v]) => `${k} ${v.applied}/${v.skipped}/${v.failed}`)
            .join(", "),
        };
      });
      return completed("Result per section: applied/skipped/failed.", [
        renderTable({
          title: "Imports",
          columns: [
            { var: "started", label: "Started (UTC)" },
            { var: "status", label: "Status" },
            { var: "result", label: "Result" },
          ],
          rows,
        }),
      ]);
    },
  };
}
