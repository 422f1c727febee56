// move-away end to end on one Prosody with two VirtualHosts (docs/server-facts.md, "Test harness": local contacts work when the
// moving account is on another host): data copied to the new account, moved statement published,
// moved-tagged requests sent, and the contact's side (also local) verifies and applies the move
// automatically. Per-contact progress: bob approves, a contact on an unreachable domain bounces (s2s is
// off in the harness), and move-renotify asks only that straggler again. The password never reaches the
// logs or the database.
import t from "tap";
import { Writable } from "node:stream";
import xml from "@xmpp/xml";
import { startProsody } from "../harness/prosody.js";
import { connectClient, type TestClient } from "../harness/clients.js";
import { befriend, publish, BOOKMARKS2_OPTIONS } from "../harness/populate.js";
import { localSession, startTestApp } from "../harness/app.js";
import { getRoster } from "../../src/account/roster.js";
import { notes, runCommand, tableRows } from "../harness/commands.js";
import { until } from "../harness/wait.js";

const NS_CMD = "http://jabber.org/protocol/commands";
const COMPONENT = "portability.localhost";
const PASSWORD = "n3w-Secret-password-42";
const GHOST = "ghost@unreachable.invalid";

t.test("move-away: copy, announce, contacts follow; password never logged or stored", async (t) => {
  t.setTimeout(240_000);
  const prosody = await startProsody({ companion: true });
  t.teardown(() => prosody.cleanup());
  for (const u of ["alice", "bob"]) await prosody.register(u, "localhost", "pw");
  await prosody.register("alice", "example.test", PASSWORD);
  let logs = "";
  const sink = new Writable({
    write(c: Buffer, _e, cb) {
      logs += c.toString();
      cb();
    },
  });
  const app = await startTestApp(
    prosody,
    {
      XMPP_CLIENT_SERVICES: `example.test=xmpp+insecure://127.0.0.1:${prosody.c2sPort}`,
      // Ends early once every contact answered; this only bounds a failure.
      MOVE_WATCH_SECONDS: "15",
    },
    { logSink: sink },
  );
  t.teardown(() => app.stop());
  t.ok(await app.companion.probe("localhost"), "companion module answers");
  const clients: TestClient[] = [];
  t.teardown(async () => {
    for (const c of clients) await c.stop();
  });
  const alice = await connectClient(prosody, "alice", "localhost", "pw");
  const bob = await connectClient(prosody, "bob", "localhost", "pw");
  clients.push(alice, bob);
  await befriend(alice, "alice@localhost", bob, "bob@localhost", "Bob Builder", ["Work"]);
  // A contact on a domain this server cannot reach: the phantom 'both' makes it one to ask.
  await app.link.request(
    xml(
      "iq",
      { type: "set", to: "alice@localhost" },
      xml("query", { xmlns: "jabber:iq:roster" }, xml("item", { jid: GHOST, subscription: "both" })),
    ),
  );
  await publish(
    alice,
    "http://jabber.org/protocol/nick",
    "current",
    xml("nick", { xmlns: "http://jabber.org/protocol/nick" }, "Alice"),
  );
  // A XEP-0402 bookmark with an extension (Prosody also serves it as legacy storage:bookmarks).
  await publish(
    alice,
    "urn:xmpp:bookmarks:1",
    "tea@rooms.example.net",
    xml(
      "conference",
      { xmlns: "urn:xmpp:bookmarks:1", name: "Tea room", autojoin: "true" },
      xml("nick", {}, "ali"),
      xml("extensions", {}, xml("pinned", { xmlns: "urn:example:pinning" })),
    ),
    BOOKMARKS2_OPTIONS,
  );

  const s1 = (
    await alice.request(
      xml("iq", { type: "set", to: COMPONENT }, xml("command", { xmlns: NS_CMD, node: "move-away" })),
    )
  ).getChild("command");
  const done = (
    await alice.request(
      xml(
        "iq",
        { type: "set", to: COMPONENT },
        xml(
          "command",
          { xmlns: NS_CMD, node: "move-away", sessionid: s1?.attrs.sessionid, action: "complete" },
          xml(
            "x",
            { xmlns: "jabber:x:data", type: "submit" },
            xml("field", { var: "new-jid" }, xml("value", {}, "alice@example.test")),
            xml("field", { var: "password" }, xml("value", {}, PASSWORD)),
          ),
        ),
      ),
    )
  ).getChild("command");
  t.match(done?.getChildText("note"), /Moving to alice@example\.test/);
  const finished = await alice
    .waitFor(
      (m) => m.attrs.from === COMPONENT && /Moved to alice@example\.test/.test(m.getChildText("body") ?? ""),
      60_000,
    )
    .catch((err: unknown) => {
      t.comment(
        logs
          .split("\n")
          .filter((l) => /"level":(40|50)|job/.test(l))
          .join("\n"),
      );
      t.comment(alice.inbox.map((m) => m.toString()).join("\n"));
      throw err;
    });
  t.match(finished.getChildText("body"), /asked 2 contacts/);
  t.notMatch(finished.getChildText("body"), /pep:[^;.]*failed/, "nothing failed on a clean move");
  t.match(
    finished.getChildText("body"),
    /1 approved, 0 pending, 0 declined, 1 failed/,
    "the user is told who followed",
  );

  // Bob's side (a local user): the notice is verified and applied automatically.
  const told = await bob.waitFor(
    (m) => m.attrs.from === COMPONENT && /moved to alice@example\.test/.test(m.getChildText("body") ?? ""),
    30_000,
  );
  t.ok(told, "bob is told");
  const bobRoster = await until(
    () => getRoster(localSession(app, "bob@localhost")),
    (r) => r.some((i) => i.jid === "alice@example.test" && /from|both/.test(i.subscription)),
    { what: "bob's roster to approve alice@example.test" },
  );
  t.match(
    bobRoster.find((i) => i.jid === "alice@example.test"),
    { subscription: /from|both/ },
    "bob approved the new address",
  );
  t.notOk(
    bobRoster.some((i) => i.jid === "alice@localhost"),
    "bob retired the old address",
  );

  // The new account has the data and is subscribed to bob.
  const fresh = await connectClient(prosody, "alice", "example.test", PASSWORD, "check");
  clients.push(fresh);
  const r = await fresh.request(xml("iq", { type: "get" }, xml("query", { xmlns: "jabber:iq:roster" })));
  const item = r
    .getChild("query")
    ?.getChildren("item")
    .find((i) => i.attrs.jid === "bob@localhost");
  t.equal(item?.attrs.name, "Bob Builder");
  t.equal(item?.getChildText("group"), "Work");
  t.match(item?.attrs.subscription, /to|both/, "the new account follows bob");
  const nick = await fresh.request(
    xml(
      "iq",
      { type: "get", to: "alice@example.test" },
      xml(
        "pubsub",
        { xmlns: "http://jabber.org/protocol/pubsub" },
        xml("items", { node: "http://jabber.org/protocol/nick" }),
      ),
    ),
  );
  t.match(nick.toString(), /Alice/);
  const bookmarks = await fresh.request(
    xml(
      "iq",
      { type: "get" },
      xml(
        "pubsub",
        { xmlns: "http://jabber.org/protocol/pubsub" },
        xml("items", { node: "urn:xmpp:bookmarks:1" }),
      ),
    ),
  );
  t.match(bookmarks.toString(), /tea@rooms\.example\.net/, "XEP-0402 bookmark copied");
  t.match(bookmarks.toString(), /urn:example:pinning/, "its extension kept");
  const statement = await bob.request(
    xml(
      "iq",
      { type: "get", to: "alice@localhost" },
      xml(
        "pubsub",
        { xmlns: "http://jabber.org/protocol/pubsub" },
        xml("items", { node: "urn:xmpp:moved:1" }),
      ),
    ),
  );
  t.match(
    statement.toString(),
    /<new-jid>alice@example\.test<\/new-jid>/,
    "moved statement on the old account",
  );

  const status = await runCommand(alice, COMPONENT, "move-status");
  t.match(notes(status), /Move to alice@example\.test: done/);
  t.match(notes(status), /Contacts: 1 approved, 0 pending, 0 declined, 1 failed/);
  const rows = tableRows(status);
  t.match(
    rows.find((r) => r.contact === "bob@localhost"),
    { status: "approved", attempts: "1" },
  );
  t.match(
    rows.find((r) => r.contact === GHOST),
    { status: "failed", detail: /not-allowed/, attempts: "1" },
    "the bounced request is failed, with the error condition",
  );

  // A wrong password changes nothing.
  const refused = await runCommand(alice, COMPONENT, "move-renotify", { password: "wrong" });
  t.match(notes(refused), /could not log in to alice@example\.test/);

  // move-renotify: settles from the new account's roster, asks only the straggler again.
  const form = await runCommand(alice, COMPONENT, "move-renotify");
  t.match(form.toString(), /type="text-private"/, "the password field is private");
  const again = await runCommand(alice, COMPONENT, "move-renotify", { password: PASSWORD });
  t.match(notes(again), /Asked 1 contacts again \(1 had already accepted\)/);
  const contactRows = async () =>
    app.db.selectFrom("move_contacts").selectAll().orderBy("contact_jid").execute();
  const after = await until(
    contactRows,
    (rows) => rows.some((r) => r.contact_jid === GHOST && r.attempts === 2 && r.status === "failed"),
    { timeoutMs: 20_000, what: "the straggler's second bounce" },
  );
  t.match(
    after.map((r) => ({ jid: r.contact_jid, status: r.status, attempts: r.attempts })),
    [
      { jid: "bob@localhost", status: "approved", attempts: 1 },
      { jid: GHOST, status: "failed", attempts: 2 },
    ],
    "only the straggler was asked again, and it bounced again",
  );

  // The password: not in any log line, not in any table.
  t.notMatch(logs, PASSWORD, "not in logs");
  t.match(logs, /"kind":"move-away".*"msg":"job started"/, "logs were captured (debug level)");
  const dump = JSON.stringify([
    await app.db.selectFrom("jobs").selectAll().execute(),
    await app.db.selectFrom("move_contacts").selectAll().execute(),
    await app.db.selectFrom("moved_notices").selectAll().execute(),
    await app.db.selectFrom("archives").selectAll().execute(),
  ]);
  t.notMatch(dump, PASSWORD, "not in the database");
});
