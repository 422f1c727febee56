// What the XEP-0227 reader yields: one typed record per section (or per item for the sections that
// can be large: archive, offline messages, PEP items per node), in document order.
import type { Element } from "@xmpp/xml";
import type {
  ArchivedMessage,
  NodeConfig,
  PendingSubscription,
  PepAffiliation,
  PepItem,
  RosterItem,
  ScramCredential,
} from "../account/model.js";

export type ArchiveRecord =
  | { kind: "host"; jid: string }
  | { kind: "user"; host: string; name: string; hasPassword: boolean }
  | { kind: "scram"; credential: ScramCredential }
  | { kind: "roster"; items: RosterItem[] }
  | { kind: "pending"; subscription: PendingSubscription }
  | { kind: "vcard"; vcard: Element }
  | { kind: "private"; payloads: Element[] }
  /** XEP-0016 privacy lists; what fits XEP-0191 is emitted just before as a `blocklist` record. */
  | { kind: "privacy"; element: Element; skipped: string[] }
  | { kind: "pep-node"; node: string; config: NodeConfig; affiliations: PepAffiliation[] }
  | { kind: "pep-items"; node: string; items: PepItem[] }
  | { kind: "blocklist"; jids: string[] }
  | { kind: "offline"; message: Element }
  | { kind: "archive"; message: ArchivedMessage }
  | { kind: "unknown"; element: Element; where: string }
  | { kind: "user-end"; host: string; name: string }
  | { kind: "host-end"; jid: string };

export type RecordKind = ArchiveRecord["kind"];

export class ArchiveFormatError extends Error {
  constructor(
    readonly reason: string,
    readonly line: number,
    readonly column: number,
  ) {
    super(`line ${line}, column ${column}: ${reason}`);
    this.name = "ArchiveFormatError";
  }
}

/** The archive is well-formed but exceeds one of the reader's size limits (the reason names it). */
export class ArchiveLimitError extends ArchiveFormatError {
  constructor(reason: string, line: number, column: number) {
    super(reason, line, column);
    this.name = "ArchiveLimitError";
  }
}
