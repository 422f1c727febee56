// Composition root: builds every service from the config and wires them to the XMPP link.
// Each dependency is a plain value handed to the functions that need it (xmpp.js plugin style).
import type { Config } from "./config/config.js";
import type { Logger } from "./log/logger.js";
import { createComponentLink, type ComponentLink } from "./xmpp/component-link.js";
import { createPrivilegeRegistry } from "./privilege/registry.js";
import { createCommandRouter } from "./adhoc/router.js";
import { registerDisco } from "./adhoc/disco.js";
import type { AppServices, CommandFactory } from "./services.js";
import { HttpError, startHttpServer, type HttpServer, type HttpRoutes } from "./http/server.js";
import { hashToken } from "./http/tokens.js";
import { openDatabase, type OpenedDatabase } from "./storage/database.js";
import { migrateToLatest } from "./storage/migrate.js";
import type { Job } from "./storage/schema.js";
import { archiveReader, findReadyArchiveByToken, purgeExpired } from "./storage/archives.js";
import { createJobRunner, type JobHandler } from "./jobs/runner.js";
import { createCompanionClient } from "./account/companion.js";
import { adminSelftest } from "./commands/admin-selftest.js";
import { adminExportUserCommand, exportCommand, exportStatusCommand } from "./commands/export.js";
import { createExportService, EXPORT_JOB } from "./export/service.js";
import { movedSettingsCommand } from "./commands/moved-settings.js";
import { importCommand, importStatusCommand } from "./commands/import.js";
import { createImportService, StageError } from "./import/service.js";
import { startAttachmentIntake } from "./import/attachments.js";
import { moveAwayCommand, moveHereCommand, moveStatusCommand } from "./commands/move.js";
import { moveRenotifyCommand } from "./commands/move-renotify.js";
import { createMoveHereService } from "./account-moves/here.js";
import { createMoveAwayService } from "./account-moves/away.js";
import { startMovedInbound } from "./contact-moves/inbound.js";
import { watchBounces } from "./account-moves/bounces.js";
import { checkHealth } from "./health.js";
import { cancelCommand } from "./commands/cancel.js";
import { createBulkExports } from "./exodus/bulk.js";
import { createStorageProbe } from "./exodus/storage-guard.js";
import {
  adminExportAllCommand,
  adminExportStatusCommand,
  adminExportStopCommand,
} from "./commands/admin-export-all.js";
import { createExportSchedules, type ExportSchedules } from "./exodus/schedule.js";
import { exportScheduleCommand } from "./commands/export-schedule.js";
import type { BulkExports } from "./exodus/bulk.js";

export interface App extends AppServices {
  http: HttpServer;
  database: OpenedDatabase;
  stop(): Promise<void>;
}

/** The product's commands, in the order clients list them. */
export const COMMANDS: CommandFactory[] = [
  exportCommand,
  exportStatusCommand,
  exportScheduleCommand,
  importCommand,
  importStatusCommand,
  moveHereCommand,
  moveAwayCommand,
  moveStatusCommand,
  moveRenotifyCommand,
  movedSettingsCommand,
  cancelCommand,
  adminExportUserCommand,
  adminExportAllCommand,
  adminExportStatusCommand,
  adminExportStopCommand,
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
  /** How often bulk exports are looked at without a wake-up (tests shorten it). */
  bulkPollMs?: number;
  /** Clock for export schedules (tests move it forward instead of sleeping). */
  now?: () => Date;
  /** scrypt cost for schedule keys (tests lower it). */
  scheduleKeyLog2n?: number;
}

export async function startApp(config: Config, log: Logger, opts: AppOptions = {}): Promise<App> {
  const link = createComponentLink({
    service: config.xmppService,
    domain: config.xmppDomain,
    secret: config.xmppSecret,
    log: log.child({ part: "xmpp" }),
    stanzaLimitBytes: config.stanzaLimitBytes,
  });
  const privileges = createPrivilegeRegistry(link);
  const companion = createCompanionClient(link, { stanzaLimitBytes: config.stanzaLimitBytes });
  const database = await openDatabase({
    databaseUrl: config.databaseUrl,
    dataDir: config.dataDir,
    onConnectionLost: (err) => log.warn({ err: { message: err.message } }, "database connection lost"),
  });
  const applied = await migrateToLatest(database.db);
  if (applied.length > 0) log.info({ applied, database: database.kind }, "database migrated");
  const db = database.db;
  const handlers: Record<string, JobHandler> = { ...(opts.jobHandlers ?? {}) };
  const finishers: ((job: Job, outcome: { status: "done" | "failed"; error?: string }) => Promise<void>)[] =
    [];
  const late: { bulk?: BulkExports; schedules?: ExportSchedules } = {};
  const jobs = createJobRunner({
    db,
    log: log.child({ part: "jobs" }),
    handlers,
    concurrency: config.jobConcurrency,
    ...(opts.jobLeaseMs ? { leaseMs: opts.jobLeaseMs, pollMs: Math.min(2000, opts.jobLeaseMs) } : {}),
    onFinished: async (job, outcome) => {
      for (const f of finishers) await f(job, outcome);
      if (job.kind === EXPORT_JOB) {
        late.bulk?.wake();
        await late.schedules?.finished(job, outcome);
      }
    },
  });
  const jobDeps = { db, link, log, wake: () => jobs.notify() };
  const access = { link, privileges, companion };
  const exportService = createExportService({
    ...jobDeps,
    ...access,
    config,
    encryptionFor: async (job) => late.schedules?.encryptionFor(job),
    ...(opts.exportPageSize ? { pageSize: opts.exportPageSize } : {}),
  });
  const importService = createImportService({ ...jobDeps, ...access, config, subscribeDelayMs: 200 });
  const moveService = createMoveAwayService({
    ...jobDeps,
    ...access,
    config,
    throttleMs: 200,
    watchMs: config.moveWatchSeconds * 1000,
  });
  const hereService = createMoveHereService({ ...jobDeps, ...access, config, throttleMs: 200 });
  for (const defined of [exportService.job, importService.job, moveService.job, hereService.job]) {
    handlers[defined.kind] = defined.handler;
    finishers.push(defined.finished);
  }
  const bulk = createBulkExports({
    db,
    link,
    companion,
    exports: exportService,
    storage: createStorageProbe(db, config),
    log: log.child({ part: "bulk" }),
    abortJob: (id) => jobs.cancel(id),
    ...(opts.bulkPollMs ? { pollMs: opts.bulkPollMs } : {}),
  });
  late.bulk = bulk;
  const schedules = createExportSchedules({
    db,
    exports: exportService,
    log: log.child({ part: "schedule" }),
    ...(opts.now ? { now: opts.now } : {}),
    ...(opts.scheduleKeyLog2n ? { log2n: opts.scheduleKeyLog2n } : {}),
  });
  late.schedules = schedules;
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
    bulk,
    schedules,
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
  const stopBounces = watchBounces(companion, db, log.child({ part: "move" }));

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
    upload: (token, body, length) =>
      importService.receiveUpload(token, body, length).catch((err: unknown) => {
        throw err instanceof StageError ? new HttpError(err.status, err.message) : err;
      }),
    uploadForm: (token) => importService.uploadLinkInfo(token),
    service: config.xmppDomain,
    health: () => checkHealth(link, db, database.kind),
  };
  const http = await startHttpServer(config.httpListen, routes, log.child({ part: "http" }));

  const purge = setInterval(() => {
    purgeExpired(db).then(
      (n) => n > 0 && log.info({ purged: n }, "expired archives deleted"),
      (err: unknown) => log.warn({ err }, "purge failed"),
    );
  }, 3600_000);
  purge.unref();
  // Jobs need the server: claiming one before the first connection would only spend an attempt.
  link.onOnline(() => jobs.start());
  bulk.startPolling();
  schedules.startTimer();

  const online = whenOnline(link);
  await link.start();
  if (opts.waitOnline !== false) await online;

  return {
    ...services,
    http,
    database,
    async stop() {
      clearInterval(purge);
      await bulk.stop();
      schedules.stop();
      stopBounces();
      stopAttachments();
      // Jobs get most of the shutdown deadline (main.ts) to stop and be handed back to the queue.
      const jobGraceMs = Math.max(1000, (config.shutdownSeconds - 3) * 1000);
      await Promise.all([moved.stop(), jobs.stop(jobGraceMs)]);
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
