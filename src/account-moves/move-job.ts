// The job shape both moves share: the other account's address as the only stored option, its password
// held in memory only (a restart fails the move with a request to run it again), one failure text.
import { JobFailure, type JobContext, type JobResult } from "../jobs/runner.js";
import { defineJob, type DefinedJob, type JobDeps } from "../jobs/definition.js";
import { text } from "../jobs/options.js";
import { assertJobQuota } from "../storage/quotas.js";

export interface MoveJob {
  start(owner: string, requestedBy: string, otherJid: string, password: string): Promise<string>;
  readonly job: DefinedJob<string>;
}

export function defineMoveJob(
  deps: JobDeps,
  spec: {
    kind: string;
    /** The stored option naming the other account ("newJid" or "oldJid"). */
    field: string;
    limits: { jobsPerUser: number; jobsPerHost: number };
    run(ctx: JobContext, otherJid: string, password: string): Promise<JobResult>;
  },
): MoveJob {
  const job = defineJob<string>(deps, {
    kind: spec.kind,
    parse: (raw) => text(raw, spec.field),
    store: (other) => ({ [spec.field]: other }),
    failedText: (_j, error) => `The move failed: ${error}`,
    run(ctx, other, password) {
      if (!password)
        throw new JobFailure(
          `The component restarted during the move; the password is never stored, so please run ${spec.kind} again.`,
        );
      return spec.run(ctx, other, password);
    },
  });
  return {
    job,
    async start(owner, requestedBy, other, password) {
      await assertJobQuota(deps.db, owner, spec.limits);
      return job.start({ owner, requestedBy, options: other, secret: password });
    },
  };
}
