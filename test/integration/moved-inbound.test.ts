// XEP-0283 inbound, server side: a verified move is applied for a local user; forged ones change nothing.
import t from "tap";
import xml from "@xmpp/xml";
import { startProsody, sleep } from "../harness/prosody.js";
import { connectClient, type TestClient } from "../harness/clients.js";
import { befriend, publish } from "../harness/populate.js";
import { startTestApp } from "../harness/app.js";
import { getRoster } from "../../src/account/roster.js";

const MOVED = "urn:xmpp:moved:1";
const COMPONENT = "portability.localhost";

function movedSubscribe(to: string, oldJid: string) {
  return xml(
    "presence",
    { to, type: "subscribe" },
    xml("moved", { xmlns: MOVED }, xml("old-jid", {}, oldJid)),
  );
}

t.test("verified moves are applied; forged and duplicate notices change nothing", async (t) => {
  t.setTimeout(180_000);
  const prosody = await startProsody({ companion: true });
  t.teardown(() => prosody.cleanup());
  for (const u of ["alice", "bob", "mallory", "carol"]) await prosody.register(u, "localhost", "pw");
  await prosody.register("bobnew", "example.test", "pw");
  const app = await startTestApp(prosody);
  t.teardown(() => app.stop());
  await sleep(300); // companion probe after online

  const clients: TestClient[] = [];
  t.teardown(async () => {
    for (const c of clients) await c.stop();
  });
  const connect = async (u: string, h = "localhost") => {
    const c = await connectClient(prosody, u, h, "pw");
    clients.push(c);
    return c;
  };
  const alice = await connect("alice");
  const bob = await connect("bob");
  await befriend(alice, "alice@localhost", bob, "bob@localhost", "Bob Builder", ["Work", "Friends"]);
  // Bob moves: statement on the old account (default access model: presence, alice may read it).
  await publish(
    bob,
    MOVED,
    "current",
    xml("moved", { xmlns: MOVED }, xml("new-jid", {}, "bobnew@example.test")),
  );

  // Forged: mallory claims to be bob's new address.
  const mallory = await connect("mallory");
  await mallory.xmpp.send(movedSubscribe("alice@localhost", "bob@localhost"));
  // Not applicable: carol was never alice's contact.
  const carol = await connect("carol");
  await carol.xmpp.send(movedSubscribe("alice@localhost", "nobody@localhost"));
  await sleep(1500);
  let roster = await getRoster(app.link, "alice@localhost");
  t.notOk(
    roster.some((i) => i.jid === "mallory@localhost" && i.subscription !== "none"),
    "forged notice approved nothing",
  );
  t.match(
    roster.find((i) => i.jid === "bob@localhost"),
    { subscription: "both" },
    "old contact untouched by forgeries",
  );
  const forged = await app.db
    .selectFrom("moved_notices")
    .selectAll()
    .where("from_jid", "in", ["mallory@localhost", "carol@localhost"])
    .execute();
  t.same(
    forged.map((n) => [n.from_jid, n.status, n.reason]).sort(),
    [
      ["carol@localhost", "rejected", "old-not-in-roster"],
      ["mallory@localhost", "rejected", "statement-mismatch"],
    ],
    "forgeries recorded with reasons",
  );

  // The real move.
  const bobnew = await connect("bobnew", "example.test");
  await bobnew.xmpp.send(movedSubscribe("alice@localhost", "bob@localhost"));
  const told = await alice.waitFor(
    (m) =>
      m.name === "message" &&
      m.attrs.from === COMPONENT &&
      /moved to bobnew@example\.test/.test(m.getChildText("body") ?? ""),
    20_000,
  );
  t.match(told.getChildText("body"), /Bob Builder/);
  // alice subscribes back (the old contact was 'both'); bobnew approves as any client would.
  await bobnew.waitFor(
    (p) => p.name === "presence" && p.attrs.type === "subscribe" && p.attrs.from === "alice@localhost",
  );
  await bobnew.xmpp.send(xml("presence", { to: "alice@localhost", type: "subscribed" }));
  await sleep(500);
  const bobnewRoster = await bobnew.request(
    xml("iq", { type: "get" }, xml("query", { xmlns: "jabber:iq:roster" })),
  );
  t.equal(
    bobnewRoster
      .getChild("query")
      ?.getChildren("item")
      .find((i) => i.attrs.jid === "alice@localhost")?.attrs.subscription,
    "both",
    "the new account is subscribed to alice and alice to it",
  );
  const bobRoster = await bob.request(
    xml("iq", { type: "get" }, xml("query", { xmlns: "jabber:iq:roster" })),
  );
  t.equal(
    bobRoster
      .getChild("query")
      ?.getChildren("item")
      .find((i) => i.attrs.jid === "alice@localhost")?.attrs.subscription,
    "from",
    "the old account's subscription to alice was revoked ('unsubscribed')",
  );
  roster = await getRoster(app.link, "alice@localhost");
  const moved = roster.find((i) => i.jid === "bobnew@example.test");
  t.match(
    moved,
    { name: "Bob Builder", subscription: "both" },
    "new contact approved both ways with the old name",
  );
  t.same(moved?.groups.sort(), ["Friends", "Work"], "groups carried over");
  t.notOk(
    roster.some((i) => i.jid === "bob@localhost"),
    "old contact retired",
  );

  // Prosody re-sends pending subscribes; duplicates are recorded, not re-applied.
  await bobnew.xmpp.send(movedSubscribe("alice@localhost", "bob@localhost"));
  await sleep(1000);
  const row = await app.db
    .selectFrom("moved_notices")
    .selectAll()
    .where("from_jid", "=", "bobnew@example.test")
    .executeTakeFirst();
  t.match(row, { status: "applied", seen_count: 2 });
  t.equal(
    alice.inbox.filter((m) => m.attrs.from === COMPONENT && /moved to/.test(m.getChildText("body") ?? ""))
      .length,
    1,
    "told once",
  );
});

t.test("moved-settings off: verified notices are left to the user's client", async (t) => {
  t.setTimeout(120_000);
  const prosody = await startProsody({ companion: true });
  t.teardown(() => prosody.cleanup());
  for (const u of ["alice", "bob"]) await prosody.register(u, "localhost", "pw");
  await prosody.register("bobnew", "example.test", "pw");
  const app = await startTestApp(prosody);
  t.teardown(() => app.stop());
  const alice = await connectClient(prosody, "alice", "localhost", "pw");
  const bob = await connectClient(prosody, "bob", "localhost", "pw");
  const bobnew = await connectClient(prosody, "bobnew", "example.test", "pw");
  t.teardown(async () => {
    for (const c of [alice, bob, bobnew]) await c.stop();
  });
  const NS_CMD = "http://jabber.org/protocol/commands";
  const s1 = (
    await alice.request(
      xml("iq", { type: "set", to: COMPONENT }, xml("command", { xmlns: NS_CMD, node: "moved-settings" })),
    )
  ).getChild("command");
  t.equal(
    s1
      ?.getChild("x")
      ?.getChildren("field")
      .find((f) => f.attrs.var === "mode")
      ?.getChildText("value"),
    "automatic",
    "default",
  );
  const done = (
    await alice.request(
      xml(
        "iq",
        { type: "set", to: COMPONENT },
        xml(
          "command",
          { xmlns: NS_CMD, node: "moved-settings", sessionid: s1?.attrs.sessionid, action: "complete" },
          xml(
            "x",
            { xmlns: "jabber:x:data", type: "submit" },
            xml("field", { var: "mode" }, xml("value", {}, "off")),
          ),
        ),
      ),
    )
  ).getChild("command");
  t.match(done?.getChildText("note"), /Saved: Off/);
  await befriend(alice, "alice@localhost", bob, "bob@localhost", "Bob");
  await publish(
    bob,
    MOVED,
    "current",
    xml("moved", { xmlns: MOVED }, xml("new-jid", {}, "bobnew@example.test")),
  );
  await bobnew.xmpp.send(movedSubscribe("alice@localhost", "bob@localhost"));
  const sub = await alice.waitFor(
    (p) => p.name === "presence" && p.attrs.type === "subscribe" && p.attrs.from === "bobnew@example.test",
  );
  t.ok(sub.getChild("moved", MOVED), "the user's client still gets the request with <moved/>");
  await sleep(800);
  const roster = await getRoster(app.link, "alice@localhost");
  t.match(
    roster.find((i) => i.jid === "bob@localhost"),
    { subscription: "both" },
    "nothing changed",
  );
  t.notOk(roster.some((i) => i.jid === "bobnew@example.test"));
});
