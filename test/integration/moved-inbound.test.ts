// XEP-0283 inbound, server side: a verified move is applied for a local user and its request never
// reaches the user's clients; forged ones change nothing and are delivered as they came (with <moved/>).
import t from "tap";
import type { Test } from "@tapjs/test";
import xml from "@xmpp/xml";
import type { Element } from "@xmpp/xml";
import { startProsody, sleep } from "../harness/prosody.js";
import { connectClient, type TestClient } from "../harness/clients.js";
import { befriend, publish } from "../harness/populate.js";
import { localSession, startTestApp } from "../harness/app.js";
import { getRoster } from "../../src/account/roster.js";
import { createComponentLink } from "../../src/xmpp/component-link.js";
import { createLogger } from "../../src/log/logger.js";
import { until } from "../harness/wait.js";
import { movedStatement, movedSubscribe } from "../harness/moved-statement.js";

const MOVED = "urn:xmpp:moved:1";
const COMPONENT = "portability.localhost";

const isSubscribeFrom = (from: string) => (p: Element) =>
  p.name === "presence" && p.attrs.type === "subscribe" && p.attrs.from === from;

/** Publishes `client`'s XEP-0283 statement naming `newJid` (default access model: presence). */
const announceMove = (client: TestClient, newJid: string) =>
  publish(client, MOVED, "current", movedStatement(newJid));

/**
 * A Prosody with the companion module, `local` users on localhost and `remote` ones on example.test,
 * the component, and `connect` for clients (all stopped at teardown).
 */
async function world(t: Test, local: string[], remote: string[]) {
  const prosody = await startProsody({ companion: true });
  t.teardown(() => prosody.cleanup());
  for (const u of local) await prosody.register(u, "localhost", "pw");
  for (const u of remote) await prosody.register(u, "example.test", "pw");
  const app = await startTestApp(prosody);
  t.teardown(() => app.stop());
  const clients: TestClient[] = [];
  t.teardown(async () => {
    for (const c of clients) await c.stop();
  });
  const connect = async (u: string, h = "localhost") => {
    const c = await connectClient(prosody, u, h, "pw");
    clients.push(c);
    return c;
  };
  return { prosody, app, connect };
}

t.test("verified moves are applied; forged and duplicate notices change nothing", async (t) => {
  t.setTimeout(180_000);
  const { app, connect } = await world(t, ["alice", "bob", "mallory", "carol"], ["bobnew"]);
  t.ok(await app.companion.probe("localhost"), "companion module answers");

  const alice = await connect("alice");
  const bob = await connect("bob");
  await befriend(alice, "alice@localhost", bob, "bob@localhost", "Bob Builder", ["Work", "Friends"]);
  // Bob moves: statement on the old account (default access model: presence, alice may read it).
  await announceMove(bob, "bobnew@example.test");

  // Forged: mallory claims to be bob's new address.
  const mallory = await connect("mallory");
  await mallory.xmpp.send(movedSubscribe("alice@localhost", "bob@localhost"));
  // Not applicable: carol was never alice's contact.
  const carol = await connect("carol");
  await carol.xmpp.send(movedSubscribe("alice@localhost", "nobody@localhost"));
  // Not verified: delivered to alice's client unchanged, <moved/> included.
  for (const forger of ["mallory@localhost", "carol@localhost"]) {
    const got = await alice.waitFor(isSubscribeFrom(forger));
    t.equal(
      got.getChild("moved", MOVED)?.getChildText("old-jid"),
      forger === "carol@localhost" ? "nobody@localhost" : "bob@localhost",
      `${forger}'s request reached alice's client with <moved/>`,
    );
  }
  let roster = await getRoster(localSession(app, "alice@localhost"));
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
  t.notOk(
    alice.inbox.some(isSubscribeFrom("bobnew@example.test")),
    "the verified request never reached alice's client",
  );
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
  roster = await getRoster(localSession(app, "alice@localhost"));
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
  t.notOk(
    alice.inbox.some(isSubscribeFrom("bobnew@example.test")),
    "the re-sent request for an applied move is answered by the server, not shown to alice",
  );
  t.equal(
    alice.inbox.filter((m) => m.attrs.from === COMPONENT && /moved to/.test(m.getChildText("body") ?? ""))
      .length,
    1,
    "told once",
  );
});

t.test("moved-settings off: verified notices are left to the user's client", async (t) => {
  t.setTimeout(120_000);
  const { app, connect } = await world(t, ["alice", "bob"], ["bobnew"]);
  const alice = await connect("alice");
  const bob = await connect("bob");
  const bobnew = await connect("bobnew", "example.test");
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
  await announceMove(bob, "bobnew@example.test");
  await bobnew.xmpp.send(movedSubscribe("alice@localhost", "bob@localhost"));
  const sub = await alice.waitFor(
    (p) => p.name === "presence" && p.attrs.type === "subscribe" && p.attrs.from === "bobnew@example.test",
  );
  t.ok(sub.getChild("moved", MOVED), "the user's client still gets the request with <moved/>");
  const roster = await until(
    () => getRoster(localSession(app, "alice@localhost")),
    (r) => r.some((i) => i.jid === "bob@localhost" && i.subscription === "both"),
    { what: "alice's roster to keep bob" },
  ).catch(() => getRoster(localSession(app, "alice@localhost")));
  t.match(
    roster.find((i) => i.jid === "bob@localhost"),
    { subscription: "both" },
    "nothing changed",
  );
  t.notOk(roster.some((i) => i.jid === "bobnew@example.test"));
});

t.test("a notice rejected before the statement was published is applied when it comes again", async (t) => {
  t.setTimeout(120_000);
  const { app, connect } = await world(t, ["alice", "bob"], ["bobnew"]);
  const alice = await connect("alice");
  const bob = await connect("bob");
  const bobnew = await connect("bobnew", "example.test");
  await befriend(alice, "alice@localhost", bob, "bob@localhost", "Bob");
  // Too early: no statement yet. Delivered to alice as it came; recorded as what it was.
  await bobnew.xmpp.send(movedSubscribe("alice@localhost", "bob@localhost"));
  await alice.waitFor(isSubscribeFrom("bobnew@example.test"));
  const first = await app.db.selectFrom("moved_notices").selectAll().executeTakeFirst();
  t.match(first, { status: "rejected", reason: "statement-missing" });
  alice.inbox.length = 0;

  await announceMove(bob, "bobnew@example.test");
  await bobnew.xmpp.send(movedSubscribe("alice@localhost", "bob@localhost"));
  await alice.waitFor(
    (m) => m.attrs.from === COMPONENT && /moved to bobnew@example\.test/.test(m.getChildText("body") ?? ""),
    20_000,
  );
  const second = await app.db.selectFrom("moved_notices").selectAll().executeTakeFirst();
  t.match(second, { status: "applied", seen_count: 2 }, "verified again and applied");
  const roster = await getRoster(localSession(app, "alice@localhost"));
  t.match(
    roster.find((i) => i.jid === "bobnew@example.test"),
    { name: "Bob", subscription: "from", ask: "subscribe" },
  );
  t.notOk(alice.inbox.some(isSubscribeFrom("bobnew@example.test")), "the second request was not delivered");
});

t.test("a forger flooding from a shared domain does not block a genuine move to another user", async (t) => {
  t.setTimeout(120_000);
  const { app, connect } = await world(t, ["alice", "bob", "carol", "eve"], ["mallory", "eve2"]);
  const [alice, bob, carol, eve] = await Promise.all(["alice", "bob", "carol", "eve"].map((u) => connect(u)));
  if (!alice || !bob || !carol || !eve) throw new Error("clients");
  await befriend(alice, "alice@localhost", carol, "carol@localhost", "Carol");
  await befriend(bob, "bob@localhost", eve, "eve@localhost", "Eve");
  await announceMove(eve, "eve2@example.test");
  const mallory = await connect("mallory", "example.test");
  const eve2 = await connect("eve2", "example.test");

  // 40 forged notices to alice, as fast as the stream takes them; once the forger is rate-limited,
  // a genuine notice from the same domain to bob.
  const FLOOD = 40;
  for (let i = 0; i < FLOOD; i++)
    await mallory.xmpp.send(movedSubscribe("alice@localhost", "carol@localhost"));
  const mallorysRow = () =>
    app.db
      .selectFrom("moved_notices")
      .selectAll()
      .where("from_jid", "=", "mallory@example.test")
      .executeTakeFirst();
  while ((await mallorysRow())?.seen_count !== FLOOD) await sleep(100);
  t.match(await mallorysRow(), { status: "rate-limited" }, "the forger ran out of its allowance");
  const forged = await alice.waitFor(isSubscribeFrom("mallory@example.test"));
  t.ok(
    forged.getChild("moved", MOVED),
    "its request reached alice as it came (once: Prosody shows a pending request once)",
  );

  await eve2.xmpp.send(movedSubscribe("bob@localhost", "eve@localhost"));
  await bob.waitFor(
    (m) => m.attrs.from === COMPONENT && /moved to eve2@example\.test/.test(m.getChildText("body") ?? ""),
    20_000,
  );
  t.match(
    (await getRoster(localSession(app, "bob@localhost"))).find((i) => i.jid === "eve2@example.test"),
    { name: "Eve", subscription: "from", ask: "subscribe" },
    "the genuine move was applied (bob asks eve2 back, as he followed eve)",
  );
  t.notOk(bob.inbox.some(isSubscribeFrom("eve2@example.test")), "and its request not shown to bob");
  t.match(
    (await getRoster(localSession(app, "alice@localhost"))).find((i) => i.jid === "carol@localhost"),
    { subscription: "both" },
    "nothing changed for alice",
  );
});

t.test(
  "component offline or silent: the moved request is delivered unchanged, after the hold at most",
  async (t) => {
    t.setTimeout(60_000);
    const prosody = await startProsody({
      companion: true,
      extraGlobal: "account_portability_moved_hold = 1",
    });
    t.teardown(() => prosody.cleanup());
    await prosody.register("alice", "localhost", "pw");
    await prosody.register("bobnew", "example.test", "pw");
    await prosody.register("carolnew", "example.test", "pw");
    const alice = await connectClient(prosody, "alice", "localhost", "pw");
    const bobnew = await connectClient(prosody, "bobnew", "example.test", "pw");
    const carolnew = await connectClient(prosody, "carolnew", "example.test", "pw");
    t.teardown(async () => {
      for (const c of [alice, bobnew, carolnew]) await c.stop();
    });
    // No component connected: nobody to decide, delivered at once.
    let t0 = Date.now();
    await bobnew.xmpp.send(movedSubscribe("alice@localhost", "bob@localhost"));
    const p1 = await alice.waitFor(isSubscribeFrom("bobnew@example.test"));
    t.ok(p1.getChild("moved", MOVED), "delivered with <moved/>");
    t.ok(Date.now() - t0 < 900, "without waiting for the hold");

    // A component that never answers: held, then delivered when the hold (1 s here) runs out.
    const silent = createComponentLink({
      service: prosody.componentService,
      domain: prosody.component,
      secret: prosody.secret,
      log: createLogger("silent"),
    });
    const forwarded: Element[] = [];
    silent.onStanza((el) => {
      if (el.getChild("moved-subscribe", "urn:xmpp-account-portability:companion:0")) forwarded.push(el);
    });
    await silent.start();
    t.teardown(() => silent.stop());
    t0 = Date.now();
    await carolnew.xmpp.send(movedSubscribe("alice@localhost", "carol@localhost"));
    const p2 = await alice.waitFor(isSubscribeFrom("carolnew@example.test"));
    t.ok(Date.now() - t0 >= 900, "held until the timeout");
    t.ok(p2.getChild("moved", MOVED), "then delivered unchanged");
    t.equal(forwarded.length, 1, "the component was asked");
    t.ok(forwarded[0]?.getChild("moved-subscribe", "urn:xmpp-account-portability:companion:0")?.attrs.hold);
  },
);
