// Inbound XEP-0283 notices for local users (server side, XEP-0283 §4.3): the companion module forwards
// every moved-tagged subscribe; we rate-limit per sender domain, deduplicate (Prosody re-sends pending
// subscribes), verify against the user's roster and the old account's statement, then act per the
// user's setting. Every notice and decision is recorded. Nothing changes unless verification passes.
import { randomUUID } from "node:crypto";
import { sql, type Kysely } from "kysely";
import type { Logger } from "../log/logger.js";
import type { XmppLink } from "../xmpp/link.js";
import { sendChat } from "../xmpp/chat.js";
import type { CompanionClient, MovedSubscribe } from "../account/companion-api.js";
import { getRoster, removeRosterItem, setRosterItem } from "../account/roster.js";
import { fetchMovedStatement } from "../account/moved-statement.js";
import type { Database, MovedMode } from "../storage/schema.js";
import { REJECTION_TEXT, normaliseBare, precheck, verify } from "./verify.js";
import { RateLimiter } from "./rate-limit.js";

export interface InboundDeps {
  link: XmppLink;
  companion: CompanionClient;
  db: Kysely<Database>;
  log: Logger;
  hosts: string[];
  limiter?: RateLimiter;
}

export type NoticeStatus = "applied" | "rejected" | "ignored" | "asked" | "rate-limited" | "failed";

export async function movedMode(db: Kysely<Database>, jid: string): Promise<MovedMode> {
  const row = await db
    .selectFrom("user_settings")
    .select("moved_mode")
    .where("jid", "=", jid)
    .executeTakeFirst();
  return row?.moved_mode ?? "automatic";
}

export async function setMovedMode(db: Kysely<Database>, jid: string, mode: MovedMode): Promise<void> {
  await db
    .insertInto("user_settings")
    .values({ jid, moved_mode: mode, updated_at: new Date() })
    .onConflict((oc) => oc.column("jid").doUpdateSet({ moved_mode: mode, updated_at: new Date() }))
    .execute();
}

/** Records a sighting; returns the previous decision when this notice was already handled. */
async function recordSighting(
  db: Kysely<Database>,
  n: MovedSubscribe,
  oldJid: string,
): Promise<string | null> {
  const row = await db
    .insertInto("moved_notices")
    .values({ id: randomUUID(), user_jid: n.user, from_jid: n.from, old_jid: oldJid, status: "received" })
    .onConflict((oc) =>
      oc
        .columns(["user_jid", "from_jid", "old_jid"])
        .doUpdateSet({ seen_count: sql`moved_notices.seen_count + 1` }),
    )
    .returning(["status", "seen_count"])
    .executeTakeFirstOrThrow();
  return row.seen_count > 1 && row.status !== "received" && row.status !== "failed" ? row.status : null;
}

async function decide(
  db: Kysely<Database>,
  n: MovedSubscribe,
  oldJid: string,
  status: NoticeStatus,
  reason?: string,
) {
  await db
    .updateTable("moved_notices")
    .set({ status, reason: reason ?? null, decided_at: new Date() })
    .where("user_jid", "=", n.user)
    .where("from_jid", "=", n.from)
    .where("old_jid", "=", oldJid)
    .execute();
}

export function startMovedInbound(deps: InboundDeps): () => void {
  const limiter = deps.limiter ?? new RateLimiter({ burst: 20, perMinute: 60 });
  const hosts = new Set(deps.hosts);
  // One notice at a time per user: duplicates and concurrent moves must not interleave roster edits.
  const queues = new Map<string, Promise<void>>();

  async function handle(n: MovedSubscribe): Promise<void> {
    const log = deps.log.child({ user: n.user, from: n.from });
    const oldJid = normaliseBare(n.oldJid);
    const previous = await recordSighting(deps.db, n, oldJid);
    if (previous) {
      log.debug({ previous }, "duplicate moved notice");
      return;
    }
    const mode = await movedMode(deps.db, n.user);
    if (mode === "off") return decide(deps.db, n, oldJid, "ignored", "moved handling is off for this user");
    const roster = await getRoster(deps.link, n.user);
    const oldItem = roster.find((i) => normaliseBare(i.jid) === oldJid);
    const newItem = roster.find((i) => normaliseBare(i.jid) === n.from);
    const pre = precheck({ from: n.from, oldJid, oldItem, newItem });
    if (pre) {
      log.info({ reason: pre }, "moved notice not applicable");
      return decide(deps.db, n, oldJid, "rejected", pre);
    }
    const statement = await fetchMovedStatement(deps.link, n.user, oldJid);
    const verdict = verify({ user: n.user, from: n.from, oldJid, oldItem, newItem, statement });
    if (!verdict.ok) {
      log.info({ reason: verdict.reason }, "moved notice failed verification");
      return decide(deps.db, n, oldJid, "rejected", verdict.reason);
    }
    const label = oldItem?.name ? `${oldItem.name} (${oldJid})` : oldJid;
    if (mode === "ask") {
      await decide(deps.db, n, oldJid, "asked");
      await sendChat(
        deps.link,
        n.user,
        `${label} says they moved to ${n.from}, and their old account confirms it. Approve the subscription request from ${n.from} in your app to keep in touch.`,
      );
      return;
    }
    const plan = verdict.plan;
    await setRosterItem(deps.link, n.user, plan.newItem);
    await deps.companion.sendPresence(n.user, n.from, "subscribed");
    if (plan.subscribeBack) await deps.companion.sendPresence(n.user, n.from, "subscribe");
    await deps.companion.sendPresence(n.user, plan.retire, "unsubscribed");
    await removeRosterItem(deps.link, n.user, plan.retire);
    await decide(deps.db, n, oldJid, "applied");
    log.info("moved contact applied");
    await sendChat(
      deps.link,
      n.user,
      `Your contact ${label} moved to ${n.from}. I approved the new address, kept the name and groups, and removed the old address from your contacts.`,
    );
  }

  const off = deps.companion.onMovedSubscribe((n) => {
    if (!hosts.has(n.user.slice(n.user.indexOf("@") + 1))) return;
    const senderDomain = n.from.slice(n.from.indexOf("@") + 1);
    if (!limiter.take(senderDomain)) {
      deps.log.warn({ domain: senderDomain }, "moved notices rate-limited");
      return;
    }
    const prev = queues.get(n.user) ?? Promise.resolve();
    const next = prev
      .then(() => handle(n))
      .catch(async (err: unknown) => {
        deps.log.error({ err, user: n.user }, "moved notice handling failed");
        await decide(
          deps.db,
          n,
          normaliseBare(n.oldJid),
          "failed",
          err instanceof Error ? err.message : "error",
        ).catch(() => undefined);
      });
    queues.set(n.user, next);
    void next.finally(() => {
      if (queues.get(n.user) === next) queues.delete(n.user);
    });
  });
  return off;
}

export { REJECTION_TEXT };
