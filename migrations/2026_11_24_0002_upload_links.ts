// One-time upload links for imports (token stored hashed, like download links).
import { sql, type Kysely } from "kysely";

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations are untyped by design
type Db = Kysely<any>;

export async function up(db: Db): Promise<void> {
  await db.schema
    .createTable("upload_links")
    .addColumn("token_hash", "text", (c) => c.primaryKey())
    .addColumn("owner_jid", "text", (c) => c.notNull())
    .addColumn("archive_id", "uuid", (c) => c.references("archives.id").onDelete("set null"))
    .addColumn("used", "boolean", (c) => c.notNull().defaultTo(false))
    .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn("expires_at", "timestamptz", (c) => c.notNull())
    .execute();
}

export async function down(db: Db): Promise<void> {
  await db.schema.dropTable("upload_links").ifExists().execute();
}
