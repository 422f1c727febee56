// Export as a persisted job: account → XEP-0227 → (gzip) → (encryption) → Postgres staging, then a
// chat message with an expiring download link. A restart re-runs the job from the start of the file
// (the staging writer replaces earlier chunks), so the result is always complete. Passphrases live
// only in this process's memory: a restart during an encrypted export fails it with a clear message.
import { PassThrough, type Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGzip } from "node:zlib";
import type { Kysely } from "kysely";
import type { Config } from "../config/config.js";
import type { Logger } from "../log/logger.js";
import type { Database, Job } from "../storage/schema.js";
import { archiveWriter, createArchive, failArchive, finishArchive } from "../storage/archives.js";
import { createJob } from "../storage/jobs.js";
import { JobFailure, RetryableJobError, type JobContext, type JobResult } from "../jobs/runner.js";
import { encryptStream } from "../crypto/archive-cipher.js";
import { newToken } from "../http/tokens.js";
import { sendChat } from "../xmpp/chat.js";
import type { ComponentLink } from "../xmpp/component-link.js";
import { createArchiveWriter } from "../xep0227/writer.js";
import { SECTIONS, type Section } from "../account/model.js";
import { collectAccount, type ExportDeps } from "./collect.js";

export const EXPORT_JOB = "export";

export interface ExportJobOptions {
  sections: Section[];
  start?: string;
  end?: string;
  compress: boolean;
  encrypted: boolean;
  /** Bare JID told about progress and given the link (the user, or the admin who asked). */
  notify: string;
}

export interface ExportService {
  start(owner: string, requestedBy: string, options: ExportJobOptions, passphrase?: string): Promise<string>;
  run(ctx: JobContext): Promise<JobResult>;
  finished(job: Job, outcome: { status: "done" | "failed"; error?: string }): Promise<void>;
}

export function filenameFor(
  owner: string,
  o: Pick<ExportJobOptions, "compress" | "encrypted">,
  now = new Date(),
): string {
  const safe = owner.replace(/[^A-Za-z0-9._@-]/g, "_");
  return `${safe}-${now.toISOString().slice(0, 10)}.xml${o.compress ? ".gz" : ""}${o.encrypted ? ".enc" : ""}`;
}

export function createExportService(
  deps: ExportDeps & {
    link: ComponentLink;
    db: Kysely<Database>;
    config: Config;
    log: Logger;
    wake: () => void;
  },
): ExportService {
  const passphrases = new Map<string, string>();
  const ttlMs = deps.config.archiveTtlHours * 3600_000;

  return {
    async start(owner, requestedBy, options, passphrase) {
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
        expiresAt: new Date(Date.now() + ttlMs),
      });
      // The options row never holds the passphrase (schema.ts invariant).
      const jobId = await createJob(deps.db, {
        kind: EXPORT_JOB,
        owner,
        requestedBy,
        archiveId,
        options: { ...options },
      });
      if (options.encrypted && passphrase) passphrases.set(jobId, passphrase);
      deps.wake();
      return jobId;
    },

    async run(ctx) {
      const job = ctx.job;
      const o = job.options as unknown as ExportJobOptions;
      const sections = (o.sections ?? []).filter((s): s is Section =>
        (SECTIONS as readonly string[]).includes(s),
      );
      if (!job.archive_id) throw new JobFailure("export job without an archive");
      const passphrase = passphrases.get(job.id);
      if (o.encrypted && !passphrase) {
        throw new JobFailure(
          "The component restarted during a passphrase-protected export. The passphrase is never stored, so please run the export again.",
        );
      }
      if (!deps.link.online) throw new RetryableJobError("not connected to the XMPP server");

      const text = new PassThrough();
      const stages: Transform[] = [];
      if (o.compress) stages.push(createGzip());
      if (passphrase) stages.push(encryptStream(passphrase));
      const sink = archiveWriter(deps.db, job.archive_id);
      const stored = pipeline([text, ...stages, sink]);
      let lastTold = 0;
      const started = Date.now();
      try {
        const report = await collectAccount(
          deps,
          job.owner_jid,
          { sections, ...(o.start ? { start: o.start } : {}), ...(o.end ? { end: o.end } : {}) },
          createArchiveWriter(text),
          async (n) => {
            await ctx.progress({ messages: n });
            // Long exports keep the person informed, without flooding them.
            if (
              n - lastTold >= 10_000 ||
              (n > lastTold && Date.now() - started > 30_000 && n - lastTold >= 2_000)
            ) {
              lastTold = n;
              await sendChat(
                deps.link,
                o.notify,
                `Export of ${job.owner_jid}: ${n.toLocaleString("en")} messages so far…`,
              );
            }
          },
          ctx.signal,
        );
        text.end();
        await stored;
        const { token, hash } = newToken();
        const expiresAt = new Date(Date.now() + ttlMs);
        await finishArchive(deps.db, job.archive_id, {
          stats: sink.stats(),
          sectionCounts: report.counts,
          tokenHash: hash,
          expiresAt,
        });
        passphrases.delete(job.id);
        const url = `${deps.config.httpPublicUrl}/download/${token}`;
        const parts = Object.entries(report.counts)
          .map(([k, v]) => `${k}: ${v}`)
          .join(", ");
        const skipped = report.skipped.map((s) => `\n- ${s.section} not included: ${s.reason}`).join("");
        await sendChat(
          deps.link,
          o.notify,
          `Your export of ${job.owner_jid} is ready (${(sink.stats().bytes / 1024).toFixed(0)} KiB; ${parts || "empty"}).` +
            `${skipped}\nDownload (valid until ${expiresAt.toISOString().slice(0, 16).replace("T", " ")} UTC): ${url}` +
            (o.encrypted
              ? "\nIt is encrypted with your passphrase; decrypt with: portability archive decrypt FILE --out FILE.xml.gz"
              : ""),
          { url, desc: "Account export (XEP-0227)" },
        );
        return { report: { counts: report.counts, skipped: report.skipped, bytes: sink.stats().bytes } };
      } catch (err) {
        text.destroy(err instanceof Error ? err : new Error(String(err)));
        await stored.catch(() => undefined);
        throw err;
      }
    },

    async finished(job, outcome) {
      if (job.kind !== EXPORT_JOB || outcome.status !== "failed") return;
      passphrases.delete(job.id);
      if (job.archive_id) await failArchive(deps.db, job.archive_id, outcome.error ?? "failed");
      const o = job.options as unknown as ExportJobOptions;
      await sendChat(
        deps.link,
        o.notify ?? job.owner_jid,
        `Your export of ${job.owner_jid} failed: ${outcome.error ?? "unknown error"}`,
      ).catch((err: unknown) => deps.log.warn({ err }, "could not tell the user about a failed export"));
    },
  };
}
