// ejabberd's export_piefxis files, as a user brings them: the main file (XInclude only) is refused at
// upload naming the file to send; a host file with two accounts asks which one and previews that one;
// the chosen account's privacy lists become blocklist entries where XEP-0191 can say the same, and
// every other rule is reported with the reason.
import t from "tap";
import { readFile } from "node:fs/promises";
import xml from "@xmpp/xml";
import { appWithUser } from "../harness/app.js";
import {
  commandStep,
  formField,
  formText,
  openStaged,
  runImport,
  uploadArchive,
} from "../harness/import-flow.js";

const COMPONENT = "portability.localhost";
const DIR = new URL("../fixtures/xep0227/ejabberd-23.01/", import.meta.url);

t.test("ejabberd export: main file refused, account chosen, privacy list → blocklist", async (t) => {
  t.setTimeout(240_000);
  const { app, client: dora } = await appWithUser(t, "dora", "example.test");

  // The main file: refused at upload, in the HTTP answer and in a chat message, naming the host file.
  const main = await uploadArchive(dora, COMPONENT, app, await readFile(new URL("main.xml", DIR)));
  t.equal(main.status, 400);
  t.match(await main.text(), /main file of an ejabberd export.*Upload localhost\.xml instead/);
  const chat = await dora.waitFor(
    (m) => m.attrs.from === COMPONENT && /not a usable archive/.test(m.getChildText("body") ?? ""),
  );
  t.match(chat.getChildText("body"), /localhost\.xml/);

  // A host file holding two accounts: eli (three contacts) before dora.
  const host = (await readFile(new URL("localhost.xml", DIR))).toString();
  const eli =
    "<user name='eli'><query xmlns='jabber:iq:roster'><item subscription='both' jid='fay@example.org'/>" +
    "<item subscription='none' jid='gus@example.org'/><item subscription='to' jid='hal@example.org'/></query></user>";
  const up = await uploadArchive(
    dora,
    COMPONENT,
    app,
    host.replace("<user name='dora'", `${eli}<user name='dora'`),
  );
  t.equal(up.status, 200);
  const choose = await openStaged(dora, COMPONENT);
  t.match(formText(choose), /This archive holds 2 accounts/);
  t.same(
    formField(choose, "account")
      ?.getChildren("option")
      .map((o) => o.getChildText("value")),
    ["eli@localhost", "dora@localhost"],
  );
  const preview = await commandStep(dora, COMPONENT, "import", {
    sessionid: choose.attrs.sessionid,
    action: "next",
    fields: { account: "dora@localhost" },
  });
  const shown = formText(preview);
  t.match(shown, /Importing dora@localhost; the counts below are for it/);
  t.match(shown, /contacts: 2/, "dora's contacts, not eli's three");
  t.match(shown, /blocklist entries: 2/);
  t.match(shown, /privacy rules not imported: 2/);
  t.match(shown, /deny jid troll@example\.net" for message only/);

  const report = await runImport(dora, COMPONENT, preview, {
    parts: ["roster", "vcard", "private", "blocklist"],
    subscribe: "false",
  });
  t.match(report, /blocklist: 2 applied/);
  t.match(report, /privacy rules: 0 applied, 2 skipped/);
  t.match(report, /not imported: privacy list "work"/);

  const blocked = await dora.request(
    xml("iq", { type: "get" }, xml("blocklist", { xmlns: "urn:xmpp:blocking" })),
  );
  t.same(
    blocked
      .getChild("blocklist")
      ?.getChildren("item")
      .map((i) => i.attrs.jid)
      .sort(),
    ["ads.example.org", "spam@example.com"],
  );
  const roster = await dora.request(xml("iq", { type: "get" }, xml("query", { xmlns: "jabber:iq:roster" })));
  t.same(
    roster
      .getChild("query")
      ?.getChildren("item")
      .map((i) => i.attrs.jid)
      .sort(),
    ["hank@example.net", "ivy@example.org"],
    "only the chosen account's contacts",
  );
});
