import t from "tap";
import type { Test } from "@tapjs/test";
import xml from "@xmpp/xml";
import type { Element } from "@xmpp/xml";
import { startProsody, sleep, type Prosody } from "../harness/prosody.js";
import { connectClient } from "../harness/clients.js";
import { connectComponent } from "../harness/component.js";
import { createCompanionClient } from "../../src/account/companion.js";
import {
  CompanionOpMissing,
  MoveNotApplicable,
  type CompanionClient,
  type MovedSubscribe,
} from "../../src/account/companion-api.js";
import { getRoster } from "../../src/account/roster.js";
import { publishMovedStatement } from "../../src/account/moved-statement.js";
import { privilegedSession } from "../../src/account/privileged-session.js";
import { createPrivilegeRegistry } from "../../src/privilege/registry.js";
import { XmppStanzaError } from "../../src/xmpp/stanza-error.js";
import { createComponentLink, type ComponentLink } from "../../src/xmpp/component-link.js";
import { movedStatementPubsub, movedSubscribe } from "../harness/moved-statement.js";
import { createLogger } from "../../src/log/logger.js";
import { until } from "../harness/wait.js";
import { befriend } from "../harness/populate.js";
import { prosodyPostgres } from "../harness/database.js";

const NS = "urn:xmpp-account-portability:companion:0";

/** Another component connected to `prosody` (its domain and secret declared in the config). */
async function otherComponent(
  t: Test,
  prosody: Prosody,
  domain: string,
  secret: string,
): Promise<ComponentLink> {
  const link = createComponentLink({
    service: prosody.componentService,
    domain,
    secret,
    log: createLogger("silent"),
  });
  await link.start();
  t.teardown(() => link.stop());
  return link;
}

/** The module's client as another component ("intruder.localhost", which the configs below declare). */
async function intruderCompanion(t: Test, prosody: Prosody): Promise<CompanionClient> {
  return createCompanionClient(await otherComponent(t, prosody, "intruder.localhost", "other-secret"));
}

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
  const rosterOf = (user: string) =>
    getRoster(privilegedSession({ link, companion, privileges: createPrivilegeRegistry(link) }, user));
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
  // Received means archived: mod_mam stores a message before delivering it.
  await bob.waitFor((el) => el.getChildText("body") === "hello 4 ✓");
  const p1 = await companion.readArchive("alice@localhost", { max: 2 });
  t.equal(p1.items.length, 2);
  t.equal(p1.complete, false);
  t.equal(p1.items[0]?.message.getChildText("body"), "hello 0 ✓", "oldest first, unicode intact");
  t.match(p1.items[0]?.stamp, /^\d{4}-\d\d-\d\dT/);
  // A message archived while paging (the export's own progress notes, a new chat) is still included.
  await bob.xmpp.send(xml("message", { to: "alice@localhost", type: "chat" }, xml("body", {}, "late")));
  await alice.waitFor((el) => el.getChildText("body") === "late");
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
  t.same(await companion.appendArchive("carol@example.test", imported), {
    added: 3,
    skipped: 0,
    overQuota: 0,
  });
  t.same(
    await companion.appendArchive("carol@example.test", imported),
    { added: 0, skipped: 3, overQuota: 0 },
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
  const aliceRoster = await rosterOf("alice@localhost");
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
  t.match(
    (
      await until(
        () => rosterOf("alice@localhost"),
        (r) => r.some((i) => i.jid === "dave@localhost" && i.subscription === "both"),
        { what: "alice and dave to be mutual contacts" },
      ).catch(() => rosterOf("alice@localhost"))
    ).find((i) => i.jid === "dave@localhost"),
    { subscription: "both" },
  );

  // Moved forwarding: the module holds the request for the component's verdict; releasing it
  // delivers it to the user unchanged.
  const notices: MovedSubscribe[] = [];
  const released: Promise<boolean>[] = [];
  companion.onMovedSubscribe((n) => {
    notices.push(n);
    if (n.hold) released.push(companion.releaseMoved(n.user, n.hold));
  });
  const bobnew = await connectClient(prosody, "bobnew", "localhost", "pw");
  t.teardown(() => bobnew.stop());
  await bobnew.xmpp.send(movedSubscribe("alice@localhost", "bob@localhost"));
  await alice.waitFor(
    (el) => el.name === "presence" && el.attrs.type === "subscribe" && el.attrs.from === "bobnew@localhost",
  );
  for (let i = 0; i < 40 && notices.length === 0; i++) await sleep(50);
  t.equal(notices.length, 1);
  t.match(notices[0], {
    user: "alice@localhost",
    from: "bobnew@localhost",
    oldJid: "bob@localhost",
    hold: /./,
  });
  t.same(await Promise.all(released), [true], "released once");
  t.equal(
    await companion.releaseMoved("alice@localhost", notices[0]?.hold ?? ""),
    false,
    "a released request is no longer held",
  );
  // A plain subscribe is not forwarded.
  await bobnew.xmpp.send(xml("presence", { to: "carol@example.test", type: "subscribe" }));
  await sleep(300);
  t.equal(notices.length, 1, "only moved-tagged subscribes are forwarded");

  // A burst: the module sends the notices that arrive together as one message, and each is read.
  const carriers: number[] = [];
  const offCarriers = link.onStanza((el) => {
    const n = el.getChildren("moved-subscribe", "urn:xmpp-account-portability:companion:0").length;
    if (n > 0) carriers.push(n);
  });
  const BURST = 60;
  for (let i = 0; i < BURST; i++)
    void bobnew.xmpp.send(
      xml(
        "presence",
        { to: "alice@localhost", type: "subscribe" },
        xml("moved", { xmlns: "urn:xmpp:moved:1" }, xml("old-jid", {}, `old${i}@localhost`)),
      ),
    );
  await until(
    async () => notices.length,
    (n) => n === 1 + BURST,
    { what: "every notice of the burst" },
  );
  offCarriers();
  t.same(
    notices.slice(1).map((n) => n.oldJid),
    Array.from({ length: BURST }, (_, i) => `old${i}@localhost`),
    "all read, in order",
  );
  t.ok(
    carriers.length < BURST && Math.max(...carriers) <= 50,
    `fewer messages than notices, at most 50 to a message (${carriers.join(",")})`,
  );
  t.same(await Promise.all(released), Array(1 + BURST).fill(true), "each held and released");

  // A sender address sent unnormalised reaches the module prepared (Prosody prepares `from` on arrival),
  // and is held and forwarded so: verdicts name the prepared address and find their hold by it, without
  // preparing it again.
  const forwardedFrom: string[] = [];
  const offFrom = link.onStanza((el) => {
    for (const w of el.getChildren("moved-subscribe", "urn:xmpp-account-portability:companion:0"))
      forwardedFrom.push(w.attrs.from ?? "");
  });
  await link.send(
    xml(
      "presence",
      { from: "Zoe.New@portability.localhost", to: "alice@localhost", type: "subscribe" },
      xml("moved", { xmlns: "urn:xmpp:moved:1" }, xml("old-jid", {}, "zoe@localhost")),
    ),
  );
  await until(
    async () => forwardedFrom.length,
    (n) => n === 1,
    { what: "the unnormalised notice" },
  );
  offFrom();
  t.equal(forwardedFrom[0], "zoe.new@portability.localhost", "the sender's address, prepared");

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
    (await rosterOf("bobnew@localhost")).find((i) => i.jid === "alice@localhost"),
    { subscription: "to" },
    "the new contact is approved",
  );
  const afterMove = await rosterOf("alice@localhost");
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
  const other = await intruderCompanion(t, prosody);
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

// "postgresql": SQL storage in PostgreSQL, where the move's two-row roster save runs too.
for (const storage of ["internal", "sql", "postgresql"] as const)
  t.test(
    `verify-move (${storage} storage): the module fetches the statement as the user and applies only what it names`,
    async (t) => {
      const pgStorage = storage === "postgresql" ? await prosodyPostgres() : undefined;
      if (pgStorage) t.teardown(() => pgStorage.cleanup());
      const prosody = await startProsody({
        companion: true,
        storage: storage === "internal" ? "internal" : "sql",
        ...(pgStorage ? { sql: pgStorage.config } : {}),
        extraGlobal: `Component "intruder.localhost"\n  component_secret = "other-secret"\n`,
      });
      t.teardown(() => prosody.cleanup());
      for (const u of ["alice", "bob", "bobnew", "eve", "zed"]) await prosody.register(u, "localhost", "pw");
      const link = await connectComponent(prosody);
      t.teardown(() => link.stop());
      const companion = createCompanionClient(link);
      const session = (user: string) =>
        privilegedSession({ link, companion, privileges: createPrivilegeRegistry(link) }, user);
      await until(() => companion.probe("localhost"), Boolean, { what: "module probed" });
      // Alice and bob follow each other (bob's statement is readable to presence subscribers only).
      const alice = await connectClient(prosody, "alice", "localhost", "pw");
      t.teardown(() => alice.stop());
      const bob = await connectClient(prosody, "bob", "localhost", "pw");
      await befriend(alice, "alice@localhost", bob, "bob@localhost", "Bob", ["Climbing"]);
      await bob.stop();
      alice.inbox.length = 0;
      const notices: MovedSubscribe[] = [];
      companion.onMovedSubscribe((n) => notices.push(n));
      async function notice(from: string, to = "alice@localhost"): Promise<MovedSubscribe> {
        const c = await connectClient(prosody, from, "localhost", "pw");
        const before = notices.length;
        await c.xmpp.send(movedSubscribe(to, "bob@localhost"));
        await until(async () => notices.length > before, Boolean, { what: `${from}'s notice forwarded` });
        await c.stop();
        return notices[notices.length - 1] as MovedSubscribe;
      }
      const move = (n: MovedSubscribe) => ({
        newJid: n.from,
        oldJid: "bob@localhost",
        name: "Bob",
        groups: ["Climbing"],
        ...(n.hold ? { hold: n.hold } : {}),
      });

      // No statement published yet: nothing changes, and the fetch's answer comes back to be judged.
      const early = await notice("bobnew");
      t.same(await companion.verifyAndApplyMove("alice@localhost", move(early), 5000), {
        applied: false,
        statement: { kind: "error", condition: "item-not-found" },
      });
      t.ok(await companion.releaseMoved("alice@localhost", early.hold ?? ""), "still held: nothing applied");

      await publishMovedStatement(session("bob@localhost"), "bobnew@localhost");
      // A forger claiming bob: the statement names someone else; it comes back, nothing changes.
      const forged = await notice("eve");
      t.same(await companion.verifyAndApplyMove("alice@localhost", move(forged), 5000), {
        applied: false,
        statement: { kind: "moved", newJid: "bobnew@localhost" },
      });
      t.ok(await companion.releaseMoved("alice@localhost", forged.hold ?? ""), "the forgery stays held");
      t.ok(
        (await getRoster(session("alice@localhost"))).some((i) => i.jid === "bob@localhost"),
        "bob is still a contact",
      );

      // Another component may not ask.
      const intruder = await intruderCompanion(t, prosody);
      // The released requests above were delivered; from here on, none may be.
      await sleep(200);
      alice.inbox.length = 0;
      const genuine = await notice("bobnew");
      const refused = await intruder
        .verifyAndApplyMove("alice@localhost", move(genuine), 5000)
        .catch((e: unknown) => e);
      t.ok(
        refused instanceof XmppStanzaError && refused.condition === "forbidden",
        "another component is refused",
      );

      // The genuine notice: applied in the one request, the held subscribe never delivered.
      t.same(await companion.verifyAndApplyMove("alice@localhost", move(genuine), 5000), {
        applied: true,
        subscribedBack: true,
      });
      const roster = await getRoster(session("alice@localhost"));
      t.match(
        roster.find((i) => i.jid === "bobnew@localhost"),
        { name: "Bob", groups: ["Climbing"], subscription: "from", ask: "subscribe" },
        "the new address takes bob's name and group",
      );
      t.notOk(
        roster.some((i) => i.jid === "bob@localhost"),
        "the old address is retired",
      );
      t.notOk(
        alice.inbox.some((el) => el.name === "presence" && el.attrs.type === "subscribe"),
        "no request reached alice's client",
      );
      t.equal(
        await companion.releaseMoved("alice@localhost", genuine.hold ?? ""),
        false,
        "the hold was consumed",
      );
      // Saved, not only changed in memory: read back from storage once alice is offline.
      await alice.stop();
      const stored = await getRoster(session("alice@localhost"));
      t.match(
        stored.find((i) => i.jid === "bobnew@localhost"),
        { name: "Bob", groups: ["Climbing"], subscription: "from" },
        "the stored roster has the new contact",
      );
      t.notOk(
        stored.some((i) => i.jid === "bob@localhost"),
        "and not the old one",
      );
      if (pgStorage) {
        const keys = await pgStorage.query<{ key: string }>(
          `select key from prosody where host = 'localhost' and "user" = 'alice' and store = 'roster'`,
        );
        t.same(
          keys.rows.map((r) => r.key).filter((k) => k.includes("bob")),
          ["bobnew@localhost"],
          "PostgreSQL holds the new contact's row and not the old one's",
        );
      }

      // A held notice names its user, whose existence the module then takes for granted: deleting the
      // account drops its holds, so a late verdict finds no such user (not an empty roster to edit).
      const toZed = await notice("bobnew", "zed@localhost");
      t.match(toZed, { user: "zed@localhost", hold: /./ });
      await prosody.shell(`user:delete("zed@localhost")`);
      const late = await companion
        .verifyAndApplyMove("zed@localhost", move(toZed), 5000)
        .catch((e: unknown) => e);
      t.ok(
        late instanceof XmppStanzaError && late.condition === "item-not-found",
        `a deleted user's hold is gone (${String(late)})`,
      );
    },
  );

t.test("a page ends when its time budget is spent; paging on loses nothing", async (t) => {
  // A zero budget: every page holds one message, the archive is still read whole and in order.
  const prosody = await startProsody({ companion: true, companionPageMs: 0 });
  t.teardown(() => prosody.cleanup());
  for (const u of ["alice", "bob"]) await prosody.register(u, "localhost", "pw");
  const link = await connectComponent(prosody);
  t.teardown(() => link.stop());
  const companion = createCompanionClient(link);
  const alice = await connectClient(prosody, "alice", "localhost", "pw");
  const bob = await connectClient(prosody, "bob", "localhost", "pw");
  t.teardown(async () => {
    await alice.stop();
    await bob.stop();
  });
  for (let i = 0; i < 4; i++)
    await alice.xmpp.send(xml("message", { to: "bob@localhost", type: "chat" }, xml("body", {}, `m${i}`)));
  await bob.waitFor((el) => el.getChildText("body") === "m3");
  const bodies: string[] = [];
  const sizes: number[] = [];
  let after: string | undefined;
  for (let pages = 0; pages < 20; pages++) {
    const page = await companion.readArchive("alice@localhost", { max: 100, ...(after ? { after } : {}) });
    sizes.push(page.items.length);
    for (const m of page.items) bodies.push(m.message.getChildText("body") ?? "");
    if (page.complete) break;
    after = page.last;
  }
  t.same(bodies, ["m0", "m1", "m2", "m3"], "every message, once, in order");
  t.ok(
    sizes.slice(0, 4).every((n) => n === 1),
    "one message per page",
  );
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
  const missing = await companion
    .verifyAndApplyMove("x@localhost", { newJid: "a@localhost", oldJid: "b@localhost", groups: [] }, 1000)
    .catch((e: unknown) => e);
  t.ok(missing instanceof CompanionOpMissing, "a request the server does not know reads as an older module");
});

t.test(
  "verify-cancel: a verify-move the component stopped waiting for is applied before, or never",
  async (t) => {
    const prosody = await startProsody({
      companion: true,
      extraGlobal: `Component "slow.localhost"\n  component_secret = "slow-secret"\n`,
    });
    t.teardown(() => prosody.cleanup());
    for (const u of ["alice", "bobnew"]) await prosody.register(u, "localhost", "pw");
    const link = await connectComponent(prosody);
    t.teardown(() => link.stop());
    // Bob's old server: a component whose statement answers wait until the test lets them go.
    const slow = await otherComponent(t, prosody, "slow.localhost", "slow-secret");
    const statement = movedStatementPubsub("bobnew@localhost");
    // Fetches waiting for their answer: calling one sends it.
    const heldFetches: (() => void)[] = [];
    let answerAtOnce = false;
    slow.handleIq("get", "http://jabber.org/protocol/pubsub", "pubsub", () =>
      answerAtOnce
        ? statement
        : new Promise<Element>((resolve) => heldFetches.push(() => resolve(statement))),
    );
    const alice = await connectClient(prosody, "alice", "localhost", "pw");
    t.teardown(() => alice.stop());
    // Alice and bob@slow.localhost follow each other.
    const BOB = "bob@slow.localhost";
    const asked = new Promise<void>((resolve) =>
      slow.onStanza((el) => {
        if (el.name === "presence" && el.attrs.type === "subscribe") resolve();
      }),
    );
    await alice.xmpp.send(xml("presence", { to: BOB, type: "subscribe" }));
    await asked;
    await slow.send(xml("presence", { from: BOB, to: "alice@localhost", type: "subscribed" }));
    await slow.send(xml("presence", { from: BOB, to: "alice@localhost", type: "subscribe" }));
    await alice.waitFor(
      (el) => el.name === "presence" && el.attrs.type === "subscribe" && el.attrs.from === BOB,
    );
    await alice.xmpp.send(xml("presence", { to: BOB, type: "subscribed" }));
    const companion = createCompanionClient(link, { verifyReplyMarginMs: -2000 });
    const session = privilegedSession(
      { link, companion, privileges: createPrivilegeRegistry(link) },
      "alice@localhost",
    );
    const bobItem = async () => (await getRoster(session)).find((i) => i.jid === BOB);
    await until(bobItem, (i) => i?.subscription === "both", { what: "bob a mutual contact" });
    await until(() => companion.probe("localhost"), Boolean, { what: "module probed" });
    const notices: MovedSubscribe[] = [];
    companion.onMovedSubscribe((n) => notices.push(n));
    const bobnew = await connectClient(prosody, "bobnew", "localhost", "pw");
    t.teardown(() => bobnew.stop());
    await bobnew.xmpp.send(movedSubscribe("alice@localhost", BOB));
    const n = (await until(() => notices[0], Boolean, { what: "notice forwarded" })) as MovedSubscribe;
    const move = {
      newJid: "bobnew@localhost",
      oldJid: BOB,
      name: "Bob",
      groups: [],
      ...(n.hold ? { hold: n.hold } : {}),
    };

    // The component gives up after 1 s (3 s fetch, -2 s margin) and cancels; the genuine statement
    // then arrives within the module's own 3 s: too late, nothing is applied.
    const gaveUp = await companion.verifyAndApplyMove("alice@localhost", move, 3000).catch((e: unknown) => e);
    t.ok(
      gaveUp instanceof XmppStanzaError && gaveUp.condition === "remote-server-timeout",
      `no answer in time (${String(gaveUp)})`,
    );
    t.equal(heldFetches.length, 1, "the module was still fetching");
    heldFetches[0]?.();
    await sleep(500);
    t.equal((await bobItem())?.subscription, "both", "bob's old address is not retired");
    t.notOk(
      (await getRoster(session)).some((i) => i.jid === "bobnew@localhost"),
      "the new address is not approved",
    );
    t.ok(
      await companion.releaseMoved("alice@localhost", n.hold ?? ""),
      "the request is still held, then delivered",
    );

    // Applied before the cancel: the cancel says so, with whether alice subscribed back.
    answerAtOnce = true;
    const verify = (ticket: string) =>
      link.request(
        xml(
          "iq",
          { type: "set", to: "localhost" },
          xml("verify-move", {
            xmlns: NS,
            user: "alice",
            new: "bobnew@localhost",
            old: BOB,
            timeout: "5",
            ticket,
          }),
        ),
      );
    const cancel = async (ticket: string) =>
      (
        await link.request(
          xml(
            "iq",
            { type: "set", to: "localhost" },
            xml("verify-cancel", { xmlns: NS, user: "alice", ticket }),
          ),
        )
      ).getChild("verify-canceled", NS)?.attrs;
    t.ok((await verify("t2")).getChild("move-applied", NS), "applied (the request was pending)");
    t.match(await cancel("t2"), { state: "applied", "subscribed-back": "true" });
    t.notOk(await bobItem(), "bob's old address is retired");
    t.match(await cancel("never-sent"), { state: "canceled" }, "an unknown ticket can no longer apply");
  },
);
