// An account session: everything a transfer needs from one account, whoever holds it. Two kinds exist:
// the component acting for a local user (XEP-0356 privileges + the companion module) and a logged-in
// client on an account elsewhere (move-away's new account, move-here's old one). Collect and apply
// only ever talk to this interface, so one set of rules serves export, import and both moves.
import type { Element } from "@xmpp/xml";
import type {
  ArchiveAppendResult,
  ArchivePage,
  ArchiveQuery,
  SubscriptionPresence,
} from "./companion-api.js";
import type { Capability } from "./capabilities.js";
import type { ArchivedMessage } from "./model.js";

export interface IqOptions {
  /** Recipient; omitted means the account's own server handles it for the account. */
  to?: string;
  timeoutMs?: number;
}

export interface AccountSession {
  /** Bare JID of the account. */
  readonly jid: string;
  /** "privileged" (this server's user, through the component) or "client" (logged in elsewhere). */
  readonly kind: "privileged" | "client";
  /** An IQ sent as the account. Resolves with the result <iq/>; rejects with XmppStanzaError. */
  iq(type: "get" | "set", payload: Element, opts?: IqOptions): Promise<Element>;
  /** What this session can do on this account right now. */
  capabilities(): Promise<ReadonlySet<Capability>>;
  /** Why a capability is missing, for the person (an operator fix, or what a client cannot do). */
  missing(capability: Capability): string;
  /** One page of the message archive, oldest first. */
  readArchive(q: ArchiveQuery): Promise<ArchivePage>;
  /** Appends with original ids and stamps; ids already present are skipped, none beyond the server's quota. */
  appendArchive(items: ArchivedMessage[]): Promise<ArchiveAppendResult>;
  /** After the last append of an import: the server puts the history in time order. */
  finishArchiveImport(): Promise<void>;
  /** Subscription presence from the account's bare JID. */
  sendPresence(to: string, type: SubscriptionPresence, payload?: Element[]): Promise<void>;
}

/** Pages through an account's whole archive (or a date range), oldest first. */
export async function* archiveMessages(
  s: AccountSession,
  q: Pick<ArchiveQuery, "start" | "end">,
  pageSize = 250,
): AsyncGenerator<ArchivedMessage> {
  let after: string | undefined;
  for (;;) {
    const page = await s.readArchive({ ...q, max: pageSize, ...(after ? { after } : {}) });
    for (const m of page.items) yield m;
    if (page.complete || page.items.length === 0 || !page.last) return;
    after = page.last;
  }
}
