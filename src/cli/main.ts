// `portability` command line: run the component, migrate the database, inspect archives.
import { existsSync } from "node:fs";
import path from "node:path";
import dotenv from "dotenv";
import { loadConfig, ConfigError } from "../config/config.js";
import { createLogger } from "../log/logger.js";

const USAGE = `usage: portability <command>
  run                          run the component (default; what \`npm start\` does)
  db migrate                   apply database migrations and exit
  archive inspect FILE [--json]   summarise a XEP-0227 archive (.xml or .xml.gz)
  archive validate FILE        check a XEP-0227 archive; exit 1 with the errors if invalid
  archive decrypt FILE --out OUT  decrypt an archive exported with a passphrase (asks on stdin)
  admin export-all --host HOST [--days N] [--concurrency N] [--message-file FILE] [--no-history]
                   [--notify JID] [--wait]
                               export every account of HOST and message each user their link
                               (the running component does the work; resumes a stopped one)
  admin export-status          progress of bulk exports and staged bytes`;

/** Where the settings come from, for the first log line: operators should never have to guess. */
interface EnvSource {
  file: ".env" | "config.example.env" | undefined;
  describe: string;
}

function loadEnv(): EnvSource {
  // Variables already in the environment win (dotenv never overrides them), so a container or a
  // systemd EnvironmentFile needs no .env. Without .env, config.example.env fills in the defaults.
  if (existsSync(".env")) {
    dotenv.config({ path: ".env", quiet: true });
    return { file: ".env", describe: `${path.resolve(".env")} (over the environment's own values)` };
  }
  if (existsSync("config.example.env")) {
    dotenv.config({ path: "config.example.env", quiet: true });
    // Running on the example file is the README's try-out (`npm ci && npm start`): a development
    // setup by definition, so its published secret is accepted — and said so in the first log line.
    // An operator's own configuration (.env, or a real environment) never gets this.
    const tryOut = process.env.NODE_ENV === undefined;
    if (tryOut) process.env.NODE_ENV = "development";
    return {
      file: "config.example.env",
      describe:
        `no .env in ${process.cwd()}: environment variables, defaults from config.example.env` +
        (tryOut
          ? " (try-out: development mode; copy it to .env and set your own XMPP_SECRET for real use)"
          : ""),
    };
  }
  return { file: undefined, describe: `no .env in ${process.cwd()}: environment variables only` };
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
  const source = loadEnv();
  let config;
  try {
    config = loadConfig(process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n(configuration: ${source.describe}; see config.example.env)\n`);
      return 2;
    }
    throw err;
  }
  const log = createLogger(config.logLevel);
  if (cmd === "admin") {
    const { runAdminCommand } = await import("./admin.js");
    return runAdminCommand([sub ?? "", ...rest], config, { stdout: process.stdout, stderr: process.stderr });
  }
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
    const { runService } = await import("./run.js");
    return runService(config, log, source.describe);
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
