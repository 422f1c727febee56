// Issue 15, attack 1: uploads that used to make the component send a stanza over Prosody's
// component_stanza_size_limit (and get disconnected): an import preview of 20,000 accounts, a batch of
// 200 messages of ~4 KB, a 700 KB contact name. The component stays connected, the oversized field is
// refused with a reason, and another user's commands keep answering.
import t from "tap";
import xml from "@xmpp/xml";
import { startProsody, sleep } from "../harness/prosody.js";
import { connectClient } from "../harness/clients.js";
import { startTestApp } from "../harness/app.js";
import { commandStage, runCommand } from "../harness/commands.js";
import { fixedLines, openStaged, uploadArchive } from "../harness/import-flow.js";
import { archiveText } from "../harness/archives.js";

const COMPONENT = "portability.localhost";

t.test("oversized previews, batches and fields keep the component connected", async (t) => {
  t.setTimeout(300_000);
  const prosody = await startProsody({ companion: true });
  t.teardown(() => prosody.cleanup());
  for (const u of ["mallory", "bob"]) await prosody.register(u, "localhost", "pw");
  // The reader's own limit on accounts per archive (100) is lifted: this test is about stanza sizes.
  const app = await startTestApp(prosody, { ARCHIVE_MAX_USERS: "30000" });
  t.teardown(() => app.stop());
  let disconnects = 0;
  app.link.onOffline(() => disconnects++);
  const mallory = await connectClient(prosody, "mallory", "localhost", "pw");
  const bob = await connectClient(prosody, "bob", "localhost", "pw");
  t.teardown(async () => {
    await mallory.stop();
    await bob.stop();
  });
  await sleep(300); // companion probe after online

  const bystander = async (what: string) => {
    const r = await runCommand(bob, COMPONENT, "import-status");
    t.equal(r.attrs.status, "completed", `another user's command answers (${what})`);
    t.equal(disconnects, 0, `component still connected (${what})`);
  };

  // 20,000 accounts with passwords: one line per account or per warning would be ~2 MB.
  const users = Array.from({ length: 20_000 }, (_, i) => `<user name='u${i}' password='p'/>`).join("");
  const many = `<?xml version='1.0'?><server-data xmlns='urn:xmpp:pie:0'><host jid='old.example'>${users}</host></server-data>`;
  t.equal((await uploadArchive(mallory, COMPONENT, app, many)).status, 200);
  const choice = await openStaged(mallory, COMPONENT);
  t.equal(choice.attrs.status, "executing", "the account choice answers");
  t.match(
    fixedLines(choice).join("\n"),
    /u0@old\.example, u1@old\.example, u2@old\.example … and 19,997 more accounts/,
  );
  t.ok(choice.toString().length < 16_000, "the choice stanza is small (a text field, not 20,000 options)");
  const preview = await commandStage(
    mallory,
    COMPONENT,
    "import",
    choice.attrs.sessionid,
    { account: "u1@old.example" },
    "next",
  );
  t.equal(preview.attrs.status, "executing", "the preview answers");
  const lines = fixedLines(preview);
  t.ok(lines.length < 40, `summarised in ${lines.length} lines`);
  t.match(
    lines.join("\n"),
    /Accounts in the archive: u0@old\.example, u1@old\.example, u2@old\.example … and 19,997 more accounts\. Importing u1@old\.example/,
  );
  t.ok(lines.filter((l) => l.startsWith("warning")).length <= 11, "warnings are capped");
  t.ok(preview.toString().length < 16_000, "the preview stanza is small");
  await commandStage(mallory, COMPONENT, "import", preview.attrs.sessionid, undefined, "cancel").catch(
    () => undefined,
  );
  await bystander("after the 20,000-account preview");

  // 200 messages of ~4 KB (one archive batch, ~900 KB) and a vCard with a 700 KB photo. (A 700 KB
  // contact name no longer gets this far: the archive reader refuses names over 1,024 characters.)
  const filler = "x".repeat(4000);
  const file = await archiveText(async (w) => {
    await w.begin("localhost", "mallory");
    await w.roster([{ jid: "fine@old.example", name: "Fine", subscription: "both", groups: ["G"] }]);
    await w.vcard(
      xml("vCard", { xmlns: "vcard-temp" }, xml("PHOTO", {}, xml("BINVAL", {}, "A".repeat(700_000)))),
    );
    for (let i = 0; i < 200; i++) {
      await w.archiveMessage({
        id: `big${i}`,
        stamp: new Date(Date.UTC(2024, 0, 1, 0, 0, i)).toISOString(),
        message: xml(
          "message",
          { xmlns: "jabber:client", from: "fine@old.example/r", to: "mallory@localhost", type: "chat" },
          xml("body", {}, `${i} ${filler}`),
        ),
      });
    }
    await w.end();
  });
  t.equal((await uploadArchive(mallory, COMPONENT, app, file)).status, 200);
  const p2 = await openStaged(mallory, COMPONENT);
  t.equal(p2.attrs.status, "executing");
  const started = await commandStage(
    mallory,
    COMPONENT,
    "import",
    p2.attrs.sessionid,
    { parts: ["roster", "vcard", "archive"], subscribe: "false" },
    "complete",
  );
  t.match(started.getChildText("note") ?? "", /started/);
  const done = await mallory.waitFor(
    (m) =>
      m.attrs.from === COMPONENT &&
      /Import into mallory@localhost finished/.test(m.getChildText("body") ?? ""),
    180_000,
  );
  const body = done.getChildText("body") ?? "";
  t.comment(body.slice(0, 500));
  t.match(body, /archive: 200 applied/, "every large message imported, in byte-bounded batches");
  t.match(body, /vcard: 0 applied, 1 failed/, "the vCard with a 700 KB photo is refused…");
  t.match(body, /too large to send \(\d+ KiB; the limit is 256 KiB\)/, "…with the reason");
  const roster = await mallory.request(
    xml("iq", { type: "get" }, xml("query", { xmlns: "jabber:iq:roster" })),
  );
  const jids = roster
    .getChild("query")
    ?.getChildren("item")
    .map((i) => i.attrs.jid);
  t.same(jids, ["fine@old.example"], "the other contact was imported");
  await bystander("after the large import");
});
