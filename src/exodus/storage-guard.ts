// Keeps a bulk export from filling the database or the disk silently: Postgres is measured by its
// database size (its disk is not visible from here), the embedded database by the free space left on
// the filesystem holding DATA_DIR. Checked before a bulk export starts and before each new account.
import { statfs } from "node:fs/promises";
import { sql, type Kysely } from "kysely";
import type { Database } from "../storage/schema.js";

const MB = 1024 * 1024;

export interface StorageLimits {
  /** Postgres when set; the embedded database otherwise. */
  databaseUrl: string | undefined;
  dataDir: string;
  databaseMaxMb: number;
  minFreeDiskMb: number;
}

export interface StorageReading {
  /** Bytes of export archives staged (writing or ready). */
  staged: number;
  /** Postgres database size, bytes. */
  databaseBytes?: number;
  /** Embedded database: free bytes on DATA_DIR's filesystem. */
  freeBytes?: number;
  /** Why no new export may start, or undefined. */
  limit?: string;
}

export type StorageProbe = () => Promise<StorageReading>;

export async function stagedBytes(db: Kysely<Database>): Promise<number> {
  const row = await db
    .selectFrom("archives")
    .select(sql<string>`coalesce(sum(byte_size), 0)::bigint`.as("n"))
    .where("kind", "=", "export")
    .where("status", "in", ["writing", "ready"])
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

export function createStorageProbe(db: Kysely<Database>, l: StorageLimits): StorageProbe {
  return async () => {
    const staged = await stagedBytes(db);
    if (l.databaseUrl) {
      const row = await sql<{ n: string }>`select pg_database_size(current_database())::bigint as n`.execute(
        db,
      );
      const databaseBytes = Number(row.rows[0]?.n ?? 0);
      const over = databaseBytes >= l.databaseMaxMb * MB;
      return {
        staged,
        databaseBytes,
        ...(over
          ? {
              limit: `the database has reached DATABASE_MAX_MB (${Math.round(databaseBytes / MB)} MiB of ${l.databaseMaxMb} MiB)`,
            }
          : {}),
      };
    }
    const fs = await statfs(l.dataDir);
    const freeBytes = fs.bavail * fs.bsize;
    const low = freeBytes < l.minFreeDiskMb * MB;
    return {
      staged,
      freeBytes,
      ...(low
        ? {
            limit: `free disk space for the data directory is below MIN_FREE_DISK_MB (${Math.round(freeBytes / MB)} MiB left, ${l.minFreeDiskMb} MiB kept free)`,
          }
        : {}),
    };
  };
}
