// Inbound XEP-0283 notices for local users (server side, XEP-0283 §4.3): the companion module forwards
// every moved-tagged subscribe with the user's roster entries for both addresses; we deduplicate
// (Prosody re-sends pending subscribes), verify against those entries and the old account's statement,
// then act per the user's setting, applying the move in one step in the module. Every notice and
// decision is recorded; sender domains that keep failing verification are rate-limited. Nothing
// changes unless verification passes.
import { randomUUID } from "node:crypto";
import { sql, type Kysely } from "kysely";
import type { Logger } from "../log/logger.js";
import type { XmppLink } from "../xmpp/link.js";
import { domainOf } from "../xmpp/jid.js";
import { MoveNotApplicable, type CompanionClient, type MovedSubscribe } from "../account/companion-api.js";
import { fetchMovedStatement } from "../account/moved-statement.js";
import type { Database, MovedMode } from "../storage/schema.js";
import { REJECTION_TEXT, normaliseBare, precheck, verify } from "./verify.js";
import { RateLimiter } from "./rate-limit.js";
import { createMoveMessenger } from "./user-messages.js";

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

export interface MovedInbound {
  /** Stops listening and sends the user messages still waiting. */
  stop(): Promise<void>;
}

export function startMovedInbound(deps: InboundDeps): MovedInbound {
  const limiter = deps.limiter ?? new RateLimiter({ burst: 20, perMinute: 60 });
  const hosts = new Set(deps.hosts);
  const messenger = createMoveMessenger(deps.link, {
    onError: (err) => deps.log.warn({ err }, "could not tell the user about a move"),
  });
  // One notice at a time per (user, sender): Prosody re-sends pending subscribes, and those duplicates
  // must see the first one's decision. Notices about different contacts run side by side; the module
  // applies each move atomically, so they cannot interleave roster edits.
  const queues = new Map<string, Promise<void>>();

  async function reject(n: MovedSubscribe, oldJid: string, reason: string): Promise<void> {
    limiter.charge(domainOf(n.from));
    await decide(deps.db, n, oldJid, "rejected", reason);
  }

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
    const facts = { from: n.from, oldJid, oldItem: n.oldItem, newItem: n.senderItem };
    const pre = precheck(facts);
    if (pre) {
      log.info({ reason: pre }, "moved notice not applicable");
      return reject(n, oldJid, pre);
    }
    const statement = await fetchMovedStatement(deps.link, n.user, oldJid);
    const verdict = verify({ user: n.user, ...facts, statement });
    if (!verdict.ok) {
      log.info({ reason: verdict.reason }, "moved notice failed verification");
      return reject(n, oldJid, verdict.reason);
    }
    const line = { label: n.oldItem?.name ? `${n.oldItem.name} (${oldJid})` : oldJid, newJid: n.from };
    if (mode === "ask") {
      await decide(deps.db, n, oldJid, "asked");
      messenger.add(n.user, "asked", line);
      return;
    }
    const { newItem, retire } = verdict.plan;
    try {
      await deps.companion.applyMove(n.user, {
        newJid: newItem.jid,
        oldJid: retire,
        groups: newItem.groups,
        ...(newItem.name ? { name: newItem.name } : {}),
      });
    } catch (err) {
      if (!(err instanceof MoveNotApplicable)) throw err;
      log.info({ reason: err.reason }, "moved notice no longer applicable");
      return decide(deps.db, n, oldJid, "rejected", err.reason);
    }
    await decide(deps.db, n, oldJid, "applied");
    log.info("moved contact applied");
    messenger.add(n.user, "applied", line);
  }

  const off = deps.companion.onMovedSubscribe((n) => {
    if (!hosts.has(domainOf(n.user))) return;
    const senderDomain = domainOf(n.from);
    if (!limiter.allows(senderDomain)) {
      deps.log.warn({ domain: senderDomain }, "moved notices rate-limited");
      return;
    }
    const key = `${n.user} ${n.from}`;
    const prev = queues.get(key) ?? Promise.resolve();
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
    queues.set(key, next);
    void next.finally(() => {
      if (queues.get(key) === next) queues.delete(key);
    });
  });
  return {
    async stop() {
      off();
      await Promise.all(queues.values());
      await messenger.flush();
    },
  };
}

export { REJECTION_TEXT };
