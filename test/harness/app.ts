// Starts the real app against a throwaway Prosody, with its own fresh Postgres database (or PGlite).
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import type { Writable } from "node:stream";
import { startApp, type App, type AppOptions } from "../../src/app.js";
import { loadConfig } from "../../src/config/config.js";
import { createLogger } from "../../src/log/logger.js";
import { freshPostgres } from "./database.js";
import type { Prosody } from "./prosody.js";

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
  if ((opts.database ?? "postgres") === "postgres") {
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
    await stop();
    for (const c of cleanups) await c();
  };
  return app;
}
