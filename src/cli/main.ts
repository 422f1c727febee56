// `portability` command line: run the component, migrate the database, inspect archives.
import { existsSync } from "node:fs";
import dotenv from "dotenv";
import { loadConfig, ConfigError, describeConfig } from "../config/config.js";
import { createLogger } from "../log/logger.js";

const USAGE = `usage: portability <command>
  run                          run the component (default; what \`npm start\` does)
  db migrate                   apply database migrations and exit
  archive inspect FILE [--json]   summarise a XEP-0227 archive (.xml or .xml.gz)
  archive validate FILE        check a XEP-0227 archive; exit 1 with the errors if invalid
  archive decrypt FILE --out OUT  decrypt an archive exported with a passphrase (asks on stdin)`;

function loadEnv(): string | undefined {
  // .env wins; config.example.env is the documented default so `npm start` works out of the box.
  const file = existsSync(".env")
    ? ".env"
    : existsSync("config.example.env")
      ? "config.example.env"
      : undefined;
  if (file) dotenv.config({ path: file, quiet: true });
  return file;
}

async function main(argv: string[]): Promise<number> {
  const [cmd = "run", sub, ...rest] = argv;
  if (cmd === "help" || cmd === "--help" || cmd === "-h") {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (cmd === "archive") {
    const { runArchiveCommand } = await import("./archive.js");
    return runArchiveCommand([sub ?? "", ...rest], { stdout: process.stdout, stderr: process.stderr });
  }
  const envFile = loadEnv();
  let config;
  try {
    config = loadConfig(process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n(see config.example.env)\n`);
      return 2;
    }
    throw err;
  }
  const log = createLogger(config.logLevel);
  if (cmd === "db" && sub === "migrate") {
    const { openDatabase } = await import("../storage/database.js");
    const { migrateToLatest } = await import("../storage/migrate.js");
    const database = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
    try {
      const applied = await migrateToLatest(database.db);
      log.info({ applied }, "migrations applied");
    } finally {
      await database.close();
    }
    return 0;
  }
  if (cmd === "run") {
    if (envFile === "config.example.env") log.warn("no .env found: using config.example.env defaults");
    log.info({ config: describeConfig(config) }, "starting");
    const { startApp } = await import("../app.js");
    const app = await startApp(config, log, { waitOnline: false });
    await new Promise<void>((resolve) => {
      const stop = (): void => resolve();
      process.once("SIGINT", stop);
      process.once("SIGTERM", stop);
    });
    log.info("stopping");
    await app.stop();
    return 0;
  }
  process.stderr.write(`${USAGE}\n`);
  return 2;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`portability: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
