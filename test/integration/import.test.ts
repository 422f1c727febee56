// "Import account" end to end: our own export of another account is uploaded through a one-time link,
// previewed, imported (merge, no faked subscriptions, history appended with the address remapped), and
// a second import changes nothing; a hostile upload is refused and changes nothing.
import t from "tap";
import xml from "@xmpp/xml";
import type { Element } from "@xmpp/xml";
import { startProsody } from "../harness/prosody.js";
import { connectClient, type TestClient } from "../harness/clients.js";
import { populateAccount } from "../harness/populate.js";
import { appWithUser, startTestApp, localUrl } from "../harness/app.js";
import type { App } from "../../src/app.js";
import { stagesOf } from "../harness/commands.js";

const NS_CMD = "http://jabber.org/protocol/commands";
const COMPONENT = "portability.localhost";

const step = stagesOf(COMPONENT);

const fixUrl = localUrl;

async function upload(c: TestClient, app: App, body: Uint8Array | string): Promise<Response> {
  const s1 = await step(c, "import");
  const sid = s1.attrs.sessionid;
  const done = await step(c, "import", sid, { source: "upload" }, "next");
  const url = done.getChild("x", "jabber:x:oob")?.getChildText("url") as string;
  return fetch(fixUrl(url, app), { method: "PUT", body });
}

async function importStaged(c: TestClient): Promise<Element> {
  const s1 = await step(c, "import");
  const preview = await step(
    c,
    "import",
    s1.attrs.sessionid,
    {
      source:
        s1
          .getChild("x")
          ?.getChildren("field")
          .find((f) => f.attrs.var === "source")
          ?.getChildText("value") ?? "",
    },
    "next",
  );
  return preview;
}

t.test("import our own export of another account into a fresh account, twice", async (t) => {
  t.setTimeout(240_000);
  const prosody = await startProsody({ companion: true });
  t.teardown(() => prosody.cleanup());
  for (const u of ["alice", "bob"]) await prosody.register(u, "localhost", "pw");
  await prosody.register("carol", "example.test", "pw");
  const alice = await connectClient(prosody, "alice", "localhost", "pw");
  const bob = await connectClient(prosody, "bob", "localhost", "pw");
  const carol = await connectClient(prosody, "carol", "example.test", "pw");
  t.teardown(async () => {
    for (const c of [alice, bob, carol]) await c.stop();
  });
  await populateAccount(alice, "alice@localhost", bob, "bob@localhost", { messages: 60 });
  const app = await startTestApp(prosody);
  t.teardown(() => app.stop());

  // Alice's export (gzip) is the file carol brings.
  const ex = await step(alice, "export");
  await step(alice, "export", ex.attrs.sessionid, {}, "complete");
  const ready = await alice.waitFor(
    (m) => m.attrs.from === COMPONENT && /is ready/.test(m.getChildText("body") ?? ""),
    60_000,
  );
  const file = new Uint8Array(
    await (
      await fetch(fixUrl(ready.getChild("x", "jabber:x:oob")?.getChildText("url") as string, app))
    ).arrayBuffer(),
  );

  // Hostile upload first: refused with a clear error, nothing staged.
  const bad = await upload(
    carol,
    app,
    "<!DOCTYPE x [<!ENTITY e SYSTEM 'file:///etc/passwd'>]><server-data xmlns='urn:xmpp:pie:0'>&e;</server-data>",
  );
  t.equal(bad.status, 400);
  t.match(await bad.text(), /DOCTYPE/);

  const up = await upload(carol, app, file);
  t.equal(up.status, 200);
  await carol.waitFor(
    (m) => m.attrs.from === COMPONENT && /Received your archive/.test(m.getChildText("body") ?? ""),
  );

  const preview = await importStaged(carol);
  t.equal(preview.attrs.status, "executing");
  const fixed =
    preview
      .getChild("x")
      ?.getChildren("field")
      .filter((f) => f.attrs.type === "fixed")
      .map((f) => f.getChildText("value"))
      .join("\n") ?? "";
  t.match(fixed, /Account in the archive: alice@localhost/);
  t.match(fixed, /messages: 60/);
  t.match(fixed, /imported into carol@example\.test/);
  // Submit with every part (list-multi: one value per part).
  const x = xml(
    "x",
    { xmlns: "jabber:x:data", type: "submit" },
    xml(
      "field",
      { var: "parts" },
      ["roster", "vcard", "pep", "private", "blocklist", "archive"].map((p) => xml("value", {}, p)),
    ),
    xml("field", { var: "subscribe" }, xml("value", {}, "true")),
  );
  const res = await carol.request(
    xml(
      "iq",
      { type: "set", to: COMPONENT },
      xml(
        "command",
        { xmlns: NS_CMD, node: "import", sessionid: preview.attrs.sessionid, action: "complete" },
        x,
      ),
    ),
  );
  t.match(res.getChild("command")?.getChildText("note") ?? "", /started/);
  const done = await carol.waitFor(
    (m) =>
      m.attrs.from === COMPONENT &&
      /Import into carol@example\.test finished/.test(m.getChildText("body") ?? ""),
    120_000,
  );
  t.comment(done.getChildText("body") ?? "");

  const roster = await carol.request(xml("iq", { type: "get" }, xml("query", { xmlns: "jabber:iq:roster" })));
  const bobItem = roster
    .getChild("query")
    ?.getChildren("item")
    .find((i) => i.attrs.jid === "bob@localhost");
  t.equal(bobItem?.attrs.name, "Bob Builder");
  t.same(
    bobItem
      ?.getChildren("group")
      .map((g) => g.getText())
      .sort(),
    ["Friends", "Work"],
  );
  t.not(bobItem?.attrs.subscription, "both", "subscription states are not faked");
  const sub = await bob.waitFor(
    (p) => p.name === "presence" && p.attrs.type === "subscribe" && p.attrs.from === "carol@example.test",
  );
  t.equal(
    sub.getChild("moved", "urn:xmpp:moved:1")?.getChildText("old-jid"),
    "alice@localhost",
    "subscription request marked as a move",
  );
  const nick = await carol.request(
    xml(
      "iq",
      { type: "get", to: "carol@example.test" },
      xml(
        "pubsub",
        { xmlns: "http://jabber.org/protocol/pubsub" },
        xml("items", { node: "http://jabber.org/protocol/nick" }),
      ),
    ),
  );
  t.match(nick.toString(), /Ali ✨/);
  const bm = await carol.request(
    xml(
      "iq",
      { type: "get", to: "carol@example.test" },
      xml(
        "pubsub",
        { xmlns: "http://jabber.org/protocol/pubsub" },
        xml("items", { node: "urn:xmpp:bookmarks:1" }),
      ),
    ),
  );
  t.equal(bm.getChild("pubsub")?.getChild("items")?.getChildren("item").length, 2, "both bookmarks");
  const blocked = await carol.request(
    xml("iq", { type: "get" }, xml("blocklist", { xmlns: "urn:xmpp:blocking" })),
  );
  t.match(blocked.toString(), /spam@example\.com/);
  // The component's own chat messages to carol are archived too: count the imported ones.
  const imported = async () =>
    (await app.companion.readArchive("carol@example.test", { max: 500 })).items.filter(
      (m) => !(m.message.attrs.from ?? "").startsWith(COMPONENT),
    );
  const page = { items: await imported() };
  t.equal(page.items.length, 60, "history appended");
  t.notOk(
    page.items.some((m) => /alice@localhost/.test(`${m.message.attrs.from} ${m.message.attrs.to}`)),
    "old address remapped",
  );

  // Second import of the same file: nothing changes.
  t.equal((await upload(carol, app, file)).status, 200);
  const p3 = await importStaged(carol);
  await carol.request(
    xml(
      "iq",
      { type: "set", to: COMPONENT },
      xml("command", { xmlns: NS_CMD, node: "import", sessionid: p3.attrs.sessionid, action: "complete" }, x),
    ),
  );
  const done2 = await carol.waitFor(
    (m) =>
      m !== done &&
      m.attrs.from === COMPONENT &&
      /Import into carol@example\.test finished/.test(m.getChildText("body") ?? "") &&
      carol.inbox.indexOf(m) > carol.inbox.indexOf(done),
    120_000,
  );
  t.match(done2.getChildText("body"), /archive: 0 applied, 60 skipped/, "no duplicate messages");
  t.match(done2.getChildText("body"), /roster: 0 applied/, "existing contacts kept");
  t.equal((await imported()).length, 60, "still 60 after the second import");
});

t.test(
  "import a prosody-migrator export (credentials ignored, pending presence without namespace)",
  async (t) => {
    t.setTimeout(240_000);
    const { createMigrator } = await import("../harness/migrator.js");
    const { readFile } = await import("node:fs/promises");
    const path = await import("node:path");
    const source = await startProsody();
    t.teardown(() => source.cleanup());
    for (const u of ["dora", "eve"]) await source.register(u, "localhost", "pw");
    const dora = await connectClient(source, "dora", "localhost", "pw");
    const eve = await connectClient(source, "eve", "localhost", "pw");
    await populateAccount(dora, "dora@localhost", eve, "eve@localhost", { messages: 20 });
    await dora.stop();
    await eve.stop();
    await source.stop();
    const migrator = await createMigrator();
    await migrator.run("internal-to-xep0227", path.join(source.dir, "data"), "localhost");
    const file = await readFile(path.join(migrator.xep0227Dir, "dora@localhost.xml"));

    const prosody = await startProsody({ companion: true });
    t.teardown(() => prosody.cleanup());
    await prosody.register("frank", "example.test", "other-pw");
    const frank = await connectClient(prosody, "frank", "example.test", "other-pw");
    t.teardown(() => frank.stop());
    const app = await startTestApp(prosody);
    t.teardown(() => app.stop());
    t.equal((await upload(frank, app, file)).status, 200);
    const preview = await importStaged(frank);
    t.match(preview.toString(), /Account in the archive: dora@localhost/);
    await frank.request(
      xml(
        "iq",
        { type: "set", to: COMPONENT },
        xml("command", {
          xmlns: NS_CMD,
          node: "import",
          sessionid: preview.attrs.sessionid,
          action: "complete",
        }),
      ),
    );
    const done = await frank.waitFor(
      (m) => m.attrs.from === COMPONENT && /finished/.test(m.getChildText("body") ?? ""),
      120_000,
    );
    t.match(done.getChildText("body"), /archive: 20 applied/);
    const roster = await frank.request(
      xml("iq", { type: "get" }, xml("query", { xmlns: "jabber:iq:roster" })),
    );
    t.match(roster.toString(), /Bob Builder/, "contact imported with its name");
    const bm = await frank.request(
      xml(
        "iq",
        { type: "get", to: "frank@example.test" },
        xml(
          "pubsub",
          { xmlns: "http://jabber.org/protocol/pubsub" },
          xml("items", { node: "urn:xmpp:bookmarks:1" }),
        ),
      ),
    );
    t.equal(bm.getChild("pubsub")?.getChild("items")?.getChildren("item").length, 2);
    // The archive's SCRAM credentials were not applied: frank's own password still works.
    const again = await connectClient(prosody, "frank", "example.test", "other-pw", "second");
    await again.stop();
    t.pass("password unchanged");
  },
);

t.test(
  "archives by link and by attachment; refused links; a restart between upload and import loses nothing",
  async (t) => {
    t.setTimeout(240_000);
    const prosody = await startProsody({ companion: true });
    t.teardown(() => prosody.cleanup());
    for (const u of ["alice", "bob"]) await prosody.register(u, "localhost", "pw");
    await prosody.register("carol", "example.test", "pw");
    const alice = await connectClient(prosody, "alice", "localhost", "pw");
    const bob = await connectClient(prosody, "bob", "localhost", "pw");
    const carol = await connectClient(prosody, "carol", "example.test", "pw");
    t.teardown(async () => {
      for (const c of [alice, bob, carol]) await c.stop();
    });
    await populateAccount(alice, "alice@localhost", bob, "bob@localhost", { messages: 30 });
    const env = { IMPORT_URL_HOSTS: "127.0.0.1" };
    const first = await startTestApp(prosody, env);
    const ex = await step(alice, "export");
    await step(alice, "export", ex.attrs.sessionid, {}, "complete");
    const ready = await alice.waitFor(
      (m) => m.attrs.from === COMPONENT && /is ready/.test(m.getChildText("body") ?? ""),
      60_000,
    );
    const link = fixUrl(ready.getChild("x", "jabber:x:oob")?.getChildText("url") as string, first);

    // Refused before any request is made: plain http to a host that is not ours.
    const s0 = await step(carol, "import");
    const refused = await step(
      carol,
      "import",
      s0.attrs.sessionid,
      { source: "upload", url: "http://example.com/archive.xml" },
      "next",
    );
    t.equal(refused.attrs.status, "completed");
    t.match(refused.getChildText("note"), /only https links/);

    // By attachment: a message with an OOB URL.
    await carol.xmpp.send(
      xml(
        "message",
        { to: COMPONENT, type: "chat" },
        xml("body", {}, link),
        xml("x", { xmlns: "jabber:x:oob" }, xml("url", {}, link)),
      ),
    );
    await carol.waitFor(
      (m) => m.attrs.from === COMPONENT && /Received your archive/.test(m.getChildText("body") ?? ""),
      30_000,
    );

    // The component restarts between upload and import: the staged archive is still there.
    const dbUrl = first.config.databaseUrl as string;
    await first.jobs.stop();
    await first.link.stop();
    await first.http.close();
    const second = await startTestApp(prosody, { ...env, DATABASE_URL: dbUrl });
    t.teardown(async () => {
      await second.stop();
      // The first instance's stop also drops the database both used.
      await first.stop().catch(() => undefined);
    });
    const preview = await importStaged(carol);
    t.match(preview.toString(), /Account in the archive: alice@localhost/);
    await carol.request(
      xml(
        "iq",
        { type: "set", to: COMPONENT },
        xml("command", {
          xmlns: NS_CMD,
          node: "import",
          sessionid: preview.attrs.sessionid,
          action: "complete",
        }),
      ),
    );
    const done = await carol.waitFor(
      (m) => m.attrs.from === COMPONENT && /finished/.test(m.getChildText("body") ?? ""),
      120_000,
    );
    t.match(done.getChildText("body"), /archive: 30 applied/);

    // By link in the form, straight to the preview; applying it again adds nothing.
    const s1 = await step(carol, "import");
    const p2 = await step(
      carol,
      "import",
      s1.attrs.sessionid,
      { source: "upload", url: link.replace(/:\d+\//, `:${second.http.port}/`) },
      "next",
    );
    t.equal(p2.attrs.status, "executing", "link fetched and previewed");
    await carol.request(
      xml(
        "iq",
        { type: "set", to: COMPONENT },
        xml("command", { xmlns: NS_CMD, node: "import", sessionid: p2.attrs.sessionid, action: "complete" }),
      ),
    );
    const done2 = await carol.waitFor(
      (m) =>
        m.attrs.from === COMPONENT &&
        /finished/.test(m.getChildText("body") ?? "") &&
        carol.inbox.indexOf(m) > carol.inbox.indexOf(done),
      120_000,
    );
    t.match(done2.getChildText("body"), /archive: 0 applied, 30 skipped/, "no duplicates");
  },
);

t.test(
  "import a web-migrator-style file: no credentials, PEP without configs, device lists left out",
  async (t) => {
    t.setTimeout(180_000);
    const { readFile } = await import("node:fs/promises");
    const file = await readFile(new URL("../fixtures/xep0227/web-migrator-style.xml", import.meta.url));
    const prosody = await startProsody({ companion: true });
    t.teardown(() => prosody.cleanup());
    await prosody.register("gina", "localhost", "pw");
    const gina = await connectClient(prosody, "gina", "localhost", "pw");
    t.teardown(() => gina.stop());
    const app = await startTestApp(prosody);
    t.teardown(() => app.stop());
    t.equal((await upload(gina, app, file)).status, 200);
    const preview = await importStaged(gina);
    t.match(preview.toString(), /Account in the archive: gina@oldserver\.example/);
    await gina.request(
      xml(
        "iq",
        { type: "set", to: COMPONENT },
        xml("command", {
          xmlns: NS_CMD,
          node: "import",
          sessionid: preview.attrs.sessionid,
          action: "complete",
        }),
      ),
    );
    const done = await gina.waitFor(
      (m) => m.attrs.from === COMPONENT && /finished/.test(m.getChildText("body") ?? ""),
      60_000,
    );
    t.match(done.getChildText("body"), /archive: 2 applied/);
    t.match(
      done.getChildText("body"),
      /pep: 2 applied, 1 skipped/,
      "OMEMO device list not carried to a new account",
    );
    t.match(
      done.getChildText("body"),
      /vcard: 1 applied/,
      "vcard-temp applied when the archive has no vCard4",
    );
    const roster = await gina.request(
      xml("iq", { type: "get" }, xml("query", { xmlns: "jabber:iq:roster" })),
    );
    t.match(roster.toString(), /Hank/);
    const nick = await gina.request(
      xml(
        "iq",
        { type: "get", to: "gina@localhost" },
        xml(
          "pubsub",
          { xmlns: "http://jabber.org/protocol/pubsub" },
          xml("items", { node: "http://jabber.org/protocol/nick" }),
        ),
      ),
    );
    t.match(nick.toString(), /Gina 🌻/);
    const history = (await app.companion.readArchive("gina@localhost", { max: 50 })).items.filter((m) =>
      m.id.startsWith("web-"),
    );
    t.same(
      history.map((m) => [m.id, m.stamp]),
      [
        ["web-1", "2023-03-01T08:00:00Z"],
        ["web-2", "2023-03-01T08:01:00Z"],
      ],
    );
    t.equal(history[1]?.message.attrs.from, "gina@localhost/web", "old address remapped, resource kept");
  },
);

t.test(
  "import a real ejabberd 23.01 export (per-host file): contacts, vCard, private XML; password never applied",
  async (t) => {
    t.setTimeout(180_000);
    const { readFile } = await import("node:fs/promises");
    const file = await readFile(new URL("../fixtures/xep0227/ejabberd-23.01/localhost.xml", import.meta.url));
    const { prosody, app, client: dora } = await appWithUser(t, "dora", "example.test", "mine");
    t.equal((await upload(dora, app, file)).status, 200);
    const preview = await importStaged(dora);
    t.match(preview.toString(), /plaintext password \(never imported\)/);
    await dora.request(
      xml(
        "iq",
        { type: "set", to: COMPONENT },
        xml("command", {
          xmlns: NS_CMD,
          node: "import",
          sessionid: preview.attrs.sessionid,
          action: "complete",
        }),
      ),
    );
    const done = await dora.waitFor(
      (m) => m.attrs.from === COMPONENT && /finished/.test(m.getChildText("body") ?? ""),
      60_000,
    );
    t.match(done.getChildText("body"), /roster: 2 applied/);
    t.match(done.getChildText("body"), /offline messages: 0 applied, 1 skipped/);
    const roster = await dora.request(
      xml("iq", { type: "get" }, xml("query", { xmlns: "jabber:iq:roster" })),
    );
    const ivy = roster
      .getChild("query")
      ?.getChildren("item")
      .find((i) => i.attrs.jid === "ivy@example.org");
    t.equal(ivy?.getChildText("group"), "Book club");
    const card = await dora.request(xml("iq", { type: "get" }, xml("vCard", { xmlns: "vcard-temp" })));
    t.match(card.toString(), /Dora Explorer/);
    const notes = await dora.request(
      xml(
        "iq",
        { type: "get" },
        xml("query", { xmlns: "jabber:iq:private" }, xml("storage", { xmlns: "storage:rosternotes" })),
      ),
    );
    t.match(notes.toString(), /likes hats/);
    const again = await connectClient(prosody, "dora", "example.test", "mine", "second");
    await again.stop();
    t.pass("own password unchanged");
  },
);

t.test("a passphrase-encrypted export is imported with its passphrase, refused without it", async (t) => {
  t.setTimeout(240_000);
  const prosody = await startProsody({ companion: true });
  t.teardown(() => prosody.cleanup());
  for (const u of ["alice", "bob"]) await prosody.register(u, "localhost", "pw");
  await prosody.register("carol", "example.test", "pw");
  const alice = await connectClient(prosody, "alice", "localhost", "pw");
  const bob = await connectClient(prosody, "bob", "localhost", "pw");
  const carol = await connectClient(prosody, "carol", "example.test", "pw");
  t.teardown(async () => {
    for (const c of [alice, bob, carol]) await c.stop();
  });
  await populateAccount(alice, "alice@localhost", bob, "bob@localhost", { messages: 10 });
  const app = await startTestApp(prosody);
  t.teardown(() => app.stop());
  const ex = await step(alice, "export");
  await step(alice, "export", ex.attrs.sessionid, { passphrase: "tea at four" }, "complete");
  const ready = await alice.waitFor(
    (m) => m.attrs.from === COMPONENT && /is ready/.test(m.getChildText("body") ?? ""),
    60_000,
  );
  t.match(ready.getChildText("body"), /encrypted with your passphrase/);
  const file = new Uint8Array(
    await (
      await fetch(fixUrl(ready.getChild("x", "jabber:x:oob")?.getChildText("url") as string, app))
    ).arrayBuffer(),
  );
  t.equal(Buffer.from(file.subarray(0, 8)).toString("latin1"), "XAPENC1\n", "the download is encrypted");
  t.notOk(
    JSON.stringify(await app.db.selectFrom("jobs").selectAll().execute()).includes("tea at four"),
    "passphrase not stored",
  );

  t.equal((await upload(carol, app, file)).status, 200);
  const s1 = await step(carol, "import");
  const source =
    s1
      .getChild("x")
      ?.getChildren("field")
      .find((f) => f.attrs.var === "source")
      ?.getChildText("value") ?? "";
  const without = await step(carol, "import", s1.attrs.sessionid, { source }, "next");
  t.equal(without.attrs.status, "completed");
  t.match(without.getChildText("note"), /encrypted: a passphrase is needed/);
  const s2 = await step(carol, "import");
  const wrong = await step(carol, "import", s2.attrs.sessionid, { source, passphrase: "coffee" }, "next");
  t.match(wrong.getChildText("note"), /wrong passphrase/);
  const s3 = await step(carol, "import");
  const preview = await step(
    carol,
    "import",
    s3.attrs.sessionid,
    { source, passphrase: "tea at four" },
    "next",
  );
  t.equal(preview.attrs.status, "executing");
  await carol.request(
    xml(
      "iq",
      { type: "set", to: COMPONENT },
      xml("command", {
        xmlns: NS_CMD,
        node: "import",
        sessionid: preview.attrs.sessionid,
        action: "complete",
      }),
    ),
  );
  const done = await carol.waitFor(
    (m) => m.attrs.from === COMPONENT && /finished/.test(m.getChildText("body") ?? ""),
    60_000,
  );
  t.match(done.getChildText("body"), /archive: 10 applied/);
});
