import t from "tap";
import { BACKENDS } from "../../harness/database.js";
import { createJob, getJob, claimJob, cancelJob } from "../../../src/storage/jobs.js";
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
    t.match(await getJob(db, id), { status: "queued", attempts: 0 }, "handed back, attempt not counted");

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
    t.equal(job?.attempts, 1);
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
      retryBaseMs: 10,
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
    const nice = await createJob(db, { kind: "nice", owner: "b@l", requestedBy: "b@l" });
    const flaky = await createJob(db, { kind: "flaky", owner: "c@l", requestedBy: "c@l" });
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

  t.test(`${backend.name}: a job's announcement is made once the job reads done`, async (t) => {
    const d = await backend.open();
    t.teardown(() => d.cleanup());
    const { db } = d;
    const seenAtAnnounce: (string | undefined)[] = [];
    let id = "";
    let loudId = "";
    const r = createJobRunner({
      db,
      log,
      pollMs: 30,
      handlers: {
        tell: async () => ({
          report: { n: 1 },
          announce: async () => void seenAtAnnounce.push((await getJob(db, id))?.status),
        }),
        loud: async () => ({
          announce: async () => {
            throw new Error("the XMPP link is down");
          },
        }),
      },
    });
    id = await createJob(db, { kind: "tell", owner: "a@l", requestedBy: "a@l" });
    loudId = await createJob(db, { kind: "loud", owner: "b@l", requestedBy: "b@l" });
    r.start();
    t.teardown(() => r.stop());
    await until(async () => seenAtAnnounce.length > 0 && (await getJob(db, loudId))?.status === "done");
    t.same(seenAtAnnounce, ["done"], "whoever hears of it finds the job done");
    t.equal((await getJob(db, loudId))?.status, "done", "an announcement that fails does not fail the job");
  });
}

t.test("postgres: two workers never claim the same job", async (t) => {
  const d = await BACKENDS[0]!.open();
  t.teardown(() => d.cleanup());
  for (let i = 0; i < 20; i++) await createJob(d.db, { kind: "k", owner: `u${i}@l`, requestedBy: "a@l" });
  const claims = await Promise.all(
    Array.from({ length: 40 }, (_, i) => claimJob(d.db, `w${i % 2}`, ["k"], 60_000)),
  );
  const ids = claims.filter((c) => c !== undefined).map((c) => c.id);
  t.equal(ids.length, 20);
  t.equal(new Set(ids).size, 20, "no duplicates");
});

/** A job handler that runs until released (or aborted, when it honours the signal). */
function gate(honourAbort = true) {
  const started: string[] = [];
  const release = new Map<string, () => void>();
  const handler = async (ctx: JobContext) => {
    started.push(ctx.job.owner_jid);
    await new Promise<void>((resolve) => {
      release.set(ctx.job.id, resolve);
      if (honourAbort) ctx.signal.addEventListener("abort", () => resolve());
    });
  };
  return { started, release, handler };
}

t.test("fair scheduling: one running job per user; long jobs stop holding their slot", async (t) => {
  const d = await BACKENDS[0]!.open();
  t.teardown(() => d.cleanup());
  const { db } = d;
  const g = gate();
  const a1 = await createJob(db, { kind: "long", owner: "a@l", requestedBy: "a@l" });
  await createJob(db, { kind: "long", owner: "a@l", requestedBy: "a@l" });
  const b = await createJob(db, { kind: "long", owner: "b@l", requestedBy: "b@l" });
  const r = createJobRunner({ db, log, handlers: { long: g.handler }, pollMs: 30, longJobMs: 400 });
  r.start();
  t.teardown(() => r.stop(100));
  await until(async () => g.started.length === 2);
  t.same(g.started.sort(), ["a@l", "b@l"], "b's job ran beside a's first one, a's second waits");
  g.release.get(b)?.();
  await until(async () => (await getJob(db, b))?.status === "done");
  await sleep(150);
  t.equal(g.started.length, 2, "a's second job still waits while a's first runs");
  const c = await createJob(db, { kind: "long", owner: "c@l", requestedBy: "c@l" });
  await until(async () => (await getJob(db, c))?.status === "running", 2000);
  t.pass("c's job started beside a's (one slot free)");
  const dJob = await createJob(db, { kind: "long", owner: "d@l", requestedBy: "d@l" });
  await until(async () => (await getJob(db, dJob))?.status === "running", 3000);
  t.pass("d's job started once the running ones counted as long");
  g.release.get(a1)?.();
  await until(async () => g.started.filter((o) => o === "a@l").length === 2);
  t.pass("a's second job ran after its first");
});

t.test(
  "cancel aborts a running job and it stays canceled; stop is bounded and hands jobs back",
  async (t) => {
    const d = await BACKENDS[0]!.open();
    t.teardown(() => d.cleanup());
    const { db } = d;
    const g = gate();
    const stubborn = gate(false);
    const finished: string[] = [];
    const r = createJobRunner({
      db,
      log,
      handlers: { long: g.handler, stubborn: stubborn.handler },
      pollMs: 30,
      onFinished: (j, o) => void finished.push(`${j.id}:${o.status}`),
    });
    const x = await createJob(db, { kind: "long", owner: "a@l", requestedBy: "a@l" });
    r.start();
    await until(async () => (await getJob(db, x))?.status === "running");
    t.ok(await cancelJob(db, x, "a@l"));
    r.cancel(x);
    await sleep(100);
    t.equal((await getJob(db, x))?.status, "canceled");
    t.same(finished, [], "no done/failed report for a canceled job");
    t.notOk(await cancelJob(db, x, "a@l"), "a finished job cannot be canceled again");
    const q = await createJob(db, { kind: "long", owner: "b@l", requestedBy: "b@l" });
    const y = await createJob(db, { kind: "long", owner: "b@l", requestedBy: "b@l" });
    await until(async () => (await getJob(db, q))?.status === "running");
    t.equal((await cancelJob(db, y, "b@l"))?.status, "canceled", "a queued job is canceled too");
    t.notOk(await cancelJob(db, q, "c@l"), "only by its owner");

    const s = await createJob(db, { kind: "stubborn", owner: "c@l", requestedBy: "c@l" });
    await until(async () => (await getJob(db, s))?.status === "running");
    const t0 = Date.now();
    await r.stop(300);
    t.ok(Date.now() - t0 < 1500, `stop returned after the grace (${Date.now() - t0} ms)`);
    t.match(
      await getJob(db, s),
      { status: "queued", lease_owner: null },
      "a job ignoring abort is handed back",
    );
    t.match(await getJob(db, q), { status: "queued" }, "an aborted job is handed back");
    for (const release of stubborn.release.values()) release();
  },
);
