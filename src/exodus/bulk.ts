// admin-export-all: every account of a host exported into its own archive through the export service,
// with at most `concurrency` exports in flight. All state lives in bulk_exports / bulk_export_items, so
// a restarted component (or a Prosody restart) carries on where it stopped:
//   pending → starting → exporting (job_id known) → done | failed
// An item left in 'starting' by a crash is matched to the export job tagged with the bulk's id, if one
// was created, so no account is exported twice and none is skipped. One component process drives it
// (Prosody accepts one connection per component JID), so the driver needs no lease of its own.
import { randomUUID } from "node:crypto";
import { sql, type Kysely } from "kysely";
import type { Logger } from "../log/logger.js";
import type { BulkExport, BulkExportOptions, Database } from "../storage/schema.js";
import type { CompanionClient } from "../account/companion-api.js";
import { EXPORT_JOB, type ExportService } from "../export/service.js";
import { SECTIONS, type Section } from "../account/model.js";
import type { XmppLink } from "../xmpp/link.js";
import { sendChat } from "../xmpp/chat.js";
import { type StorageProbe } from "./storage-guard.js";
import { cancelRunningJob } from "../jobs/cancel.js";

/** A failed account is tried this many times in all before it counts as failed. */
export const BULK_MAX_ATTEMPTS = 3;
const LIST_PAGE = 1000;

export interface BulkDeps {
  db: Kysely<Database>;
  link: Pick<XmppLink, "send" | "domain"> & { readonly online: boolean };
  companion: Pick<CompanionClient, "probe" | "listUsers">;
  exports: Pick<ExportService, "start">;
  storage: StorageProbe;
  log: Logger;
  /** Stops a canceled export job running in this process at once. */
  abortJob?: (jobId: string) => void;
  /** How often running bulk exports are looked at without a wake-up. */
  pollMs?: number;
  now?: () => Date;
}

export interface BulkProgress {
  id: string;
  host: string;
  status: BulkExport["status"];
  requestedBy: string;
  total: number;
  listed: boolean;
  done: number;
  failed: number;
  inFlight: number;
  pending: number;
  /** Estimated seconds left, once something finished. */
  etaSeconds?: number;
  stopReason?: string;
  failures: { account: string; reason: string }[];
  createdAt: Date;
  finishedAt?: Date;
}

export type StartOutcome =
  | { kind: "started"; id: string }
  | { kind: "resumed"; id: string }
  | { kind: "running"; id: string }
  | { kind: "refused"; reason: string };

export interface BulkExports {
  /** Starts a bulk export of `host`, or resumes the host's stopped one. */
  start(host: string, requestedBy: string, options: BulkExportOptions): Promise<StartOutcome>;
  progress(id: string): Promise<BulkProgress | undefined>;
  /** The latest bulk export of each host. */
  latest(): Promise<BulkProgress[]>;
  /** Stops the host's running bulk export (see haltBulkExport); waits for a pass under way first. */
  halt(host: string, by: string): Promise<HaltOutcome>;
  /** Look at running bulk exports now (an export finished, or a new one was queued). */
  wake(): void;
  /** One pass over every running bulk export (tests call it directly). */
  tick(): Promise<void>;
  startPolling(): void;
  stop(): Promise<void>;
  /** Current storage reading (staged bytes, database size or free disk, limit reached). */
  storage: StorageProbe;
}

export function bulkTag(id: string): string {
  return `bulk:${id}`;
}

export function createBulkExports(d: BulkDeps): BulkExports {
  const now = d.now ?? (() => new Date());
  let ticking: Promise<void> | null = null;
  let again = false;
  let timer: NodeJS.Timeout | null = null;
  let stopped = false;

  async function setBulk(
    id: string,
    patch: Partial<{
      status: BulkExport["status"];
      listed: boolean;
      list_after: string | null;
      total: number;
      stop_reason: string | null;
      finished_at: Date | null;
    }>,
  ): Promise<void> {
    await d.db
      .updateTable("bulk_exports")
      .set({ ...patch, updated_at: now() })
      .where("id", "=", id)
      .execute();
  }

  /** Lists the host's accounts into item rows, page by page (resumable by list_after). */
  async function list(b: BulkExport): Promise<boolean> {
    if (!(await d.companion.probe(b.host))) {
      await stopBulk(
        b,
        `listing the accounts of ${b.host} needs the companion Prosody module (mod_account_portability with list-users), which this server does not run`,
      );
      return false;
    }
    let after = b.list_after ?? undefined;
    for (;;) {
      const page = await d.companion.listUsers(b.host, after, LIST_PAGE);
      if (page.users.length > 0) {
        await d.db
          .insertInto("bulk_export_items")
          .values(
            page.users.map((u) => ({
              bulk_id: b.id,
              user_jid: `${u}@${b.host}`,
              status: "pending" as const,
              bytes: 0,
            })),
          )
          .onConflict((oc) => oc.doNothing())
          .execute();
        after = page.users[page.users.length - 1];
      }
      const complete = page.complete || page.users.length === 0;
      const count = await itemCount(b.id);
      await setBulk(b.id, { list_after: after ?? null, total: count, listed: complete });
      if (complete) return true;
    }
  }

  async function itemCount(id: string): Promise<number> {
    const row = await d.db
      .selectFrom("bulk_export_items")
      .select(sql<number>`count(*)::int`.as("n"))
      .where("bulk_id", "=", id)
      .executeTakeFirstOrThrow();
    return row.n;
  }

  async function stopBulk(b: BulkExport, reason: string): Promise<void> {
    await setBulk(b.id, { status: "stopped", stop_reason: reason });
    const p = await progress(b.id);
    d.log.warn({ bulk: b.id, host: b.host, reason }, "bulk export stopped");
    await tellAdmin(
      b,
      `Bulk export of ${b.host} stopped: ${reason}.\n${p ? summary(p) : ""}\n` +
        `Exports already running finish; nothing new starts. Fix the cause, then run admin-export-all for ${b.host} again to continue where it stopped (no account is exported twice).`,
    );
  }

  async function tellAdmin(b: BulkExport, text: string): Promise<void> {
    await sendChat(d.link, b.requested_by, text).catch((err: unknown) =>
      d.log.warn({ err }, "could not message the admin about a bulk export"),
    );
  }

  /** Tells the admin at every tenth of the way (not persisted: a restart may repeat one). */
  const toldTenth = new Map<string, number>();
  async function tellProgress(b: BulkExport, c: Record<string, number>): Promise<void> {
    if (!b.listed || b.total === 0) return;
    const tenth = Math.floor((((c.done ?? 0) + (c.failed ?? 0)) * 10) / b.total);
    const told = toldTenth.get(b.id);
    toldTenth.set(b.id, tenth);
    if (told === undefined || tenth <= told || tenth >= 10) return;
    const p = await progress(b.id);
    if (p) await tellAdmin(b, `Bulk export progress: ${summary(p)}`);
  }

  /** Items whose export job ended: done, retried, or failed for good. */
  async function reconcile(b: BulkExport): Promise<void> {
    const ended = await d.db
      .selectFrom("bulk_export_items as i")
      .innerJoin("jobs as j", "j.id", "i.job_id")
      .select(["i.user_jid", "i.attempts", "j.id as job_id", "j.status", "j.error", "j.report"])
      .where("i.bulk_id", "=", b.id)
      .where("i.status", "=", "exporting")
      .where("j.status", "in", ["done", "failed", "canceled"])
      .execute();
    for (const e of ended) {
      const item = d.db
        .updateTable("bulk_export_items")
        .where("bulk_id", "=", b.id)
        .where("user_jid", "=", e.user_jid);
      if (e.status === "canceled" && e.error === BULK_STOPPED) {
        await backToWaiting(d.db, b.id, e.user_jid, e.job_id);
      } else if (e.status === "done") {
        const bytes = typeof e.report?.bytes === "number" ? e.report.bytes : 0;
        await item.set({ status: "done", bytes, error: null, finished_at: now() }).execute();
      } else if (e.attempts < BULK_MAX_ATTEMPTS) {
        await item.set({ status: "pending", job_id: null, error: e.error ?? e.status }).execute();
      } else {
        await item.set({ status: "failed", error: e.error ?? e.status, finished_at: now() }).execute();
      }
    }
    // Left in 'starting' by a crash: adopt the export job if it was created, else start again.
    const starting = await d.db
      .selectFrom("bulk_export_items")
      .select("user_jid")
      .where("bulk_id", "=", b.id)
      .where("status", "=", "starting")
      .execute();
    for (const s of starting) {
      const job = await d.db
        .selectFrom("jobs")
        .select("id")
        .where("kind", "=", EXPORT_JOB)
        .where("owner_jid", "=", s.user_jid)
        .where(sql<boolean>`options->>'tag' = ${bulkTag(b.id)}`)
        .orderBy("created_at", "desc")
        .executeTakeFirst();
      await d.db
        .updateTable("bulk_export_items")
        .set(job ? { status: "exporting", job_id: job.id } : { status: "pending" })
        .where("bulk_id", "=", b.id)
        .where("user_jid", "=", s.user_jid)
        .execute();
    }
  }

  const counts = (id: string) => itemCounts(d.db, id);

  /** An admin may stop a bulk export during a pass (from a command or another process). */
  async function stillRunning(id: string): Promise<boolean> {
    const row = await d.db
      .selectFrom("bulk_exports")
      .select("status")
      .where("id", "=", id)
      .executeTakeFirst();
    return row?.status === "running";
  }

  async function advance(b: BulkExport): Promise<void> {
    if (!b.listed && !(await list(b))) return;
    await reconcile(b);
    const c = await counts(b.id);
    await tellProgress(b, c);
    const inFlight = (c.exporting ?? 0) + (c.starting ?? 0);
    const slots = b.options.concurrency - inFlight;
    if ((c.pending ?? 0) === 0 && inFlight === 0) {
      await setBulk(b.id, { status: "done", finished_at: now() });
      const p = await progress(b.id);
      d.log.info({ bulk: b.id, host: b.host }, "bulk export done");
      if (p) await tellAdmin(b, `Bulk export of ${b.host} finished.\n${summary(p)}`);
      return;
    }
    if (slots <= 0 || (c.pending ?? 0) === 0 || !d.link.online) return;
    const reading = await d.storage();
    if (reading.limit) return stopBulk(b, reading.limit);
    const next = await d.db
      .selectFrom("bulk_export_items")
      .select("user_jid")
      .where("bulk_id", "=", b.id)
      .where("status", "=", "pending")
      .orderBy("user_jid")
      .limit(slots)
      .execute();
    const sections: Section[] = SECTIONS.filter((s) => b.options.history || s !== "archive");
    for (const { user_jid } of next) {
      if (stopped || !(await stillRunning(b.id))) return;
      const item = () =>
        d.db.updateTable("bulk_export_items").where("bulk_id", "=", b.id).where("user_jid", "=", user_jid);
      await item()
        .set((eb) => ({ status: "starting", attempts: eb("attempts", "+", 1), started_at: now() }))
        .execute();
      const jobId = await d.exports.start(user_jid, b.requested_by, {
        sections,
        compress: true,
        encrypted: false,
        notify: user_jid,
        ttlHours: b.options.ttlDays * 24,
        readyText: b.options.text,
        quietFailure: true,
        tag: bulkTag(b.id),
      });
      await item().set({ status: "exporting", job_id: jobId }).execute();
    }
  }

  async function pass(): Promise<void> {
    const active = await d.db
      .selectFrom("bulk_exports")
      .selectAll()
      .where("status", "in", ["running", "stopped"])
      .execute();
    for (const b of active) {
      if (stopped) return;
      try {
        // A stopped bulk export still records its running exports as they end.
        if (b.status === "stopped") await reconcile(b);
        else await advance(b);
      } catch (err) {
        // Prosody or the database went away: the next pass continues from the saved state.
        d.log.warn({ err, bulk: b.id }, "bulk export pass failed; will retry");
      }
    }
  }

  async function tick(): Promise<void> {
    if (ticking) {
      again = true;
      return ticking;
    }
    ticking = (async () => {
      try {
        do {
          again = false;
          await pass();
        } while (again && !stopped);
      } catch (err) {
        // The database is away (or closed under us): the next pass starts from the saved state.
        if (!stopped) d.log.warn({ err }, "bulk export pass failed; will retry");
      } finally {
        ticking = null;
      }
    })();
    return ticking;
  }

  function wake(): void {
    if (!stopped) void tick();
  }

  const progress = (id: string) => bulkProgress(d.db, id, now());

  return {
    async start(host, requestedBy, options) {
      const reading = await d.storage();
      if (reading.limit) return { kind: "refused", reason: `Not starting: ${reading.limit}.` };
      const stoppedOrRunning = await d.db
        .selectFrom("bulk_exports")
        .select("id")
        .where("host", "=", host)
        .where("status", "in", ["running", "stopped"])
        .executeTakeFirst();
      if (!stoppedOrRunning && !(await d.companion.probe(host))) {
        return {
          kind: "refused",
          reason: `Listing the accounts of ${host} needs the companion Prosody module (mod_account_portability, with its list-users operation); it is not loaded there. See prosody-module/README.md.`,
        };
      }
      const r = await queueBulkExport(d.db, host, requestedBy, options, now());
      wake();
      return r;
    },
    progress,
    storage: d.storage,
    async latest() {
      const rows = await d.db
        .selectFrom("bulk_exports")
        .select(["id", "host"])
        .distinctOn("host")
        .orderBy("host")
        .orderBy("created_at", "desc")
        .execute();
      const out: BulkProgress[] = [];
      for (const r of rows) {
        const p = await progress(r.id);
        if (p) out.push(p);
      }
      return out;
    },
    async halt(host, by) {
      const r = await haltBulkExport(d.db, host, by, {
        ...(d.abortJob ? { abort: d.abortJob } : {}),
        settled: async () => ticking,
        at: now(),
      });
      if (r.kind === "stopped") d.log.warn({ bulk: r.id, host, by }, "bulk export stopped by an admin");
      return r;
    },
    wake,
    tick,
    startPolling() {
      stopped = false;
      timer = setInterval(() => void tick(), d.pollMs ?? 5000);
      timer.unref();
      void tick();
    },
    async stop() {
      stopped = true;
      if (timer) clearInterval(timer);
      timer = null;
      await ticking;
    },
  };
}

export function formatEta(seconds: number): string {
  // Estimates are rough: "0 s" with accounts still waiting read as a contradiction in a client.
  if (seconds < 60) return "under a minute";
  if (seconds < 90) return "about a minute";
  if (seconds < 5400) return `${Math.round(seconds / 60)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

/** Plain text for chat messages and form notes (readable without tables). */
export function summary(p: BulkProgress): string {
  const lines = [
    `${p.host}: ${p.status}${p.listed ? "" : " (still listing accounts)"}; ${p.done} of ${p.total} exported, ${p.failed} failed, ${p.inFlight} in progress, ${p.pending} waiting.`,
  ];
  if (p.etaSeconds !== undefined) lines.push(`Estimated time left: ${formatEta(p.etaSeconds)}.`);
  if (p.stopReason) lines.push(`Stopped because ${p.stopReason}.`);
  if (p.failures.length > 0) {
    lines.push(`Failures (${p.failed}):`);
    for (const f of p.failures.slice(0, 20)) lines.push(`- ${f.account}: ${f.reason}`);
    if (p.failed > 20) lines.push(`- … and ${p.failed - 20} more`);
  }
  return lines.join("\n");
}

export async function bulkProgress(
  db: Kysely<Database>,
  id: string,
  at = new Date(),
): Promise<BulkProgress | undefined> {
  const b = await db.selectFrom("bulk_exports").selectAll().where("id", "=", id).executeTakeFirst();
  if (!b) return undefined;
  const c = await itemCounts(db, id);
  const failures = await db
    .selectFrom("bulk_export_items")
    .select(["user_jid", "error"])
    .where("bulk_id", "=", id)
    .where("status", "=", "failed")
    .orderBy("user_jid")
    .limit(50)
    .execute();
  const done = c.done ?? 0;
  const failed = c.failed ?? 0;
  const remaining = (c.pending ?? 0) + (c.starting ?? 0) + (c.exporting ?? 0);
  let etaSeconds: number | undefined;
  if (b.status === "running" && done + failed > 0) {
    const first = await db
      .selectFrom("bulk_export_items")
      .select(sql<Date>`min(started_at)`.as("t"))
      .where("bulk_id", "=", id)
      .executeTakeFirstOrThrow();
    const elapsed = (at.getTime() - new Date(first.t).getTime()) / 1000;
    const total = b.listed ? b.total : Math.max(b.total, done + failed + remaining);
    etaSeconds = Math.round((elapsed / (done + failed)) * (total - done - failed));
  }
  return {
    id,
    host: b.host,
    status: b.status,
    requestedBy: b.requested_by,
    total: b.total,
    listed: b.listed,
    done,
    failed,
    inFlight: (c.starting ?? 0) + (c.exporting ?? 0),
    pending: c.pending ?? 0,
    ...(etaSeconds !== undefined ? { etaSeconds } : {}),
    ...(b.stop_reason ? { stopReason: b.stop_reason } : {}),
    failures: failures.map((f) => ({ account: f.user_jid, reason: f.error ?? "unknown" })),
    createdAt: new Date(b.created_at),
    ...(b.finished_at ? { finishedAt: new Date(b.finished_at) } : {}),
  };
}

async function itemCounts(db: Kysely<Database>, id: string): Promise<Record<string, number>> {
  const rows = await db
    .selectFrom("bulk_export_items")
    .select(["status", sql<number>`count(*)::int`.as("n")])
    .where("bulk_id", "=", id)
    .groupBy("status")
    .execute();
  return Object.fromEntries(rows.map((r) => [r.status, r.n]));
}

export type QueueOutcome = { kind: "started" | "resumed" | "running"; id: string };

export type HaltOutcome = { kind: "none" } | { kind: "stopped"; id: string; canceled: number };

/**
 * Stops the host's running bulk export at an admin's request (a wrong notice text, say): nothing new
 * starts, and its exports not finished yet are canceled, so their users get no message. Those accounts
 * go back to waiting without using up an attempt; admin-export-all continues later, with new options.
 * A pass under way may record one more export after the first look, so there is a second look once
 * `settled` resolves (that pass has ended, or long enough for it to have). `abort` stops a canceled job
 * running in this process at once (another process notices the cancel at its next lease renewal).
 */
export async function haltBulkExport(
  db: Kysely<Database>,
  host: string,
  by: string,
  o: { abort?: (jobId: string) => void; settled: () => Promise<unknown>; at?: Date },
): Promise<HaltOutcome> {
  const b = await db
    .updateTable("bulk_exports")
    .set({ status: "stopped", stop_reason: `${by} stopped it`, updated_at: o.at ?? new Date() })
    .where("host", "=", host)
    .where("status", "=", "running")
    .returning("id")
    .executeTakeFirst();
  if (!b) return { kind: "none" };
  const abort = o.abort ?? (() => undefined);
  const first = await cancelUnfinished(db, b.id, abort);
  await o.settled();
  return { kind: "stopped", id: b.id, canceled: first + (await cancelUnfinished(db, b.id, abort)) };
}

/** The error a bulk export's job gets when an admin stops the bulk export (its attempt is not counted). */
export const BULK_STOPPED = "the bulk export was stopped";

/**
 * Cancels a stopped bulk export's running or queued exports and puts their accounts back to waiting.
 * An account still 'starting' (its job being created by a pass under way) is left to a later look:
 * its job id is not known yet, and resetting it would orphan the job about to be recorded.
 */
async function cancelUnfinished(
  db: Kysely<Database>,
  bulkId: string,
  abort: (jobId: string) => void,
): Promise<number> {
  const unfinished = await db
    .selectFrom("bulk_export_items")
    .select(["user_jid", "job_id"])
    .where("bulk_id", "=", bulkId)
    .where("status", "=", "exporting")
    .execute();
  let canceled = 0;
  for (const item of unfinished) {
    if (!item.job_id) continue;
    const job = await cancelRunningJob(db, item.job_id, item.user_jid, abort, BULK_STOPPED);
    // Ended before the cancel (done or failed): the next pass records it as usual.
    if (!job) continue;
    canceled++;
    await backToWaiting(db, bulkId, item.user_jid, job.id);
  }
  return canceled;
}

/** An account whose export was canceled by a stop waits again; that attempt does not count. */
async function backToWaiting(
  db: Kysely<Database>,
  bulkId: string,
  user: string,
  jobId: string,
): Promise<void> {
  await db
    .updateTable("bulk_export_items")
    .set({ status: "pending", job_id: null, attempts: sql<number>`greatest(attempts - 1, 0)` })
    .where("bulk_id", "=", bulkId)
    .where("user_jid", "=", user)
    // Only if nothing else moved it on meanwhile (a pass recording the canceled job does the same).
    .where("job_id", "=", jobId)
    .execute();
}

/**
 * Records a bulk export for the driver to pick up (the command line uses this directly: the running
 * component notices it on its next pass). A stopped one is resumed with the new options.
 */
export async function queueBulkExport(
  db: Kysely<Database>,
  host: string,
  requestedBy: string,
  options: BulkExportOptions,
  at = new Date(),
): Promise<QueueOutcome> {
  const current = await db
    .selectFrom("bulk_exports")
    .selectAll()
    .where("host", "=", host)
    .where("status", "in", ["running", "stopped"])
    .orderBy("created_at", "desc")
    .executeTakeFirst();
  if (current?.status === "running") return { kind: "running", id: current.id };
  if (current) {
    // Resume with the admin's new text, validity and concurrency; finished accounts stay finished.
    await db
      .updateTable("bulk_exports")
      .set({ status: "running", stop_reason: null, options: JSON.stringify(options), updated_at: at })
      .where("id", "=", current.id)
      .execute();
    return { kind: "resumed", id: current.id };
  }
  const id = randomUUID();
  await db
    .insertInto("bulk_exports")
    .values({ id, host, requested_by: requestedBy, status: "running", options: JSON.stringify(options) })
    .execute();
  return { kind: "started", id };
}
