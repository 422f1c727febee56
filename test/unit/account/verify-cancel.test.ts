// A verify-move with no answer in time: the companion client asks the module what became of it
// (verify-cancel, same ticket) and reports an applied move as applied, anything else as the timeout.
import t from "tap";
import xml from "@xmpp/xml";
import type { Element } from "@xmpp/xml";
import type { XmppLink } from "../../../src/xmpp/link.js";
import { createCompanionClient } from "../../../src/account/companion.js";
import { XmppStanzaError } from "../../../src/xmpp/stanza-error.js";

const NS = "urn:xmpp-account-portability:companion:0";

function linkAnsweringCancel(state: string, back = false) {
  const asked: Element[] = [];
  const timeout = Object.assign(new Error("timed out"), { name: "TimeoutError" });
  const link: XmppLink = {
    domain: "portability.localhost",
    async request(iq) {
      const op = iq.children[0] as Element;
      asked.push(op);
      if (op.name === "verify-move") throw timeout;
      return xml(
        "iq",
        { type: "result" },
        xml("verify-canceled", {
          xmlns: NS,
          state,
          "subscribed-back": state === "applied" ? String(back) : undefined,
        }),
      );
    },
    send: async () => undefined,
    onStanza: () => () => undefined,
    handleIq: () => undefined,
    onOnline: () => () => undefined,
    onOffline: () => () => undefined,
  };
  return { link, asked };
}

const move = { newJid: "bobnew@new.example", oldJid: "bob@old.example", groups: [] };

t.test("applied before the cancel: reported applied", async (t) => {
  const { link, asked } = linkAnsweringCancel("applied", true);
  const r = await createCompanionClient(link).verifyAndApplyMove("alice@localhost", move, 1000);
  t.same(r, { applied: true, subscribedBack: true });
  t.same(
    asked.map((op) => op.name),
    ["verify-move", "verify-cancel"],
  );
  t.ok(asked[0]?.attrs.ticket, "the verify-move carries a ticket");
  t.equal(asked[1]?.attrs.ticket, asked[0]?.attrs.ticket, "the cancel names the same ticket");
  t.equal(asked[1]?.attrs.user, "alice");
});

for (const state of ["canceled", "not-applied"])
  t.test(`${state}: the timeout stands`, async (t) => {
    const { link } = linkAnsweringCancel(state);
    const err = await createCompanionClient(link)
      .verifyAndApplyMove("alice@localhost", move, 1000)
      .catch((e: unknown) => e);
    t.ok(err instanceof XmppStanzaError && err.condition === "remote-server-timeout", String(err));
  });
