// The component's view of the companion Prosody module (prosody-module/mod_account_portability.lua):
// what XEP-0356 on Prosody 0.12 cannot do. Implemented by companion.ts; consumed by access.ts.
import type { Element } from "@xmpp/xml";
import type { ArchivedMessage } from "./model.js";

export interface ArchivePage {
  /** Oldest first. */
  items: ArchivedMessage[];
  /** Archive id of the last item, to pass as `after` for the next page. */
  last?: string;
  /** True when there is nothing after this page. */
  complete: boolean;
}

export interface ArchiveQuery {
  after?: string;
  /** Page size; the module may cap it. */
  max?: number;
  /** ISO 8601 bounds, inclusive. */
  start?: string;
  end?: string;
}

export type SubscriptionPresence = "subscribe" | "subscribed" | "unsubscribe" | "unsubscribed";

export interface MovedSubscribe {
  /** Local user (bare JID) the subscribe was addressed to. */
  user: string;
  /** Bare JID that sent the subscribe (the claimed new address). */
  from: string;
  /** <old-jid/> text as sent (not validated). */
  oldJid: string;
  /** The whole forwarded presence. */
  presence: Element;
}

export interface CompanionClient {
  /** True when `host` runs the companion module and granted it to this component. */
  probe(host: string): Promise<boolean>;
  readArchive(user: string, query: ArchiveQuery): Promise<ArchivePage>;
  /** Appends with original ids and stamps; items whose id already exists are skipped. */
  appendArchive(user: string, items: ArchivedMessage[]): Promise<{ added: number; skipped: number }>;
  /** Sends presence of `type` from the local user's bare JID, through Prosody's roster bookkeeping. */
  sendPresence(user: string, to: string, type: SubscriptionPresence, payload?: Element[]): Promise<void>;
  /** Inbound subscribe presences carrying <moved xmlns='urn:xmpp:moved:1'/>, forwarded by the module. */
  onMovedSubscribe(listener: (notice: MovedSubscribe) => void): () => void;
}
