import t from "tap";
import xml from "@xmpp/xml";
import type { Element } from "@xmpp/xml";
import { startProsody, sleep } from "../harness/prosody.js";
import { connectClient } from "../harness/clients.js";
import { connectComponent } from "../harness/component.js";
import { createCompanionClient } from "../../src/account/companion.js";
import { MoveNotApplicable, type MovedSubscribe } from "../../src/account/companion-api.js";
import { getRoster } from "../../src/account/roster.js";
import { XmppStanzaError } from "../../src/xmpp/stanza-error.js";
import { createComponentLink } from "../../src/xmpp/component-link.js";
import { createLogger } from "../../src/log/logger.js";

const NS = "urn:xmpp-account-portability:companion:0";

t.test("companion module: archive read/append, presence as user, moved forwarding, refusals", async (t) => {
  const prosody = await startProsody({
    companion: true,
    extraGlobal: `Component "intruder.localhost"\n  component_secret = "other-secret"\n`,
  });
  t.teardown(() => prosody.cleanup());
  for (const u of ["alice", "bob", "dave", "bobnew"]) await prosody.register(u, "localhost", "pw");
  await prosody.register("carol", "example.test", "pw");

  const link = await connectComponent(prosody);
  t.teardown(() => link.stop());
  const companion = createCompanionClient(link);
  t.ok(await companion.probe("localhost"), "module detected on localhost");

  // Archive read: real messages between real clients, paged.
  const alice = await connectClient(prosody, "alice", "localhost", "pw");
  const bob = await connectClient(prosody, "bob", "localhost", "pw");
  t.teardown(async () => {
    await alice.stop();
    await bob.stop();
  });
  for (let i = 0; i < 5; i++) {
    await alice.xmpp.send(
      xml("message", { to: "bob@localhost", type: "chat", id: `m${i}` }, xml("body", {}, `hello ${i} ✓`)),
    );
  }
  await bob.waitFor((el) => el.getChildText("body") === "hello 4 ✓");
  await sleep(200);
  const p1 = await companion.readArchive("alice@localhost", { max: 2 });
  t.equal(p1.items.length, 2);
  t.equal(p1.complete, false);
  t.equal(p1.items[0]?.message.getChildText("body"), "hello 0 ✓", "oldest first, unicode intact");
  t.match(p1.items[0]?.stamp, /^\d{4}-\d\d-\d\dT/);
  // A message archived while paging (the export's own progress notes, a new chat) is still included.
  await bob.xmpp.send(xml("message", { to: "alice@localhost", type: "chat" }, xml("body", {}, "late")));
  await alice.waitFor((el) => el.getChildText("body") === "late");
  await sleep(200);
  const rest: string[] = [];
  let after = p1.last;
  for (let pages = 0; ; pages++) {
    t.ok(pages < 10, "paging ends");
    if (pages >= 10) break;
    const p = await companion.readArchive("alice@localhost", { max: 2, after });
    rest.push(...p.items.map((m) => m.message.getChildText("body") ?? ""));
    if (p.complete) break;
    after = p.last;
  }
  t.same(rest, ["hello 2 ✓", "hello 3 ✓", "hello 4 ✓", "late"], "every later message once, in order");
  const exact = await companion.readArchive("alice@localhost", { max: 6 });
  t.same(
    [exact.items.length, exact.complete],
    [6, true],
    "a first page holding exactly the whole archive is complete",
  );

  // Archive append into another host's account, idempotent by id, visible to the user's own MAM query.
  const imported = [1, 2, 3].map((i) => ({
    id: `imp-${i}`,
    stamp: `2020-01-0${i}T10:00:00Z`,
    message: xml(
      "message",
      { xmlns: "jabber:client", from: "old@remote.example/x", to: "carol@example.test", type: "chat" },
      xml("body", {}, `old ${i}`),
    ),
  }));
  t.same(await companion.appendArchive("carol@example.test", imported), { added: 3, skipped: 0 });
  t.same(
    await companion.appendArchive("carol@example.test", imported),
    { added: 0, skipped: 3 },
    "second append changes nothing",
  );
  const back = await companion.readArchive("carol@example.test", { max: 10 });
  t.same(
    back.items.map((m) => [m.id, m.stamp, m.message.getChildText("body")]),
    [
      ["imp-1", "2020-01-01T10:00:00Z", "old 1"],
      ["imp-2", "2020-01-02T10:00:00Z", "old 2"],
      ["imp-3", "2020-01-03T10:00:00Z", "old 3"],
    ],
  );
  const carol = await connectClient(prosody, "carol", "example.test", "pw");
  t.teardown(() => carol.stop());
  const own = carol.inbox.length;
  await carol.request(xml("iq", { type: "set" }, xml("query", { xmlns: "urn:xmpp:mam:2", queryid: "q" })));
  const results = carol.inbox.slice(own).filter((m) => m.getChild("result", "urn:xmpp:mam:2"));
  t.same(
    results.map((m) => m.getChild("result", "urn:xmpp:mam:2")?.attrs.id),
    ["imp-1", "imp-2", "imp-3"],
    "user's own MAM sees the import",
  );

  // Presence as user: alice subscribes to dave; dave's client sees it; alice's roster has ask=subscribe.
  const dave = await connectClient(prosody, "dave", "localhost", "pw");
  t.teardown(() => dave.stop());
  await companion.sendPresence("alice@localhost", "dave@localhost", "subscribe", [
    xml("nick", { xmlns: "http://jabber.org/protocol/nick" }, "Alice"),
  ]);
  const sub = await dave.waitFor((el) => el.name === "presence" && el.attrs.type === "subscribe");
  t.equal(sub.attrs.from, "alice@localhost");
  t.equal(sub.getChildText("nick", "http://jabber.org/protocol/nick"), "Alice", "payload carried");
  const aliceRoster = await getRoster(link, "alice@localhost");
  t.match(
    aliceRoster.find((i) => i.jid === "dave@localhost"),
    { ask: "subscribe", subscription: "none" },
    "roster bookkeeping ran",
  );
  // dave approves from his client; then alice (via the component) approves dave back.
  await dave.xmpp.send(xml("presence", { to: "alice@localhost", type: "subscribed" }));
  await sleep(300);
  await dave.xmpp.send(xml("presence", { to: "alice@localhost", type: "subscribe" }));
  await sleep(300);
  await dave.stop();
  await companion.sendPresence("alice@localhost", "dave@localhost", "subscribed");
  await sleep(300);
  t.match(
    (await getRoster(link, "alice@localhost")).find((i) => i.jid === "dave@localhost"),
    { subscription: "both" },
  );

  // Moved forwarding: the component gets a copy, the user still gets the subscribe.
  const notices: MovedSubscribe[] = [];
  companion.onMovedSubscribe((n) => notices.push(n));
  const bobnew = await connectClient(prosody, "bobnew", "localhost", "pw");
  t.teardown(() => bobnew.stop());
  await bobnew.xmpp.send(
    xml(
      "presence",
      { to: "alice@localhost", type: "subscribe" },
      xml("moved", { xmlns: "urn:xmpp:moved:1" }, xml("old-jid", {}, "bob@localhost")),
    ),
  );
  await alice.waitFor(
    (el) => el.name === "presence" && el.attrs.type === "subscribe" && el.attrs.from === "bobnew@localhost",
  );
  for (let i = 0; i < 40 && notices.length === 0; i++) await sleep(50);
  t.equal(notices.length, 1);
  t.match(notices[0], { user: "alice@localhost", from: "bobnew@localhost", oldJid: "bob@localhost" });
  // A plain subscribe is not forwarded.
  await bobnew.xmpp.send(xml("presence", { to: "carol@example.test", type: "subscribe" }));
  await sleep(300);
  t.equal(notices.length, 1, "only moved-tagged subscribes are forwarded");

  t.match(notices[0]?.oldItem, undefined, "bob is not in alice's roster: no entry forwarded");

  // apply-move, on the request bobnew just left pending: approve with name and groups, subscribe back
  // (dave, the contact retired here, was 'both'), revoke and remove dave; one step, re-checked.
  const stale = await companion
    .applyMove("alice@localhost", { newJid: "nobody@localhost", oldJid: "dave@localhost", groups: [] })
    .catch((e: unknown) => e);
  t.ok(stale instanceof MoveNotApplicable && stale.reason === "no-pending-request", "no request, no move");
  const unsubscribedOld = await companion
    .applyMove("alice@localhost", { newJid: "bobnew@localhost", oldJid: "carol@example.test", groups: [] })
    .catch((e: unknown) => e);
  t.ok(
    unsubscribedOld instanceof MoveNotApplicable && unsubscribedOld.reason === "old-not-subscribed",
    "the old contact must be subscribed to the user",
  );
  t.same(
    await companion.applyMove("alice@localhost", {
      newJid: "bobnew@localhost",
      oldJid: "dave@localhost",
      name: "Dave D",
      groups: ["Family", "Climbing"],
    }),
    { subscribedBack: true },
  );
  await bobnew.waitFor((el) => el.name === "presence" && el.attrs.type === "subscribe");
  await bobnew.waitFor(
    (el) => el.name === "presence" && !el.attrs.type && el.attrs.from === "alice@localhost/test",
    5000,
  );
  // (Prosody 0.12 shows inbound 'subscribed' only to clients that fetched their roster: check state.)
  t.match(
    (await getRoster(link, "bobnew@localhost")).find((i) => i.jid === "alice@localhost"),
    { subscription: "to" },
    "the new contact is approved",
  );
  const afterMove = await getRoster(link, "alice@localhost");
  const moved = afterMove.find((i) => i.jid === "bobnew@localhost");
  t.match(moved, { name: "Dave D", subscription: "from", ask: "subscribe" }, "approved, asked back");
  t.same(moved?.groups.sort(), ["Climbing", "Family"]);
  t.notOk(
    afterMove.some((i) => i.jid === "dave@localhost"),
    "old contact removed",
  );
  const again = await companion
    .applyMove("alice@localhost", { newJid: "bobnew@localhost", oldJid: "dave@localhost", groups: [] })
    .catch((e: unknown) => e);
  t.ok(again instanceof MoveNotApplicable, "a repeated apply changes nothing");

  // Refusals: a user, and another component, asking the module directly.
  const asUser = await alice
    .request(xml("iq", { type: "get", to: "localhost" }, xml("archive-query", { xmlns: NS, user: "bob" })))
    .catch((e: { condition?: string }) => e.condition);
  t.equal(asUser, "forbidden", "a user cannot read another user's archive");
  const intruder = createComponentLink({
    service: prosody.componentService,
    domain: "intruder.localhost",
    secret: "other-secret",
    log: createLogger("silent"),
  });
  await intruder.start();
  t.teardown(() => intruder.stop());
  const other = createCompanionClient(intruder);
  for (const attempt of [
    () => other.readArchive("alice@localhost", { max: 1 }),
    () => other.appendArchive("alice@localhost", imported),
    () => other.sendPresence("alice@localhost", "bob@localhost", "subscribe"),
    () => other.applyMove("alice@localhost", { newJid: "x@localhost", oldJid: "bob@localhost", groups: [] }),
  ]) {
    const err = await attempt().catch((e: unknown) => e);
    t.ok(err instanceof XmppStanzaError && err.condition === "forbidden", "another component is refused");
  }
  const unknown = await companion.readArchive("nobody@localhost", {}).catch((e: unknown) => e);
  t.ok(unknown instanceof XmppStanzaError && unknown.condition === "item-not-found");
});

t.test("without the module the probe says so", async (t) => {
  const prosody = await startProsody();
  t.teardown(() => prosody.cleanup());
  const link = await connectComponent(prosody);
  t.teardown(() => link.stop());
  const companion = createCompanionClient(link);
  t.equal(await companion.probe("localhost"), false);
  const err = (await companion.readArchive("x@localhost", {}).catch((e: unknown) => e)) as
    Element | XmppStanzaError;
  t.ok(err instanceof XmppStanzaError, "requests fail with a stanza error, not a hang");
});
