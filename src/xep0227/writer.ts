// Streaming XEP-0227 v1.1 writer for one user. Strings go to any Writable (file, gzip, Postgres
// staging) with backpressure; the archive and offline sections are written one message at a time.
// Interop choices (docs/server-facts.md, "XEP-0227 files"): pending presences carry xmlns='jabber:client' (Prosody's own
// writer omits it and then loses them), PEP items oldest first, node configs as submit forms, the
// blocklist in urn:xmpp:blocking (not defined by XEP-0227; other importers ignore it).
import { once } from "node:events";
import type { Writable } from "node:stream";
import xml from "@xmpp/xml";
import type { Element } from "@xmpp/xml";
import * as ns from "../xmpp/namespaces.js";
import { cloneElement } from "../xmpp/xml-util.js";
import { rosterItemElement } from "../account/roster.js";
import { NODE_CONFIG_FORM, renderSubmitForm } from "../account/pep.js";
import { archivedToResult } from "../account/mam.js";
import type {
  ArchivedMessage,
  PendingSubscription,
  PepNode,
  RosterItem,
  ScramCredential,
} from "../account/model.js";

const FLUSH_AT = 64 * 1024;

export interface ArchiveWriter {
  begin(host: string, user: string): Promise<void>;
  scram(credentials: ScramCredential[]): Promise<void>;
  roster(items: RosterItem[], pending?: PendingSubscription[]): Promise<void>;
  vcard(card: Element): Promise<void>;
  privateXml(payloads: Element[]): Promise<void>;
  blocklist(jids: string[]): Promise<void>;
  pep(nodes: PepNode[]): Promise<void>;
  offlineMessage(message: Element): Promise<void>;
  archiveMessage(message: ArchivedMessage): Promise<void>;
  /** Any other namespaced element under <user/> (kept as-is). */
  extra(el: Element): Promise<void>;
  end(): Promise<void>;
  /** Counts per section, for summaries. */
  readonly counts: Record<string, number>;
}

export function createArchiveWriter(out: Writable): ArchiveWriter {
  let buf = "";
  let open: "archive" | "offline" | null = null;
  let begun = false;
  const counts: Record<string, number> = {};
  const count = (k: string, n = 1): void => {
    counts[k] = (counts[k] ?? 0) + n;
  };

  async function write(s: string): Promise<void> {
    buf += s;
    if (buf.length >= FLUSH_AT) await flush();
  }
  async function flush(): Promise<void> {
    if (buf.length === 0) return;
    const chunk = buf;
    buf = "";
    if (!out.write(chunk, "utf8")) await once(out, "drain");
  }
  async function closeOpen(): Promise<void> {
    if (open === "archive") await write("</archive>");
    if (open === "offline") await write("</offline-messages>");
    open = null;
  }
  async function section(el: Element): Promise<void> {
    if (!begun) throw new Error("archive writer: begin() first");
    await closeOpen();
    await write(el.toString());
  }

  return {
    counts,
    async begin(host, user) {
      begun = true;
      await write(
        `<?xml version='1.0' encoding='UTF-8'?>\n<server-data xmlns='${ns.NS_PIE}'><host jid=${q(host)}><user name=${q(user)}>`,
      );
    },
    async scram(credentials) {
      for (const c of credentials) {
        await section(
          xml(
            "scram-credentials",
            { xmlns: ns.NS_PIE_SCRAM, mechanism: c.mechanism },
            xml("iter-count", {}, String(c.iterations)),
            xml("salt", {}, c.salt),
            xml("server-key", {}, c.serverKey),
            xml("stored-key", {}, c.storedKey),
          ),
        );
      }
    },
    async roster(items, pending = []) {
      await section(
        xml(
          "query",
          { xmlns: ns.NS_ROSTER },
          items.map((i) => rosterItemElement(i)),
        ),
      );
      count("roster", items.length);
      for (const p of pending) {
        await section(
          xml(
            "presence",
            { xmlns: ns.NS_CLIENT, type: "subscribe", from: p.from },
            p.payload.map(cloneElement),
          ),
        );
        count("pending");
      }
    },
    async vcard(card) {
      const c = cloneElement(card);
      c.attrs.xmlns = ns.NS_VCARD_TEMP;
      await section(c);
      count("vcard");
    },
    async privateXml(payloads) {
      if (payloads.length === 0) return;
      await section(xml("query", { xmlns: ns.NS_PRIVATE }, payloads.map(cloneElement)));
      count("private", payloads.length);
    },
    async blocklist(jids) {
      await section(
        xml(
          "blocklist",
          { xmlns: ns.NS_BLOCKING },
          jids.map((jid) => xml("item", { jid })),
        ),
      );
      count("blocklist", jids.length);
    },
    async pep(nodes) {
      if (nodes.length === 0) return;
      await section(
        xml(
          "pubsub",
          { xmlns: ns.NS_PUBSUB_OWNER },
          nodes.flatMap((n) => [
            xml("configure", { node: n.node }, renderSubmitForm(NODE_CONFIG_FORM, n.config)),
            n.affiliations.length > 0
              ? xml(
                  "affiliations",
                  { node: n.node },
                  n.affiliations.map((a) => xml("affiliation", { jid: a.jid, affiliation: a.affiliation })),
                )
              : null,
          ]),
        ),
      );
      await section(
        xml(
          "pubsub",
          { xmlns: ns.NS_PUBSUB },
          nodes.map((n) =>
            xml(
              "items",
              { node: n.node },
              n.items.map((it) =>
                xml(
                  "item",
                  { id: it.id, publisher: it.publisher, timestamp: it.timestamp },
                  cloneElement(it.payload),
                ),
              ),
            ),
          ),
        ),
      );
      count("pep", nodes.length);
      count(
        "pep-items",
        nodes.reduce((n, x) => n + x.items.length, 0),
      );
    },
    async offlineMessage(message) {
      if (open !== "offline") {
        await closeOpen();
        await write(`<offline-messages xmlns='${ns.NS_PIE}'>`);
        open = "offline";
      }
      const m = cloneElement(message);
      m.attrs.xmlns = ns.NS_CLIENT;
      await write(m.toString());
      count("offline");
    },
    async archiveMessage(message) {
      if (open !== "archive") {
        await closeOpen();
        await write(`<archive xmlns='${ns.NS_PIE_MAM}'>`);
        open = "archive";
      }
      await write(archivedToResult(message).toString());
      count("archive");
    },
    async extra(el) {
      await section(el);
      count("other");
    },
    async end() {
      await closeOpen();
      await write("</user></host></server-data>\n");
      await flush();
    },
  };
}

function q(value: string): string {
  return `'${xml.escapeXML(value)}'`;
}
