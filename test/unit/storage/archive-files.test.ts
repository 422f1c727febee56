// The embedded database stages archive bytes as files under DATA_DIR/archives (metadata in PGlite).
import t from "tap";
import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createHash, randomBytes, randomUUID } from "node:crypto";
import { openDatabase } from "../../../src/storage/database.js";
import { migrateToLatest } from "../../../src/storage/migrate.js";
import {
  archiveReader,
  archiveWriter,
  createArchive,
  failArchive,
  finishArchive,
  getArchive,
  purgeExpired,
  CHUNK_SIZE,
} from "../../../src/storage/archives.js";
import type { Kysely } from "kysely";
import type { Database } from "../../../src/storage/schema.js";

async function readAll(r: Readable): Promise<Buffer> {
  const got: Buffer[] = [];
  await pipeline(
    r,
    new Writable({
      write(c: Buffer, _e, cb) {
        got.push(c);
        cb();
      },
    }),
  );
  return Buffer.concat(got);
}

function newArchive(db: Kysely<Database>, expiresInMs: number): Promise<string> {
  return createArchive(db, {
    owner: "alice@localhost",
    kind: "import",
    filename: "upload",
    contentType: "application/octet-stream",
    encrypted: false,
    expiresAt: new Date(Date.now() + expiresInMs),
  });
}

t.test(
  "embedded: archive bytes round-trip through files, never archive_chunks; purged on expiry",
  async (t) => {
    const dataDir = await mkdtemp(path.join(tmpdir(), "portability-files-"));
    t.teardown(() => rm(dataDir, { recursive: true, force: true }));
    const opened = await openDatabase({ dataDir });
    t.teardown(() => opened.close());
    const { db } = opened;
    await migrateToLatest(db);
    const filesDir = path.join(dataDir, "archives");

    const size = 3 * CHUNK_SIZE + 12345;
    const data = randomBytes(size);
    const id = await newArchive(db, 3600_000);
    const w = archiveWriter(db, id);
    const parts: Buffer[] = [];
    for (let i = 0; i < size; i += 10_000) parts.push(data.subarray(i, i + 10_000));
    let sawPartial = false;
    await pipeline(
      Readable.from(parts),
      new Writable({
        write(c: Buffer, _e, cb) {
          // While writing, only the .partial name exists: a reader never sees half a file.
          // The folder appears with the first write: before it, there is nothing to see yet.
          readdir(filesDir)
            .catch(() => [] as string[])
            .then((names) => {
              if (names.includes(`${id}.partial`) && !names.includes(id)) sawPartial = true;
              w.write(c, cb);
            }, cb);
        },
        final(cb) {
          w.end(cb);
        },
      }),
    );
    t.ok(sawPartial, "written under ID.partial");
    const stats = w.stats();
    t.equal(stats.bytes, size);
    t.equal(stats.sha256, createHash("sha256").update(data).digest("hex"));
    await finishArchive(db, id, { stats });
    t.same(await readdir(filesDir), [id], "one complete file named by the archive id");
    const rows = await db.selectFrom("archive_chunks").select("seq").execute();
    t.equal(rows.length, 0, "no bytes in the database");
    t.ok((await readAll(archiveReader(db, id))).equals(data), "byte-exact read back");

    // Rewriting replaces the file (a restarted export starts its file again).
    await pipeline(Readable.from([Buffer.from("short")]), archiveWriter(db, id));
    t.equal((await readAll(archiveReader(db, id))).toString(), "short");

    // A failed archive loses its bytes at once.
    const failed = await newArchive(db, 3600_000);
    await pipeline(Readable.from([randomBytes(1000)]), archiveWriter(db, failed));
    await failArchive(db, failed, "not a usable archive");
    t.same(await readdir(filesDir), [id], "failed archive's file removed");

    // Expiry removes the row and the file; a file without a row (crash between the steps) goes too.
    const orphan = randomUUID();
    await writeFile(path.join(filesDir, orphan), "left over");
    const keep = await newArchive(db, 10 * 3600_000);
    await pipeline(Readable.from([Buffer.from("still valid")]), archiveWriter(db, keep));
    t.equal(await purgeExpired(db, new Date(Date.now() + 7200_000)), 2, "the expired and the failed row");
    t.equal(await getArchive(db, id), undefined);
    t.same(await readdir(filesDir), [keep], "expired and orphaned files removed, the valid one kept");
    t.equal((await readAll(archiveReader(db, keep))).toString(), "still valid");
  },
);
