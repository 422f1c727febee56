// Runs persisted jobs. Handlers get a context to save their cursor (what a resumed run continues
// from) and progress; the lease is renewed while they run. stop() leaves running jobs leased, so a
// restarted component resumes them once the lease expires.
import { randomUUID } from "node:crypto";
import type { Kysely } from "kysely";
import type { Logger } from "../log/logger.js";
import type { Database, Job } from "../storage/schema.js";
import { claimJob, finishJob, renewLease, requeueJob, saveCursor, saveProgress } from "../storage/jobs.js";

export interface JobContext {
  job: Job;
  /** Aborted when the runner stops or the lease is lost: stop early, the job resumes later. */
  signal: AbortSignal;
  saveCursor(cursor: Record<string, unknown>): Promise<void>;
  progress(progress: Record<string, unknown>): Promise<void>;
}

export type JobResult = { report?: Record<string, unknown> } | void;
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
  maxAttempts?: number;
  /** Called when a job ends (done or failed), e.g. to tell the user. */
  onFinished?: (job: Job, outcome: { status: "done" | "failed"; error?: string }) => Promise<void> | void;
}

export interface JobRunner {
  start(): void;
  notify(): void;
  stop(): Promise<void>;
  readonly workerId: string;
}

export function createJobRunner(o: RunnerOptions): JobRunner {
  const workerId = randomUUID();
  const leaseMs = o.leaseMs ?? 30_000;
  const pollMs = o.pollMs ?? 2_000;
  const concurrency = o.concurrency ?? 2;
  const maxAttempts = o.maxAttempts ?? 5;
  const running = new Map<string, { abort: AbortController; done: Promise<void> }>();
  let stopped = true;
  let timer: NodeJS.Timeout | null = null;
  let ticking = false;

  async function tick(): Promise<void> {
    if (stopped || ticking) return;
    ticking = true;
    try {
      while (!stopped && running.size < concurrency) {
        const job = await claimJob(o.db, workerId, Object.keys(o.handlers), leaseMs);
        if (!job) break;
        launch(job);
      }
    } catch (err) {
      o.log.warn({ err }, "job claim failed");
    } finally {
      ticking = false;
    }
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
        if (abort.signal.aborted) return; // stopped mid-way: leave it leased for resumption
        await finishJob(o.db, job.id, "done", result && result.report ? { report: result.report } : {});
        log.info("job done");
        await o.onFinished?.(job, { status: "done" });
      } catch (err) {
        if (abort.signal.aborted) return;
        if (err instanceof RetryableJobError && job.attempts < maxAttempts) {
          log.warn({ err: err.message }, "job will be retried");
          await requeueJob(o.db, job.id, err.message);
          return;
        }
        const message =
          err instanceof JobFailure || err instanceof RetryableJobError ? err.message : "internal error";
        if (!(err instanceof JobFailure)) log.error({ err }, "job failed");
        else log.warn({ err: err.message }, "job failed");
        await finishJob(o.db, job.id, "failed", {
          error: message,
          ...(err instanceof JobFailure && err.report ? { report: err.report } : {}),
        });
        await o.onFinished?.(job, { status: "failed", error: message });
      } finally {
        clearInterval(renew);
        running.delete(job.id);
        if (!stopped) setImmediate(() => void tick());
      }
    })().catch((err: unknown) => log.error({ err }, "job bookkeeping failed"));
    running.set(job.id, { abort, done });
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
    async stop() {
      stopped = true;
      if (timer) clearInterval(timer);
      timer = null;
      for (const r of running.values()) r.abort.abort(new Error("runner stopping"));
      await Promise.all([...running.values()].map((r) => r.done));
    },
  };
}
