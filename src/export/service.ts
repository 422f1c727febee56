// Export as a persisted job: collect(the user's privileged session) → XEP-0227 → (gzip) → (encryption)
// → staging, then a chat message with an expiring download link. A restart re-runs the job from the
// start of the file (the staging writer replaces earlier chunks), so the result is always complete.
// Passphrases live only in this process's memory: a restart during an encrypted export fails it.
import { PassThrough, type Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGzip } from "node:zlib";
import type { Kysely } from "kysely";
import type { Config } from "../config/config.js";
import type { Database, Job } from "../storage/schema.js";
import {
  archiveWriter,
  createArchive,
  failArchive,
  finishArchive,
  getArchive,
  setDownloadToken,
} from "../storage/archives.js";
import { JobFailure, RetryableJobError } from "../jobs/runner.js";
import { defineJob, type DefinedJob, type JobDeps } from "../jobs/definition.js";
import { choices, flag, optionalNumber, optionalText, text } from "../jobs/options.js";
import { encryptStream } from "../crypto/archive-cipher.js";
import { newToken } from "../http/tokens.js";
import { sendChat } from "../xmpp/chat.js";
import { XmppStanzaError } from "../xmpp/stanza-error.js";
import { createArchiveWriter } from "../xep0227/writer.js";
import { SECTIONS, inSectionOrder, type Section } from "../account/model.js";
import { privilegedSession, type PrivilegedAccess } from "../account/privileged-session.js";
import { collectAccount } from "../transfer/collect.js";
import { writeRecords } from "../transfer/write-archive.js";
import { assertJobQuota } from "../storage/quotas.js";
import { fillNotice } from "../exodus/notice.js";
import { formatBytes } from "../text/bytes.js";

export const EXPORT_JOB = "export";

export interface ExportJobOptions {
  sections: Section[];
  start?: string;
  end?: string;
  compress: boolean;
  encrypted: boolean;
  /** Bare JID told about progress and given the link (the user, or the admin who asked). */
  notify: string;
  /** Link validity instead of ARCHIVE_TTL_HOURS (bulk and scheduled exports). */
  ttlHours?: number;
  /** Text sent with the link instead of the default (placeholders: see exodus/notice.ts). */
  readyText?: string;
  /** Do not message `notify` about a failure (a bulk export reports failures to its admin). */
  quietFailure?: boolean;
  /** Who created the job ("bulk:ID", "schedule"), to find it again after a restart. */
  tag?: string;
}

export interface ExportService {
  start(owner: string, requestedBy: string, options: ExportJobOptions, passphrase?: string): Promise<string>;
  readonly job: DefinedJob<ExportJobOptions>;
}

export function filenameFor(
  owner: string,
  o: Pick<ExportJobOptions, "compress" | "encrypted">,
  now = new Date(),
): string {
  const safe = owner.replace(/[^A-Za-z0-9._@-]/g, "_");
  return `${safe}-${now.toISOString().slice(0, 10)}.xml${o.compress ? ".gz" : ""}${o.encrypted ? ".enc" : ""}`;
}

export function parseExportOptions(raw: Record<string, unknown>): ExportJobOptions {
  const start = optionalText(raw, "start");
  const end = optionalText(raw, "end");
  return {
    sections: choices(raw, "sections", SECTIONS),
    ...(start ? { start } : {}),
    ...(end ? { end } : {}),
    compress: flag(raw, "compress"),
    encrypted: flag(raw, "encrypted"),
    notify: text(raw, "notify"),
    ...optional("ttlHours", optionalNumber(raw, "ttlHours")),
    ...optional("readyText", optionalText(raw, "readyText")),
    ...(flag(raw, "quietFailure") ? { quietFailure: true } : {}),
    ...optional("tag", optionalText(raw, "tag")),
  };
}

function optional<K extends string, V>(key: K, value: V | undefined): Partial<Record<K, V>> {
  return value === undefined ? {} : ({ [key]: value } as Partial<Record<K, V>>);
}

/** Tells the person how far a long export got, without flooding them. */
function progressTeller(tell: (n: number) => Promise<void>): (n: number) => Promise<void> {
  let lastTold = 0;
  const started = Date.now();
  return async (n) => {
    if (n - lastTold >= 10_000 || (n > lastTold && Date.now() - started > 30_000 && n - lastTold >= 2_000)) {
      lastTold = n;
      await tell(n);
    }
  };
}

/** The sections a finished export left out, as saved in its job's cursor (anything malformed is dropped). */
function keptSkipped(cursor: Record<string, unknown> | null): { section: string; reason: string }[] {
  const list = cursor?.skipped;
  if (!Array.isArray(list)) return [];
  return list.filter(
    (s): s is { section: string; reason: string } =>
      typeof s === "object" &&
      s !== null &&
      typeof (s as Record<string, unknown>).section === "string" &&
      typeof (s as Record<string, unknown>).reason === "string",
  );
}

export function createExportService(
  deps: JobDeps &
    PrivilegedAccess & {
      db: Kysely<Database>;
      config: Config;
      /** Archive page size (tests make it small to widen timing windows). */
      pageSize?: number;
      /** Encryption for jobs whose key is kept persistently (scheduled exports), when no passphrase is held. */
      encryptionFor?: (job: Job) => Promise<Transform | undefined>;
    },
): ExportService {
  const ttlMs = deps.config.archiveTtlHours * 3600_000;

  /** A new download link and the message that hands it over (the link's token is kept only hashed). */
  function readyMessage(
    j: Job,
    o: ExportJobOptions,
    f: {
      counts: Record<string, number>;
      skipped: { section: string; reason: string }[];
      bytes: number;
      expiresAt: Date;
    },
  ): { tokenHash: string; announce: () => Promise<void> } {
    const { token, hash } = newToken();
    const url = `${deps.config.httpPublicUrl}/download/${token}`;
    const parts = inSectionOrder(Object.entries(f.counts))
      .filter(([k]) => !f.skipped.some((s) => s.section === k))
      .map(([k, v]) => `${k}: ${v}`)
      .join(", ");
    const left = f.skipped.map((s) => `\n- ${s.section} not included: ${s.reason}`).join("");
    const readyText = o.readyText
      ? fillNotice(o.readyText, {
          account: j.owner_jid,
          link: url,
          expires: f.expiresAt,
          bytes: f.bytes,
          contents: parts || "empty",
        }) + left
      : undefined;
    const ready =
      readyText ??
      `Your export of ${j.owner_jid} is ready (${formatBytes(f.bytes)}; ${parts || "empty"}).` +
        `${left}\nDownload (valid until ${f.expiresAt.toISOString().slice(0, 16).replace("T", " ")} UTC): ${url}` +
        (o.encrypted
          ? "\nIt is encrypted with your passphrase; decrypt with: portability archive decrypt FILE --out FILE.xml.gz"
          : "");
    return {
      tokenHash: hash,
      announce: () => sendChat(deps.link, o.notify, ready, { url, desc: "Account export (XEP-0227)" }),
    };
  }

  const job = defineJob<ExportJobOptions>(deps, {
    kind: EXPORT_JOB,
    parse: parseExportOptions,
    store: (o) => ({ ...o }),
    notify: (_job, o) => o.notify,
    failedText: (j, error) => `Your export of ${j.owner_jid} failed: ${error}`,
    quiet: (o) => o.quietFailure === true,
    async onFailed(j, error) {
      if (j.archive_id) await failArchive(deps.db, j.archive_id, error);
    },
    async run(ctx, o, passphrase) {
      const j = ctx.job;
      if (!j.archive_id) throw new JobFailure("export job without an archive");
      // The file was finished, but the job was not recorded done (stopped or crashed in between), so
      // the user was not told: the ready message is only sent after that record. Never export twice;
      // tell now, with a new link (only the old link's hash was kept).
      const previous = await getArchive(deps.db, j.archive_id);
      if (previous?.status === "ready") {
        const counts = previous.section_counts ?? {};
        const skipped = keptSkipped(j.cursor);
        const bytes = Number(previous.byte_size);
        const expiresAt = previous.expires_at ? new Date(previous.expires_at) : new Date(Date.now() + ttlMs);
        const { tokenHash, announce } = readyMessage(j, o, { counts, skipped, bytes, expiresAt });
        await setDownloadToken(deps.db, j.archive_id, tokenHash);
        return { report: { counts, skipped, bytes }, announce };
      }
      const keyed = o.encrypted && !passphrase ? await deps.encryptionFor?.(j) : undefined;
      if (o.encrypted && !passphrase && !keyed) {
        throw new JobFailure(
          "The component restarted during a passphrase-protected export. The passphrase is never stored, so please run the export again.",
        );
      }
      const text = new PassThrough();
      const stages: Transform[] = [];
      if (o.compress) stages.push(createGzip());
      if (passphrase) stages.push(encryptStream(passphrase));
      else if (keyed) stages.push(keyed);
      const sink = archiveWriter(deps.db, j.archive_id);
      const stored = pipeline([text, ...stages, sink]);
      const tell = progressTeller((n) =>
        sendChat(deps.link, o.notify, `Export of ${j.owner_jid}: ${n.toLocaleString("en")} messages so far…`),
      );
      const writer = createArchiveWriter(text);
      let skipped;
      // Requests lost with the stream fail as timeouts, which would skip whole sections: redo instead.
      let lost = false;
      const offOffline = deps.link.onOffline(() => (lost = true));
      try {
        const collection = collectAccount(privilegedSession(deps, j.owner_jid), {
          sections: o.sections,
          ...(o.start ? { start: o.start } : {}),
          ...(o.end ? { end: o.end } : {}),
          ...(deps.pageSize ? { pageSize: deps.pageSize } : {}),
          signal: ctx.signal,
          async onArchiveProgress(n) {
            await ctx.progress({ messages: n });
            await tell(n);
          },
        });
        await writeRecords(collection.records, writer);
        skipped = collection.skipped;
        if (lost) throw new RetryableJobError("the connection to the XMPP server was lost during the export");
        text.end();
        await stored;
      } catch (err) {
        text.destroy(err instanceof Error ? err : new Error(String(err)));
        await stored.catch(() => undefined);
        // A section that broke off after data went out (collect ends the transfer then): a partial file
        // never passes for a whole one, so the export starts again.
        if (err instanceof XmppStanzaError)
          throw new RetryableJobError(`the server stopped answering during the export (${err.condition})`);
        throw err;
      } finally {
        offOffline();
      }
      const counts = { ...writer.counts };
      const bytes = sink.stats().bytes;
      const expiresAt = new Date(Date.now() + (o.ttlHours ? o.ttlHours * 3600_000 : ttlMs));
      const { tokenHash, announce } = readyMessage(j, o, { counts, skipped, bytes, expiresAt });
      // Kept before the file counts as ready, for a rerun that has to tell (see above).
      await ctx.saveCursor({ skipped });
      await finishArchive(deps.db, j.archive_id, {
        stats: sink.stats(),
        sectionCounts: counts,
        tokenHash,
        expiresAt,
      });
      return { report: { counts, skipped, bytes }, announce };
    },
  });

  return {
    async start(owner, requestedBy, options, passphrase) {
      await assertJobQuota(deps.db, owner, deps.config.limits);
      const archiveId = await createArchive(deps.db, {
        owner,
        kind: "export",
        filename: filenameFor(owner, options),
        contentType: options.encrypted
          ? "application/octet-stream"
          : options.compress
            ? "application/gzip"
            : "application/xml",
        encrypted: options.encrypted,
        expiresAt: new Date(Date.now() + (options.ttlHours ? options.ttlHours * 3600_000 : ttlMs)),
      });
      return job.start({
        owner,
        requestedBy,
        options,
        archiveId,
        ...(options.encrypted && passphrase ? { secret: passphrase } : {}),
      });
    },
    job,
  };
}
