// Composition root: builds every service from the config and wires them to the XMPP link.
// Each dependency is a plain value handed to the functions that need it (xmpp.js plugin style).
import type { Config } from "./config/config.js";
import type { Logger } from "./log/logger.js";
import { createComponentLink, type ComponentLink } from "./xmpp/component-link.js";
import { createPrivilegeRegistry, type PrivilegeRegistry } from "./privilege/registry.js";
import { createCommandRouter } from "./adhoc/router.js";
import { registerDisco } from "./adhoc/disco.js";
import type { Command } from "./adhoc/command.js";
import { startHttpServer, type HttpServer, type HttpRoutes } from "./http/server.js";
import { hashToken } from "./http/tokens.js";
import { openDatabase, type OpenedDatabase } from "./storage/database.js";
import { migrateToLatest } from "./storage/migrate.js";
import type { Database } from "./storage/schema.js";
import { archiveReader, findReadyArchiveByToken, purgeExpired } from "./storage/archives.js";
import { createJobRunner, type JobHandler, type JobRunner } from "./jobs/runner.js";
import { createCompanionClient } from "./account/companion.js";
import type { CompanionClient } from "./account/companion-api.js";
import { adminSelftest } from "./commands/admin-selftest.js";
import { adminExportUserCommand, exportCommand, exportStatusCommand } from "./commands/export.js";
import { createExportService, EXPORT_JOB, type ExportService } from "./export/service.js";
import { movedSettingsCommand } from "./commands/moved-settings.js";
import { importCommand, importStatusCommand } from "./commands/import.js";
import { createImportService, IMPORT_JOB, type ImportService } from "./import/service.js";
import { startAttachmentIntake } from "./import/attachments.js";
import { moveAwayCommand, moveHereCommand, moveStatusCommand } from "./commands/move.js";
import { moveRenotifyCommand } from "./commands/move-renotify.js";
import { createMoveHereService, MOVE_HERE_JOB, type MoveHereService } from "./move/here.js";
import { createMoveAwayService, MOVE_AWAY_JOB, type MoveAwayService } from "./move/away.js";
import { startMovedInbound } from "./moved/inbound.js";
import type { Kysely } from "kysely";

export interface AppServices {
  config: Config;
  log: Logger;
  link: ComponentLink;
  privileges: PrivilegeRegistry;
  companion: CompanionClient;
  db: Kysely<Database>;
  jobs: JobRunner;
  exports: ExportService;
  imports: ImportService;
  moves: MoveAwayService;
  movesHere: MoveHereService;
}

export interface App extends AppServices {
  http: HttpServer;
  database: OpenedDatabase;
  stop(): Promise<void>;
}

export type CommandFactory = (s: AppServices) => Command;

/** The product's commands, in the order clients list them. */
export const COMMANDS: CommandFactory[] = [
  exportCommand,
  exportStatusCommand,
  importCommand,
  importStatusCommand,
  moveHereCommand,
  moveAwayCommand,
  moveStatusCommand,
  moveRenotifyCommand,
  movedSettingsCommand,
  adminExportUserCommand,
  adminSelftest,
];

export interface AppOptions {
  /** Extra commands (tests). */
  commands?: CommandFactory[];
  /** Skip waiting for the first connection (production keeps retrying in the background). */
  waitOnline?: boolean;
  /** Extra job handlers (tests). */
  jobHandlers?: Record<string, JobHandler>;
  /** Job lease; a restarted component resumes jobs once it expires (tests shorten it). */
  jobLeaseMs?: number;
  /** Archive page size for exports (tests shorten it). */
  exportPageSize?: number;
}

export async function startApp(config: Config, log: Logger, opts: AppOptions = {}): Promise<App> {
  const link = createComponentLink({
    service: config.xmppService,
    domain: config.xmppDomain,
    secret: config.xmppSecret,
    log: log.child({ part: "xmpp" }),
  });
  const privileges = createPrivilegeRegistry(link);
  const companion = createCompanionClient(link);
  const database = await openDatabase({
    databaseUrl: config.databaseUrl,
    dataDir: config.dataDir,
    onConnectionLost: (err) => log.warn({ err: { message: err.message } }, "database connection lost"),
  });
  const applied = await migrateToLatest(database.db);
  if (applied.length > 0) log.info({ applied, database: database.kind }, "database migrated");
  const db = database.db;
  const handlers: Record<string, JobHandler> = { ...(opts.jobHandlers ?? {}) };
  const late: {
    exports?: ExportService;
    imports?: ImportService;
    moves?: MoveAwayService;
    here?: MoveHereService;
  } = {};
  const jobs = createJobRunner({
    db,
    log: log.child({ part: "jobs" }),
    handlers,
    ...(opts.jobLeaseMs ? { leaseMs: opts.jobLeaseMs, pollMs: Math.min(2000, opts.jobLeaseMs) } : {}),
    onFinished: async (job, outcome) => {
      if (job.kind === EXPORT_JOB) await late.exports?.finished(job, outcome);
      if (job.kind === IMPORT_JOB) await late.imports?.finished(job, outcome);
      if (job.kind === MOVE_AWAY_JOB) await late.moves?.finished(job, outcome);
      if (job.kind === MOVE_HERE_JOB) await late.here?.finished(job, outcome);
    },
  });
  const exportService = createExportService({
    link,
    privileges,
    companion,
    db,
    config,
    log,
    wake: () => jobs.notify(),
    ...(opts.exportPageSize ? { pageSize: opts.exportPageSize } : {}),
  });
  late.exports = exportService;
  handlers[EXPORT_JOB] = (ctx) => exportService.run(ctx);
  const importService = createImportService({ link, companion, db, config, log, wake: () => jobs.notify() });
  late.imports = importService;
  handlers[IMPORT_JOB] = (ctx) => importService.run(ctx);
  const moveService = createMoveAwayService({
    link,
    db,
    config,
    log,
    wake: () => jobs.notify(),
    throttleMs: 200,
    watchMs: config.moveWatchSeconds * 1000,
  });
  late.moves = moveService;
  handlers[MOVE_AWAY_JOB] = (ctx) => moveService.run(ctx);
  const hereService = createMoveHereService({ link, companion, db, config, log, wake: () => jobs.notify() });
  late.here = hereService;
  handlers[MOVE_HERE_JOB] = (ctx) => hereService.run(ctx);
  const services: AppServices = {
    config,
    log,
    link,
    privileges,
    companion,
    db,
    jobs,
    exports: exportService,
    imports: importService,
    moves: moveService,
    movesHere: hereService,
  };

  const commands = [...COMMANDS, ...(opts.commands ?? [])].map((f) => f(services));
  const router = createCommandRouter({
    commands,
    hosts: config.xmppHosts,
    admins: config.admins,
    sessionTtlMs: config.commandSessionTtlSeconds * 1000,
    log: log.child({ part: "adhoc" }),
  });
  registerDisco(link, router);
  // The companion's forwarded notices are trusted only from hosts probed on this stream.
  link.onOnline(() => {
    for (const h of config.xmppHosts) void companion.probe(h);
  });
  const stopAttachments = startAttachmentIntake({
    link,
    imports: importService,
    hosts: config.xmppHosts,
    log,
  });
  const moved = startMovedInbound({
    link,
    companion,
    db,
    log: log.child({ part: "moved" }),
    hosts: config.xmppHosts,
  });

  const routes: HttpRoutes = {
    async download(token) {
      const a = await findReadyArchiveByToken(db, hashToken(token));
      if (!a) return null;
      return {
        filename: a.filename,
        contentType: a.content_type,
        size: Number(a.byte_size),
        open: () => archiveReader(db, a.id),
      };
    },
    upload: (token, body, length) => importService.receiveUpload(token, body, length),
  };
  const http = await startHttpServer(config.httpListen, routes, log.child({ part: "http" }));

  const purge = setInterval(() => {
    purgeExpired(db).then(
      (n) => n > 0 && log.info({ purged: n }, "expired archives deleted"),
      (err: unknown) => log.warn({ err }, "purge failed"),
    );
  }, 3600_000);
  purge.unref();
  jobs.start();

  const online = whenOnline(link);
  await link.start();
  if (opts.waitOnline !== false) await online;

  return {
    ...services,
    http,
    database,
    async stop() {
      clearInterval(purge);
      await moved.stop();
      stopAttachments();
      await jobs.stop();
      await link.stop();
      await http.close();
      privileges.dispose();
      await database.close();
    },
  };
}

/** Resolves once the component is online (the link keeps retrying with backoff meanwhile). */
function whenOnline(link: ComponentLink): Promise<void> {
  if (link.online) return Promise.resolve();
  return new Promise((resolve) => {
    const off = link.onOnline(() => {
      off();
      resolve();
    });
  });
}
