// XmppLink over @xmpp/component (XEP-0114), with our own reconnect loop:
// exponential backoff (0.5 s .. 30 s) so a restarting Prosody is not hammered.
import { component, type Component } from "@xmpp/component";
import type { Element } from "@xmpp/xml";
import type { Logger } from "../log/logger.js";
import type { IqHandler, StanzaListener, XmppLink } from "./link.js";
import { stanzaError } from "./stanza-error.js";

export interface ComponentOptions {
  service: string;
  domain: string;
  secret: string;
  log: Logger;
}

export interface ComponentLink extends XmppLink {
  start(): Promise<void>;
  stop(): Promise<void>;
  readonly online: boolean;
}

const MIN_DELAY = 500;
const MAX_DELAY = 30_000;

export function createComponentLink(opts: ComponentOptions): ComponentLink {
  const xmpp: Component = component({ service: opts.service, domain: opts.domain, password: opts.secret });
  const log = opts.log;
  const stanzaListeners = new Set<StanzaListener>();
  const onlineListeners = new Set<() => void>();
  const offlineListeners = new Set<() => void>();
  let stopped = false;
  let online = false;
  let delay = MIN_DELAY;
  let timer: NodeJS.Timeout | null = null;

  // Built-in reconnect uses a fixed 1 s delay and gives up on refused connections; replace it.
  xmpp.reconnect.stop();

  xmpp.on("error", (err: Error) => {
    // Never log err.message blindly for auth failures: it does not contain the secret, but keep it terse.
    log.warn({ err: { name: err.name, message: err.message } }, "component stream error");
  });
  // Request/response traffic: with Nagle on, a stanza split over two segments waits for Prosody's
  // delayed ACK (~40 ms). The companion module does the same on Prosody's side of this stream.
  xmpp.on("connect", () => xmpp.socket?.setNoDelay?.(true));
  xmpp.on("online", () => {
    online = true;
    delay = MIN_DELAY;
    log.info({ domain: opts.domain }, "component online");
    for (const l of onlineListeners) l();
  });
  xmpp.on("disconnect", () => {
    if (online) log.warn("component disconnected");
    online = false;
    for (const l of offlineListeners) l();
    schedule();
  });
  xmpp.on("stanza", (el: Element) => {
    if (el.name === "iq") return;
    for (const l of stanzaListeners) {
      try {
        l(el);
      } catch (err) {
        log.error({ err }, "stanza listener failed");
      }
    }
  });

  function schedule(): void {
    if (stopped || timer) return;
    const wait = delay;
    delay = Math.min(delay * 2, MAX_DELAY);
    timer = setTimeout(() => {
      timer = null;
      void reconnect();
    }, wait);
  }

  async function reconnect(): Promise<void> {
    if (stopped || xmpp.status === "online") return;
    try {
      const entity = xmpp as unknown as {
        connect(service: string): Promise<void>;
        open(o: { domain: string }): Promise<void>;
        disconnect(): Promise<void>;
      };
      if (xmpp.status !== "offline" && xmpp.status !== "disconnect")
        await entity.disconnect().catch(() => undefined);
      await entity.connect(opts.service);
      await entity.open({ domain: opts.domain });
    } catch (err) {
      log.debug({ err: (err as Error).message }, "reconnect attempt failed");
      schedule();
    }
  }

  return {
    domain: opts.domain,
    get online() {
      return online;
    },
    async start() {
      stopped = false;
      try {
        await xmpp.start();
      } catch (err) {
        // Server not up yet: keep trying in the background with backoff.
        log.warn({ err: (err as Error).message }, "cannot connect to the XMPP server yet; retrying");
        schedule();
      }
    },
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      timer = null;
      await xmpp.stop().catch(() => undefined);
    },
    request: (iq, timeoutMs = 30_000) => xmpp.iqCaller.request(iq, timeoutMs),
    send: (stanza) => xmpp.send(stanza),
    onStanza(listener) {
      stanzaListeners.add(listener);
      return () => stanzaListeners.delete(listener);
    },
    onOnline(listener) {
      onlineListeners.add(listener);
      return () => onlineListeners.delete(listener);
    },
    onOffline(listener) {
      offlineListeners.add(listener);
      return () => offlineListeners.delete(listener);
    },
    handleIq(type, ns, name, handler: IqHandler) {
      const route =
        type === "get" ? xmpp.iqCallee.get.bind(xmpp.iqCallee) : xmpp.iqCallee.set.bind(xmpp.iqCallee);
      route(ns, name, async (ctx) => {
        try {
          return (await handler(ctx.stanza)) ?? true;
        } catch (err) {
          log.error({ err }, "iq handler failed");
          return stanzaError("cancel", "internal-server-error");
        }
      });
    },
  };
}
