// Opens the database: Postgres through pg when DATABASE_URL is set, else embedded PGlite under DATA_DIR.
import path from "node:path";
import { Kysely, PostgresDialect } from "kysely";
import pg from "pg";
import type { Database } from "./schema.js";
import { PGliteDialect } from "./pglite-dialect.js";
import { openPglite } from "./pglite.js";
import { archiveFiles } from "./archive-files.js";
import { useArchiveFiles } from "./archives.js";

export interface OpenedDatabase {
  db: Kysely<Database>;
  kind: "postgres" | "pglite";
  close(): Promise<void>;
}

export interface DatabaseOptions {
  databaseUrl?: string | undefined;
  /** Where PGlite keeps its files; ":memory:" keeps nothing (tests). */
  dataDir: string;
  /** Told when Postgres drops an idle pooled connection (restart, admin command); the pool reconnects. */
  onConnectionLost?: (err: Error) => void;
}

// bigint (int8) as string by default in pg; our sizes fit a JS number comfortably.
pg.types.setTypeParser(20, (v: string) => Number(v));

export async function openDatabase(o: DatabaseOptions): Promise<OpenedDatabase> {
  if (o.databaseUrl) {
    const pool = new pg.Pool({ connectionString: o.databaseUrl, max: 10 });
    // An idle client killed by the server makes the pool emit 'error'; unheard, that would crash the
    // process. The pool discards that client and opens a new one on the next query.
    pool.on("error", (err) => o.onConnectionLost?.(err));
    // Fail fast with a clear message rather than on the first query.
    try {
      const client = await pool.connect();
      client.release();
    } catch (err) {
      await pool.end().catch(() => undefined);
      throw new Error(`cannot connect to DATABASE_URL: ${(err as Error).message}`, { cause: err });
    }
    const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
    return { db, kind: "postgres", close: () => db.destroy() };
  }
  const embedded = await openPglite(o.dataDir);
  const db = new Kysely<Database>({ dialect: new PGliteDialect(embedded.pglite, () => embedded.close()) });
  // Archive bytes go to files beside the database (in memory for ":memory:" test databases).
  if (o.dataDir !== ":memory:") useArchiveFiles(db, archiveFiles(path.join(o.dataDir, "archives")));
  return {
    db,
    kind: "pglite",
    async close() {
      await db.destroy();
      await embedded.close();
    },
  };
}
