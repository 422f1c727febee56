// Archive staging: files live in archive_chunks as ~256 KiB bytea rows, written and read as streams,
// so neither side ever holds a whole archive in memory.
import { createHash, randomUUID } from "node:crypto";
import { Readable, Writable } from "node:stream";
import type { Kysely } from "kysely";
import type { Archive, ArchiveKind, Database } from "./schema.js";

export const CHUNK_SIZE = 256 * 1024;

export interface NewArchiveInput {
  owner: string;
  kind: ArchiveKind;
  filename: string;
  contentType: string;
  encrypted: boolean;
  expiresAt: Date;
}

export async function createArchive(db: Kysely<Database>, a: NewArchiveInput): Promise<string> {
  const id = randomUUID();
  await db
    .insertInto("archives")
    .values({
      id,
      owner_jid: a.owner,
      kind: a.kind,
      status: "writing",
      filename: a.filename,
      content_type: a.contentType,
      encrypted: a.encrypted,
      byte_size: 0,
      expires_at: a.expiresAt,
    })
    .execute();
  return id;
}

export interface ArchiveWriteStats {
  bytes: number;
  sha256: string;
  chunks: number;
}

/** A Writable storing chunks from seq 0; `stats()` is valid after 'finish'. Replaces earlier chunks. */
export function archiveWriter(
  db: Kysely<Database>,
  archiveId: string,
): Writable & { stats(): ArchiveWriteStats } {
  const hash = createHash("sha256");
  let buffered: Buffer[] = [];
  let size = 0;
  let seq = 0;
  let bytes = 0;
  let cleared = false;

  async function flush(all: boolean): Promise<void> {
    if (!cleared) {
      await db.deleteFrom("archive_chunks").where("archive_id", "=", archiveId).execute();
      cleared = true;
    }
    while (size >= CHUNK_SIZE || (all && size > 0)) {
      const joined = Buffer.concat(buffered);
      const take = Math.min(CHUNK_SIZE, joined.length);
      const row = joined.subarray(0, take);
      await db.insertInto("archive_chunks").values({ archive_id: archiveId, seq, data: row }).execute();
      seq++;
      buffered = take < joined.length ? [joined.subarray(take)] : [];
      size = joined.length - take;
    }
  }

  const w = new Writable({
    highWaterMark: CHUNK_SIZE,
    write(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      bytes += chunk.length;
      buffered.push(chunk);
      size += chunk.length;
      if (size < CHUNK_SIZE) return cb();
      flush(false).then(() => cb(), cb);
    },
    final(cb) {
      flush(true).then(() => cb(), cb);
    },
  });
  let digest: string | undefined;
  return Object.assign(w, {
    stats(): ArchiveWriteStats {
      digest ??= hash.digest("hex");
      return { bytes, sha256: digest, chunks: seq };
    },
  });
}

export interface FinishInput {
  stats: ArchiveWriteStats;
  sectionCounts?: Record<string, number>;
  tokenHash?: string;
  expiresAt?: Date;
}

export async function finishArchive(db: Kysely<Database>, id: string, f: FinishInput): Promise<void> {
  await db
    .updateTable("archives")
    .set({
      status: "ready",
      byte_size: f.stats.bytes,
      sha256: f.stats.sha256,
      finished_at: new Date(),
      ...(f.sectionCounts ? { section_counts: JSON.stringify(f.sectionCounts) } : {}),
      ...(f.tokenHash ? { download_token_hash: f.tokenHash } : {}),
      ...(f.expiresAt ? { expires_at: f.expiresAt } : {}),
    })
    .where("id", "=", id)
    .execute();
}

export async function failArchive(db: Kysely<Database>, id: string, error: string): Promise<void> {
  await db.updateTable("archives").set({ status: "failed", error }).where("id", "=", id).execute();
  await db.deleteFrom("archive_chunks").where("archive_id", "=", id).execute();
}

/** Streams the stored bytes one row at a time, in order. */
export function archiveReader(db: Kysely<Database>, archiveId: string): Readable {
  let seq = 0;
  return new Readable({
    highWaterMark: CHUNK_SIZE,
    read() {
      db.selectFrom("archive_chunks")
        .select("data")
        .where("archive_id", "=", archiveId)
        .where("seq", "=", seq)
        .executeTakeFirst()
        .then(
          (row) => {
            seq++;
            this.push(row ? Buffer.from(row.data) : null);
          },
          (err: Error) => this.destroy(err),
        );
    },
  });
}

export async function getArchive(db: Kysely<Database>, id: string): Promise<Archive | undefined> {
  return db.selectFrom("archives").selectAll().where("id", "=", id).executeTakeFirst();
}

export async function findReadyArchiveByToken(
  db: Kysely<Database>,
  tokenHash: string,
  now = new Date(),
): Promise<Archive | undefined> {
  return db
    .selectFrom("archives")
    .selectAll()
    .where("download_token_hash", "=", tokenHash)
    .where("status", "=", "ready")
    .where("expires_at", ">", now)
    .executeTakeFirst();
}

export async function listArchives(db: Kysely<Database>, owner: string): Promise<Archive[]> {
  return db
    .selectFrom("archives")
    .selectAll()
    .where("owner_jid", "=", owner)
    .orderBy("created_at", "desc")
    .execute();
}

/** Deletes expired archives (chunks cascade); returns how many. */
export async function purgeExpired(db: Kysely<Database>, now = new Date()): Promise<number> {
  const res = await db.deleteFrom("archives").where("expires_at", "<=", now).executeTakeFirst();
  return Number(res.numDeletedRows);
}
