import t from "tap";
import { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createHash, randomBytes } from "node:crypto";
import { BACKENDS } from "../../harness/database.js";
import {
  archiveReader,
  archiveWriter,
  createArchive,
  finishArchive,
  findReadyArchiveByToken,
  getArchive,
  listArchives,
  purgeExpired,
  CHUNK_SIZE,
} from "../../../src/storage/archives.js";

for (const backend of BACKENDS) {
  t.test(`${backend.name}: migrations and streaming archive staging`, async (t) => {
    const d = await backend.open();
    t.teardown(() => d.cleanup());
    const { db } = d;
    const size = 3 * CHUNK_SIZE + 12345;
    const data = randomBytes(size);
    const id = await createArchive(db, {
      owner: "alice@localhost",
      kind: "export",
      filename: "alice.xml.gz",
      contentType: "application/gzip",
      encrypted: false,
      expiresAt: new Date(Date.now() + 3600_000),
    });
    const w = archiveWriter(db, id);
    const parts: Buffer[] = [];
    for (let i = 0; i < size; i += 10_000) parts.push(data.subarray(i, i + 10_000));
    await pipeline(Readable.from(parts), w);
    const stats = w.stats();
    t.equal(stats.bytes, size);
    t.equal(stats.chunks, 4, "cut into 256 KiB rows");
    t.equal(stats.sha256, createHash("sha256").update(data).digest("hex"));
    await finishArchive(db, id, { stats, sectionCounts: { archive: 3 }, tokenHash: "h1" });
    const row = await getArchive(db, id);
    t.equal(row?.status, "ready");
    t.equal(Number(row?.byte_size), size);
    t.same(row?.section_counts, { archive: 3 });

    const got: Buffer[] = [];
    await pipeline(
      archiveReader(db, id),
      new Writable({
        write(c: Buffer, _e, cb) {
          got.push(c);
          cb();
        },
      }),
    );
    t.ok(Buffer.concat(got).equals(data), "byte-exact read back");

    t.equal((await findReadyArchiveByToken(db, "h1"))?.id, id);
    t.equal(await findReadyArchiveByToken(db, "nope"), undefined);
    t.equal(
      await findReadyArchiveByToken(db, "h1", new Date(Date.now() + 7200_000)),
      undefined,
      "expired link",
    );
    t.equal((await listArchives(db, "alice@localhost")).length, 1);
    t.equal((await listArchives(db, "bob@localhost")).length, 0, "other users see nothing");

    // Rewriting replaces the old chunks (a restarted export starts its file again).
    const w2 = archiveWriter(db, id);
    await pipeline(Readable.from([Buffer.from("short")]), w2);
    const again: Buffer[] = [];
    await pipeline(
      archiveReader(db, id),
      new Writable({
        write(c: Buffer, _e, cb) {
          again.push(c);
          cb();
        },
      }),
    );
    t.equal(Buffer.concat(again).toString(), "short");

    t.equal(await purgeExpired(db, new Date(Date.now() + 7200_000)), 1);
    t.equal(await getArchive(db, id), undefined);
    const left = await db.selectFrom("archive_chunks").select("seq").where("archive_id", "=", id).execute();
    t.equal(left.length, 0, "chunks cascade");
  });
}
