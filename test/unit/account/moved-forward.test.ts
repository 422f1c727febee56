// The module's forward of an inbound moved subscribe, read by the component: the facts as attributes
// (what the module sends now), and the whole presence inside (what an earlier module sent).
import t from "tap";
import xml from "@xmpp/xml";
import { movedFacts } from "../../../src/account/companion.js";

const NS = "urn:xmpp-account-portability:companion:0";
const MOVED = "urn:xmpp:moved:1";

t.test("attributes: user is the local part on the forwarding host", async (t) => {
  const wrap = xml("moved-subscribe", {
    xmlns: NS,
    user: "alice",
    from: "bob@new.example",
    "old-jid": " bob@old.example ",
    hold: "h1",
  });
  t.same(movedFacts(wrap, "localhost"), {
    user: "alice@localhost",
    sender: "bob@new.example",
    oldJid: "bob@old.example",
  });
  t.same(
    movedFacts(xml("moved-subscribe", { xmlns: NS, user: "alice", from: "bob@new.example" }), "localhost"),
    { user: "alice@localhost", sender: "bob@new.example", oldJid: "" },
    "no <old-jid/>: empty, judged later",
  );
});

t.test("attributes: a user that is not a local part, or no sender, is ignored", async (t) => {
  for (const user of ["alice@elsewhere", "alice/res", ""])
    t.equal(
      movedFacts(xml("moved-subscribe", { xmlns: NS, user, from: "bob@new.example" }), "localhost"),
      undefined,
      JSON.stringify(user),
    );
  t.equal(movedFacts(xml("moved-subscribe", { xmlns: NS, user: "alice" }), "localhost"), undefined);
});

t.test("an earlier module's shape: the presence inside", async (t) => {
  const wrap = (to: string, type = "subscribe") =>
    xml(
      "moved-subscribe",
      { xmlns: NS, user: "alice", hold: "h1" },
      xml(
        "presence",
        { xmlns: "jabber:client", type, from: "bob@new.example/phone", to },
        xml("moved", { xmlns: MOVED }, xml("old-jid", {}, "bob@old.example")),
      ),
    );
  t.same(movedFacts(wrap("alice@localhost"), "localhost"), {
    user: "alice@localhost",
    sender: "bob@new.example",
    oldJid: "bob@old.example",
  });
  t.equal(movedFacts(wrap("alice@other.host"), "localhost"), undefined, "a user of another host");
  t.equal(movedFacts(wrap("alice@localhost", "subscribed"), "localhost"), undefined, "not a subscribe");
});
