// Import: files come in through one-time upload links, are staged and validated with the codec; an
// import job then streams the staged archive through apply (the user's privileged session). The job
// saves how many records it has applied together with its report, and a resumed run observes those
// records without applying them again, so every section is applied exactly once.
import { Transform, type Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { Kysely } from "kysely";
import type { Config } from "../config/config.js";
import type { Logger } from "../log/logger.js";
import type { Database } from "../storage/schema.js";
import {
  archiveReader,
  archiveWriter,
  createArchive,
  failArchive,
  finishArchive,
  getArchive,
} from "../storage/archives.js";
import { JobFailure, type JobContext, type JobResult } from "../jobs/runner.js";
import { defineJob, type DefinedJob, type JobDeps } from "../jobs/definition.js";
import { choices, flag, optionalText, text } from "../jobs/options.js";
import { hashToken, newToken } from "../http/tokens.js";
import { MultipartError } from "../http/multipart.js";
import { sendChat } from "../xmpp/chat.js";
import { domainOf } from "../xmpp/jid.js";
import { SECTIONS } from "../account/model.js";
import { privilegedSession, type PrivilegedAccess } from "../account/privileged-session.js";
import { readArchive, type ReaderLimits } from "../xep0227/reader.js";
import { describeError, recordAsked, recordOutcome } from "../account-moves/contacts.js";
import { createSummary, type ArchiveSummary } from "../xep0227/summary.js";
import { EncryptedArchiveError, openArchiveBytes } from "../xep0227/input.js";
import { ArchiveFormatError, ArchiveLimitError } from "../xep0227/records.js";
import { AccountNotInArchive, selectAccount } from "../xep0227/select-account.js";
import { ArchiveCipherError } from "../crypto/archive-cipher.js";
import { REPLACEABLE, createApplier, type ApplyOptions } from "../transfer/apply.js";
import { TransferReport } from "../transfer/report.js";
import { findConflicts, type Conflict } from "../transfer/conflicts.js";
import { UrlRefused, checkImportUrl, fetchArchive } from "./fetch-url.js";
import { QuotaExceeded, assertJobQuota, assertUploadLinkQuota, mib, stagedBytes } from "../storage/quotas.js";
import { StagingSlots, type StagingSlot } from "./staging-slots.js";

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

export interface ImportJobOptions extends ApplyOptions {
  notify: string;
  /** The account of the file to import (name@host); absent: the first one. */
  account?: string;
}

export function parseImportOptions(raw: Record<string, unknown>): ImportJobOptions {
  // Jobs stored before per-section choices had one "overwrite" flag for contact names and groups.
  const replace = choices(raw, "replace", REPLACEABLE);
  if (flag(raw, "overwrite") && !replace.includes("roster")) replace.push("roster");
  const account = optionalText(raw, "account");
  return {
    sections: choices(raw, "sections", SECTIONS),
    replace,
    subscribe: flag(raw, "subscribe"),
    notify: text(raw, "notify"),
    ...(account ? { account } : {}),
  };
}

/** Where a resumed import continues: records already applied, the report so far, requests sent. */
interface ImportCursor {
  records: number;
  report: TransferReport;
  asked: number;
}

function readCursor(raw: Record<string, unknown> | null): ImportCursor {
  const records = typeof raw?.records === "number" ? raw.records : 0;
  const asked = typeof raw?.asked === "number" ? raw.asked : 0;
  return { records, asked, report: TransferReport.from(raw?.report) };
}

export interface ImportService {
  uploadLink(owner: string): Promise<string>;
  receiveUpload(token: string, body: Readable, length: number | undefined): Promise<string>;
  /** For the browser page: when a usable (unknown, used and expired: null) link expires, and the size limit. */
  uploadLinkInfo(token: string): Promise<{ expiresAt: Date; limitBytes: number } | null>;
  /** Fetches and stages an archive from a URL; returns the archive id. */
  stageUrl(owner: string, url: string): Promise<string>;
  /** Counts are for `account` (name@host), or for the file's first account. */
  preview(archiveId: string, passphrase?: string, account?: string): Promise<ArchiveSummary>;
  /** What an import of `account` into `user` would keep of theirs (the preview lists it). */
  conflicts(archiveId: string, user: string, passphrase?: string, account?: string): Promise<Conflict[]>;
  start(
    owner: string,
    requestedBy: string,
    archiveId: string,
    options: ImportJobOptions,
    passphrase?: string,
  ): Promise<string>;
  readonly job: DefinedJob<ImportJobOptions>;
}

/** A clear, user-facing text for why an archive cannot be read. */
export function readableError(err: unknown): string | null {
  if (
    err instanceof ArchiveFormatError ||
    err instanceof EncryptedArchiveError ||
    err instanceof ArchiveCipherError ||
    err instanceof UrlRefused ||
    err instanceof AccountNotInArchive ||
    err instanceof StageError ||
    err instanceof QuotaExceeded
  ) {
    return err.message;
  }
  return null;
}

export function createImportService(
  deps: JobDeps &
    PrivilegedAccess & {
      db: Kysely<Database>;
      config: Config;
      log: Logger;
      /** Pause between subscription requests. */
      subscribeDelayMs?: number;
    },
): ImportService {
  const limits = deps.config.limits;
  const slots = new StagingSlots(limits.transfersPerUser);
  const readerLimits: Partial<ReaderLimits> = {
    maxUsers: limits.archiveMaxUsers,
    maxContacts: limits.archiveMaxContacts,
    maxGroups: limits.archiveMaxGroups,
    maxTextChars: limits.archiveMaxTextChars,
  };

  async function summarise(
    archiveId: string,
    passphrase?: string,
    account?: string,
  ): Promise<ArchiveSummary> {
    const summary = createSummary(account);
    const bytes = await openArchiveBytes(archiveReader(deps.db, archiveId), passphrase);
    for await (const r of readArchive(bytes, readerLimits)) summary.add(r);
    return summary.result();
  }

  /** Why a transfer now at `size` bytes (over `base` already staged) must stop, or null. */
  function overQuota(owner: string, base: { user: number; host: number }, size: number): string | null {
    const limit = deps.config.uploadLimitBytes;
    if (size > limit) return `the file is larger than ${mib(limit)}`;
    const host = domainOf(owner);
    if (base.user + slots.inFlight({ owner }) > limits.stagedBytesPerUser) {
      return (
        `your staged import files would exceed ${mib(limits.stagedBytesPerUser)}; ` +
        `they are deleted ${limits.importTtlHours} hours after upload, so try again later`
      );
    }
    if (base.host + slots.inFlight({ host }) > limits.stagedBytesPerHost) {
      return `${host} has no room for more staged imports at the moment; please try again later`;
    }
    return null;
  }

  /**
   * Streams a file into staging and validates it; throws StageError with a user-facing reason.
   * The caller holds a staging slot for the owner and releases it afterwards.
   */
  async function stage(
    owner: string,
    body: Readable,
    length: number | undefined,
    slot: StagingSlot,
    remote = false,
  ): Promise<string> {
    const host = domainOf(owner);
    const base = {
      user: await stagedBytes(deps.db, { owner }),
      host: await stagedBytes(deps.db, { host }),
    };
    const early = overQuota(
      owner,
      { user: base.user + (length ?? 0), host: base.host + (length ?? 0) },
      length ?? 0,
    );
    // The body is left alone: an HTTP upload's rest is discarded by the server after the answer.
    if (early) throw new StageError(413, early);
    const archiveId = await createArchive(deps.db, {
      owner,
      kind: "import",
      filename: "upload",
      contentType: "application/octet-stream",
      encrypted: false,
      expiresAt: new Date(Date.now() + limits.importTtlHours * 3600_000),
    });
    let seen = 0;
    const limiter = new Transform({
      transform(chunk: Buffer, _e, cb) {
        seen += chunk.length;
        slot.add(chunk.length);
        const why = overQuota(owner, base, seen);
        cb(why ? new StageError(413, why) : null, chunk);
      },
    });
    const sink = archiveWriter(deps.db, archiveId);
    try {
      await pipeline(body, limiter, sink);
    } catch (err) {
      await failArchive(deps.db, archiveId, "transfer failed");
      if (err instanceof StageError) throw err;
      if (err instanceof UrlRefused || err instanceof MultipartError) throw new StageError(400, err.message);
      throw new StageError(400, "the transfer was interrupted");
    }
    await finishArchive(deps.db, archiveId, { stats: sink.stats() });
    // Validate now, so the person learns about a bad file at once (encrypted files: at preview).
    let s: ArchiveSummary | null = null;
    try {
      s = await summarise(archiveId);
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
        // A fetched file's content is not echoed: the link may point at something that is not the
        // user's to read (SSRF), so only the fact that it is not an archive is reported.
        throw new StageError(
          400,
          remote && !(err instanceof ArchiveLimitError)
            ? "the linked file is not a XEP-0227 archive"
            : `not a usable XEP-0227 archive: ${msg}`,
        );
      }
    }
    if (s && s.users.length === 0 && s.includes.length > 0) {
      // ejabberd's export_piefxis main file: only pointers to one file per host.
      const files = s.includes.join(", ");
      await failArchive(deps.db, archiveId, "main file without accounts");
      throw new StageError(
        400,
        s.includes.length === 1
          ? `this is the main file of an ejabberd export: it holds no account, only a pointer to ${files}. Upload ${files} instead.`
          : `this is the main file of an ejabberd export: it holds no account, only pointers to one file per domain (${files}). Upload the file of your account's domain instead.`,
      );
    }
    return archiveId;
  }

  async function receiveOnLink(
    link: { token_hash: string; owner_jid: string },
    body: Readable,
    length: number | undefined,
    slot: StagingSlot,
  ): Promise<string> {
    try {
      const archiveId = await stage(link.owner_jid, body, length, slot);
      await deps.db
        .updateTable("upload_links")
        .set({ archive_id: archiveId })
        .where("token_hash", "=", link.token_hash)
        .execute();
    } catch (err) {
      if (err instanceof StageError) {
        // Nothing was staged: the link stays usable for a corrected file.
        await deps.db
          .updateTable("upload_links")
          .set({ used: false })
          .where("token_hash", "=", link.token_hash)
          .execute();
        await sendChat(
          deps.link,
          link.owner_jid,
          `The uploaded file is not a usable archive: ${err.message}`,
        ).catch(() => undefined);
        throw err;
      }
      throw err;
    }
    await sendChat(deps.link, link.owner_jid, RECEIVED).catch(() => undefined);
    return "received; run the import command again to continue";
  }

  const job = defineJob<ImportJobOptions>(deps, {
    kind: IMPORT_JOB,
    parse: parseImportOptions,
    store: (o) => ({ ...o }),
    notify: (_job, o) => o.notify,
    failedText: (j, error) => `Import into ${j.owner_jid} failed: ${error}`,
    run: (ctx, o, passphrase) => runImport(ctx, o, passphrase),
  });

  async function runImport(ctx: JobContext, o: ImportJobOptions, passphrase?: string): Promise<JobResult> {
    const j = ctx.job;
    if (!j.archive_id) throw new JobFailure("import job without an archive");
    const archive = await getArchive(deps.db, j.archive_id);
    if (!archive || archive.status !== "ready") throw new JobFailure("the staged archive is gone or expired");
    if (archive.encrypted && !passphrase) {
      throw new JobFailure(
        "The component restarted during the import of an encrypted archive. Please run the import again.",
      );
    }
    const resume = readCursor(j.cursor);
    const report = resume.report;
    const applier = createApplier(privilegedSession(deps, j.owner_jid), o, report);
    const checkpoint = async (records: number, asked: number): Promise<void> => {
      await ctx.saveCursor({ records, asked, report: report.toJSON() });
    };
    let n = 0;
    try {
      const bytes = await openArchiveBytes(archiveReader(deps.db, j.archive_id), passphrase);
      for await (const r of selectAccount(readArchive(bytes, readerLimits), o.account)) {
        if (ctx.signal.aborted) return;
        n++;
        if (n <= resume.records) {
          applier.observe(r);
          continue;
        }
        await applier.apply(r);
        // A resume point after every step that wrote something (archive: once per batch), so a
        // resumed job repeats nothing. Only a hard kill between a write and this save repeats that
        // one step (archive appends are idempotent by id).
        if (applier.buffered === 0) await checkpoint(n, 0);
      }
      await applier.flush();
    } catch (err) {
      const msg = readableError(err);
      if (msg) throw new JobFailure(`The archive cannot be read: ${msg}`);
      throw err;
    }
    // Per contact, as for moves: a bounce (forwarded by the companion) marks it failed.
    await applier.subscribeContacts(
      {
        asking: async (jid) => {
          // Cancel and shutdown stop the requests between two contacts (the job is then not "done").
          ctx.signal.throwIfAborted();
          await recordAsked(deps.db, j.id, jid);
        },
        refused: (jid, err) =>
          recordOutcome(deps.db, j.id, jid, {
            status: "failed",
            detail: describeError(err.condition, err.text),
          }),
        sent: (asked) => checkpoint(n, asked),
      },
      resume.asked,
      deps.subscribeDelayMs,
    );
    if (ctx.signal.aborted) return;
    const text = `Import into ${j.owner_jid} finished. ${report.summary() || "Nothing to import."}${report.notes.length ? `\n- ${report.notes.join("\n- ")}` : ""}`;
    return { report: report.toJSON(), announce: () => sendChat(deps.link, o.notify, text) };
  }

  return {
    async uploadLink(owner) {
      await assertUploadLinkQuota(deps.db, owner, limits);
      const { token, hash } = newToken();
      await deps.db
        .insertInto("upload_links")
        .values({ token_hash: hash, owner_jid: owner, expires_at: new Date(Date.now() + UPLOAD_TTL_MS) })
        .execute();
      return `${deps.config.httpPublicUrl}/upload/${token}`;
    },

    async uploadLinkInfo(token) {
      const link = await deps.db
        .selectFrom("upload_links")
        .select("expires_at")
        .where("token_hash", "=", hashToken(token))
        .where("used", "=", false)
        .where("expires_at", ">", new Date())
        .executeTakeFirst();
      return link ? { expiresAt: new Date(link.expires_at), limitBytes: deps.config.uploadLimitBytes } : null;
    },

    async receiveUpload(token, body, length) {
      const hash = hashToken(token);
      const gone = "this upload link is unknown, used or expired";
      // Consumed in one statement: of simultaneous uploads to one link exactly one gets the row. The
      // transfer slot is taken only then, so the losers of that race never hold one (they would make
      // the winner, or each other, look over the limit).
      const link = await deps.db
        .updateTable("upload_links")
        .set({ used: true })
        .where("token_hash", "=", hash)
        .where("used", "=", false)
        .where("expires_at", ">", new Date())
        .returning(["token_hash", "owner_jid"])
        .executeTakeFirst();
      if (!link) throw new StageError(404, gone);
      let slot: StagingSlot;
      try {
        slot = slots.acquire(link.owner_jid);
      } catch (err) {
        // Over the limit: the link stays usable for a later try.
        await deps.db
          .updateTable("upload_links")
          .set({ used: false })
          .where("token_hash", "=", hash)
          .execute();
        if (err instanceof QuotaExceeded) throw new StageError(429, err.message);
        throw err;
      }
      try {
        return await receiveOnLink(link, body, length, slot);
      } finally {
        slot.release();
      }
    },

    async stageUrl(owner, raw) {
      const url = checkImportUrl(raw, deps.config.xmppHosts, deps.config.importUrlHosts);
      const slot = slots.acquire(owner);
      try {
        const { body, length } = await fetchArchive(url, {
          limit: deps.config.uploadLimitBytes,
          timeoutMs: limits.fetchTimeoutMs,
          trustedHosts: deps.config.importUrlHosts,
        });
        try {
          return await stage(owner, body, length, slot, true);
        } finally {
          body.destroy();
        }
      } finally {
        slot.release();
      }
    },

    preview: (archiveId, passphrase, account) => summarise(archiveId, passphrase, account),

    async conflicts(archiveId, user, passphrase, account) {
      const bytes = await openArchiveBytes(archiveReader(deps.db, archiveId), passphrase);
      return findConflicts(
        privilegedSession(deps, user),
        selectAccount(readArchive(bytes, readerLimits), account),
      );
    },

    async start(owner, requestedBy, archiveId, options, passphrase) {
      await assertJobQuota(deps.db, owner, limits);
      return job.start({
        owner,
        requestedBy,
        archiveId,
        options,
        ...(passphrase ? { secret: passphrase } : {}),
      });
    },
    job,
  };
}
