// The services the composition root (app.ts) builds and hands to every command: one place for the
// type, so commands depend on it and not on app.ts.
import type { Kysely } from "kysely";
import type { Config } from "./config/config.js";
import type { Logger } from "./log/logger.js";
import type { ComponentLink } from "./xmpp/component-link.js";
import type { PrivilegeRegistry } from "./privilege/registry.js";
import type { CompanionClient } from "./account/companion-api.js";
import type { Database } from "./storage/schema.js";
import type { JobRunner } from "./jobs/runner.js";
import type { ExportService } from "./export/service.js";
import type { ImportService } from "./import/service.js";
import type { MoveAwayService } from "./account-moves/away.js";
import type { MoveHereService } from "./account-moves/here.js";
import type { Command } from "./adhoc/command.js";
import type { BulkExports } from "./exodus/bulk.js";
import type { ExportSchedules } from "./exodus/schedule.js";

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
  bulk: BulkExports;
  schedules: ExportSchedules;
}

export type CommandFactory = (s: AppServices) => Command;
