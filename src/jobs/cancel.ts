// Canceling a job from outside its handler (the owner's cancel command, an admin stopping a bulk
// export): recorded first, so a handler finishing at that moment cannot record it done; then the
// running handler is aborted, and an export's unfinished file is discarded.
import type { Kysely } from "kysely";
import type { Database, Job } from "../storage/schema.js";
import { cancelJob } from "../storage/jobs.js";
import { failArchive } from "../storage/archives.js";

/** Cancels the owner's queued or running job; undefined when it had already ended. */
export async function cancelRunningJob(
  db: Kysely<Database>,
  id: string,
  owner: string,
  abort: (jobId: string) => void,
  reason?: string,
): Promise<Job | undefined> {
  const job = await cancelJob(db, id, owner, reason);
  if (!job) return undefined;
  abort(job.id);
  if (job.kind === "export" && job.archive_id) await failArchive(db, job.archive_id, "canceled");
  return job;
}
