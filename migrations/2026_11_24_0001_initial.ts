// Initial schema. Frozen in time: never import from src/ here (Kysely migration convention).
// No table holds passwords, passphrases or the component secret; download/upload tokens are stored hashed.
import { sql, type Kysely } from "kysely";

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations are untyped by design
type Db = Kysely<any>;

export async function up(db: Db): Promise<void> {
  await db.schema
    .createTable("archives")
    .addColumn("id", "uuid", (c) => c.primaryKey())
    .addColumn("owner_jid", "text", (c) => c.notNull())
    .addColumn("kind", "text", (c) => c.notNull().check(sql`kind in ('export', 'import')`))
    .addColumn("status", "text", (c) => c.notNull().check(sql`status in ('writing', 'ready', 'failed')`))
    .addColumn("filename", "text", (c) => c.notNull())
    .addColumn("content_type", "text", (c) => c.notNull())
    .addColumn("encrypted", "boolean", (c) => c.notNull().defaultTo(false))
    .addColumn("byte_size", "bigint", (c) => c.notNull().defaultTo(0))
    .addColumn("sha256", "text")
    .addColumn("section_counts", "jsonb")
    .addColumn("download_token_hash", "text", (c) => c.unique())
    .addColumn("error", "text")
    .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn("finished_at", "timestamptz")
    .addColumn("expires_at", "timestamptz", (c) => c.notNull())
    .execute();
  await db.schema.createIndex("archives_owner_idx").on("archives").column("owner_jid").execute();
  await db.schema.createIndex("archives_expires_idx").on("archives").column("expires_at").execute();

  await db.schema
    .createTable("archive_chunks")
    .addColumn("archive_id", "uuid", (c) => c.notNull().references("archives.id").onDelete("cascade"))
    .addColumn("seq", "integer", (c) => c.notNull())
    .addColumn("data", "bytea", (c) => c.notNull())
    .addPrimaryKeyConstraint("archive_chunks_pk", ["archive_id", "seq"])
    .execute();

  await db.schema
    .createTable("jobs")
    .addColumn("id", "uuid", (c) => c.primaryKey())
    .addColumn("kind", "text", (c) => c.notNull())
    .addColumn("owner_jid", "text", (c) => c.notNull())
    .addColumn("requested_by", "text", (c) => c.notNull())
    .addColumn("archive_id", "uuid", (c) => c.references("archives.id").onDelete("set null"))
    .addColumn("status", "text", (c) =>
      c.notNull().check(sql`status in ('queued', 'running', 'done', 'failed', 'canceled')`),
    )
    .addColumn("options", "jsonb", (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn("cursor", "jsonb")
    .addColumn("progress", "jsonb")
    .addColumn("report", "jsonb")
    .addColumn("error", "text")
    .addColumn("attempts", "integer", (c) => c.notNull().defaultTo(0))
    .addColumn("lease_owner", "text")
    .addColumn("lease_until", "timestamptz")
    .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn("updated_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema.createIndex("jobs_owner_idx").on("jobs").column("owner_jid").execute();
  await db.schema.createIndex("jobs_status_idx").on("jobs").column("status").execute();

  await db.schema
    .createTable("user_settings")
    .addColumn("jid", "text", (c) => c.primaryKey())
    .addColumn("moved_mode", "text", (c) =>
      c
        .notNull()
        .defaultTo("automatic")
        .check(sql`moved_mode in ('automatic', 'ask', 'off')`),
    )
    .addColumn("updated_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .execute();

  // XEP-0283 audit: every inbound notice and what was decided, idempotent per (user, from, old).
  await db.schema
    .createTable("moved_notices")
    .addColumn("id", "uuid", (c) => c.primaryKey())
    .addColumn("user_jid", "text", (c) => c.notNull())
    .addColumn("from_jid", "text", (c) => c.notNull())
    .addColumn("old_jid", "text", (c) => c.notNull())
    .addColumn("status", "text", (c) => c.notNull())
    .addColumn("reason", "text")
    .addColumn("seen_count", "integer", (c) => c.notNull().defaultTo(1))
    .addColumn("received_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn("decided_at", "timestamptz")
    .addUniqueConstraint("moved_notices_unique", ["user_jid", "from_jid", "old_jid"])
    .execute();

  // Per-contact progress of an outbound move (move-here / move-away).
  await db.schema
    .createTable("move_contacts")
    .addColumn("job_id", "uuid", (c) => c.notNull().references("jobs.id").onDelete("cascade"))
    .addColumn("contact_jid", "text", (c) => c.notNull())
    .addColumn("status", "text", (c) => c.notNull())
    .addColumn("detail", "text")
    .addColumn("updated_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint("move_contacts_pk", ["job_id", "contact_jid"])
    .execute();
}

export async function down(db: Db): Promise<void> {
  for (const t of ["move_contacts", "moved_notices", "user_settings", "jobs", "archive_chunks", "archives"]) {
    await db.schema.dropTable(t).ifExists().execute();
  }
}
