// Moved-tagged subscription requests sent from a client session (move-away's new account) and the
// answers that come back to it: subscribed, unsubscribed, or the request bounced (presence type=error).
// Prosody delivers subscribed/unsubscribed only to "interested" resources (those that fetched the
// roster) and bounced presences only to available ones, so the session does both first (openSession).
import xml from "@xmpp/xml";
import type { Element } from "@xmpp/xml";
import type { Client } from "@xmpp/client";
import { NS_MOVED, NS_NICK, NS_ROSTER } from "../xmpp/namespaces.js";
import { XmppStanzaError } from "../xmpp/stanza-error.js";
import { bareOf } from "../xmpp/jid.js";
import { parseRosterItem } from "../account/roster.js";
import type { RosterItem } from "../account/model.js";
import type { Kysely } from "kysely";
import type { Database, MoveContact } from "../storage/schema.js";
import { describeError, reconcileJob, recordAsked, type ContactOutcome } from "./contacts.js";

/** `<presence type='subscribe'>` tagged XEP-0283 with the old address (and the user's nick). */
export function movedSubscribe(to: string, oldJid: string, nick?: string): Element {
  return xml(
    "presence",
    { to, type: "subscribe" },
    xml("moved", { xmlns: NS_MOVED }, xml("old-jid", {}, oldJid)),
    nick ? xml("nick", { xmlns: NS_NICK }, nick) : null,
  );
}

/** The answer a presence carries for a request we sent, or null if it is not one. */
export function parseAnswer(presence: Element): { jid: string; outcome: ContactOutcome } | null {
  if (presence.name !== "presence") return null;
  const jid = bareOf(presence.attrs.from ?? "");
  if (!jid) return null;
  switch (presence.attrs.type) {
    case "subscribed":
      return { jid, outcome: { status: "approved", detail: "accepted" } };
    case "unsubscribed":
      return { jid, outcome: { status: "declined", detail: "declined" } };
    case "error": {
      const err = XmppStanzaError.fromStanza(presence);
      return { jid, outcome: { status: "failed", detail: describeError(err.condition, err.text) } };
    }
    default:
      return null;
  }
}

export async function readRoster(c: Client): Promise<RosterItem[]> {
  const res = await c.iqCaller.request(
    xml("iq", { type: "get" }, xml("query", { xmlns: NS_ROSTER })),
    30_000,
  );
  return (res.getChild("query", NS_ROSTER)?.getChildren("item") ?? [])
    .map(parseRosterItem)
    .filter((i): i is RosterItem => i !== null);
}

/** Makes the session receive answers (roster fetched, available at priority -1 so no chats land here). */
export async function openSession(c: Client): Promise<RosterItem[]> {
  const roster = await readRoster(c);
  await c.send(xml("presence", {}, xml("priority", {}, "-1")));
  return roster;
}

export interface AnswerWatch {
  /** Answers seen so far, by contact. */
  readonly answers: ReadonlyMap<string, ContactOutcome>;
  /** Resolves once every asked contact answered, after `ms`, or when aborted. */
  settle(ms: number, signal?: AbortSignal): Promise<void>;
  stop(): void;
}

/** Collects answers from the contacts in `asked` (added to as requests go out). */
export function watchAnswers(c: Client, asked: ReadonlySet<string>): AnswerWatch {
  const answers = new Map<string, ContactOutcome>();
  let wake: (() => void) | null = null;
  const allAnswered = (): boolean => [...asked].every((j) => answers.has(j));
  const onStanza = (el: Element): void => {
    const a = parseAnswer(el);
    if (!a || !asked.has(a.jid)) return;
    answers.set(a.jid, a.outcome);
    if (wake && allAnswered()) wake();
  };
  c.on("stanza", onStanza);
  return {
    answers,
    settle(ms, signal) {
      if (allAnswered() || signal?.aborted) return Promise.resolve();
      return new Promise((resolve) => {
        const done = (): void => {
          clearTimeout(timer);
          signal?.removeEventListener("abort", done);
          wake = null;
          resolve();
        };
        const timer = setTimeout(done, ms);
        signal?.addEventListener("abort", done);
        wake = done;
      });
    },
    stop() {
      c.removeListener("stanza", onStanza);
    },
  };
}

export interface AskOptions {
  /** The session's account must already be open for answers (openSession). */
  client: Client;
  db: Kysely<Database>;
  jobId: string;
  oldJid: string;
  nick?: string;
  contacts: string[];
  /** How long to wait for answers (ends early once every contact answered). */
  watchMs: number;
  throttleMs?: number;
  signal?: AbortSignal;
  onAsked?: (n: number) => Promise<void>;
}

/** Asks each contact (recorded first, so an instant answer finds its row), then settles from the roster. */
export async function askAndSettle(o: AskOptions): Promise<MoveContact[]> {
  const asked = new Set<string>();
  const watch = watchAnswers(o.client, asked);
  try {
    for (const contact of o.contacts) {
      if (o.signal?.aborted) break;
      const jid = contact.toLowerCase();
      await recordAsked(o.db, o.jobId, jid);
      asked.add(jid);
      await o.client.send(movedSubscribe(contact, o.oldJid, o.nick));
      await o.onAsked?.(asked.size);
      if (o.throttleMs) await new Promise((r) => setTimeout(r, o.throttleMs));
    }
    await watch.settle(o.watchMs, o.signal);
    return await reconcileJob(o.db, o.jobId, await readRoster(o.client), watch.answers);
  } finally {
    watch.stop();
  }
}
