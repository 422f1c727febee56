// move-here end to end: the old account is on another VirtualHost reached as a client; its data is
// imported here, the moved statement is published there, and the (local) contact's side applies the move.
// Per-contact progress is settled from the local roster: erin approves; a contact on an unreachable
// domain ends failed with the reason (the companion forwards the bounce), and move-renotify asks only
// it again.
import t from "tap";
import xml from "@xmpp/xml";
import { startProsody } from "../harness/prosody.js";
import { connectClient, type TestClient } from "../harness/clients.js";
import { befriend, publish } from "../harness/populate.js";
import { localSession, startTestApp } from "../harness/app.js";
import { getRoster } from "../../src/account/roster.js";
import { notes, runCommand, tableRows } from "../harness/commands.js";
import { until } from "../harness/wait.js";
import type { MoveContact } from "../../src/storage/schema.js";

const NS_CMD = "http://jabber.org/protocol/commands";
const COMPONENT = "portability.localhost";
const GHOST = "ghost@unreachable.invalid";

t.test("move-here: pull the old account, announce the move there, contacts follow", async (t) => {
  t.setTimeout(240_000);
  const prosody = await startProsody({ companion: true });
  t.teardown(() => prosody.cleanup());
  await prosody.register("dora", "example.test", "old-pw-123");
  await prosody.register("erin", "localhost", "pw");
  await prosody.register("dora", "localhost", "pw");
  const app = await startTestApp(prosody, {
    XMPP_CLIENT_SERVICES: `example.test=xmpp+insecure://127.0.0.1:${prosody.c2sPort}`,
  });
  t.teardown(() => app.stop());
  t.ok(await app.companion.probe("localhost"), "companion module answers");
  const clients: TestClient[] = [];
  t.teardown(async () => {
    for (const c of clients) await c.stop();
  });
  const oldDora = await connectClient(prosody, "dora", "example.test", "old-pw-123");
  const erin = await connectClient(prosody, "erin", "localhost", "pw");
  clients.push(erin);
  await befriend(oldDora, "dora@example.test", erin, "erin@localhost", "Erin", ["Climbing"]);
  // The old account also follows a contact this server cannot reach (phantom 'both').
  await app.link.request(
    xml(
      "iq",
      { type: "set", to: "dora@example.test" },
      xml("query", { xmlns: "jabber:iq:roster" }, xml("item", { jid: GHOST, subscription: "both" })),
    ),
  );
  await publish(
    oldDora,
    "http://jabber.org/protocol/nick",
    "current",
    xml("nick", { xmlns: "http://jabber.org/protocol/nick" }, "Dora ⛰"),
  );
  for (let i = 0; i < 5; i++)
    await oldDora.xmpp.send(
      xml("message", { to: "erin@localhost", type: "chat" }, xml("body", {}, `belay ${i}`)),
    );
  // Received means archived: mod_mam stores a message before delivering it.
  await erin.waitFor((m) => m.getChildText("body") === "belay 4");
  await oldDora.stop();

  const dora = await connectClient(prosody, "dora", "localhost", "pw");
  clients.push(dora);
  const s1 = (
    await dora.request(
      xml("iq", { type: "set", to: COMPONENT }, xml("command", { xmlns: NS_CMD, node: "move-here" })),
    )
  ).getChild("command");
  await dora.request(
    xml(
      "iq",
      { type: "set", to: COMPONENT },
      xml(
        "command",
        { xmlns: NS_CMD, node: "move-here", sessionid: s1?.attrs.sessionid, action: "complete" },
        xml(
          "x",
          { xmlns: "jabber:x:data", type: "submit" },
          xml("field", { var: "old-jid" }, xml("value", {}, "dora@example.test")),
          xml("field", { var: "password" }, xml("value", {}, "old-pw-123")),
        ),
      ),
    ),
  );
  const done = await dora.waitFor(
    (m) =>
      m.attrs.from === COMPONENT && /Moved here from dora@example\.test/.test(m.getChildText("body") ?? ""),
    60_000,
  );
  t.match(done.getChildText("body"), /archive: 5 applied/);

  const roster = await getRoster(localSession(app, "dora@localhost"));
  t.match(
    roster.find((i) => i.jid === "erin@localhost"),
    { name: "Erin", groups: ["Climbing"] },
  );
  const nick = await dora.request(
    xml(
      "iq",
      { type: "get", to: "dora@localhost" },
      xml(
        "pubsub",
        { xmlns: "http://jabber.org/protocol/pubsub" },
        xml("items", { node: "http://jabber.org/protocol/nick" }),
      ),
    ),
  );
  t.match(nick.toString(), /Dora ⛰/);
  const history = (await app.companion.readArchive("dora@localhost", { max: 50 })).items.filter((m) =>
    /belay/.test(m.message.getChildText("body") ?? ""),
  );
  t.equal(history.length, 5);
  t.equal(history[0]?.message.attrs.from?.split("/")[0], "dora@localhost", "old address remapped");

  // Erin (local) gets a moved-tagged request from dora@localhost; her server side verifies and applies it.
  await erin.waitFor(
    (m) => m.attrs.from === COMPONENT && /moved to dora@localhost/.test(m.getChildText("body") ?? ""),
    30_000,
  );
  const erinRoster = await until(
    () => getRoster(localSession(app, "erin@localhost")),
    (r) => r.some((i) => i.jid === "dora@localhost" && /from|both/.test(i.subscription)),
    { what: "erin's roster to approve dora@localhost" },
  );
  t.match(
    erinRoster.find((i) => i.jid === "dora@localhost"),
    { subscription: /from|both/ },
    "erin approved the new address",
  );
  t.notOk(
    erinRoster.some((i) => i.jid === "dora@example.test"),
    "old address retired",
  );

  const status = await runCommand(dora, COMPONENT, "move-status");
  t.match(notes(status), /Move here from dora@example\.test: done/);
  t.match(notes(status), /Contacts: 1 approved, 0 pending, 0 declined, 1 failed/);
  // Readable in a client that shows only the first note: one note, with a line per contact.
  t.equal(status.getChildren("note").length, 1, "a single note");
  t.match(notes(status), /\n- erin@localhost: status approved, detail [^\n]+, asked 1/);
  t.match(notes(status), /\n- ghost@unreachable\.invalid: status failed, detail not-allowed[^\n]*, asked 1/);
  t.match(
    tableRows(status).find((r) => r.contact === "erin@localhost"),
    { status: "approved", attempts: "1" },
    "erin is approved, settled from the local roster",
  );
  t.match(
    tableRows(status).find((r) => r.contact === GHOST),
    { status: "failed", detail: /not-allowed/ },
    "the unreachable contact failed, with the bounce's condition",
  );

  // move-renotify (no password: the local account asks through the companion) asks only the straggler.
  const again = await runCommand(dora, COMPONENT, "move-renotify");
  t.match(notes(again), /Asked 1 contacts again \(1 had already accepted\)/);
  const rows = await waitForRows(app, (rs) =>
    rs.some((r) => r.contact_jid === GHOST && r.attempts === 2 && r.status === "failed"),
  );
  t.match(
    rows.map((r) => ({ jid: r.contact_jid, status: r.status, attempts: r.attempts })),
    [
      { jid: "erin@localhost", status: "approved", attempts: 1 },
      { jid: GHOST, status: "failed", attempts: 2 },
    ],
  );
});

async function waitForRows(
  app: Awaited<ReturnType<typeof startTestApp>>,
  done: (rows: MoveContact[]) => boolean,
): Promise<MoveContact[]> {
  return until(() => app.db.selectFrom("move_contacts").selectAll().orderBy("contact_jid").execute(), done, {
    timeoutMs: 10_000,
    what: "the move's contact states",
  }).catch(() => app.db.selectFrom("move_contacts").selectAll().orderBy("contact_jid").execute());
}
