// Archive staging, written and read as streams so neither side ever holds a whole archive in memory.
// Metadata is a row in `archives`. The bytes are ~256 KiB bytea rows in archive_chunks on Postgres,
// and files under DATA_DIR/archives with the embedded database (archive-files.ts), which the opened
// database registers with useArchiveFiles(); every function here takes the same `db` either way.
import { createHash, randomUUID } from "node:crypto";
import { existsSync } from "node:fs";
import { Readable, Writable } from "node:stream";
import type { Kysely } from "kysely";
import type { Archive, ArchiveKind, Database } from "./schema.js";
import type { ArchiveFiles } from "./archive-files.js";

export const CHUNK_SIZE = 256 * 1024;

const fileStores = new WeakMap<Kysely<Database>, ArchiveFiles>();

/** Stage this database's archive bytes in files instead of archive_chunks. */
export function useArchiveFiles(db: Kysely<Database>, files: ArchiveFiles): void {
  fileStores.set(db, files);
}

/** The file store of this database, if its archives live in files. */
export function archiveFilesOf(db: Kysely<Database>): ArchiveFiles | undefined {
  return fileStores.get(db);
}

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
  const files = fileStores.get(db);
  if (files) return files.writer(archiveId, CHUNK_SIZE);
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

/** A new download link for a ready archive (the old one stops working). */
export async function setDownloadToken(db: Kysely<Database>, id: string, tokenHash: string): Promise<void> {
  await db.updateTable("archives").set({ download_token_hash: tokenHash }).where("id", "=", id).execute();
}

export async function failArchive(db: Kysely<Database>, id: string, error: string): Promise<void> {
  await db.updateTable("archives").set({ status: "failed", error }).where("id", "=", id).execute();
  await db.deleteFrom("archive_chunks").where("archive_id", "=", id).execute();
  await fileStores.get(db)?.remove(id);
}

/** Streams the stored bytes in order (from the file, or one row at a time). */
export function archiveReader(db: Kysely<Database>, archiveId: string): Readable {
  const files = fileStores.get(db);
  // Archives staged before the embedded database moved bytes to files are still read from their rows.
  if (files && existsSync(files.path(archiveId))) return files.reader(archiveId, CHUNK_SIZE);
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

/**
 * Deletes expired archives — downloads and staged imports, finished or abandoned mid-transfer (chunks
 * cascade, files are removed) — and expired upload links; returns how many archives.
 */
export async function purgeExpired(db: Kysely<Database>, now = new Date()): Promise<number> {
  const gone = await db.deleteFrom("archives").where("expires_at", "<=", now).returning("id").execute();
  const files = fileStores.get(db);
  if (files) {
    for (const { id } of gone) await files.remove(id);
    // Files whose row is gone some other way (a crash between the two steps): nothing can read them.
    const onDisk = await files.list();
    if (onDisk.size > 0) {
      const known = new Set(
        (
          await db
            .selectFrom("archives")
            .select("id")
            .where("id", "in", [...onDisk])
            .execute()
        ).map((r) => r.id),
      );
      for (const id of onDisk) if (!known.has(id)) await files.remove(id);
    }
  }
  await db.deleteFrom("upload_links").where("expires_at", "<=", now).execute();
  return gone.length;
}
