// Postgres dropping the pool's idle connections (restart, pg_terminate_backend, DROP DATABASE … FORCE)
// must not crash the component: the loss is reported and the next query opens a new connection.
import t from "tap";
import pg from "pg";
import { sql } from "kysely";
import { freshPostgres } from "../harness/database.js";
import { openDatabase } from "../../src/storage/database.js";
import { sleep } from "../harness/prosody.js";

t.test("idle connections killed by the server are reported, and queries go on", async (t) => {
  const fresh = await freshPostgres();
  t.teardown(() => fresh.cleanup());
  const lost: string[] = [];
  const opened = await openDatabase({
    databaseUrl: `${fresh.url}?application_name=connection_lost_test`,
    dataDir: ":memory:",
    onConnectionLost: (err) => lost.push(err.message),
  });
  t.teardown(() => opened.close());
  // Two connections in the pool, both idle afterwards.
  await Promise.all([sql`select pg_sleep(0.05)`.execute(opened.db), sql`select 1`.execute(opened.db)]);

  const admin = new pg.Client({ connectionString: fresh.url });
  await admin.connect();
  const killed = await admin.query(
    "select pg_terminate_backend(pid) from pg_stat_activity where application_name = 'connection_lost_test'",
  );
  await admin.end();
  const n = killed.rowCount ?? 0;
  t.ok(n >= 1, "the pool's backends were terminated");
  // Each killed idle connection is reported once; the pool drops it before it is used again.
  for (let i = 0; i < 250 && lost.length < n; i++) await sleep(20);
  t.equal(lost.length, n, "every loss was reported, not thrown");
  t.match(lost[0], /terminating connection/);

  const { rows } = await sql<{ n: number }>`select 41 + 1 as n`.execute(opened.db);
  t.equal(rows[0]?.n, 42, "the next query runs on a new connection");
});
