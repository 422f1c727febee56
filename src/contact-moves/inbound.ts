// Inbound XEP-0283 notices for local users (server side, XEP-0283 §4.3). The companion module holds
// every moved-tagged subscribe to a local user and forwards it with the user's roster entries for both
// addresses; we verify against those entries and the old account's statement, then either apply the
// move in one step in the module (the request is never delivered: the module creates the roster item
// and answers 'subscribed') or release the request, delivered unchanged with its <moved/> (not
// verified, rate-limited, moved-settings "ask me" or "off"). Every notice and decision is recorded;
// only an applied one is final, so a notice rejected before its statement was published is verified
// again when it comes again. Admission (rate-limit.ts) bounds the verification work per sender and per
// (sender domain, user), and the statement fetches running at once. In the usual case one request to
// the module fetches the statement and applies the move (verify-move); what it cannot confirm comes
// back and is judged here.
import { randomUUID } from "node:crypto";
import { sql, type Kysely } from "kysely";
import type { Logger } from "../log/logger.js";
import type { XmppLink } from "../xmpp/link.js";
import { domainOf } from "../xmpp/jid.js";
import { XmppStanzaError } from "../xmpp/stanza-error.js";
import {
  CompanionOpMissing,
  MoveNotApplicable,
  type CompanionClient,
  type MovedSubscribe,
  type MoveToApply,
} from "../account/companion-api.js";
import { fetchMovedStatement, type Statement } from "../account/moved-statement.js";
import type { Database, MovedMode } from "../storage/schema.js";
import { REJECTION_TEXT, normaliseBare, planMove, precheck, verify, type Plan } from "./verify.js";
import { FetchSlots, NoticeAdmission } from "./rate-limit.js";
import { createMoveMessenger } from "./user-messages.js";

export interface InboundDeps {
  link: XmppLink;
  companion: CompanionClient;
  db: Kysely<Database>;
  log: Logger;
  hosts: string[];
  admission?: NoticeAdmission;
  fetchSlots?: FetchSlots;
  /** How long a notice may wait for admission and a fetch slot (the module holds it 10 s by default). */
  waitMs?: number;
  fetchTimeoutMs?: number;
}

/** The defaults README.md states. */
export const ADMISSION_DEFAULTS = {
  perSender: { burst: 10, perMinute: 10 },
  perDomainUser: { burst: 20, perMinute: 20 },
  maxWaiting: 1000,
  fetchSlots: 128,
  waitMs: 4000,
  fetchTimeoutMs: 5000,
} as const;

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

/** Records a sighting; returns the previous decision when this notice was seen before. */
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
  return row.seen_count > 1 ? row.status : null;
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
  const d = ADMISSION_DEFAULTS;
  const admission = deps.admission ?? new NoticeAdmission(d);
  const fetchSlots = deps.fetchSlots ?? new FetchSlots(d.fetchSlots);
  const waitMs = deps.waitMs ?? d.waitMs;
  const fetchTimeoutMs = deps.fetchTimeoutMs ?? d.fetchTimeoutMs;
  const hosts = new Set(deps.hosts);
  const messenger = createMoveMessenger(deps.link, {
    onError: (err) => deps.log.warn({ err }, "could not tell the user about a move"),
  });
  // One notice at a time per (user, sender): Prosody re-sends pending subscribes, and those duplicates
  // must see the first one's decision. Notices about different contacts run side by side; the module
  // applies each move atomically, so they cannot interleave roster edits.
  const queues = new Map<string, Promise<void>>();
  // Cleared the first time the module answers that it does not know verify-move (an older module).
  let moduleVerifies = true;

  /** Decides a notice; true when the move was applied (the request must not be delivered). */
  async function handle(n: MovedSubscribe, deadline: number): Promise<boolean> {
    const log = deps.log.child({ user: n.user, from: n.from });
    const oldJid = normaliseBare(n.oldJid);
    const record = (status: NoticeStatus, reason?: string) => decide(deps.db, n, oldJid, status, reason);
    const previous = await recordSighting(deps.db, n, oldJid);
    if (previous === "applied") {
      log.debug("moved notice for a move already applied");
      return false;
    }
    const mode = await movedMode(deps.db, n.user);
    if (mode === "off") {
      await record("ignored", "moved handling is off for this user");
      return false;
    }
    // Verified before and the user was told; nothing new to do in this mode.
    if (previous === "asked" && mode === "ask") return false;
    const facts = { from: n.from, oldJid, oldItem: n.oldItem, newItem: n.senderItem };
    const pre = precheck(facts);
    if (pre) {
      log.info({ reason: pre }, "moved notice not applicable");
      await record("rejected", pre);
      return false;
    }
    const ticket = await admission.admit(
      { sender: n.from, domain: domainOf(n.from), user: n.user },
      deadline - Date.now(),
    );
    if (!ticket) {
      log.warn("moved notice rate-limited: delivered unverified");
      await record("rate-limited", "too many unverified notices from this sender or its domain");
      return false;
    }
    const releaseSlot = await fetchSlots.acquire(deadline - Date.now());
    if (!releaseSlot) {
      ticket.refund(); // not this sender's doing
      log.warn("moved notice not verified: too many statement fetches at once");
      await record("rate-limited", "too many statement fetches at once");
      return false;
    }
    const line = { label: n.oldItem?.name ? `${n.oldItem.name} (${oldJid})` : oldJid, newJid: n.from };
    const applied = async () => {
      ticket.refund();
      await record("applied");
      log.info("moved contact applied");
      messenger.add(n.user, "applied", line);
      return true;
    };
    const notApplicable = async (err: unknown) => {
      if (!(err instanceof MoveNotApplicable)) throw err;
      log.info({ reason: err.reason }, "moved notice no longer applicable");
      await record("rejected", err.reason);
      return false;
    };
    const move = (plan: Plan): MoveToApply => ({
      newJid: plan.newItem.jid,
      oldJid: plan.retire,
      groups: plan.newItem.groups,
      ...(plan.newItem.name ? { name: plan.newItem.name } : {}),
      ...(n.hold ? { hold: n.hold } : {}),
    });
    // The usual case in one request: the module fetches the statement and applies the move when it
    // names the sender (one request fewer, and no privileged IQ, per notice). What it could not confirm
    // comes back and is judged below, as a statement we fetched ourselves would be.
    let statement: Statement | undefined;
    try {
      if (mode === "automatic" && n.oldItem && moduleVerifies) {
        const plan = planMove({ ...facts, oldItem: n.oldItem });
        try {
          const outcome = await deps.companion.verifyAndApplyMove(n.user, move(plan), fetchTimeoutMs);
          if (outcome.applied) return await applied();
          statement = outcome.statement;
        } catch (err) {
          if (err instanceof XmppStanzaError && err.condition === "remote-server-timeout") {
            // No answer in time (Prosody swamped): judged like a statement fetch that timed out.
            statement = { kind: "error", condition: err.condition };
          } else if (err instanceof CompanionOpMissing) {
            moduleVerifies = false;
            deps.log.warn("the companion module predates verify-move: moved notices take one request more");
          } else return await notApplicable(err);
        }
      }
      statement ??= await fetchMovedStatement(deps.link, n.user, oldJid, fetchTimeoutMs);
    } finally {
      releaseSlot();
    }
    const verdict = verify({ user: n.user, ...facts, statement });
    if (!verdict.ok) {
      log.info({ reason: verdict.reason, detail: verdict.detail }, "moved notice failed verification");
      await record("rejected", verdict.detail ? `${verdict.reason}: ${verdict.detail}` : verdict.reason);
      return false;
    }
    if (mode === "ask") {
      ticket.refund();
      await record("asked");
      messenger.add(n.user, "asked", line);
      return false;
    }
    try {
      await deps.companion.applyMove(n.user, move(verdict.plan));
    } catch (err) {
      return notApplicable(err);
    }
    return applied();
  }

  /** Anything but an applied move: the held request goes to the user's clients unchanged. */
  async function release(n: MovedSubscribe): Promise<void> {
    if (!n.hold) return;
    const delivered = await deps.companion.releaseMoved(n.user, n.hold);
    if (!delivered) deps.log.debug({ user: n.user, from: n.from }, "held request was already delivered");
  }

  const off = deps.companion.onMovedSubscribe((n) => {
    if (!hosts.has(domainOf(n.user))) return;
    const deadline = Date.now() + waitMs;
    const key = `${n.user} ${n.from}`;
    const prev = queues.get(key) ?? Promise.resolve();
    const next = prev
      .then(() =>
        handle(n, deadline).catch(async (err: unknown) => {
          deps.log.error({ err, user: n.user }, "moved notice handling failed");
          await decide(
            deps.db,
            n,
            normaliseBare(n.oldJid),
            "failed",
            err instanceof Error ? err.message : "error",
          ).catch(() => undefined);
          return false;
        }),
      )
      .then((applied) => (applied ? undefined : release(n)))
      .catch((err: unknown) =>
        deps.log.warn({ err, user: n.user }, "could not release a held moved request"),
      );
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
