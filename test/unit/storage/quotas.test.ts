// Quotas counted from the database, on both backends: per user and per host, expired and failed
// rows not counted; the in-process transfer slots.
import t from "tap";
import { BACKENDS } from "../../harness/database.js";
import { createArchive, failArchive, finishArchive } from "../../../src/storage/archives.js";
import { createJob } from "../../../src/storage/jobs.js";
import {
  QuotaExceeded,
  assertJobQuota,
  assertUploadLinkQuota,
  stagedBytes,
} from "../../../src/storage/quotas.js";
import { StagingSlots } from "../../../src/import/staging-slots.js";

const HOUR = 3600_000;

for (const backend of BACKENDS) {
  t.test(`${backend.name}: link, staged-bytes and job quotas per user and per host`, async (t) => {
    const d = await backend.open();
    t.teardown(() => d.cleanup());
    const { db } = d;
    const link = (owner: string, h: string, expires = Date.now() + HOUR, used = false) =>
      db
        .insertInto("upload_links")
        .values({ token_hash: h, owner_jid: owner, expires_at: new Date(expires), used })
        .execute();
    const limits = { uploadLinksPerUser: 2, uploadLinksPerHost: 3 };
    await link("a@one.test", "1");
    await link("a@one.test", "2", Date.now() - 1000); // expired: not counted
    await link("a@one.test", "3", Date.now() + HOUR, true); // used: not counted
    await assertUploadLinkQuota(db, "a@one.test", limits);
    await link("a@one.test", "4");
    await t.rejects(assertUploadLinkQuota(db, "a@one.test", limits), QuotaExceeded);
    await link("b@one.test", "5");
    await t.rejects(
      assertUploadLinkQuota(db, "c@one.test", limits),
      /one\.test has too many unused upload links/,
      "per host",
    );
    await assertUploadLinkQuota(db, "c@two.test", limits);

    const staged = async (owner: string, bytes: number, fail = false, expires = Date.now() + HOUR) => {
      const id = await createArchive(db, {
        owner,
        kind: "import",
        filename: "f",
        contentType: "application/xml",
        encrypted: false,
        expiresAt: new Date(expires),
      });
      await finishArchive(db, id, { stats: { bytes, sha256: "x", chunks: 0 } });
      if (fail) await failArchive(db, id, "bad");
    };
    await staged("a@one.test", 1000);
    await staged("a@one.test", 500, true);
    await staged("a@one.test", 700, false, Date.now() - 1000);
    await staged("b@one.test", 30);
    t.equal(await stagedBytes(db, { owner: "a@one.test" }), 1000, "failed and expired not counted");
    t.equal(await stagedBytes(db, { host: "one.test" }), 1030);
    t.equal(await stagedBytes(db, { host: "two.test" }), 0);

    await createJob(db, { kind: "x", owner: "a@one.test", requestedBy: "a@one.test" });
    const jl = { jobsPerUser: 2, jobsPerHost: 3 };
    await assertJobQuota(db, "a@one.test", jl);
    await createJob(db, { kind: "x", owner: "a@one.test", requestedBy: "a@one.test" });
    await t.rejects(assertJobQuota(db, "a@one.test", jl), /2 jobs queued or running \(the limit is 2\)/);
    await createJob(db, { kind: "x", owner: "b@one.test", requestedBy: "b@one.test" });
    await t.rejects(assertJobQuota(db, "c@one.test", jl), /one\.test has too many jobs queued/, "per host");
    await assertJobQuota(db, "c@two.test", jl);
    await db.updateTable("jobs").set({ status: "done" }).where("owner_jid", "=", "a@one.test").execute();
    await assertJobQuota(db, "a@one.test", jl);
  });
}

t.test("transfer slots: N per user, bytes in flight per user and host", async (t) => {
  const slots = new StagingSlots(2);
  const a1 = slots.acquire("a@one.test");
  const a2 = slots.acquire("a@one.test");
  t.throws(() => slots.acquire("a@one.test"), /2 transfers in progress \(the limit is 2\)/);
  const b = slots.acquire("b@one.test");
  a1.add(10);
  a2.add(5);
  b.add(1);
  t.equal(slots.inFlight({ owner: "a@one.test" }), 15);
  t.equal(slots.inFlight({ host: "one.test" }), 16);
  a1.release();
  a1.release();
  t.equal(slots.inFlight({ owner: "a@one.test" }), 5);
  slots.acquire("a@one.test").release();
  a2.release();
  b.release();
  t.equal(slots.inFlight({ host: "one.test" }), 0);
});
