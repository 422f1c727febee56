// XmppLink over @xmpp/component (XEP-0114), with our own reconnect loop:
// exponential backoff (0.5 s .. 30 s) so a restarting Prosody is not hammered.
import { component, type Component } from "@xmpp/component";
import type { Element } from "@xmpp/xml";
import type { Logger } from "../log/logger.js";
import type { IqHandler, StanzaListener, XmppLink } from "./link.js";
import { stanzaError } from "./stanza-error.js";
import { permanentStreamFailure, streamErrorCondition, type StreamFailure } from "./stream-errors.js";
import { XmppStanzaError } from "./stanza-error.js";
import { DEFAULT_STANZA_LIMIT, StanzaTooLarge, checkStanzaSize, stanzaBytes } from "./stanza-size.js";

export interface ComponentOptions {
  service: string;
  domain: string;
  secret: string;
  log: Logger;
  /** Largest stanza sent (stanza-size.ts); larger ones are refused locally. */
  stanzaLimitBytes?: number;
}

export interface ComponentLink extends XmppLink {
  start(): Promise<void>;
  stop(): Promise<void>;
  readonly online: boolean;
  /** Fires once when the server refuses the component for good (wrong secret or domain); no retry follows. */
  onFatal(listener: (failure: StreamFailure) => void): () => void;
}

const MIN_DELAY = 500;
const MAX_DELAY = 30_000;

function notConnected(): XmppStanzaError {
  return new XmppStanzaError("remote-server-timeout", "wait", "not connected to the XMPP server");
}

export function createComponentLink(opts: ComponentOptions): ComponentLink {
  const xmpp: Component = component({ service: opts.service, domain: opts.domain, password: opts.secret });
  const log = opts.log;
  const limit = opts.stanzaLimitBytes ?? DEFAULT_STANZA_LIMIT;
  const stanzaListeners = new Set<StanzaListener>();
  const onlineListeners = new Set<() => void>();
  const offlineListeners = new Set<() => void>();
  const fatalListeners = new Set<(failure: StreamFailure) => void>();
  let stopped = false;
  let fatal: StreamFailure | undefined;
  let online = false;
  let delay = MIN_DELAY;
  let timer: NodeJS.Timeout | null = null;

  // Built-in reconnect uses a fixed 1 s delay and gives up on refused connections; replace it.
  xmpp.reconnect.stop();

  xmpp.on("error", (err: Error) => {
    const condition = streamErrorCondition(err);
    const failure = condition ? permanentStreamFailure(condition, opts) : undefined;
    if (failure) {
      // Stop before the disconnect that follows, so no reconnect is scheduled.
      if (fatal) return;
      fatal = failure;
      stopped = true;
      if (timer) clearTimeout(timer);
      timer = null;
      log.error({ condition }, failure.advice);
      for (const l of fatalListeners) l(failure);
      return;
    }
    if (condition === "conflict") {
      log.error({ condition }, `another connection is already using the component name ${opts.domain}`);
      return;
    }
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
      if (xmpp.status !== "offline" && xmpp.status !== "disconnect")
        await xmpp.disconnect().catch(() => undefined);
      await xmpp.connect(opts.service);
      await xmpp.open({ domain: opts.domain });
    } catch (err) {
      if (fatal) return;
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
        if (fatal) return;
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
    async request(iq, timeoutMs = 30_000) {
      checkStanzaSize(iq, limit);
      // Between streams xmpp.js would throw a TypeError; callers handle stanza errors (retry, skip).
      if (!online) throw notConnected();
      return xmpp.iqCaller.request(iq, timeoutMs);
    },
    async send(stanza) {
      checkStanzaSize(stanza, limit);
      if (!online) throw notConnected();
      await xmpp.send(stanza);
    },
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
    onFatal(listener) {
      // A refusal during start() happens before the caller could listen: report it anyway.
      const already = fatal;
      if (already) queueMicrotask(() => listener(already));
      fatalListeners.add(listener);
      return () => fatalListeners.delete(listener);
    },
    handleIq(type, ns, name, handler: IqHandler) {
      const route =
        type === "get" ? xmpp.iqCallee.get.bind(xmpp.iqCallee) : xmpp.iqCallee.set.bind(xmpp.iqCallee);
      route(ns, name, async (ctx) => {
        try {
          const reply = await handler(ctx.stanza);
          // The reply is wrapped in an <iq/>: leave room for its attributes.
          const bytes = reply ? stanzaBytes(reply) : 0;
          if (bytes > limit - 1024) {
            log.warn({ bytes, limit }, "iq reply too large: refused");
            return stanzaError("cancel", "resource-constraint", new StanzaTooLarge(bytes, limit).text);
          }
          return reply ?? true;
        } catch (err) {
          log.error({ err }, "iq handler failed");
          return stanzaError("cancel", "internal-server-error");
        }
      });
    },
  };
}
