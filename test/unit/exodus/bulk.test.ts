// The bulk export driver's bookkeeping on an embedded database, with fakes for the XMPP side and the
// export service: bounded concurrency, a storage limit stopping it cleanly and a resume finishing it,
// retries then a reported failure, and a crash between "starting" and "exporting" adopting the job.
import t from "tap";
import type { Element } from "@xmpp/xml";
import { freshPglite, type TestDatabase } from "../../harness/database.js";
import { createJob } from "../../../src/storage/jobs.js";
import { bulkTag, createBulkExports, formatEta, BULK_MAX_ATTEMPTS } from "../../../src/exodus/bulk.js";
import type { StorageReading } from "../../../src/exodus/storage-guard.js";
import type { ExportJobOptions } from "../../../src/export/service.js";
import { createLogger } from "../../../src/log/logger.js";

const USERS = ["u1", "u2", "u3", "u4", "u5"];
t.setTimeout(180_000);
// One embedded database for the file (starting PGlite is the slow part); each test uses its own domain.
const shared = await freshPglite();
t.teardown(() => shared.cleanup());
const OPTIONS = { ttlDays: 2, concurrency: 2, text: "Bye {account}: {link}", history: true };

function setup(db: TestDatabase, o: { beforeStart?: () => Promise<void> } = {}) {
  const sent: string[] = [];
  const started: { owner: string; options: ExportJobOptions }[] = [];
  let reading: StorageReading = { staged: 0 };
  const bulk = createBulkExports({
    db: db.db,
    link: {
      domain: "portability.example.org",
      online: true,
      send: async (el: Element) => {
        sent.push(el.getChildText("body") ?? "");
      },
    },
    companion: {
      probe: async () => true,
      // Two per page, like a small account_portability_max_users_page.
      listUsers: async (_host, after) => {
        const rest = USERS.filter((u) => after === undefined || u > after);
        return { users: rest.slice(0, 2), total: USERS.length, complete: rest.length <= 2 };
      },
    },
    exports: {
      async start(owner, requestedBy, options) {
        started.push({ owner, options });
        await o.beforeStart?.();
        return createJob(db.db, { kind: "export", owner, requestedBy, options: { ...options } });
      },
    },
    storage: async () => reading,
    log: createLogger("silent"),
  });
  const finish = async (status: "done" | "failed", error?: string) => {
    const running = await db.db
      .selectFrom("bulk_export_items")
      .select("job_id")
      .where("status", "=", "exporting")
      .execute();
    for (const r of running) {
      await db.db
        .updateTable("jobs")
        .set({ status, report: JSON.stringify({ bytes: 100 }), ...(error ? { error } : {}) })
        .where("id", "=", r.job_id as string)
        .execute();
    }
    return running.length;
  };
  return {
    bulk,
    sent,
    started,
    finish,
    setLimit: (limit?: string) => {
      reading = limit ? { staged: 0, limit } : { staged: 0 };
    },
  };
}

t.test(
  "bounded concurrency, a limit stops it cleanly, running it again finishes without duplicates",
  async (t) => {
    const db = await freshPglite();
    t.teardown(() => db.cleanup());
    const { bulk, sent, started, finish, setLimit } = setup(db);
    const r = await bulk.start("example.org", "admin@example.org", OPTIONS);
    t.equal(r.kind, "started");
    await bulk.tick();
    t.equal(started.length, 2, "two in flight");
    await bulk.tick();
    t.equal(started.length, 2, "no more while both run");
    t.match(started[0]?.options, {
      notify: "u1@example.org",
      ttlHours: 48,
      quietFailure: true,
      tag: /^bulk:/,
    });

    t.equal(await finish("done"), 2);
    setLimit("the database has reached DATABASE_MAX_MB (11 MiB of 10 MiB)");
    await bulk.tick();
    const id = r.kind === "started" ? r.id : "";
    let p = await bulk.progress(id);
    t.match(p, { status: "stopped", done: 2, pending: 3, total: 5 });
    t.match(
      sent.at(-1),
      /stopped: the database has reached DATABASE_MAX_MB.*run admin-export-all for example.org again/s,
    );
    t.equal(started.length, 2, "nothing new starts once stopped");

    setLimit();
    t.equal((await bulk.start("example.org", "admin@example.org", OPTIONS)).kind, "resumed");
    for (let i = 0; i < 4; i++) {
      await bulk.tick();
      await finish("done");
    }
    await bulk.tick();
    p = await bulk.progress(id);
    t.match(p, { status: "done", done: 5, failed: 0 });
    t.same(
      started.map((s) => s.owner).sort(),
      USERS.map((u) => `${u}@example.org`),
      "each account exported once",
    );
    t.match(sent.at(-1), /finished.*5 of 5 exported, 0 failed/s);
  },
);

t.test("a failing account is retried, then reported with its reason", async (t) => {
  const db = shared;
  const { bulk, started, finish } = setup(db);
  const r = await bulk.start("b.example", "admin@b.example", { ...OPTIONS, concurrency: 5 });
  for (let i = 0; i < BULK_MAX_ATTEMPTS; i++) {
    await bulk.tick();
    await finish("failed", "item-not-found: no such local user");
  }
  await bulk.tick();
  const p = await bulk.progress(r.kind === "started" ? r.id : "");
  t.equal(started.length, 5 * BULK_MAX_ATTEMPTS);
  t.match(p, { status: "done", failed: 5, done: 0 });
  t.match(p?.failures[0], { account: "u1@b.example", reason: "item-not-found: no such local user" });
});

t.test("after a crash between creating the export and recording it, the export is adopted", async (t) => {
  const db = shared;
  const { bulk, started } = setup(db);
  const r = await bulk.start("c.example", "admin@c.example", { ...OPTIONS, concurrency: 1 });
  const id = r.kind === "started" ? r.id : "";
  await bulk.tick();
  t.equal(started.length, 1);
  // As if the process died right after exports.start(): the item still says 'starting'.
  await db.db
    .updateTable("bulk_export_items")
    .set({ status: "starting", job_id: null })
    .where("user_jid", "=", "u1@c.example")
    .execute();
  await bulk.tick();
  t.equal(started.length, 1, "not started again");
  const item = await db.db
    .selectFrom("bulk_export_items")
    .selectAll()
    .where("user_jid", "=", "u1@c.example")
    .executeTakeFirstOrThrow();
  const job = await db.db
    .selectFrom("jobs")
    .select(["id", "options"])
    .where("owner_jid", "=", "u1@c.example")
    .executeTakeFirstOrThrow();
  t.equal(item.status, "exporting");
  t.equal(item.job_id, job.id, "the tagged job was adopted");
  t.equal(job.options.tag, bulkTag(id));
});

t.test(
  "a stop while a pass is creating an export cancels that export too, and counts no attempt",
  async (t) => {
    const db = shared;
    let release = () => undefined as void;
    const gate = new Promise<void>((r) => (release = r));
    let gated = true;
    const { bulk, started } = setup(db, { beforeStart: () => (gated ? gate : Promise.resolve()) });
    await bulk.start("s.example", "admin@s.example", { ...OPTIONS, concurrency: 1 });
    const pass = bulk.tick();
    // The pass has marked u1 'starting' and is inside exports.start() when the admin stops it.
    while (started.length === 0) await new Promise((r) => setTimeout(r, 5));
    const halted = bulk.halt("s.example", "admin@s.example");
    await new Promise((r) => setTimeout(r, 50));
    // Its job is not recorded yet: the account is left alone, not put back to waiting. A reset here
    // races with the pass recording the job (seen in CI: it landed just after, the job ran on
    // unsupervised and its user was messaged twice).
    t.match(
      await db.db
        .selectFrom("bulk_export_items")
        .select(["status", "attempts"])
        .where("user_jid", "=", "u1@s.example")
        .executeTakeFirst(),
      { status: "starting", attempts: 1 },
    );
    gated = false;
    release();
    await pass;
    const r = await halted;
    t.match(r, { kind: "stopped", canceled: 1 }, "the export recorded after the first look is canceled");
    const jobs = await db.db
      .selectFrom("jobs")
      .select("status")
      .where("owner_jid", "like", "%@s.example")
      .execute();
    t.same(
      jobs.map((j) => j.status),
      ["canceled"],
      "no export left to run (and message its user)",
    );
    t.match(
      await db.db
        .selectFrom("bulk_export_items")
        .select(["status", "attempts", "job_id"])
        .where("user_jid", "=", "u1@s.example")
        .executeTakeFirst(),
      { status: "pending", attempts: 0, job_id: null },
      "waiting again, the canceled attempt not counted",
    );
    await bulk.tick();
    t.equal(started.length, 1, "nothing new starts while stopped");
    const again = await bulk.start("s.example", "admin@s.example", OPTIONS);
    t.equal(again.kind, "resumed");
    await bulk.tick();
    t.equal(started[1]?.owner, "u1@s.example", "resuming exports the canceled account again");
  },
);

t.test("time left reads as words people use, never '0 s' with accounts still waiting", async (t) => {
  t.equal(formatEta(0), "under a minute");
  t.equal(formatEta(59), "under a minute");
  t.equal(formatEta(75), "about a minute");
  t.equal(formatEta(600), "10 min");
  t.equal(formatEta(7200), "2.0 h");
});
