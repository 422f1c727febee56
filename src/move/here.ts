// move-here (XEP-0283, the reverse): the user on this server names their OLD account and its password.
// The component logs in there as a client, reads the account, imports it locally with the same importer
// as archive imports (so the same merge rules hold), publishes the moved statement on the old account,
// and asks the contacts — from the local account, tagged <moved/> — to follow.
import xml from "@xmpp/xml";
import type { Element } from "@xmpp/xml";
import type { Client } from "@xmpp/client";
import { randomUUID } from "node:crypto";
import type { Kysely } from "kysely";
import type { Config } from "../config/config.js";
import type { Logger } from "../log/logger.js";
import type { Database, Job } from "../storage/schema.js";
import { createJob } from "../storage/jobs.js";
import { JobFailure, RetryableJobError, type JobContext, type JobResult } from "../jobs/runner.js";
import type { ComponentLink } from "../xmpp/component-link.js";
import { sendChat } from "../xmpp/chat.js";
import {
  NS_BLOCKING,
  NS_DATA,
  NS_DISCO_ITEMS,
  NS_MAM,
  NS_MOVED,
  NS_PRIVATE,
  NS_PUBSUB,
  NS_PUBSUB_OWNER,
  NS_ROSTER,
  NS_RSM,
  NS_VCARD_TEMP,
} from "../xmpp/namespaces.js";
import type { CompanionClient } from "../account/companion-api.js";
import { parseRosterItem } from "../account/roster.js";
import {
  isPortableNode,
  parseForm,
  parsePepItems,
  renderSubmitForm,
  PUBLISH_OPTIONS_FORM,
} from "../account/pep.js";
import { KNOWN_PRIVATE } from "../account/private-xml.js";
import { parseMamResult } from "../account/mam.js";
import type { RosterItem } from "../account/model.js";
import { ImportReport, createImporter } from "../import/apply.js";
import type { ArchiveRecord } from "../xep0227/records.js";
import { clientServiceFor, login } from "./away.js";
import { describeError, recordAsked, recordOutcome } from "./contacts.js";

export const MOVE_HERE_JOB = "move-here";

export interface MoveHereService {
  start(owner: string, requestedBy: string, oldJid: string, password: string): Promise<string>;
  run(ctx: JobContext): Promise<JobResult>;
  finished(job: Job, outcome: { status: "done" | "failed"; error?: string }): Promise<void>;
}

async function tryIq(c: Client, type: "get" | "set", payload: Element, to?: string): Promise<Element | null> {
  try {
    return await c.iqCaller.request(xml("iq", { type, ...(to ? { to } : {}) }, payload), 30_000);
  } catch {
    return null;
  }
}

/** The old account, read as its own client would, as archive records. */
async function* readOldAccount(c: Client, oldJid: string): AsyncGenerator<ArchiveRecord> {
  const [name = "", host = ""] = oldJid.split("@");
  yield { kind: "user", host, name, hasPassword: false };
  const roster = await tryIq(c, "get", xml("query", { xmlns: NS_ROSTER }));
  const items = (roster?.getChild("query", NS_ROSTER)?.getChildren("item") ?? [])
    .map(parseRosterItem)
    .filter((i): i is RosterItem => i !== null);
  yield { kind: "roster", items };
  const card = (await tryIq(c, "get", xml("vCard", { xmlns: NS_VCARD_TEMP })))?.getChild(
    "vCard",
    NS_VCARD_TEMP,
  );
  if (card && card.getChildElements().length > 0) yield { kind: "vcard", vcard: card };
  const disco = await tryIq(c, "get", xml("query", { xmlns: NS_DISCO_ITEMS }), oldJid);
  const nodes = (disco?.getChild("query", NS_DISCO_ITEMS)?.getChildren("item") ?? [])
    .map((i) => i.attrs.node)
    .filter((n): n is string => !!n && isPortableNode(n));
  for (const node of nodes) {
    const conf = await tryIq(
      c,
      "get",
      xml("pubsub", { xmlns: NS_PUBSUB_OWNER }, xml("configure", { node })),
      oldJid,
    );
    const config = parseForm(
      conf?.getChild("pubsub", NS_PUBSUB_OWNER)?.getChild("configure")?.getChild("x", NS_DATA),
    );
    yield { kind: "pep-node", node, config, affiliations: [] };
    const res = await tryIq(c, "get", xml("pubsub", { xmlns: NS_PUBSUB }, xml("items", { node })), oldJid);
    const parsed = parsePepItems(
      res?.getChild("pubsub", NS_PUBSUB)?.getChild("items")?.getChildren("item") ?? [],
    );
    // Servers answer newest first (Prosody); publish oldest first.
    if (parsed.length > 0) yield { kind: "pep-items", node, items: parsed.reverse() };
  }
  const payloads: Element[] = [];
  for (const p of KNOWN_PRIVATE) {
    const r = await tryIq(c, "get", xml("query", { xmlns: NS_PRIVATE }, xml(p.name, { xmlns: p.ns })));
    const el = r?.getChild("query", NS_PRIVATE)?.getChild(p.name, p.ns);
    if (el && el.getChildElements().length > 0) payloads.push(el);
  }
  if (payloads.length > 0) yield { kind: "private", payloads };
  const bl = await tryIq(c, "get", xml("blocklist", { xmlns: NS_BLOCKING }));
  const jids = (bl?.getChild("blocklist", NS_BLOCKING)?.getChildren("item") ?? [])
    .map((i) => i.attrs.jid)
    .filter((j): j is string => !!j);
  if (jids.length > 0) yield { kind: "blocklist", jids };
  // Message history, paged by RSM like any MAM client.
  let after: string | undefined;
  for (;;) {
    const queryid = randomUUID();
    const got: ArchiveRecord[] = [];
    const onStanza = (el: Element): void => {
      const result = el.getChild("result", NS_MAM);
      if (el.name === "message" && result?.attrs.queryid === queryid) {
        const m = parseMamResult(result);
        if (m) got.push({ kind: "archive", message: m });
      }
    };
    c.on("stanza", onStanza);
    let fin: Element | undefined;
    try {
      const res = await tryIq(
        c,
        "set",
        xml(
          "query",
          { xmlns: NS_MAM, queryid },
          xml("set", { xmlns: NS_RSM }, xml("max", {}, "100"), after ? xml("after", {}, after) : null),
        ),
      );
      fin = res?.getChild("fin", NS_MAM);
    } finally {
      c.removeListener("stanza", onStanza);
    }
    yield* got;
    const last = fin?.getChild("set", NS_RSM)?.getChildText("last") ?? undefined;
    if (!fin || fin.attrs.complete === "true" || got.length === 0 || !last) break;
    after = last;
  }
  yield { kind: "user-end", host, name };
}

export function createMoveHereService(deps: {
  link: ComponentLink;
  companion: CompanionClient;
  db: Kysely<Database>;
  config: Config;
  log: Logger;
  wake: () => void;
}): MoveHereService {
  const passwords = new Map<string, string>();
  return {
    async start(owner, requestedBy, oldJid, password) {
      const id = await createJob(deps.db, { kind: MOVE_HERE_JOB, owner, requestedBy, options: { oldJid } });
      passwords.set(id, password);
      deps.wake();
      return id;
    },
    async run(ctx) {
      const job = ctx.job;
      const oldJid = typeof job.options.oldJid === "string" ? job.options.oldJid : "";
      const password = passwords.get(job.id);
      if (!password)
        throw new JobFailure(
          "The component restarted during the move; the password is never stored, so please run move-here again.",
        );
      if (!deps.link.online) throw new RetryableJobError("not connected to the XMPP server");
      const old = await login(clientServiceFor(deps.config, oldJid), oldJid, password);
      const user = job.owner_jid;
      const report = new ImportReport();
      try {
        const host = user.slice(user.indexOf("@") + 1);
        const importer = createImporter(
          {
            link: deps.link,
            companion: deps.companion,
            companionPresent: await deps.companion.probe(host),
            subscribeDelayMs: 200,
          },
          user,
          {
            sections: ["roster", "vcard", "pep", "private", "blocklist", "archive"],
            overwrite: false,
            subscribe: true,
          },
          report,
        );
        for await (const r of readOldAccount(old, oldJid)) {
          if (ctx.signal.aborted) return;
          await importer.apply(r);
        }
        // The statement the contacts' servers and clients verify, on the old account.
        await old.iqCaller.request(
          xml(
            "iq",
            { type: "set" },
            xml(
              "pubsub",
              { xmlns: NS_PUBSUB },
              xml(
                "publish",
                { node: NS_MOVED },
                xml("item", { id: "current" }, xml("moved", { xmlns: NS_MOVED }, xml("new-jid", {}, user))),
              ),
              xml(
                "publish-options",
                {},
                renderSubmitForm(PUBLISH_OPTIONS_FORM, new Map([["pubsub#access_model", ["presence"]]])),
              ),
            ),
          ),
          30_000,
        );
        // Progress per contact; move-status settles it later from this account's roster.
        await importer.subscribeContacts({
          asking: (jid) => recordAsked(deps.db, job.id, jid),
          refused: (jid, err) =>
            recordOutcome(deps.db, job.id, jid, {
              status: "failed",
              detail: describeError(err.condition, err.text),
            }),
        });
      } finally {
        await old.stop().catch(() => undefined);
      }
      passwords.delete(job.id);
      await sendChat(
        deps.link,
        user,
        `Moved here from ${oldJid}. ${report.summary()}. Keep the old account for a while so your contacts can verify the move.`,
      );
      return { report: report.toJSON() };
    },
    async finished(job, outcome) {
      if (job.kind !== MOVE_HERE_JOB || outcome.status !== "failed") return;
      passwords.delete(job.id);
      await sendChat(deps.link, job.owner_jid, `The move failed: ${outcome.error ?? "unknown error"}`).catch(
        () => undefined,
      );
    },
  };
}
