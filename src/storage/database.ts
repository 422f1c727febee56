// Opens the database: Postgres through pg when DATABASE_URL is set, else embedded PGlite under DATA_DIR.
import { mkdir } from "node:fs/promises";
import path from "node:path";
import { Kysely, PostgresDialect } from "kysely";
import pg from "pg";
import type { Database } from "./schema.js";
import { PGliteDialect } from "./pglite-dialect.js";

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
  const { PGlite } = await import("@electric-sql/pglite");
  let pglite;
  if (o.dataDir === ":memory:") {
    pglite = new PGlite();
  } else {
    const dir = path.join(o.dataDir, "pglite");
    await mkdir(dir, { recursive: true });
    pglite = new PGlite(dir);
  }
  await pglite.waitReady;
  const db = new Kysely<Database>({ dialect: new PGliteDialect(pglite) });
  return { db, kind: "pglite", close: () => db.destroy() };
}
