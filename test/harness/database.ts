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

export async function freshPostgres(): Promise<TestDatabase> {
  const name = `portability_t_${randomBytes(6).toString("hex")}`;
  const admin = new pg.Client({ connectionString: POSTGRES_URL });
  await admin.connect();
  await admin.query(`create database ${name}`);
  await admin.end();
  const url = new URL(POSTGRES_URL);
  url.pathname = `/${name}`;
  const opened = await openDatabase({ databaseUrl: url.toString(), dataDir: ":memory:" });
  await migrateToLatest(opened.db);
  return {
    ...opened,
    url: url.toString(),
    async cleanup() {
      await opened.close();
      const c = new pg.Client({ connectionString: POSTGRES_URL });
      await c.connect();
      await c.query(`drop database if exists ${name} with (force)`);
      await c.end();
    },
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
