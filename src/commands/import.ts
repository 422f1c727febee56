// import / import-status: bring an XEP-0227 archive into my account, after a preview.
import xml from "@xmpp/xml";
import { command, type Command, type StepResult } from "../adhoc/command.js";
import { completed, completedWithTable, failed } from "../adhoc/command.js";
import type { FieldSpec } from "../adhoc/forms.js";
import { CommandFailure } from "../adhoc/router.js";
import type { AppServices } from "../services.js";
import type { Section } from "../account/model.js";
import { NS_OOB } from "../xmpp/namespaces.js";
import { clip } from "../xmpp/stanza-size.js";
import { countActiveJobs, listJobs } from "../storage/jobs.js";
import { IMPORT_JOB, readableError } from "../import/service.js";
import type { Replaceable } from "../transfer/apply.js";
import { formatBytes } from "../text/bytes.js";

const FORM_TYPE = "urn:xmpp-account-portability:import:0";
const REPLACE_OPTIONS: { value: Replaceable; label: string }[] = [
  { value: "roster", label: "Names and groups of contacts I already have" },
  { value: "vcard", label: "vCard" },
  { value: "pep", label: "Profile, avatar, nickname and bookmarks of the same rooms" },
  { value: "private", label: "Private XML (roster notes, client settings)" },
];
const UPLOAD = "upload";
const PARTS: { value: Section; label: string }[] = [
  { value: "roster", label: "Contacts (added without subscription; you choose below whether to ask them)" },
  { value: "vcard", label: "vCard" },
  { value: "pep", label: "Profile, avatar, nickname, bookmarks (PEP)" },
  { value: "private", label: "Private XML" },
  { value: "blocklist", label: "Blocklist" },
  { value: "archive", label: "Message history" },
];

// The preview is one stanza: never one line per account or per warning (stanza-size.ts).
const MAX_WARNINGS = 10;
const MAX_LINE = 300;
const MAX_ACCOUNT_OPTIONS = 50;

/** "a, b, c … and 19,997 more accounts" */
function firstOf(items: string[], n: number, what: string): string {
  const shown = items.slice(0, n).map((i) => clip(i, MAX_LINE));
  return items.length > n
    ? `${shown.join(", ")} … and ${(items.length - n).toLocaleString("en")} more ${what}`
    : shown.join(", ");
}

async function preview(
  s: AppServices,
  user: string,
  archiveId: string,
  passphrase: string,
  account?: string,
): Promise<StepResult> {
  let summary;
  try {
    summary = await s.imports.preview(archiveId, passphrase || undefined, account);
  } catch (err) {
    const msg = readableError(err);
    if (msg) throw new CommandFailure(`This archive cannot be imported: ${msg}`);
    throw err;
  }
  if (summary.users.length === 0 || !summary.account)
    throw new CommandFailure("This archive contains no account.");
  if (summary.users.length > 1 && account === undefined)
    return chooseAccount(s, user, archiveId, passphrase, summary.users);
  const chosen = summary.account;
  const lines: FieldSpec[] = [
    summary.users.length > 1
      ? {
          type: "fixed",
          value: `Accounts in the archive: ${firstOf(summary.users, 3, "accounts")}. Importing ${clip(chosen, MAX_LINE)}; the counts below are for it.`,
        }
      : { type: "fixed", value: `Account in the archive: ${chosen}` },
    ...Object.entries(summary.counts).map(([k, v]): FieldSpec => ({ type: "fixed", value: `${k}: ${v}` })),
    ...(summary.archiveRange
      ? [
          {
            type: "fixed" as const,
            value: `messages from ${summary.archiveRange.first} to ${summary.archiveRange.last}`,
          },
        ]
      : []),
    ...summary.warnings
      .slice(0, MAX_WARNINGS)
      .map((w): FieldSpec => ({ type: "fixed", value: `warning: ${clip(w, MAX_LINE)}` })),
    ...(summary.warnings.length > MAX_WARNINGS
      ? [{ type: "fixed" as const, value: `… and ${summary.warnings.length - MAX_WARNINGS} more warnings` }]
      : []),
  ];
  const other = chosen.toLowerCase() !== user;
  if (other) {
    lines.push({
      type: "fixed",
      value: `It will be imported into ${user}; your old address is mapped to it in the message history.`,
    });
    lines.push({
      type: "fixed",
      value: `Your old address (${chosen}) may still appear inside bookmarks or your vCard: review them after the import.`,
    });
  }
  const conflicts = await s.imports.conflicts(archiveId, user, passphrase || undefined, chosen);
  for (const c of conflicts) lines.push({ type: "fixed", value: c.text });
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
          var: "replace",
          type: "list-multi",
          label: "Take the archive's version instead of mine for",
          desc: "By default what your account already has is kept, and the archive only fills what is empty.",
          value: [],
          options: REPLACE_OPTIONS,
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
          replace: v
            .list("replace", [])
            .filter((p): p is Replaceable => REPLACE_OPTIONS.some((x) => x.value === p)),
          subscribe: v.bool("subscribe", true),
          notify: ctx.user,
          account: chosen,
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

/** A file with several accounts (an ejabberd host file): which one to import, before the preview. */
function chooseAccount(
  s: AppServices,
  user: string,
  archiveId: string,
  passphrase: string,
  accounts: string[],
): StepResult {
  const preselected = accounts.find((a) => a.toLowerCase() === user) ?? accounts[0] ?? "";
  return {
    status: "executing",
    action: "next",
    form: {
      title: "Choose an account",
      instructions: `This archive holds ${accounts.length} accounts. Choose the one to import into ${user}; the next step shows what it contains.`,
      formType: FORM_TYPE,
      fields: [
        { type: "fixed", value: `Accounts in the archive: ${firstOf(accounts, 3, "accounts")}` },
        // A list of every account only while it stays small (the form is one stanza).
        accounts.length <= MAX_ACCOUNT_OPTIONS
          ? {
              var: "account",
              type: "list-single",
              label: "Account to import",
              required: true,
              value: preselected,
              options: accounts.map((a) => ({ value: clip(a, MAX_LINE), label: clip(a, MAX_LINE) })),
            }
          : {
              var: "account",
              type: "text-single",
              label: "Account to import (name@domain)",
              required: true,
              value: clip(preselected, MAX_LINE),
            },
      ],
    },
    async onSubmit(v, c) {
      // Left out of the submission: the default (XEP-0004 §3.2).
      const wanted = v.text("account", preselected).trim().toLowerCase();
      const account = accounts.find((a) => a.toLowerCase() === wanted);
      if (!account) throw new CommandFailure(`This archive holds no account "${v.text("account")}".`);
      return preview(s, c.user, archiveId, passphrase, account);
    },
  };
}

export function importCommand(s: AppServices): Command {
  return command("import", "Import an account archive", "user", async (ctx) => {
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
                label: `uploaded ${new Date(a.created_at).toISOString().slice(0, 16).replace("T", " ")} (${formatBytes(Number(a.byte_size))})`,
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
                text: `Open this link in a browser to upload your archive (valid 24 hours, one use): ${url} — or from a terminal: curl -T FILE '${url}'`,
              },
              { type: "info", text: "Then run this command again." },
            ],
            [
              xml(
                "x",
                { xmlns: NS_OOB },
                xml("url", {}, url),
                xml("desc", {}, "Upload page for your archive (open in a browser)"),
              ),
            ],
          );
        }
        if (!staged.some((a) => a.id === source)) throw new CommandFailure("Unknown archive.");
        return preview(s, c.user, source, v.text("passphrase"));
      },
    };
  });
}

export function importStatusCommand(s: AppServices): Command {
  return command("import-status", "My imports", "user", async (ctx) => {
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
    return completedWithTable("Result per section: applied/skipped/failed.", {
      title: "Imports",
      columns: { started: "Started (UTC)", status: "Status", result: "Result" },
      rows,
    });
  });
}
