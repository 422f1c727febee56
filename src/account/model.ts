// The account data model shared by the XEP-0227 codec, the server accessors (XEP-0356 + companion
// module) and the export/import/move services. Payloads the project does not interpret stay as XML
// elements so nothing is lost in transit.
import type { Element } from "@xmpp/xml";

export type Subscription = "none" | "to" | "from" | "both";

/** RFC 6121 roster item. */
export interface RosterItem {
  jid: string;
  name?: string;
  subscription: Subscription;
  /** Outbound request pending ("ask='subscribe'"). */
  ask?: "subscribe";
  groups: string[];
}

/** Inbound subscription request waiting for the user's answer (XEP-0227 <presence type='subscribe'/>). */
export interface PendingSubscription {
  from: string;
  /** Extra payload children (e.g. <nick/>), kept as-is. */
  payload: Element[];
}

export interface ScramCredential {
  mechanism: string;
  iterations: number;
  salt: string;
  serverKey: string;
  storedKey: string;
}

/** A pubsub#node_config (or publish-options) form as var -> values. FORM_TYPE excluded. */
export type NodeConfig = Map<string, string[]>;

export interface PepItem {
  id: string;
  payload: Element;
  /** ISO 8601 when known. */
  timestamp?: string;
  publisher?: string;
}

export interface PepAffiliation {
  jid: string;
  affiliation: string;
}

export interface PepNode {
  node: string;
  config: NodeConfig;
  affiliations: PepAffiliation[];
  /** Oldest first. */
  items: PepItem[];
}

/** One MAM archive entry (XEP-0313 result), oldest first in any sequence. */
export interface ArchivedMessage {
  /** Archive id (stanza-id). */
  id: string;
  /** ISO 8601 delay stamp. */
  stamp: string;
  /** The archived <message xmlns='jabber:client'/>. */
  message: Element;
}

/** Sections an export/import can select. */
export const SECTIONS = ["roster", "vcard", "pep", "private", "blocklist", "offline", "archive"] as const;
export type Section = (typeof SECTIONS)[number];

/** The order sections come in an archive, and so in every summary of one. */
const SECTION_ORDER = [
  "credentials",
  "roster",
  "pending",
  "subscription requests",
  "vcard",
  "pep",
  "pep-items",
  "private",
  "blocklist",
  "privacy rules",
  "offline",
  "archive",
];

/**
 * Per-section entries in archive order. Summaries are rebuilt from jsonb columns (a rerun, a resumed
 * job), and jsonb keeps no key order. Names not listed come last, as given.
 */
export function inSectionOrder<T>(entries: [string, T][]): [string, T][] {
  const rank = (k: string): number => {
    const i = SECTION_ORDER.indexOf(k);
    return i === -1 ? SECTION_ORDER.length : i;
  };
  return [...entries].sort(([a], [b]) => rank(a) - rank(b));
}
