// Runs migrations/ with Kysely's Migrator (which takes a lock, so concurrent starts are safe).
import { readdir } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { Migrator, type Kysely, type Migration, type MigrationProvider } from "kysely";

export const MIGRATIONS_DIR = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  "..",
  "..",
  "migrations",
);

class DirectoryProvider implements MigrationProvider {
  constructor(private readonly dir: string) {}
  async getMigrations(): Promise<Record<string, Migration>> {
    const out: Record<string, Migration> = {};
    for (const f of (await readdir(this.dir)).sort()) {
      // .ts under tsx (development, tests), .js in the compiled dist/; the name is the same either way.
      const m = /^(\d{4}_\d{2}_\d{2}_\d{4}_[a-z0-9_]+)\.(ts|js)$/.exec(f);
      if (!m?.[1]) continue;
      const mod = (await import(pathToFileURL(path.join(this.dir, f)).href)) as Migration;
      out[m[1]] = mod;
    }
    return out;
  }
}

export async function migrateToLatest<DB>(db: Kysely<DB>, dir = MIGRATIONS_DIR): Promise<string[]> {
  const migrator = new Migrator({ db, provider: new DirectoryProvider(dir) });
  const { error, results } = await migrator.migrateToLatest();
  const failed = results?.find((r) => r.status === "Error");
  if (error || failed) {
    const msg = error instanceof Error ? error.message : "unknown error";
    throw new Error(`database migration ${failed?.migrationName ?? ""} failed: ${msg}`);
  }
  return (results ?? []).filter((r) => r.status === "Success").map((r) => r.migrationName);
}
