// A stand-in for other servers in benchmarks: a second XEP-0114 component (`remote.localhost`) whose
// accounts move. It answers XEP-0283 statement queries for `old<i>` (naming `new<i>`), sends the
// moved-tagged subscribes as `new<i>`, and absorbs whatever comes back, so Prosody only does the local
// users' share of each move, as with real remote contacts.
import xml from "@xmpp/xml";
import { createComponentLink, type ComponentLink } from "../../src/xmpp/component-link.js";
import { createLogger } from "../../src/log/logger.js";
import type { Prosody } from "../../test/harness/prosody.js";

export const REMOTE = "remote.localhost";
export const REMOTE_SECRET = "remote-secret";
/** Config for startProsody's extraGlobal. */
export const REMOTE_COMPONENT_CONFIG = `Component "${REMOTE}"\n  component_secret = "${REMOTE_SECRET}"\n`;

const NS_PUBSUB = "http://jabber.org/protocol/pubsub";
const NS_MOVED = "urn:xmpp:moved:1";

export interface FakeRemote {
  oldJid(i: number): string;
  newJid(i: number): string;
  /** Sends new<i>'s moved-tagged subscription request to `user`, claiming old<claimed> (default old<i>). */
  announce(i: number, user: string, claimed?: number): Promise<void>;
  /** Statement queries answered so far (the verification work the component caused). */
  readonly statementQueries: number;
  /** `subscribed` presences received so far (one per applied move: the user approved new<i>). */
  readonly approvals: number;
  /** performance.now() of the latest approval. */
  readonly lastApprovalAt: number;
  stop(): Promise<void>;
}

export async function startFakeRemote(prosody: Prosody): Promise<FakeRemote> {
  const link: ComponentLink = createComponentLink({
    service: prosody.componentService,
    domain: REMOTE,
    secret: REMOTE_SECRET,
    log: createLogger("silent"),
  });
  let statementQueries = 0;
  link.handleIq("get", NS_PUBSUB, "pubsub", (iq) => {
    statementQueries++;
    const m = /^old(\d+)@/.exec(iq.attrs.to ?? "");
    if (!m)
      return xml(
        "error",
        { type: "cancel" },
        xml("item-not-found", { xmlns: "urn:ietf:params:xml:ns:xmpp-stanzas" }),
      );
    return xml(
      "pubsub",
      { xmlns: NS_PUBSUB },
      xml(
        "items",
        { node: NS_MOVED },
        xml(
          "item",
          { id: "current" },
          xml("moved", { xmlns: NS_MOVED }, xml("new-jid", {}, `new${m[1]}@${REMOTE}`)),
        ),
      ),
    );
  });
  let approvals = 0;
  let lastApprovalAt = 0;
  link.onStanza((el) => {
    if (el.name === "presence" && el.attrs.type === "subscribed") {
      approvals++;
      lastApprovalAt = performance.now();
    }
  });
  await link.start();
  return {
    get approvals() {
      return approvals;
    },
    get statementQueries() {
      return statementQueries;
    },
    get lastApprovalAt() {
      return lastApprovalAt;
    },
    oldJid: (i) => `old${i}@${REMOTE}`,
    newJid: (i) => `new${i}@${REMOTE}`,
    announce: (i, user, claimed = i) =>
      link.send(
        xml(
          "presence",
          { from: `new${i}@${REMOTE}`, to: user, type: "subscribe" },
          xml("moved", { xmlns: NS_MOVED }, xml("old-jid", {}, `old${claimed}@${REMOTE}`)),
        ),
      ),
    stop: () => link.stop(),
  };
}
