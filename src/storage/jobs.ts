// Persisted jobs (export, import, moves). A job is claimed with a lease; a crashed or restarted
// component leaves the lease to expire and the next claim resumes from the saved cursor.
import { randomUUID } from "node:crypto";
import { sql, type Kysely } from "kysely";
import type { Database, Job } from "./schema.js";

export interface NewJobInput {
  kind: string;
  owner: string;
  requestedBy: string;
  archiveId?: string | null;
  /** Must not contain secrets: this is stored. */
  options?: Record<string, unknown>;
}

export async function createJob(db: Kysely<Database>, j: NewJobInput): Promise<string> {
  const id = randomUUID();
  await db
    .insertInto("jobs")
    .values({
      id,
      kind: j.kind,
      owner_jid: j.owner,
      requested_by: j.requestedBy,
      archive_id: j.archiveId ?? null,
      status: "queued",
      options: JSON.stringify(j.options ?? {}),
    })
    .execute();
  return id;
}

/**
 * Atomically takes the oldest runnable job of these kinds (queued, or running with an expired lease)
 * whose owner has no other job running: one running job per user, so one user's queue never holds
 * every slot while another user's job waits.
 */
export async function claimJob(
  db: Kysely<Database>,
  workerId: string,
  kinds: string[],
  leaseMs: number,
): Promise<Job | undefined> {
  if (kinds.length === 0) return undefined;
  const leaseUntil = new Date(Date.now() + leaseMs);
  const now = new Date();
  return db
    .updateTable("jobs")
    .set((eb) => ({
      status: "running",
      lease_owner: workerId,
      lease_until: leaseUntil,
      attempts: eb("attempts", "+", 1),
      updated_at: now,
    }))
    .where(
      "id",
      "=",
      db
        .selectFrom("jobs as j")
        .select("j.id")
        .where("j.kind", "in", kinds)
        .where((eb) =>
          eb.or([
            eb("j.status", "=", "queued"),
            eb.and([eb("j.status", "=", "running"), eb("j.lease_until", "<", now)]),
          ]),
        )
        .where((eb) =>
          eb.not(
            eb.exists(
              eb
                .selectFrom("jobs as r")
                .select("r.id")
                .whereRef("r.owner_jid", "=", "j.owner_jid")
                .whereRef("r.id", "!=", "j.id")
                .where("r.status", "=", "running")
                .where("r.lease_until", ">=", now),
            ),
          ),
        )
        .orderBy("j.created_at")
        .limit(1)
        .forUpdate()
        .skipLocked(),
    )
    .returningAll()
    .executeTakeFirst();
}

export async function renewLease(
  db: Kysely<Database>,
  id: string,
  workerId: string,
  leaseMs: number,
): Promise<boolean> {
  const res = await db
    .updateTable("jobs")
    .set({ lease_until: new Date(Date.now() + leaseMs) })
    .where("id", "=", id)
    .where("lease_owner", "=", workerId)
    .where("status", "=", "running")
    .executeTakeFirst();
  return Number(res.numUpdatedRows) === 1;
}

export function saveCursor(db: Kysely<Database>, id: string, cursor: Record<string, unknown>): Promise<void> {
  return saveJson(db, id, "cursor", cursor);
}

export function saveProgress(
  db: Kysely<Database>,
  id: string,
  progress: Record<string, unknown>,
): Promise<void> {
  return saveJson(db, id, "progress", progress);
}

async function saveJson(
  db: Kysely<Database>,
  id: string,
  column: "cursor" | "progress",
  value: Record<string, unknown>,
): Promise<void> {
  await db
    .updateTable("jobs")
    .set({ [column]: JSON.stringify(value), updated_at: new Date() })
    .where("id", "=", id)
    .execute();
}

export async function finishJob(
  db: Kysely<Database>,
  id: string,
  status: "done" | "failed" | "canceled",
  fields: { report?: Record<string, unknown>; error?: string } = {},
): Promise<boolean> {
  const res = await db
    .updateTable("jobs")
    .set({
      status,
      lease_owner: null,
      lease_until: null,
      updated_at: new Date(),
      ...(fields.report ? { report: JSON.stringify(fields.report) } : {}),
      ...(fields.error !== undefined ? { error: fields.error } : {}),
    })
    .where("id", "=", id)
    // A job canceled while its handler was finishing stays canceled.
    .where("status", "!=", "canceled")
    .executeTakeFirst();
  return Number(res.numUpdatedRows) === 1;
}

/** The owner's queued or running jobs, oldest first. */
export async function activeJobs(db: Kysely<Database>, owner: string): Promise<Job[]> {
  return db
    .selectFrom("jobs")
    .selectAll()
    .where("owner_jid", "=", owner)
    .where("status", "in", ["queued", "running"])
    .orderBy("created_at")
    .execute();
}

/** Cancels the owner's job if it is still queued or running; returns it, or undefined. */
export async function cancelJob(
  db: Kysely<Database>,
  id: string,
  owner: string,
  reason = "canceled by the user",
): Promise<Job | undefined> {
  return db
    .updateTable("jobs")
    .set({
      status: "canceled",
      lease_owner: null,
      lease_until: null,
      error: reason,
      updated_at: new Date(),
    })
    .where("id", "=", id)
    .where("owner_jid", "=", owner)
    .where("status", "in", ["queued", "running"])
    .returningAll()
    .executeTakeFirst();
}

/** Hands a job this worker holds back to the queue at shutdown; the interrupted attempt is not counted. */
export async function releaseJob(db: Kysely<Database>, id: string, workerId: string): Promise<void> {
  await db
    .updateTable("jobs")
    .set((eb) => ({
      status: "queued",
      lease_owner: null,
      lease_until: null,
      attempts: eb("attempts", "-", 1),
      updated_at: new Date(),
    }))
    .where("id", "=", id)
    .where("lease_owner", "=", workerId)
    .where("status", "=", "running")
    .execute();
}

/** Puts a job back in the queue (retry later). */
export async function requeueJob(db: Kysely<Database>, id: string, error: string): Promise<void> {
  await db
    .updateTable("jobs")
    .set({ status: "queued", lease_owner: null, lease_until: null, error, updated_at: new Date() })
    .where("id", "=", id)
    .where("status", "!=", "canceled")
    .execute();
}

export async function getJob(db: Kysely<Database>, id: string): Promise<Job | undefined> {
  return db.selectFrom("jobs").selectAll().where("id", "=", id).executeTakeFirst();
}

export async function listJobs(db: Kysely<Database>, owner: string, kinds?: string[]): Promise<Job[]> {
  let q = db.selectFrom("jobs").selectAll().where("owner_jid", "=", owner);
  if (kinds && kinds.length > 0) q = q.where("kind", "in", kinds);
  return q.orderBy("created_at", "desc").limit(50).execute();
}

export async function countActiveJobs(db: Kysely<Database>, owner: string, kind: string): Promise<number> {
  const row = await db
    .selectFrom("jobs")
    .select(sql<number>`count(*)::int`.as("n"))
    .where("owner_jid", "=", owner)
    .where("kind", "=", kind)
    .where("status", "in", ["queued", "running"])
    .executeTakeFirstOrThrow();
  return row.n;
}
