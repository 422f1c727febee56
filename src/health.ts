// What GET /healthz reports: the XMPP link and the database, each "ok" or why not. Supervisors
// (Docker HEALTHCHECK, load balancers) read the status code; people read the JSON.
import { sql, type Kysely } from "kysely";
import type { Health } from "./http/server.js";
import type { ComponentLink } from "./xmpp/component-link.js";
import type { Database } from "./storage/schema.js";

const DB_TIMEOUT_MS = 3000;

export async function checkHealth(link: ComponentLink, db: Kysely<Database>, kind: string): Promise<Health> {
  const database = await pingDatabase(db);
  const xmpp = link.online ? "ok" : "offline";
  return {
    ok: xmpp === "ok" && database === "ok",
    report: { xmpp, component: link.domain, database, databaseKind: kind },
  };
}

async function pingDatabase(db: Kysely<Database>): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<string>((resolve) => {
    timer = setTimeout(() => resolve(`no answer within ${DB_TIMEOUT_MS} ms`), DB_TIMEOUT_MS);
  });
  try {
    return await Promise.race([
      sql`select 1`.execute(db).then(
        () => "ok",
        (err: unknown) => `error: ${err instanceof Error ? err.message : String(err)}`,
      ),
      timeout,
    ]);
  } finally {
    clearTimeout(timer);
  }
}
