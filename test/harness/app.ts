// Starts the real app against a throwaway Prosody, with its own fresh Postgres database (or PGlite).
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import type { Writable } from "node:stream";
import { startApp, type App, type AppOptions } from "../../src/app.js";
import { loadConfig } from "../../src/config/config.js";
import { createLogger } from "../../src/log/logger.js";
import { freshPostgres } from "./database.js";
import { startProsody, type Prosody } from "./prosody.js";
import { connectClient, type TestClient } from "./clients.js";
import type { Test } from "@tapjs/test";
import { privilegedSession } from "../../src/account/privileged-session.js";
import type { AccountSession } from "../../src/account/session.js";

/** The component's session for a local user of a running app (to read their roster in assertions). */
export function localSession(app: App, user: string): AccountSession {
  return privilegedSession(app, user);
}

export interface TestAppOptions extends AppOptions {
  database?: "postgres" | "pglite";
  /** Collect every log line (at debug level) here, e.g. to assert secrets never appear. */
  logSink?: Writable;
}

export async function startTestApp(
  prosody: Prosody,
  env: Record<string, string> = {},
  opts: TestAppOptions = {},
): Promise<App> {
  const cleanups: (() => Promise<void>)[] = [];
  const dbEnv: Record<string, string> = {};
  // A DATABASE_URL passed in is the caller's (e.g. a second instance on the first one's database).
  if ((opts.database ?? "postgres") === "postgres" && !env.DATABASE_URL) {
    const pg = await freshPostgres();
    dbEnv.DATABASE_URL = pg.url as string;
    cleanups.push(() => pg.cleanup().catch(() => undefined));
  } else {
    const dir = await mkdtemp(path.join(tmpdir(), "portability-data-"));
    dbEnv.DATA_DIR = dir;
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
  }
  const config = loadConfig({
    XMPP_SERVICE: prosody.componentService,
    XMPP_DOMAIN: prosody.component,
    XMPP_SECRET: prosody.secret,
    XMPP_HOSTS: prosody.hosts.join(","),
    HTTP_LISTEN: "127.0.0.1:0",
    // The real port is only known after listening; tests rewrite this placeholder.
    HTTP_PUBLIC_URL: "http://127.0.0.1:8787",
    ADMINS: "admin@localhost",
    ...dbEnv,
    ...env,
  });
  const log = opts.logSink
    ? createLogger("debug", opts.logSink)
    : createLogger(process.env.TEST_LOG_LEVEL ?? "silent");
  const app = await startApp(config, log, opts);
  const stop = app.stop.bind(app);
  app.stop = async () => {
    try {
      await stop();
    } finally {
      for (const c of cleanups) await c();
    }
  };
  return app;
}

/** A link the app handed out (with the configured placeholder port), pointed at its real HTTP port. */
export function localUrl(url: string, app: { http: { port: number } }): string {
  return url.replace("127.0.0.1:8787", `127.0.0.1:${app.http.port}`);
}

/**
 * A throwaway Prosody with the companion module, one registered user logged in with a real client,
 * and the app: the setup of the upload/import tests. All of it stops at the test's teardown.
 */
export async function appWithUser(
  t: Test,
  user: string,
  host: string,
  password = "pw",
): Promise<{ prosody: Prosody; app: App; client: TestClient }> {
  const prosody = await startProsody({ companion: true });
  t.teardown(() => prosody.cleanup());
  await prosody.register(user, host, password);
  const client = await connectClient(prosody, user, host, password);
  t.teardown(() => client.stop());
  const app = await startTestApp(prosody);
  t.teardown(() => app.stop());
  return { prosody, app, client };
}
