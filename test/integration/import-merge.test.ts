// Importing into an account that already has data: the preview names each conflict, the account's own
// data is kept by default and the archive's is taken per section when chosen; an import interrupted
// mid-way by a component restart applies every section exactly once.
import t, { type Test } from "tap";
import xml from "@xmpp/xml";
import type { Element } from "@xmpp/xml";
import { startProsody, type Prosody } from "../harness/prosody.js";
import { connectClient, type TestClient } from "../harness/clients.js";
import { addContact, publish } from "../harness/populate.js";
import { localSession, startTestApp } from "../harness/app.js";
import type { App } from "../../src/app.js";
import { getRoster } from "../../src/account/roster.js";
import { getJob, listJobs } from "../../src/storage/jobs.js";
import { stagesOf } from "../harness/commands.js";

const COMPONENT = "portability.localhost";
const NICK = "http://jabber.org/protocol/nick";

function archive(messages: number): string {
  const msgs = Array.from(
    { length: messages },
    (_, i) =>
      `<result xmlns='urn:xmpp:mam:2' id='arch-${i}'><forwarded xmlns='urn:xmpp:forward:0'>` +
      `<delay xmlns='urn:xmpp:delay' stamp='2023-01-01T00:${String(Math.floor(i / 60) % 60).padStart(2, "0")}:${String(i % 60).padStart(2, "0")}Z'/>` +
      `<message xmlns='jabber:client' from='alice@old.example/phone' to='bob@localhost' type='chat' id='m${i}'><body>old ${i}</body></message>` +
      `</forwarded></result>`,
  ).join("");
  return (
    `<?xml version='1.0'?><server-data xmlns='urn:xmpp:pie:0'><host jid='old.example'><user name='alice'>` +
    `<query xmlns='jabber:iq:roster'><item jid='bob@localhost' name='Bob from archive' subscription='both'><group>Archive</group></item>` +
    `<item jid='dan@localhost' name='Dan' subscription='to'/></query>` +
    `<vCard xmlns='vcard-temp'><FN>Archive Alice</FN></vCard>` +
    `<query xmlns='jabber:iq:private'><storage xmlns='storage:rosternotes'><note jid='bob@localhost'>from the archive</note></storage></query>` +
    `<pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='${NICK}'><item id='current'><nick xmlns='${NICK}'>ali</nick></item></items></pubsub>` +
    (messages > 0 ? `<archive xmlns='urn:xmpp:pie:0#mam'>${msgs}</archive>` : "") +
    `</user></host></server-data>`
  );
}

const command = stagesOf(COMPONENT);

/** Uploads the file through a fresh link and opens the preview of it. */
async function uploadAndPreview(c: TestClient, app: App, body: string): Promise<Element> {
  const first = await command(c, "import");
  const linkStep = await command(c, "import", first.attrs.sessionid, { source: "upload" }, "next");
  const url = linkStep.getChild("x", "jabber:x:oob")?.getChildText("url") ?? "";
  const res = await fetch(url.replace("127.0.0.1:8787", `127.0.0.1:${app.http.port}`), {
    method: "PUT",
    body,
  });
  if (res.status !== 200) throw new Error(`upload: ${res.status}`);
  const again = await command(c, "import");
  const source =
    again
      .getChild("x")
      ?.getChildren("field")
      .find((f) => f.attrs.var === "source")
      ?.getChildText("value") ?? "";
  return command(c, "import", again.attrs.sessionid, { source }, "next");
}

function fixedTexts(cmd: Element): string {
  return (cmd.getChild("x")?.getChildren("field") ?? [])
    .filter((f) => f.attrs.type === "fixed")
    .map((f) => f.getChildText("value"))
    .join("\n");
}

async function finished(c: TestClient): Promise<string> {
  const m = await c.waitFor(
    (el) => el.attrs.from === COMPONENT && /^Import into .* finished/.test(el.getChildText("body") ?? ""),
    180_000,
  );
  c.inbox.length = 0;
  return m.getChildText("body") ?? "";
}

async function carolState(c: TestClient, app: App) {
  const card = await c.request(xml("iq", { type: "get" }, xml("vCard", { xmlns: "vcard-temp" })));
  const nick = await c.request(
    xml(
      "iq",
      { type: "get" },
      xml("pubsub", { xmlns: "http://jabber.org/protocol/pubsub" }, xml("items", { node: NICK })),
    ),
  );
  const notes = await c.request(
    xml(
      "iq",
      { type: "get" },
      xml("query", { xmlns: "jabber:iq:private" }, xml("storage", { xmlns: "storage:rosternotes" })),
    ),
  );
  const roster = await getRoster(localSession(app, "carol@localhost"));
  return {
    fn: card.getChild("vCard", "vcard-temp")?.getChildText("FN"),
    nick: nick.toString().match(/<nick[^>]*>([^<]*)</)?.[1],
    note: notes.toString().match(/<note[^>]*>([^<]*)</)?.[1],
    bob: roster.find((i) => i.jid === "bob@localhost"),
  };
}

async function setup(t: Test): Promise<{ prosody: Prosody; carol: TestClient }> {
  const prosody = await startProsody({ companion: true });
  t.teardown(() => prosody.cleanup());
  for (const u of ["carol", "bob", "dan"]) await prosody.register(u, "localhost", "pw");
  const carol = await connectClient(prosody, "carol", "localhost", "pw");
  t.teardown(() => carol.stop());
  // Carol's account already has her own data.
  await carol.request(
    xml("iq", { type: "set" }, xml("vCard", { xmlns: "vcard-temp" }, xml("FN", {}, "Carol"))),
  );
  await addContact(carol, "bob@localhost", "Bobby", ["Mine"]);
  await publish(carol, NICK, "current", xml("nick", { xmlns: NICK }, "caro"));
  await carol.request(
    xml(
      "iq",
      { type: "set" },
      xml(
        "query",
        { xmlns: "jabber:iq:private" },
        xml("storage", { xmlns: "storage:rosternotes" }, xml("note", { jid: "bob@localhost" }, "mine")),
      ),
    ),
  );
  return { prosody, carol };
}

t.test("merge: the account's data is kept by default, the archive's taken when chosen", async (t) => {
  t.setTimeout(300_000);
  const { prosody, carol } = await setup(t);
  const app = await startTestApp(prosody);
  t.teardown(() => app.stop());

  const preview = await uploadAndPreview(carol, app, archive(5));
  const texts = fixedTexts(preview);
  t.match(texts, /Contacts: 1 you already have keep your names and groups \(1 differ/);
  t.match(texts, /vCard: yours is kept/);
  t.match(texts, /nickname: yours is kept/);
  t.match(texts, /Private storage storage:rosternotes: yours is kept/);
  t.ok(
    preview
      .getChild("x")
      ?.getChildren("field")
      .some((f) => f.attrs.var === "replace"),
    "a choice per section",
  );
  await command(carol, "import", preview.attrs.sessionid, {}, "complete");
  const report = await finished(carol);
  t.match(report, /roster: 1 applied, 1 kept \(yours\)/);
  t.match(report, /vcard: 0 applied, 1 kept/);
  t.match(report, /private: 0 applied, 1 kept/);
  const kept = await carolState(carol, app);
  t.equal(kept.fn, "Carol", "vCard kept");
  t.equal(kept.nick, "caro", "nickname kept");
  t.equal(kept.note, "mine", "roster notes kept");
  t.match(kept.bob, { name: "Bobby", groups: ["Mine"] }, "contact name and groups kept");

  const again = await uploadAndPreview(carol, app, archive(5));
  await command(
    carol,
    "import",
    again.attrs.sessionid,
    { replace: ["roster", "vcard", "pep", "private"] },
    "complete",
  );
  const taken = await finished(carol);
  t.match(taken, /vcard: 1 applied/);
  const after = await carolState(carol, app);
  t.equal(after.fn, "Archive Alice", "vCard taken from the archive");
  t.equal(after.nick, "ali", "nickname taken");
  t.equal(after.note, "from the archive", "roster notes taken");
  t.match(after.bob, { name: "Bob from archive", groups: ["Archive"] }, "contact taken");
});

t.test("an import interrupted by a component restart applies every section exactly once", async (t) => {
  t.setTimeout(300_000);
  const { prosody, carol } = await setup(t);
  const first = await startTestApp(prosody, {}, { jobLeaseMs: 1000 });
  const dbUrl = first.config.databaseUrl as string;
  const preview = await uploadAndPreview(carol, first, archive(600));
  await command(carol, "import", preview.attrs.sessionid, {}, "complete");
  // Wait until the first history batch is written, then stop the component mid-import.
  let jobId = "";
  for (let i = 0; i < 2400; i++) {
    const [job] = await listJobs(first.db, "carol@localhost");
    jobId = job?.id ?? "";
    if (typeof job?.cursor?.records === "number" && job.report === null && job.cursor.records > 5) break;
    await new Promise((r) => setTimeout(r, 25));
  }
  await first.jobs.stop();
  await first.link.stop();
  await first.http.close();
  const interrupted = await getJob(first.db, jobId);
  t.match(interrupted?.status, /^(queued|running)$/, "stopped mid-import: handed back, not finished");
  const second = await startTestApp(prosody, { DATABASE_URL: dbUrl }, { jobLeaseMs: 1000 });
  t.teardown(async () => {
    await second.stop();
    // The first instance's stop also drops the database both used.
    await first.stop().catch(() => undefined);
  });
  const report = await finished(carol);
  t.match(report, /roster: 1 applied, 1 kept \(yours\)/, "contacts once");
  t.match(report, /vcard: 0 applied, 1 kept/, "vCard decided once, after the resume");
  t.match(report, /archive: 600 applied(;|$)/, "every message once, none counted twice");
  t.match(
    report,
    /subscription requests: 2 applied(;|$)/,
    "one request to each contact the old account followed",
  );
  const done = await getJob(second.db, jobId);
  t.equal(done?.status, "done");
});
