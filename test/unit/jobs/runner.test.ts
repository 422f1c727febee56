import t from "tap";
import { BACKENDS } from "../../harness/database.js";
import { createJob, getJob, claimJob } from "../../../src/storage/jobs.js";
import { createJobRunner, JobFailure, RetryableJobError, type JobContext } from "../../../src/jobs/runner.js";
import { createLogger } from "../../../src/log/logger.js";
import { sleep } from "../../harness/prosody.js";

const log = createLogger("silent");

async function until(pred: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await pred())) {
    if (Date.now() > end) throw new Error("condition not reached");
    await sleep(20);
  }
}

for (const backend of BACKENDS) {
  t.test(`${backend.name}: jobs run, fail clearly, and resume from their cursor after a crash`, async (t) => {
    const d = await backend.open();
    t.teardown(() => d.cleanup());
    const { db } = d;

    // A job that counts to 10, saving its cursor; runner A "crashes" (stops) half-way.
    const seen: number[] = [];
    let crash = true;
    let halfway = false;
    const count = async (ctx: JobContext) => {
      let i = typeof ctx.job.cursor?.i === "number" ? ctx.job.cursor.i : 0;
      for (; i < 10; i++) {
        if (i === 5 && crash) {
          halfway = true;
          await new Promise((r) => ctx.signal.addEventListener("abort", r));
          return;
        }
        seen.push(i);
        await ctx.saveCursor({ i: i + 1 });
        await ctx.progress({ done: i + 1, total: 10 });
      }
      return { report: { counted: seen.length } };
    };
    const id = await createJob(db, { kind: "count", owner: "a@localhost", requestedBy: "a@localhost/r" });
    const a = createJobRunner({ db, log, handlers: { count }, leaseMs: 300, pollMs: 50 });
    a.start();
    await until(async () => halfway);
    await a.stop();
    crash = false;
    t.equal((await getJob(db, id))?.status, "running", "left leased by the crashed runner");

    const finished: string[] = [];
    const b = createJobRunner({
      db,
      log,
      handlers: { count },
      leaseMs: 300,
      pollMs: 50,
      onFinished: (j, o) => void finished.push(`${j.id}:${o.status}`),
    });
    b.start();
    t.teardown(() => b.stop());
    await until(async () => (await getJob(db, id))?.status === "done");
    t.same(seen, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], "resumed at 5, nothing repeated");
    const job = await getJob(db, id);
    t.same(job?.progress, { done: 10, total: 10 });
    t.same(job?.report, { counted: 10 });
    t.equal(job?.attempts, 2);
    t.same(finished, [`${id}:done`]);
  });

  t.test(`${backend.name}: failures are recorded without internals; retryable errors retry`, async (t) => {
    const d = await backend.open();
    t.teardown(() => d.cleanup());
    const { db } = d;
    let tries = 0;
    const r = createJobRunner({
      db,
      log,
      pollMs: 30,
      handlers: {
        bad: async () => {
          throw new Error("secret internals at /srv/x");
        },
        nice: async () => {
          throw new JobFailure("the archive is for another user", { skipped: 1 });
        },
        flaky: async () => {
          if (++tries < 3) throw new RetryableJobError("server restarting");
        },
      },
    });
    const bad = await createJob(db, { kind: "bad", owner: "a@l", requestedBy: "a@l" });
    const nice = await createJob(db, { kind: "nice", owner: "a@l", requestedBy: "a@l" });
    const flaky = await createJob(db, { kind: "flaky", owner: "a@l", requestedBy: "a@l" });
    r.start();
    t.teardown(() => r.stop());
    await until(
      async () =>
        (await getJob(db, flaky))?.status === "done" &&
        (await getJob(db, nice))?.status === "failed" &&
        (await getJob(db, bad))?.status === "failed",
    );
    t.equal((await getJob(db, bad))?.error, "internal error");
    t.equal((await getJob(db, nice))?.error, "the archive is for another user");
    t.same((await getJob(db, nice))?.report, { skipped: 1 });
    t.equal(tries, 3);
  });
}

t.test("postgres: two workers never claim the same job", async (t) => {
  const d = await BACKENDS[0]!.open();
  t.teardown(() => d.cleanup());
  for (let i = 0; i < 20; i++) await createJob(d.db, { kind: "k", owner: "a@l", requestedBy: "a@l" });
  const claims = await Promise.all(
    Array.from({ length: 40 }, (_, i) => claimJob(d.db, `w${i % 2}`, ["k"], 60_000)),
  );
  const ids = claims.filter((c) => c !== undefined).map((c) => c.id);
  t.equal(ids.length, 20);
  t.equal(new Set(ids).size, 20, "no duplicates");
});
