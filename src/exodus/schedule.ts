// export-schedule: a user's weekly or monthly export, insurance against a sudden closure. A due
// schedule becomes an ordinary export job (tag "schedule") that the job runner runs and that messages
// the link; the last `keep` scheduled archives are kept, older ones deleted. Time comes from `now`
// (injected in tests), so nothing here sleeps.
//
// Encrypted schedules keep the XAPENC1 key material (salt, scrypt parameters, derived key), never the
// passphrase, and take a fresh nonce prefix from a stored counter for every archive (see
// crypto/archive-cipher.ts for why that makes re-using the key safe). The key sits in the same
// database as the staged archives: it protects downloaded files and leaked links, not a database dump.
import type { Transform } from "node:stream";
import { sql, type Kysely } from "kysely";
import type { Logger } from "../log/logger.js";
import type { Database, ExportSchedule, Job, ScheduleFrequency } from "../storage/schema.js";
import type { ExportJobOptions, ExportService } from "../export/service.js";
import { EXPORT_JOB } from "../export/service.js";
import { SECTIONS } from "../account/model.js";
import { JobFailure } from "../jobs/runner.js";
import { deriveArchiveKey, encryptStreamWithKey, MAX_NONCE_PREFIX } from "../crypto/archive-cipher.js";
import { SCHEDULED_NOTICE } from "./notice.js";

export const SCHEDULE_TAG = "schedule";
export const DEFAULT_KEEP = 2;

export interface ScheduleDeps {
  db: Kysely<Database>;
  exports: ExportService;
  log: Logger;
  now?: () => Date;
  /** scrypt cost for new keys (tests lower it). */
  log2n?: number;
}

export interface ScheduleSetting {
  frequency: ScheduleFrequency | "off";
  keep: number;
  /** New passphrase: derive and keep a new key. */
  passphrase?: string;
  /** Drop the kept key: later archives are not encrypted. */
  removeEncryption?: boolean;
}

export interface ExportSchedules {
  get(jid: string): Promise<ExportSchedule | undefined>;
  set(jid: string, s: ScheduleSetting): Promise<ExportSchedule | undefined>;
  /** Starts the export of every schedule due at `now()`; returns the job ids started. */
  runDue(): Promise<string[]>;
  /** Export job ended: keep only the last N scheduled archives of that user. */
  finished(job: Job, outcome: { status: "done" | "failed" }): Promise<void>;
  /** Encryption for a scheduled export job (the export service asks). */
  encryptionFor(job: Job): Promise<Transform | undefined>;
  startTimer(everyMs?: number): void;
  stop(): void;
}

/** The next run strictly after `now`, stepping from `from` by the period (months by calendar). */
export function nextRun(from: Date, frequency: ScheduleFrequency, now: Date): Date {
  const next = new Date(from.getTime());
  do {
    if (frequency === "weekly") next.setUTCDate(next.getUTCDate() + 7);
    else next.setUTCMonth(next.getUTCMonth() + 1);
  } while (next.getTime() <= now.getTime());
  return next;
}

function periodDays(f: ScheduleFrequency): number {
  return f === "weekly" ? 7 : 31;
}

export function createExportSchedules(d: ScheduleDeps): ExportSchedules {
  const now = d.now ?? (() => new Date());
  let timer: NodeJS.Timeout | null = null;
  let running: Promise<string[]> | null = null;

  const get = (jid: string) =>
    d.db.selectFrom("export_schedules").selectAll().where("jid", "=", jid).executeTakeFirst();

  async function start(s: ExportSchedule): Promise<string | undefined> {
    const active = await d.db
      .selectFrom("jobs")
      .select("id")
      .where("kind", "=", EXPORT_JOB)
      .where("owner_jid", "=", s.jid)
      .where("status", "in", ["queued", "running"])
      .where(sql<boolean>`options->>'tag' = ${SCHEDULE_TAG}`)
      .executeTakeFirst();
    if (active) return undefined; // never two runs of one schedule at once
    const options: ExportJobOptions = {
      sections: [...SECTIONS],
      compress: true,
      encrypted: s.archive_key !== null,
      notify: s.jid,
      // A link lives as long as its archive is among the kept ones.
      ttlHours: periodDays(s.frequency) * s.keep * 24,
      readyText: SCHEDULED_NOTICE,
      tag: SCHEDULE_TAG,
    };
    return d.exports.start(s.jid, s.jid, options);
  }

  async function runDue(): Promise<string[]> {
    const t = now();
    const due = await d.db.selectFrom("export_schedules").selectAll().where("next_run_at", "<=", t).execute();
    const started: string[] = [];
    for (const s of due) {
      try {
        const jobId = await start(s);
        // Still running from last time: start this run once that one ends (next pass).
        if (!jobId) continue;
        started.push(jobId);
        await d.db
          .updateTable("export_schedules")
          .set({
            next_run_at: nextRun(new Date(s.next_run_at), s.frequency, t),
            last_job_id: jobId,
            updated_at: t,
          })
          .where("jid", "=", s.jid)
          .execute();
      } catch (err) {
        d.log.warn({ err, jid: s.jid }, "scheduled export not started; will try again");
      }
    }
    return started;
  }

  return {
    get,
    async set(jid, s) {
      if (s.frequency === "off") {
        await d.db.deleteFrom("export_schedules").where("jid", "=", jid).execute();
        return undefined;
      }
      const t = now();
      const key = s.passphrase ? await deriveArchiveKey(s.passphrase, { log2n: d.log2n }) : undefined;
      const keyFields = key
        ? {
            kdf_salt: key.salt,
            kdf_log2n: key.log2n,
            kdf_r: key.r,
            kdf_p: key.p,
            archive_key: key.key,
            nonce_counter: 0,
          }
        : s.removeEncryption
          ? { kdf_salt: null, kdf_log2n: null, kdf_r: null, kdf_p: null, archive_key: null, nonce_counter: 0 }
          : {};
      const existing = await get(jid);
      if (existing) {
        await d.db
          .updateTable("export_schedules")
          .set({
            frequency: s.frequency,
            keep: s.keep,
            // A changed frequency counts from now; the first run of a new schedule is right away.
            ...(existing.frequency !== s.frequency ? { next_run_at: nextRun(t, s.frequency, t) } : {}),
            ...keyFields,
            updated_at: t,
          })
          .where("jid", "=", jid)
          .execute();
      } else {
        await d.db
          .insertInto("export_schedules")
          .values({
            jid,
            frequency: s.frequency,
            keep: s.keep,
            next_run_at: t,
            ...keyFields,
            created_at: t,
            updated_at: t,
          })
          .execute();
      }
      return get(jid);
    },
    runDue() {
      // One pass at a time: a slow pass must not start the same schedule twice.
      running ??= runDue().finally(() => {
        running = null;
      });
      return running;
    },
    async finished(job, outcome) {
      if (job.kind !== EXPORT_JOB || outcome.status !== "done") return;
      if ((job.options as { tag?: unknown }).tag !== SCHEDULE_TAG) return;
      const s = await get(job.owner_jid);
      const keep = s?.keep ?? DEFAULT_KEEP;
      const old = await d.db
        .selectFrom("archives as a")
        .innerJoin("jobs as j", "j.archive_id", "a.id")
        .select("a.id")
        .where("j.owner_jid", "=", job.owner_jid)
        .where("j.kind", "=", EXPORT_JOB)
        .where(sql<boolean>`j.options->>'tag' = ${SCHEDULE_TAG}`)
        .where("a.status", "=", "ready")
        .orderBy("a.created_at", "desc")
        .offset(keep)
        .limit(1000)
        .execute();
      if (old.length > 0) {
        await d.db
          .deleteFrom("archives")
          .where(
            "id",
            "in",
            old.map((o) => o.id),
          )
          .execute();
      }
    },
    async encryptionFor(job) {
      if ((job.options as { tag?: unknown }).tag !== SCHEDULE_TAG) return undefined;
      // Take the next prefix before encrypting anything: a crash can skip a value, never repeat one.
      const row = await d.db
        .updateTable("export_schedules")
        .set({ nonce_counter: sql<number>`nonce_counter + 1` })
        .where("jid", "=", job.owner_jid)
        .where("archive_key", "is not", null)
        .returning(["nonce_counter", "kdf_salt", "kdf_log2n", "kdf_r", "kdf_p", "archive_key"])
        .executeTakeFirst();
      if (!row || !row.archive_key || !row.kdf_salt) {
        throw new JobFailure("Encryption was removed from your export schedule; this run was not made.");
      }
      const prefix = Number(row.nonce_counter);
      if (prefix > MAX_NONCE_PREFIX) {
        throw new JobFailure("Your scheduled exports need a new passphrase (set it with export-schedule).");
      }
      return encryptStreamWithKey(
        {
          salt: Buffer.from(row.kdf_salt),
          log2n: row.kdf_log2n ?? 15,
          r: row.kdf_r ?? 8,
          p: row.kdf_p ?? 1,
          key: Buffer.from(row.archive_key),
        },
        prefix,
      );
    },
    startTimer(everyMs = 60_000) {
      timer = setInterval(() => {
        void this.runDue().catch((err: unknown) => d.log.warn({ err }, "scheduled exports pass failed"));
      }, everyMs);
      timer.unref();
    },
    stop() {
      if (timer) clearInterval(timer);
      timer = null;
    },
  };
}
