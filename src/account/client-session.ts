// The account session of an account elsewhere, held as a logged-in client: IQs go out on the client's
// own stream, the archive is read with MAM like any client, and presence is the client's own. A client
// cannot write its own archive, so history is never copied *to* such an account.
import xml from "@xmpp/xml";
import type { Client } from "@xmpp/client";
import { asStanzaError } from "../xmpp/stanza-error.js";
import { bareOf, domainOf } from "../xmpp/jid.js";
import { CAPABILITIES, CAPABILITY_INFO, type Capability } from "./capabilities.js";
import { queryArchivePage } from "./mam.js";
import type { AccountSession } from "./session.js";

/** What a logged-in client can do on its own account. */
const CLIENT_CAN = new Set<Capability>(
  CAPABILITIES.filter((c) => c !== "archive-write" && c !== "moved-forwarding" && c !== "message-as-user"),
);

export function clientSession(c: Client, account: string): AccountSession {
  const jid = bareOf(account);
  const request = async (iq: ReturnType<typeof xml>, timeoutMs = 30_000) => {
    try {
      return await c.iqCaller.request(iq, timeoutMs);
    } catch (err) {
      throw asStanzaError(err) ?? err;
    }
  };
  return {
    jid,
    kind: "client",
    iq: (type, payload, opts = {}) =>
      request(xml("iq", { type, ...(opts.to ? { to: opts.to } : {}) }, payload), opts.timeoutMs),
    capabilities: () => Promise.resolve(CLIENT_CAN),
    missing: (cap) => `${CAPABILITY_INFO[cap].name} is not possible for a client of ${domainOf(jid)}`,
    readArchive: (q) =>
      queryArchivePage(
        {
          query: (payload) => request(xml("iq", { type: "set" }, payload)),
          onMessage(listener) {
            const onStanza = (el: ReturnType<typeof xml>): void => {
              const from = el.attrs.from;
              if (el.name === "message" && (!from || bareOf(from) === jid)) listener(el);
            };
            c.on("stanza", onStanza);
            return () => c.removeListener("stanza", onStanza);
          },
        },
        q,
      ),
    appendArchive: () => Promise.reject(new Error(`${CAPABILITY_INFO["archive-write"].name}: not possible`)),
    finishArchiveImport: () => Promise.resolve(),
    async sendPresence(to, type, payload = []) {
      await c.send(xml("presence", { to, type }, payload));
    },
  };
}
