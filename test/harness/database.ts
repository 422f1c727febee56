// Both database backends for tests: real Postgres (a fresh database per call, dropped afterwards)
// and embedded PGlite in memory. Same migrations on both.
import { randomBytes } from "node:crypto";
import pg from "pg";
import { openDatabase, type OpenedDatabase } from "../../src/storage/database.js";
import { migrateToLatest } from "../../src/storage/migrate.js";

export const POSTGRES_URL = process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";

export interface TestDatabase extends OpenedDatabase {
  /** For Postgres: the URL of the fresh database. */
  url?: string;
  cleanup(): Promise<void>;
}

/** One query on its own connection. */
async function queryOnce<R extends pg.QueryResultRow>(
  connectionString: string,
  sql: string,
  values?: unknown[],
): Promise<pg.QueryResult<R>> {
  const c = new pg.Client({ connectionString });
  await c.connect();
  try {
    return await c.query<R>(sql, values);
  } finally {
    await c.end();
  }
}

/** Runs one statement on the server's admin database (creating and dropping test databases). */
const admin = (statement: string) => queryOnce(POSTGRES_URL, statement);

/** A new empty database on the test server: its name and URL. */
async function createDatabase(prefix: string): Promise<{ name: string; url: URL }> {
  const name = `${prefix}_${randomBytes(6).toString("hex")}`;
  await admin(`create database ${name}`);
  const url = new URL(POSTGRES_URL);
  url.pathname = `/${name}`;
  return { name, url };
}

const dropDatabase = async (name: string) => {
  await admin(`drop database if exists ${name} with (force)`);
};

export async function freshPostgres(): Promise<TestDatabase> {
  const { name, url } = await createDatabase("portability_t");
  const opened = await openDatabase({ databaseUrl: url.toString(), dataDir: ":memory:" });
  await migrateToLatest(opened.db);
  return {
    ...opened,
    url: url.toString(),
    async cleanup() {
      await opened.close();
      await dropDatabase(name);
    },
  };
}

/**
 * An empty Postgres database for Prosody's own SQL storage (LuaDBI's PostgreSQL driver, Debian package
 * lua-dbi-postgresql): the Lua `sql = { … }` line for its config, and the cleanup that drops it.
 */
export async function prosodyPostgres(): Promise<{
  config: string;
  /** Runs one query on that database. */
  query<R extends pg.QueryResultRow>(sql: string, values?: unknown[]): Promise<pg.QueryResult<R>>;
  cleanup(): Promise<void>;
}> {
  const { name, url } = await createDatabase("prosody_t");
  return {
    query: (sql, values) => queryOnce(url.toString(), sql, values),
    config: `sql = { driver = "PostgreSQL", database = "${name}", host = "${url.hostname}", port = ${url.port || 5432}, username = "${decodeURIComponent(url.username || "postgres")}" }`,
    cleanup: () => dropDatabase(name),
  };
}

export async function freshPglite(): Promise<TestDatabase> {
  const opened = await openDatabase({ dataDir: ":memory:" });
  await migrateToLatest(opened.db);
  return { ...opened, cleanup: () => opened.close() };
}

export const BACKENDS: { name: string; open: () => Promise<TestDatabase> }[] = [
  { name: "postgres", open: freshPostgres },
  { name: "pglite", open: freshPglite },
];
