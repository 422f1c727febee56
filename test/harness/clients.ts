// Real XMPP test clients (@xmpp/client) with PLAIN on loopback (SCRAM costs ~3 s per login in pure JS).
import { client, xml, type Client } from "@xmpp/client";
import type { Element } from "@xmpp/xml";
import type { Prosody } from "./prosody.js";

export interface TestClient {
  xmpp: Client;
  jid: string;
  /** Stanzas received (messages and presences), newest last. */
  inbox: Element[];
  /** Resolves with the next received stanza matching the predicate (also checks the inbox first). */
  waitFor(pred: (el: Element) => boolean, timeoutMs?: number): Promise<Element>;
  request(el: Element, timeoutMs?: number): Promise<Element>;
  stop(): Promise<void>;
}

export async function connectClient(
  server: Prosody,
  user: string,
  host: string,
  password: string,
  resource = "test",
  opts: { available?: boolean } = {},
): Promise<TestClient> {
  const xmpp = client({
    service: `xmpp://127.0.0.1:${server.c2sPort}`,
    domain: host,
    resource,
    credentials: (authenticate) => authenticate({ username: user, password }, "PLAIN"),
  });
  xmpp.on("error", () => {
    /* surfaced through start()/requests */
  });
  const inbox: Element[] = [];
  const waiters: { pred: (el: Element) => boolean; resolve: (el: Element) => void }[] = [];
  xmpp.on("stanza", (el: Element) => {
    if (el.name === "iq") return;
    inbox.push(el);
    for (const w of [...waiters]) {
      if (w.pred(el)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(el);
      }
    }
  });
  await xmpp.start();
  if (opts.available !== false) await xmpp.send(xml("presence"));
  return {
    xmpp,
    jid: `${user}@${host}/${resource}`,
    inbox,
    waitFor(pred, timeoutMs = 10_000) {
      const found = inbox.find(pred);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const w = {
          pred,
          resolve: (el: Element) => {
            clearTimeout(timer);
            resolve(el);
          },
        };
        const timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(w), 1);
          reject(new Error(`timeout waiting for stanza at ${user}@${host}`));
        }, timeoutMs);
        waiters.push(w);
      });
    },
    request: (el, timeoutMs = 15_000) => xmpp.iqCaller.request(el, timeoutMs),
    async stop() {
      xmpp.reconnect.stop();
      await xmpp.stop().catch(() => undefined);
    },
  };
}
