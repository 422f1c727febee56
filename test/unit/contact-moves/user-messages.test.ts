import t from "tap";
import type { Element } from "@xmpp/xml";
import type { XmppLink } from "../../../src/xmpp/link.js";
import { createMoveMessenger, renderMoves } from "../../../src/contact-moves/user-messages.js";

function fakeLink(sent: Element[]): XmppLink {
  return {
    domain: "portability.example",
    request: () => Promise.reject(new Error("unused")),
    send: (el) => {
      sent.push(el);
      return Promise.resolve();
    },
    onStanza: () => () => undefined,
    handleIq: () => undefined,
    onOnline: () => () => undefined,
    onOffline: () => () => undefined,
  };
}

t.test("one move reads as a sentence, several as one list", async (t) => {
  t.match(
    renderMoves("applied", [{ label: "Bob (bob@old.example)", newJid: "bob@new.example" }]),
    /^Your contact Bob \(bob@old\.example\) moved to bob@new\.example\. I approved/,
  );
  const many = renderMoves("asked", [
    { label: "a@old.example", newJid: "a@new.example" },
    { label: "b@old.example", newJid: "b@new.example" },
  ]);
  t.match(many, /^2 contacts say they moved/);
  t.match(many, /\n- a@old\.example → a@new\.example\n- b@old\.example → b@new\.example$/);
});

t.test("moves arriving together become one message per user and outcome", async (t) => {
  const sent: Element[] = [];
  const m = createMoveMessenger(fakeLink(sent), { quietMs: 50, maxLines: 3 });
  m.add("ada@example.org", "applied", { label: "a@old", newJid: "a@new" });
  m.add("ada@example.org", "applied", { label: "b@old", newJid: "b@new" });
  m.add("ada@example.org", "asked", { label: "c@old", newJid: "c@new" });
  m.add("eve@example.org", "applied", { label: "d@old", newJid: "d@new" });
  t.equal(sent.length, 0, "nothing sent while moves keep coming");
  await new Promise((r) => setTimeout(r, 120));
  const bodies = sent.map((el) => `${el.attrs.to}: ${el.getChildText("body") ?? ""}`).sort();
  t.equal(bodies.length, 3);
  t.match(bodies[0], /^ada@example\.org: 2 of your contacts moved/);
  t.match(bodies[1], /^ada@example\.org: c@old says they moved to c@new/);
  t.match(bodies[2], /^eve@example\.org: Your contact d@old moved to d@new/);
  for (const el of sent) t.equal(el.attrs.from, "portability.example");

  sent.length = 0;
  for (const x of ["e", "f", "g", "h"])
    m.add("ada@example.org", "applied", { label: `${x}@old`, newJid: `${x}@new` });
  t.equal(sent.length, 1, "a full batch goes out at once");
  t.match(sent[0]?.getChildText("body"), /^3 of your contacts moved/);
  await m.flush();
  t.equal(sent.length, 2, "flush sends the rest");
  t.match(sent[1]?.getChildText("body"), /h@old moved to h@new/);
});
