// Bulk exports (admin-export-all: one row per run, one item per account, so a restart resumes without
// exporting anyone twice) and per-user export schedules. A schedule with a passphrase keeps only what
// the XAPENC1 format needs to encrypt again: salt, scrypt parameters, the derived key and a counter
// that makes every archive's nonce prefix unique under that key (never the passphrase).
import { sql, type Kysely } from "kysely";

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations are untyped by design
type Db = Kysely<any>;

export async function up(db: Db): Promise<void> {
  await db.schema
    .createTable("bulk_exports")
    .addColumn("id", "uuid", (c) => c.primaryKey())
    .addColumn("host", "text", (c) => c.notNull())
    .addColumn("requested_by", "text", (c) => c.notNull())
    .addColumn("status", "text", (c) =>
      c.notNull().check(sql`status in ('running', 'stopped', 'done', 'canceled')`),
    )
    .addColumn("listed", "boolean", (c) => c.notNull().defaultTo(false))
    .addColumn("list_after", "text")
    .addColumn("options", "jsonb", (c) => c.notNull())
    .addColumn("total", "integer", (c) => c.notNull().defaultTo(0))
    .addColumn("stop_reason", "text")
    .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn("updated_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn("finished_at", "timestamptz")
    .execute();
  await db.schema
    .createIndex("bulk_exports_host_idx")
    .on("bulk_exports")
    .columns(["host", "status"])
    .execute();

  await db.schema
    .createTable("bulk_export_items")
    .addColumn("bulk_id", "uuid", (c) => c.notNull().references("bulk_exports.id").onDelete("cascade"))
    .addColumn("user_jid", "text", (c) => c.notNull())
    .addColumn("status", "text", (c) =>
      c.notNull().check(sql`status in ('pending', 'starting', 'exporting', 'done', 'failed')`),
    )
    .addColumn("job_id", "uuid")
    .addColumn("attempts", "integer", (c) => c.notNull().defaultTo(0))
    .addColumn("error", "text")
    .addColumn("bytes", "bigint", (c) => c.notNull().defaultTo(0))
    .addColumn("started_at", "timestamptz")
    .addColumn("finished_at", "timestamptz")
    .addPrimaryKeyConstraint("bulk_export_items_pk", ["bulk_id", "user_jid"])
    .execute();
  await db.schema
    .createIndex("bulk_export_items_status_idx")
    .on("bulk_export_items")
    .columns(["bulk_id", "status"])
    .execute();

  await db.schema
    .createTable("export_schedules")
    .addColumn("jid", "text", (c) => c.primaryKey())
    .addColumn("frequency", "text", (c) => c.notNull().check(sql`frequency in ('weekly', 'monthly')`))
    .addColumn("keep", "integer", (c) => c.notNull().defaultTo(2))
    .addColumn("next_run_at", "timestamptz", (c) => c.notNull())
    .addColumn("last_job_id", "uuid")
    .addColumn("kdf_salt", "bytea")
    .addColumn("kdf_log2n", "integer")
    .addColumn("kdf_r", "integer")
    .addColumn("kdf_p", "integer")
    .addColumn("archive_key", "bytea")
    .addColumn("nonce_counter", "bigint", (c) => c.notNull().defaultTo(0))
    .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn("updated_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema
    .createIndex("export_schedules_due_idx")
    .on("export_schedules")
    .column("next_run_at")
    .execute();
}

export async function down(db: Db): Promise<void> {
  await db.schema.dropTable("export_schedules").execute();
  await db.schema.dropTable("bulk_export_items").execute();
  await db.schema.dropTable("bulk_exports").execute();
}
