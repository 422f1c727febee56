// move-away (XEP-0283, sender side): the user names their new account and its password. The component
// logs in there as an ordinary client, copies contacts (names, groups; no faked subscriptions), vCard,
// PEP (profile, avatar, nick, bookmarks…), private XML and blocklist, publishes the moved statement on
// the local (old) account, then asks every contact the old account was subscribed to, from the new
// account, with moved-tagged subscription requests (throttled, progress per contact).
// The password lives only in this process's memory for the job's duration: never logged or stored.
import { client, type Client } from "@xmpp/client";
import xml from "@xmpp/xml";
import type { Element } from "@xmpp/xml";
import type { Kysely } from "kysely";
import type { Config } from "../config/config.js";
import type { Logger } from "../log/logger.js";
import type { Database, Job } from "../storage/schema.js";
import { createJob } from "../storage/jobs.js";
import { JobFailure, RetryableJobError, type JobContext, type JobResult } from "../jobs/runner.js";
import type { ComponentLink } from "../xmpp/component-link.js";
import { sendChat } from "../xmpp/chat.js";
import { cloneElement } from "../xmpp/xml-util.js";
import { XmppStanzaError } from "../xmpp/stanza-error.js";
import { NS_BLOCKING, NS_PRIVATE, NS_PUBSUB, NS_ROSTER, NS_VCARD_TEMP } from "../xmpp/namespaces.js";
import { getRoster, rosterItemElement } from "../account/roster.js";
import { getVcardTemp } from "../account/vcard.js";
import {
  adaptConfigForProsody,
  isPortableNode,
  listNodes,
  readPepNode,
  renderSubmitForm,
  PUBLISH_OPTIONS_FORM,
} from "../account/pep.js";
import { KNOWN_PRIVATE, getPrivate } from "../account/private-xml.js";
import { getBlocklist } from "../account/blocklist.js";
import { publishMovedStatement } from "../account/moved-statement.js";
import { countStates } from "./contacts.js";
import { askAndSettle, openSession } from "./requests.js";

export const MOVE_AWAY_JOB = "move-away";
const DEFAULT_WATCH_MS = 20_000;

export interface MoveAwayOptions {
  newJid: string;
}

export interface MoveAwayService {
  start(owner: string, requestedBy: string, newJid: string, password: string): Promise<string>;
  run(ctx: JobContext): Promise<JobResult>;
  finished(job: Job, outcome: { status: "done" | "failed"; error?: string }): Promise<void>;
}

/** The client endpoint for an account's domain: configured (XMPP_CLIENT_SERVICES), else the domain itself. */
export function clientServiceFor(config: Config, jid: string): string {
  const domain = jid.slice(jid.indexOf("@") + 1);
  return config.clientServices[domain] ?? `xmpp://${domain}:5222`;
}

/** Logs in as the new account. SCRAM when offered; PLAIN only on a loopback endpoint or over TLS. */
export async function login(service: string, jid: string, password: string): Promise<Client> {
  const [local = "", domain = ""] = jid.split("@");
  const loopback = /^xmpp:\/\/(127\.\d+\.\d+\.\d+|localhost|\[::1\])(:\d+)?$/.test(service);
  const c = client({
    service,
    domain,
    resource: `portability-${Date.now().toString(36)}`,
    credentials: (authenticate, mechanisms) => {
      const mech =
        mechanisms.includes("SCRAM-SHA-1") && !loopback
          ? "SCRAM-SHA-1"
          : mechanisms.includes("PLAIN")
            ? "PLAIN"
            : (mechanisms[0] ?? "PLAIN");
      return authenticate({ username: local, password }, mech);
    },
  });
  c.on("error", () => undefined);
  c.reconnect.stop();
  try {
    await c.start();
  } catch {
    await c.stop().catch(() => undefined);
    // Never include the underlying error: some libraries echo credentials.
    throw new JobFailure(`could not log in to ${jid}: check the address and password`);
  }
  return c;
}

export function createMoveAwayService(deps: {
  link: ComponentLink;
  db: Kysely<Database>;
  config: Config;
  log: Logger;
  wake: () => void;
  /** Pause between subscription requests. */
  throttleMs?: number;
  /** How long the session stays open for answers to the requests (ends early once all answered). */
  watchMs?: number;
}): MoveAwayService {
  const passwords = new Map<string, string>();

  return {
    async start(owner, requestedBy, newJid, password) {
      const id = await createJob(deps.db, { kind: MOVE_AWAY_JOB, owner, requestedBy, options: { newJid } });
      passwords.set(id, password);
      deps.wake();
      return id;
    },

    async run(ctx) {
      const job = ctx.job;
      const { newJid } = job.options as unknown as MoveAwayOptions;
      const password = passwords.get(job.id);
      if (!password)
        throw new JobFailure(
          "The component restarted during the move; the password is never stored, so please run move-away again.",
        );
      if (!deps.link.online) throw new RetryableJobError("not connected to the XMPP server");
      const user = job.owner_jid;
      const target = await login(clientServiceFor(deps.config, newJid), newJid, password);
      const copied: Record<string, number> = {};
      const bump = (k: string, n = 1): void => {
        copied[k] = (copied[k] ?? 0) + n;
      };
      const set = (payload: Element) => target.iqCaller.request(xml("iq", { type: "set" }, payload), 30_000);
      try {
        const roster = (await getRoster(deps.link, user)).filter((i) => i.jid !== newJid && i.jid !== user);
        for (const item of roster) {
          await set(
            xml("query", { xmlns: NS_ROSTER }, rosterItemElement({ ...item, subscription: "none" }, false)),
          );
          bump("contacts");
        }
        const nodes = (await listNodes(deps.link, user)).filter((n) => isPortableNode(n));
        for (const node of nodes) {
          const n = await readPepNode(deps.link, user, node).catch((err: unknown) => {
            if (err instanceof XmppStanzaError && err.condition === "item-not-found") return null;
            throw err;
          });
          if (!n) continue;
          const { config } = adaptConfigForProsody(n.config, node);
          for (const item of n.items) {
            await set(
              xml(
                "pubsub",
                { xmlns: NS_PUBSUB },
                xml("publish", { node }, xml("item", { id: item.id }, cloneElement(item.payload))),
                config.size > 0
                  ? xml("publish-options", {}, renderSubmitForm(PUBLISH_OPTIONS_FORM, config))
                  : null,
              ),
            ).catch(() => bump("pep items failed"));
            bump("pep items");
          }
        }
        if (!nodes.includes("urn:xmpp:vcard4")) {
          const card = await getVcardTemp(deps.link, user);
          if (card) {
            const c = cloneElement(card);
            c.attrs.xmlns = NS_VCARD_TEMP;
            await set(c);
            bump("vcard");
          }
        }
        for (const p of KNOWN_PRIVATE) {
          if (p.ns === "storage:bookmarks" && nodes.includes("urn:xmpp:bookmarks:1")) continue;
          const el = await getPrivate(deps.link, user, p.name, p.ns);
          if (el) {
            await set(xml("query", { xmlns: NS_PRIVATE }, cloneElement(el)));
            bump("private");
          }
        }
        const blocked = await getBlocklist(deps.link, user);
        if (blocked.length > 0) {
          await set(
            xml(
              "block",
              { xmlns: NS_BLOCKING },
              blocked.map((jid) => xml("item", { jid })),
            ),
          );
          bump("blocklist", blocked.length);
        }
        await ctx.progress({ stage: "copied", ...copied });

        // The statement contacts will verify; then the requests from the new account.
        await publishMovedStatement(deps.link, user, newJid);
        const nick = roster.length > 0 ? user.slice(0, user.indexOf("@")) : undefined;
        const followers = roster.filter((i) => i.subscription === "to" || i.subscription === "both");
        await openSession(target);
        const rows = await askAndSettle({
          client: target,
          db: deps.db,
          jobId: job.id,
          oldJid: user,
          ...(nick ? { nick } : {}),
          contacts: followers.map((f) => f.jid),
          watchMs: deps.watchMs ?? DEFAULT_WATCH_MS,
          ...(deps.throttleMs ? { throttleMs: deps.throttleMs } : {}),
          signal: ctx.signal,
          onAsked: (n) =>
            ctx.progress({ stage: "notifying", notified: n, total: followers.length, ...copied }),
        });
        if (ctx.signal.aborted) return;
        const counts = countStates(rows);
        const sent = rows.length;
        passwords.delete(job.id);
        await sendChat(
          deps.link,
          user,
          `Moved to ${newJid}: copied ${
            Object.entries(copied)
              .map(([k, v]) => `${v} ${k}`)
              .join(", ") || "nothing"
          }; ` +
            `published the moved notice here and asked ${sent} contacts to follow you: ` +
            `${counts.approved} approved, ${counts.notified} pending, ${counts.declined} declined, ${counts.failed} failed ` +
            `(move-status shows each; move-renotify asks the others again). Keep this account for a while so they can verify the move.`,
        );
        return { report: { copied, notified: sent, contacts: counts } };
      } finally {
        await target.stop().catch(() => undefined);
      }
    },

    async finished(job, outcome) {
      if (job.kind !== MOVE_AWAY_JOB || outcome.status !== "failed") return;
      passwords.delete(job.id);
      await sendChat(deps.link, job.owner_jid, `The move failed: ${outcome.error ?? "unknown error"}`).catch(
        () => undefined,
      );
    },
  };
}
