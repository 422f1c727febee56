// Per-user and per-host quotas on what a user can make the component hold: upload links, staged
// import bytes, jobs. Counted from the database, so they hold across restarts; each refusal says what
// the limit is and what frees room.
import { sql, type Kysely } from "kysely";
import type { Database } from "./schema.js";
import { domainOf } from "../xmpp/jid.js";

/** A limit was reached; the message is meant for the user. */
export class QuotaExceeded extends Error {
  constructor(message: string) {
    super(message);
    this.name = "QuotaExceeded";
  }
}

/** Matches every bare JID of `host` (domains never contain LIKE's wildcards, see config.ts). */
function onHost(host: string): string {
  return `%@${host}`;
}

export async function assertUploadLinkQuota(
  db: Kysely<Database>,
  owner: string,
  limits: { uploadLinksPerUser: number; uploadLinksPerHost: number },
  now = new Date(),
): Promise<void> {
  const open = db
    .selectFrom("upload_links")
    .select((eb) => eb.fn.countAll<string>().as("n"))
    .where("used", "=", false)
    .where("expires_at", ">", now);
  const mine = Number((await open.where("owner_jid", "=", owner).executeTakeFirstOrThrow()).n);
  if (mine >= limits.uploadLinksPerUser) {
    throw new QuotaExceeded(
      `you already have ${mine} unused upload links (the limit is ${limits.uploadLinksPerUser}); ` +
        "use one of them, or wait until they expire 24 hours after they were made",
    );
  }
  const host = domainOf(owner);
  const theirs = Number((await open.where("owner_jid", "like", onHost(host)).executeTakeFirstOrThrow()).n);
  if (theirs >= limits.uploadLinksPerHost) {
    throw new QuotaExceeded(
      `${host} has too many unused upload links at the moment (${theirs}); please try again later`,
    );
  }
}

/** Bytes held by staged import files that are not failed or expired, for one owner or a whole host. */
export async function stagedBytes(
  db: Kysely<Database>,
  who: { owner: string } | { host: string },
  now = new Date(),
): Promise<number> {
  let q = db
    .selectFrom("archives")
    .select(sql<string>`coalesce(sum(byte_size), 0)`.as("n"))
    .where("kind", "=", "import")
    .where("status", "!=", "failed")
    .where("expires_at", ">", now);
  q = "owner" in who ? q.where("owner_jid", "=", who.owner) : q.where("owner_jid", "like", onHost(who.host));
  return Number((await q.executeTakeFirstOrThrow()).n);
}

export async function assertJobQuota(
  db: Kysely<Database>,
  owner: string,
  limits: { jobsPerUser: number; jobsPerHost: number },
): Promise<void> {
  const active = db
    .selectFrom("jobs")
    .select((eb) => eb.fn.countAll<string>().as("n"))
    .where("status", "in", ["queued", "running"]);
  const n = Number((await active.where("owner_jid", "=", owner).executeTakeFirstOrThrow()).n);
  if (n >= limits.jobsPerUser) {
    throw new QuotaExceeded(
      `you already have ${n} jobs queued or running (the limit is ${limits.jobsPerUser}); ` +
        "wait for one to finish and try again",
    );
  }
  const host = domainOf(owner);
  const all = Number((await active.where("owner_jid", "like", onHost(host)).executeTakeFirstOrThrow()).n);
  if (all >= limits.jobsPerHost) {
    throw new QuotaExceeded(
      `${host} has too many jobs queued at the moment (${all}); please try again later`,
    );
  }
}

export function mib(bytes: number): string {
  return `${Math.round((bytes / 1024 / 1024) * 10) / 10} MiB`;
}
