// The component's view of the companion Prosody module (prosody-module/mod_account_portability.lua):
// what XEP-0356 on Prosody 0.12 cannot do. Implemented by companion.ts; consumed by access.ts.
import type { Element } from "@xmpp/xml";
import type { ArchivedMessage, RosterItem } from "./model.js";
import type { Statement } from "./moved-statement.js";

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

export interface ArchiveAppendResult {
  added: number;
  skipped: number;
  /** Not stored: the account's archive reached the server's quota (storage_archive_item_limit). */
  overQuota: number;
  /** Not sent: larger than the stanza size limit on its own. */
  tooLarge?: number;
}

export interface UserPage {
  users: string[];
  /** How many accounts the host has in all. */
  total: number;
  complete: boolean;
}

export type SubscriptionPresence = "subscribe" | "subscribed" | "unsubscribe" | "unsubscribed";

export interface MovedSubscribe {
  /** Local user (bare JID) the subscribe was addressed to. */
  user: string;
  /** Bare JID that sent the subscribe (the claimed new address). */
  from: string;
  /** <old-jid/> text as sent (not validated). */
  oldJid: string;
  /** The user's roster entries for the sender and the claimed old address, as the module saw them. */
  senderItem: RosterItem | undefined;
  oldItem: RosterItem | undefined;
  /**
   * Set when the module holds the request until our verdict: applyMove with it (not delivered), or
   * releaseMoved (delivered unchanged). Without a verdict the module delivers it after its timeout.
   */
  hold?: string;
}

/** A presence error answering a subscription request sent with sendPresence. */
export interface PresenceBounce {
  /** Local user (bare) the request was sent from. */
  user: string;
  /** Bare JID the request was sent to. */
  contact: string;
  condition: string;
  text?: string;
}

export interface MoveToApply {
  /** The verified new address (bare). */
  newJid: string;
  /** The old address to retire (bare). */
  oldJid: string;
  name?: string;
  groups: string[];
  /** MovedSubscribe.hold of the request being answered. */
  hold?: string;
}

/** The module re-checked the roster and found the move no longer applicable (duplicate, withdrawn). */
export class MoveNotApplicable extends Error {
  constructor(readonly reason: string) {
    super(`move no longer applicable: ${reason}`);
    this.name = "MoveNotApplicable";
  }
}

/** The companion module answered that it does not know a request (an older module). */
export class CompanionOpMissing extends Error {
  constructor(readonly op: string) {
    super(`the companion module does not support ${op}; update it`);
    this.name = "CompanionOpMissing";
  }
}

export interface CompanionClient {
  /** True when `host` runs the companion module and granted it to this component. */
  probe(host: string): Promise<boolean>;
  readArchive(user: string, query: ArchiveQuery): Promise<ArchivePage>;
  /**
   * Appends with original ids and stamps; items whose id already exists are skipped, items beyond the
   * server's archive quota are not stored (`overQuota`), and items too large to send on their own are
   * skipped (`tooLarge`). Sent in as many requests as the stanza size limit needs; cheap per batch: call
   * endArchiveImport after the last batch of an import.
   */
  appendArchive(user: string, items: ArchivedMessage[]): Promise<ArchiveAppendResult>;
  /** After an import's last append: restores time order (if needed) and drops the module's id cache. */
  endArchiveImport(user: string): Promise<{ reordered: boolean }>;
  /** Sends presence of `type` from the local user's bare JID, through Prosody's roster bookkeeping. */
  sendPresence(user: string, to: string, type: SubscriptionPresence, payload?: Element[]): Promise<void>;
  /**
   * Applies a verified XEP-0283 move in one server-side step: approve `newJid` with the name and groups,
   * subscribe back when the old contact was 'both', revoke and remove `oldJid`. Throws MoveNotApplicable
   * when the roster no longer fits (old contact not subscribed, no pending request from the new one).
   */
  applyMove(user: string, move: MoveToApply): Promise<{ subscribedBack: boolean }>;
  /**
   * applyMove with the statement check done by the module: it fetches `oldJid`'s XEP-0283 statement as
   * the user and applies the move only when the statement names `newJid`. Otherwise nothing changes and
   * the fetched statement (or its error) comes back to be judged. Throws MoveNotApplicable like
   * applyMove, and CompanionOpMissing when the module predates this request.
   */
  verifyAndApplyMove(
    user: string,
    move: MoveToApply,
    timeoutMs: number,
  ): Promise<{ applied: true; subscribedBack: boolean } | { applied: false; statement: Statement }>;
  /** Delivers a held moved subscribe unchanged to the user (false when it was no longer held). */
  releaseMoved(user: string, hold: string): Promise<boolean>;
  /** One page of the host's accounts (local parts, sorted); page on with `after` = the last name. */
  listUsers(host: string, after?: string, max?: number): Promise<UserPage>;
  /** Inbound subscribe presences carrying <moved xmlns='urn:xmpp:moved:1'/>, forwarded by the module. */
  onMovedSubscribe(listener: (notice: MovedSubscribe) => void): () => void;
  /** Bounces of subscription requests sent with sendPresence, forwarded by the module. */
  onPresenceBounce(listener: (bounce: PresenceBounce) => void): () => void;
}
