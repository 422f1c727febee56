// Runs persisted jobs. Handlers get a context to save their cursor (what a resumed run continues
// from) and progress; the lease is renewed while they run. Fairness: one running job per user (see
// claimJob), and a job running longer than `longJobMs` stops holding its slot, so short jobs are not
// starved by long ones (at most twice `concurrency` at once). stop() aborts running jobs, waits up to a
// grace period and hands them back to the queue, so a restarted component resumes them at once.
// cancel() aborts a job canceled by its owner; a lease renewal that finds the job canceled elsewhere
// aborts it too.
import { randomUUID } from "node:crypto";
import type { Kysely } from "kysely";
import type { Logger } from "../log/logger.js";
import type { Database, Job } from "../storage/schema.js";
import {
  claimJob,
  finishJob,
  releaseJob,
  renewLease,
  requeueJob,
  saveCursor,
  saveProgress,
} from "../storage/jobs.js";

export interface JobContext {
  job: Job;
  /** Aborted when the runner stops, the job is canceled or the lease is lost: stop early (resumed later unless canceled). */
  signal: AbortSignal;
  saveCursor(cursor: Record<string, unknown>): Promise<void>;
  progress(progress: Record<string, unknown>): Promise<void>;
}

export type JobResult = {
  report?: Record<string, unknown>;
  /** Runs once the job is recorded done (e.g. the "finished" chat), so whoever hears of it finds it done. */
  announce?: () => Promise<void>;
} | void;
export type JobHandler = (ctx: JobContext) => Promise<JobResult>;

/** Throw to retry later (e.g. the XMPP server is restarting). */
export class RetryableJobError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RetryableJobError";
  }
}

/** A failure whose message is safe to show the user and store. */
export class JobFailure extends Error {
  constructor(
    message: string,
    readonly report?: Record<string, unknown>,
  ) {
    super(message);
    this.name = "JobFailure";
  }
}

export interface RunnerOptions {
  db: Kysely<Database>;
  log: Logger;
  handlers: Record<string, JobHandler>;
  leaseMs?: number;
  pollMs?: number;
  concurrency?: number;
  /** A job running longer than this no longer counts towards `concurrency`. */
  longJobMs?: number;
  maxAttempts?: number;
  /** Wait before a retry: doubles per attempt from this, up to a minute (the server may be restarting). */
  retryBaseMs?: number;
  /** Called when a job ends (done or failed), e.g. to tell the user. */
  onFinished?: (job: Job, outcome: { status: "done" | "failed"; error?: string }) => Promise<void> | void;
}

export interface JobRunner {
  start(): void;
  notify(): void;
  /** Aborts the job if it runs here (its row is already marked canceled). */
  cancel(jobId: string): void;
  /** Stops taking work, aborts running jobs, waits up to `graceMs` and hands them back to the queue. */
  stop(graceMs?: number): Promise<void>;
  readonly workerId: string;
}

export function createJobRunner(o: RunnerOptions): JobRunner {
  const workerId = randomUUID();
  const leaseMs = o.leaseMs ?? 30_000;
  const pollMs = o.pollMs ?? 2_000;
  const concurrency = o.concurrency ?? 2;
  const longJobMs = o.longJobMs ?? 30_000;
  const maxAttempts = o.maxAttempts ?? 5;
  const retryBaseMs = o.retryBaseMs ?? 2000;
  const running = new Map<string, { abort: AbortController; done: Promise<void>; started: number }>();
  let stopped = true;
  let timer: NodeJS.Timeout | null = null;
  let ticking = false;

  async function tick(): Promise<void> {
    if (stopped || ticking) return;
    ticking = true;
    try {
      while (!stopped && hasSlot()) {
        const job = await claimJob(o.db, workerId, Object.keys(o.handlers), leaseMs);
        if (!job) break;
        // Stopped while claiming: leave it leased; it resumes once the lease expires.
        if (stopped) break;
        launch(job);
      }
    } catch (err) {
      o.log.warn({ err }, "job claim failed");
    } finally {
      ticking = false;
    }
  }

  function hasSlot(): boolean {
    if (running.size >= 2 * concurrency) return false;
    const now = Date.now();
    let counted = 0;
    for (const r of running.values()) if (now - r.started < longJobMs) counted++;
    return counted < concurrency;
  }

  function launch(job: Job): void {
    const abort = new AbortController();
    const log = o.log.child({ job: job.id, kind: job.kind });
    const handler = o.handlers[job.kind];
    const renew = setInterval(
      () => {
        renewLease(o.db, job.id, workerId, leaseMs).then(
          (ok) => {
            if (!ok) abort.abort(new Error("lease lost"));
          },
          (err: unknown) => log.warn({ err }, "lease renewal failed"),
        );
      },
      Math.max(50, Math.floor(leaseMs / 3)),
    );
    const ctx: JobContext = {
      job,
      signal: abort.signal,
      saveCursor: (c) => saveCursor(o.db, job.id, c),
      progress: (p) => saveProgress(o.db, job.id, p),
    };
    const done = (async () => {
      try {
        if (!handler) throw new JobFailure(`no handler for job kind ${job.kind}`);
        log.info({ attempt: job.attempts }, "job started");
        const result = await handler(ctx);
        if (abort.signal.aborted) return interrupted(log, job);
        if (
          !(await finishJob(o.db, job.id, "done", result && result.report ? { report: result.report } : {}))
        )
          return log.info("job canceled");
        log.info("job done");
        await result
          ?.announce?.()
          .catch((err: unknown) => log.warn({ err }, "could not announce a finished job"));
        await o.onFinished?.(job, { status: "done" });
      } catch (err) {
        if (abort.signal.aborted) return interrupted(log, job);
        if (err instanceof RetryableJobError && job.attempts < maxAttempts) {
          log.warn({ err: err.message }, "job will be retried");
          await pause(Math.min(60_000, retryBaseMs * 2 ** (job.attempts - 1)), abort.signal);
          if (abort.signal.aborted) return interrupted(log, job);
          await requeueJob(o.db, job.id, err.message);
          return;
        }
        const message =
          err instanceof JobFailure || err instanceof RetryableJobError ? err.message : "internal error";
        if (!(err instanceof JobFailure)) log.error({ err }, "job failed");
        else log.warn({ err: err.message }, "job failed");
        const recorded = await finishJob(o.db, job.id, "failed", {
          error: message,
          ...(err instanceof JobFailure && err.report ? { report: err.report } : {}),
        });
        if (recorded) await o.onFinished?.(job, { status: "failed", error: message });
      } finally {
        clearInterval(renew);
        running.delete(job.id);
        if (!stopped) setImmediate(() => void tick());
      }
    })().catch((err: unknown) => log.error({ err }, "job bookkeeping failed"));
    running.set(job.id, { abort, done, started: Date.now() });
  }

  /** An aborted job: handed back to the queue when the runner stops (canceled or lost: nothing to do). */
  async function interrupted(log: Logger, job: Job): Promise<void> {
    if (!stopped) return log.info("job aborted");
    await releaseJob(o.db, job.id, workerId);
    log.info("job handed back to the queue");
  }

  return {
    workerId,
    start() {
      if (!stopped) return;
      stopped = false;
      timer = setInterval(() => void tick(), pollMs);
      void tick();
    },
    notify() {
      void tick();
    },
    cancel(jobId) {
      running.get(jobId)?.abort.abort(new Error("job canceled"));
    },
    async stop(graceMs = 10_000) {
      stopped = true;
      if (timer) clearInterval(timer);
      timer = null;
      const jobs = [...running.entries()];
      for (const [, r] of jobs) r.abort.abort(new Error("runner stopping"));
      let timeout: NodeJS.Timeout | undefined;
      const late = await Promise.race([
        Promise.all(jobs.map(([, r]) => r.done)).then(() => false),
        new Promise<boolean>((resolve) => (timeout = setTimeout(() => resolve(true), graceMs))),
      ]);
      clearTimeout(timeout);
      if (!late) return;
      // Handlers still busy (e.g. waiting on a slow request): release their jobs anyway.
      o.log.warn({ jobs: jobs.filter(([id]) => running.has(id)).length }, "jobs did not stop in time");
      await Promise.all(
        jobs
          .filter(([id]) => running.has(id))
          .map(([id]) => releaseJob(o.db, id, workerId).catch(() => undefined)),
      );
    },
  };
}

/** Sleeps `ms`, or less when `signal` aborts. */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done);
  });
}
