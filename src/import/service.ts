// Import: files come in through one-time upload links, are staged in Postgres and validated with the
// codec; an import job then streams the staged archive through the importer. The job saves how many
// records it has applied, and every step is idempotent, so a restart resumes without duplicates.
import { Transform, type Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { Kysely } from "kysely";
import type { Config } from "../config/config.js";
import type { Logger } from "../log/logger.js";
import type { Database, Job } from "../storage/schema.js";
import {
  archiveReader,
  archiveWriter,
  createArchive,
  failArchive,
  finishArchive,
  getArchive,
} from "../storage/archives.js";
import { createJob } from "../storage/jobs.js";
import { JobFailure, RetryableJobError, type JobContext, type JobResult } from "../jobs/runner.js";
import { HttpError } from "../http/server.js";
import { hashToken, newToken } from "../http/tokens.js";
import { sendChat } from "../xmpp/chat.js";
import type { ComponentLink } from "../xmpp/component-link.js";
import type { CompanionClient } from "../account/companion-api.js";
import { SECTIONS, type Section } from "../account/model.js";
import { readArchive } from "../xep0227/reader.js";
import { createSummary, type ArchiveSummary } from "../xep0227/summary.js";
import { EncryptedArchiveError, openArchiveBytes } from "../xep0227/input.js";
import { ArchiveFormatError } from "../xep0227/records.js";
import { ArchiveCipherError } from "../crypto/archive-cipher.js";
import { ImportReport, createImporter, type ImportOptions } from "./apply.js";
import { UrlRefused, checkImportUrl, fetchArchive } from "./fetch-url.js";

export const IMPORT_JOB = "import";
const RECEIVED =
  'Received your archive. Run the "Import an account archive" command again to review and import it.';

/** A staging failure with a reason for the person and an HTTP status for uploads. */
export class StageError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = "StageError";
  }
}
const UPLOAD_TTL_MS = 24 * 3600_000;

export interface ImportJobOptions extends ImportOptions {
  notify: string;
}

export interface ImportService {
  uploadLink(owner: string): Promise<string>;
  receiveUpload(token: string, body: Readable, length: number | undefined): Promise<string>;
  /** Fetches and stages an archive from a URL; returns the archive id. */
  stageUrl(owner: string, url: string): Promise<string>;
  preview(archiveId: string, passphrase?: string): Promise<ArchiveSummary>;
  start(
    owner: string,
    requestedBy: string,
    archiveId: string,
    options: ImportJobOptions,
    passphrase?: string,
  ): Promise<string>;
  run(ctx: JobContext): Promise<JobResult>;
  finished(job: Job, outcome: { status: "done" | "failed"; error?: string }): Promise<void>;
}

/** A clear, user-facing text for why an archive cannot be read. */
export function readableError(err: unknown): string | null {
  if (
    err instanceof ArchiveFormatError ||
    err instanceof EncryptedArchiveError ||
    err instanceof ArchiveCipherError ||
    err instanceof UrlRefused ||
    err instanceof StageError
  ) {
    return err.message;
  }
  return null;
}

export function createImportService(deps: {
  link: ComponentLink;
  companion: CompanionClient;
  db: Kysely<Database>;
  config: Config;
  log: Logger;
  wake: () => void;
}): ImportService {
  const passphrases = new Map<string, string>();

  async function summarise(archiveId: string, passphrase?: string): Promise<ArchiveSummary> {
    const summary = createSummary();
    const bytes = await openArchiveBytes(archiveReader(deps.db, archiveId), passphrase);
    for await (const r of readArchive(bytes)) summary.add(r);
    return summary.result();
  }

  /** Streams a file into staging and validates it; throws StageError with a user-facing reason. */
  async function stage(owner: string, body: Readable, length: number | undefined): Promise<string> {
    const limit = deps.config.uploadLimitBytes;
    if (length !== undefined && length > limit)
      throw new StageError(413, `the file is larger than ${limit} bytes`);
    const archiveId = await createArchive(deps.db, {
      owner,
      kind: "import",
      filename: "upload",
      contentType: "application/octet-stream",
      encrypted: false,
      expiresAt: new Date(Date.now() + deps.config.archiveTtlHours * 3600_000),
    });
    let seen = 0;
    const limiter = new Transform({
      transform(chunk: Buffer, _e, cb) {
        seen += chunk.length;
        cb(seen > limit ? new StageError(413, `the file is larger than ${limit} bytes`) : null, chunk);
      },
    });
    const sink = archiveWriter(deps.db, archiveId);
    try {
      await pipeline(body, limiter, sink);
    } catch (err) {
      await failArchive(deps.db, archiveId, "transfer failed");
      throw err instanceof StageError ? err : new StageError(400, "the transfer was interrupted");
    }
    await finishArchive(deps.db, archiveId, { stats: sink.stats() });
    // Validate now, so the person learns about a bad file at once (encrypted files: at preview).
    try {
      const s = await summarise(archiveId);
      await deps.db
        .updateTable("archives")
        .set({ section_counts: JSON.stringify(s.counts) })
        .where("id", "=", archiveId)
        .execute();
    } catch (err) {
      if (err instanceof EncryptedArchiveError) {
        await deps.db.updateTable("archives").set({ encrypted: true }).where("id", "=", archiveId).execute();
      } else {
        const msg = readableError(err) ?? "the file could not be read";
        await failArchive(deps.db, archiveId, msg);
        throw new StageError(400, `not a usable XEP-0227 archive: ${msg}`);
      }
    }
    return archiveId;
  }

  return {
    async uploadLink(owner) {
      const { token, hash } = newToken();
      await deps.db
        .insertInto("upload_links")
        .values({ token_hash: hash, owner_jid: owner, expires_at: new Date(Date.now() + UPLOAD_TTL_MS) })
        .execute();
      return `${deps.config.httpPublicUrl}/upload/${token}`;
    },

    async receiveUpload(token, body, length) {
      const link = await deps.db
        .selectFrom("upload_links")
        .selectAll()
        .where("token_hash", "=", hashToken(token))
        .where("used", "=", false)
        .where("expires_at", ">", new Date())
        .executeTakeFirst();
      if (!link) throw new HttpError(404, "this upload link is unknown, used or expired");
      await deps.db
        .updateTable("upload_links")
        .set({ used: true })
        .where("token_hash", "=", link.token_hash)
        .execute();
      try {
        const archiveId = await stage(link.owner_jid, body, length);
        await deps.db
          .updateTable("upload_links")
          .set({ archive_id: archiveId })
          .where("token_hash", "=", link.token_hash)
          .execute();
      } catch (err) {
        if (err instanceof StageError) {
          await sendChat(
            deps.link,
            link.owner_jid,
            `The uploaded file is not a usable archive: ${err.message}`,
          ).catch(() => undefined);
          throw new HttpError(err.status, err.message);
        }
        throw err;
      }
      await sendChat(deps.link, link.owner_jid, RECEIVED).catch(() => undefined);
      return "received; run the import command again to continue";
    },

    async stageUrl(owner, raw) {
      const url = checkImportUrl(raw, [...deps.config.xmppHosts, ...deps.config.importUrlHosts]);
      const { body, length } = await fetchArchive(url, deps.config.uploadLimitBytes);
      return stage(owner, body, length);
    },

    preview: (archiveId, passphrase) => summarise(archiveId, passphrase),

    async start(owner, requestedBy, archiveId, options, passphrase) {
      const jobId = await createJob(deps.db, {
        kind: IMPORT_JOB,
        owner,
        requestedBy,
        archiveId,
        options: { ...options },
      });
      if (passphrase) passphrases.set(jobId, passphrase);
      deps.wake();
      return jobId;
    },

    async run(ctx) {
      const job = ctx.job;
      const o = job.options as unknown as ImportJobOptions;
      if (!job.archive_id) throw new JobFailure("import job without an archive");
      const archive = await getArchive(deps.db, job.archive_id);
      if (!archive || archive.status !== "ready")
        throw new JobFailure("the staged archive is gone or expired");
      const passphrase = passphrases.get(job.id);
      if (archive.encrypted && !passphrase) {
        throw new JobFailure(
          "The component restarted during the import of an encrypted archive. Please run the import again.",
        );
      }
      if (!deps.link.online) throw new RetryableJobError("not connected to the XMPP server");
      const host = job.owner_jid.slice(job.owner_jid.indexOf("@") + 1);
      const report = new ImportReport();
      const importer = createImporter(
        {
          link: deps.link,
          companion: deps.companion,
          companionPresent: await deps.companion.probe(host),
          subscribeDelayMs: 200,
        },
        job.owner_jid,
        {
          ...o,
          sections: (o.sections ?? []).filter((s): s is Section =>
            (SECTIONS as readonly string[]).includes(s),
          ),
        },
        report,
      );
      const resumeAt = typeof job.cursor?.records === "number" ? job.cursor.records : 0;
      let n = 0;
      let users = 0;
      try {
        const bytes = await openArchiveBytes(archiveReader(deps.db, job.archive_id), passphrase);
        for await (const r of readArchive(bytes)) {
          if (ctx.signal.aborted) return;
          if (r.kind === "user" && ++users > 1) {
            report.note("the archive holds more than one account: only the first was imported");
            break;
          }
          n++;
          // Records before the cursor were applied by an earlier attempt; structural ones are replayed
          // (they carry state such as the archive's own address).
          if (n <= resumeAt && r.kind !== "user" && r.kind !== "pep-node" && r.kind !== "user-end") continue;
          await importer.apply(r);
          if (n % 500 === 0) await ctx.saveCursor({ records: n });
        }
      } catch (err) {
        const msg = readableError(err);
        if (msg) throw new JobFailure(`The archive cannot be read: ${msg}`);
        throw err;
      }
      await importer.subscribeContacts();
      passphrases.delete(job.id);
      await sendChat(
        deps.link,
        o.notify,
        `Import into ${job.owner_jid} finished. ${report.summary() || "Nothing to import."}${report.notes.length ? `\n- ${report.notes.join("\n- ")}` : ""}`,
      );
      return { report: report.toJSON() };
    },

    async finished(job, outcome) {
      if (job.kind !== IMPORT_JOB || outcome.status !== "failed") return;
      passphrases.delete(job.id);
      const o = job.options as unknown as ImportJobOptions;
      await sendChat(
        deps.link,
        o.notify ?? job.owner_jid,
        `Import into ${job.owner_jid} failed: ${outcome.error ?? "unknown error"}`,
      ).catch(() => undefined);
    },
  };
}
