// Per-contact move progress: how many times a contact was asked (move-renotify asks stragglers again).
import type { Kysely } from "kysely";

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations are untyped by design
type Db = Kysely<any>;

export async function up(db: Db): Promise<void> {
  await db.schema
    .alterTable("move_contacts")
    .addColumn("attempts", "integer", (c) => c.notNull().defaultTo(1))
    .execute();
}

export async function down(db: Db): Promise<void> {
  await db.schema.alterTable("move_contacts").dropColumn("attempts").execute();
}
