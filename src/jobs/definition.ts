// One shape for every kind of background job the commands start (export, import, move-here,
// move-away): typed options parsed back from the stored row, a secret (passphrase or password) held
// in this process's memory only, the "not connected yet" retry, and the message the person gets when
// the job fails. A kind supplies only what differs.
import type { Kysely } from "kysely";
import type { Logger } from "../log/logger.js";
import type { Database, Job } from "../storage/schema.js";
import { createJob } from "../storage/jobs.js";
import type { XmppLink } from "../xmpp/link.js";
import { sendChat } from "../xmpp/chat.js";
import { RetryableJobError, type JobContext, type JobHandler, type JobResult } from "./runner.js";
import type { RawOptions } from "./options.js";

export interface JobKind<O> {
  kind: string;
  /** Typed options from the stored row (throws JobFailure when they do not fit). */
  parse(raw: RawOptions): O;
  /** Stored form of the options: never a secret. */
  store(options: O): RawOptions;
  /** The bare JID told about the job (default: the account's owner). */
  notify?(job: Job, options: O): string;
  /** What the person reads when the job failed. */
  failedText(job: Job, error: string): string;
  /** True when a failure is reported elsewhere (e.g. to the admin of a bulk export), not to `notify`. */
  quiet?(options: O): boolean;
  /** Extra cleanup after a failure (e.g. mark the staged archive failed). */
  onFailed?(job: Job, error: string): Promise<void>;
  run(ctx: JobContext, options: O, secret: string | undefined): Promise<JobResult>;
}

export interface StartInput<O> {
  owner: string;
  requestedBy: string;
  options: O;
  archiveId?: string;
  /** Held in memory for the job's duration; lost (on purpose) when the process restarts. */
  secret?: string;
}

export interface DefinedJob<O> {
  readonly kind: string;
  start(input: StartInput<O>): Promise<string>;
  readonly handler: JobHandler;
  /** The runner's onFinished for this kind. */
  readonly finished: (job: Job, outcome: { status: "done" | "failed"; error?: string }) => Promise<void>;
}

export interface JobDeps {
  db: Kysely<Database>;
  link: XmppLink & { readonly online: boolean };
  log: Logger;
  wake: () => void;
}

export function defineJob<O>(deps: JobDeps, k: JobKind<O>): DefinedJob<O> {
  const secrets = new Map<string, string>();
  return {
    kind: k.kind,
    async start(input) {
      const id = await createJob(deps.db, {
        kind: k.kind,
        owner: input.owner,
        requestedBy: input.requestedBy,
        archiveId: input.archiveId ?? null,
        options: k.store(input.options),
      });
      if (input.secret) secrets.set(id, input.secret);
      deps.wake();
      return id;
    },
    async handler(ctx) {
      const options = k.parse(ctx.job.options);
      if (!deps.link.online) throw new RetryableJobError("not connected to the XMPP server");
      const result = await k.run(ctx, options, secrets.get(ctx.job.id));
      if (!ctx.signal.aborted) secrets.delete(ctx.job.id);
      return result;
    },
    async finished(job, outcome) {
      if (job.kind !== k.kind) return;
      secrets.delete(job.id);
      if (outcome.status !== "failed") return;
      const error = outcome.error ?? "unknown error";
      await k.onFailed?.(job, error).catch((err: unknown) => deps.log.warn({ err }, "job cleanup failed"));
      let to = job.owner_jid;
      try {
        const options = k.parse(job.options);
        if (k.quiet?.(options)) return;
        to = k.notify?.(job, options) ?? to;
      } catch {
        // Unusable options: the owner still hears about it.
      }
      await sendChat(deps.link, to, k.failedText(job, error)).catch((err: unknown) =>
        deps.log.warn({ err }, "could not tell the person about a failed job"),
      );
    },
  };
}
