// `portability admin export-all --host HOST …`, `export-status` and `export-stop --host HOST`: the
// shutdown kit from a shell. The command records the bulk export in the database; the running
// component picks it up on its next pass (within seconds) and does the work, so this process never
// connects to Prosody.
import { readFile } from "node:fs/promises";
import type { Writable } from "node:stream";
import type { Config } from "../config/config.js";
import { openDatabase } from "../storage/database.js";
import { migrateToLatest } from "../storage/migrate.js";
import { bulkOptions } from "../commands/admin-export-all.js";
import { FormError } from "../adhoc/forms.js";
import { bulkProgress, haltBulkExport, queueBulkExport, summary } from "../exodus/bulk.js";
import { createStorageProbe, stagedBytes } from "../exodus/storage-guard.js";
import { formatBytes } from "../text/bytes.js";

export const ADMIN_USAGE = `usage: portability admin export-all --host HOST [--days N] [--concurrency N]
                                  [--message-file FILE] [--no-history] [--notify JID] [--wait]
       portability admin export-status
       portability admin export-stop --host HOST`;

interface Out {
  stdout: Writable;
  stderr: Writable;
}

function flag(argv: string[], name: string): string | undefined {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : undefined;
}

export async function runAdminCommand(
  argv: string[],
  config: Config,
  out: Out,
  opts: { pollMs?: number; secondLookMs?: number } = {},
): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub !== "export-all" && sub !== "export-status" && sub !== "export-stop") {
    out.stderr.write(`${ADMIN_USAGE}\n`);
    return 2;
  }
  const database = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
  try {
    const db = database.db;
    await migrateToLatest(db);
    if (sub === "export-status") {
      const rows = await db
        .selectFrom("bulk_exports")
        .select("id")
        .distinctOn("host")
        .orderBy("host")
        .orderBy("created_at", "desc")
        .execute();
      if (rows.length === 0) out.stdout.write("No bulk export yet.\n");
      for (const r of rows) {
        const p = await bulkProgress(db, r.id);
        if (p) out.stdout.write(`${summary(p)}\n`);
      }
      out.stdout.write(`Staged export archives: ${formatBytes(await stagedBytes(db))}\n`);
      return 0;
    }
    const host = flag(rest, "host")?.toLowerCase();
    if (!host || !config.xmppHosts.includes(host)) {
      out.stderr.write(`--host must be one of XMPP_HOSTS (${config.xmppHosts.join(", ")})\n`);
      return 2;
    }
    if (sub === "export-stop") {
      // The running component sees the canceled exports at its next lease renewal (seconds) and starts
      // nothing new once it reads the bulk export as stopped. An export it was creating at that moment
      // is recorded within milliseconds: the second look, 2 s later, cancels it too.
      const r = await haltBulkExport(db, host, "the admin command line", {
        settled: () => new Promise((res) => setTimeout(res, opts.secondLookMs ?? 2000)),
      });
      if (r.kind === "none") {
        out.stderr.write(`No bulk export of ${host} is running.\n`);
        return 1;
      }
      out.stdout.write(
        `Stopped the bulk export of ${host} (${r.id}); ${r.canceled} unfinished export(s) canceled, those users get no message. Run export-all again to continue.\n`,
      );
      return 0;
    }
    const notify = flag(rest, "notify") ?? config.admins[0];
    if (!notify) {
      out.stderr.write("--notify JID is needed when ADMINS is empty (who is told about progress)\n");
      return 2;
    }
    const file = flag(rest, "message-file");
    let options;
    try {
      options = bulkOptions(
        {
          days: flag(rest, "days") ?? "14",
          concurrency: flag(rest, "concurrency") ?? String(Math.min(4, config.jobConcurrency)),
          text: file ? await readFile(file, "utf8") : "",
          history: !rest.includes("--no-history"),
        },
        config.jobConcurrency,
      );
    } catch (err) {
      if (!(err instanceof FormError)) throw err;
      out.stderr.write(`${err.message}\n`);
      return 2;
    }
    const reading = await createStorageProbe(db, config)();
    if (reading.limit) {
      out.stderr.write(`Not starting: ${reading.limit}.\n`);
      return 1;
    }
    const r = await queueBulkExport(db, host, notify, options);
    out.stdout.write(
      r.kind === "running"
        ? `A bulk export of ${host} is already running (${r.id}).\n`
        : `Bulk export of ${host} ${r.kind === "resumed" ? "resumed" : "queued"} (${r.id}); the running component starts it within seconds and messages ${notify}.\n`,
    );
    if (!rest.includes("--wait")) return 0;
    let last = "";
    for (;;) {
      const p = await bulkProgress(db, r.id);
      if (!p) return 1;
      const line = summary(p);
      if (line !== last) out.stdout.write(`${line}\n`);
      last = line;
      if (p.status !== "running") return p.status === "done" && p.failed === 0 ? 0 : 1;
      await new Promise((res) => setTimeout(res, opts.pollMs ?? 5000));
    }
  } finally {
    await database.close();
  }
}
