// cancel: stop my running or queued job (export, import, move). What a job already changed stays: an
// import or a move keeps what it applied, an export's unfinished file is discarded.
import type { Command, StepResult } from "../adhoc/command.js";
import { completed, failed } from "../adhoc/command.js";
import type { AppServices } from "../services.js";
import type { Job } from "../storage/schema.js";
import { activeJobs } from "../storage/jobs.js";
import { cancelRunningJob } from "../jobs/cancel.js";

const KIND_NAMES: Record<string, string> = {
  export: "export",
  import: "import",
  "move-away": "move away",
  "move-here": "move here",
};

function describe(job: Job): string {
  const when = new Date(job.created_at).toISOString().slice(0, 16).replace("T", " ");
  return `${KIND_NAMES[job.kind] ?? job.kind} requested ${when} UTC (${job.status === "running" ? "running" : "waiting"})`;
}

async function cancel(s: AppServices, owner: string, id: string): Promise<StepResult> {
  const job = await cancelRunningJob(s.db, id, owner, (jobId) => s.jobs.cancel(jobId));
  if (!job) return failed("That job has already finished.");
  const kept = job.kind === "export" ? "" : " What it already changed in your account stays.";
  return completed(`Canceled: ${describe(job)}.${kept}`);
}

export function cancelCommand(s: AppServices): Command {
  return {
    node: "cancel",
    name: "Cancel my running or queued job",
    access: "user",
    async start(ctx) {
      const jobs = await activeJobs(s.db, ctx.user);
      const first = jobs[0];
      if (!first) return completed("You have no running or queued job.");
      return {
        status: "executing",
        action: "complete",
        form: {
          title: "Cancel a job",
          instructions: jobs.length === 1 ? `Cancel your ${describe(first)}?` : "Choose the job to cancel.",
          fields: [
            {
              var: "job",
              type: "list-single",
              label: "Job",
              required: true,
              value: first.id,
              options: jobs.map((j) => ({ value: j.id, label: describe(j) })),
            },
          ],
        },
        async onSubmit(v, c) {
          const id = v.text("job") || first.id;
          if (!jobs.some((j) => j.id === id)) return failed("Unknown job.");
          return cancel(s, c.user, id);
        },
      };
    },
  };
}
