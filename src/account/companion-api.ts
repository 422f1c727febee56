// The component's view of the companion Prosody module (prosody-module/mod_account_portability.lua):
// what XEP-0356 on Prosody 0.12 cannot do. Implemented by companion.ts; consumed by access.ts.
import type { Element } from "@xmpp/xml";
import type { ArchivedMessage, RosterItem } from "./model.js";

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
  /** The user's roster entries for the sender and the claimed old address, as the module saw them. */
  senderItem: RosterItem | undefined;
  oldItem: RosterItem | undefined;
}

export interface MoveToApply {
  /** The verified new address (bare). */
  newJid: string;
  /** The old address to retire (bare). */
  oldJid: string;
  name?: string;
  groups: string[];
}

/** The module re-checked the roster and found the move no longer applicable (duplicate, withdrawn). */
export class MoveNotApplicable extends Error {
  constructor(readonly reason: string) {
    super(`move no longer applicable: ${reason}`);
    this.name = "MoveNotApplicable";
  }
}

export interface CompanionClient {
  /** True when `host` runs the companion module and granted it to this component. */
  probe(host: string): Promise<boolean>;
  readArchive(user: string, query: ArchiveQuery): Promise<ArchivePage>;
  /** Appends with original ids and stamps; items whose id already exists are skipped. */
  appendArchive(user: string, items: ArchivedMessage[]): Promise<{ added: number; skipped: number }>;
  /** Sends presence of `type` from the local user's bare JID, through Prosody's roster bookkeeping. */
  sendPresence(user: string, to: string, type: SubscriptionPresence, payload?: Element[]): Promise<void>;
  /**
   * Applies a verified XEP-0283 move in one server-side step: approve `newJid` with the name and groups,
   * subscribe back when the old contact was 'both', revoke and remove `oldJid`. Throws MoveNotApplicable
   * when the roster no longer fits (old contact not subscribed, no pending request from the new one).
   */
  applyMove(user: string, move: MoveToApply): Promise<{ subscribedBack: boolean }>;
  /** Inbound subscribe presences carrying <moved xmlns='urn:xmpp:moved:1'/>, forwarded by the module. */
  onMovedSubscribe(listener: (notice: MovedSubscribe) => void): () => void;
}
