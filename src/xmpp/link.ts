// The one seam between the component's logic and the XMPP stream. Everything above this file
// talks to an XmppLink, so unit tests can use a fake and integration tests a real Prosody.
import type { Element } from "@xmpp/xml";

export type StanzaListener = (stanza: Element) => void;
export type IqHandler = (iq: Element) => Promise<Element | undefined> | Element | undefined;

export interface XmppLink {
  /** The component's own JID. */
  readonly domain: string;
  /** Sends an IQ (id assigned if missing); resolves with the type=result stanza, rejects with StanzaError/timeout. */
  request(iq: Element, timeoutMs?: number): Promise<Element>;
  send(stanza: Element): Promise<void>;
  /** Inbound <message/> and <presence/> stanzas. Returns an unsubscribe function. */
  onStanza(listener: StanzaListener): () => void;
  /** Serves inbound IQs of a type whose first child is (name, ns). The handler returns the payload, or an <error/>. */
  handleIq(type: "get" | "set", ns: string, name: string, handler: IqHandler): void;
  /** Fires after each (re)connection, once the handshake is done. */
  onOnline(listener: () => void): () => void;
  /** Fires when the stream is lost (before any reconnect). */
  onOffline(listener: () => void): () => void;
}
