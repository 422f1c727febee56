// Files with several accounts (one is chosen; counts and records are that account's), ejabberd's main
// file (XInclude only), and privacy lists turned into a blocklist where XEP-0191 can say the same.
import t from "tap";
import { readFile } from "node:fs/promises";
import { readArchive } from "../../../src/xep0227/reader.js";
import type { ArchiveRecord } from "../../../src/xep0227/records.js";
import { createSummary } from "../../../src/xep0227/summary.js";
import { AccountNotInArchive, selectAccount } from "../../../src/xep0227/select-account.js";

const DIR = new URL("../../fixtures/xep0227/ejabberd-23.01/", import.meta.url);

async function collect(it: AsyncIterable<ArchiveRecord>): Promise<ArchiveRecord[]> {
  const out: ArchiveRecord[] = [];
  for await (const r of it) out.push(r);
  return out;
}

/** The real ejabberd host file with a second account (eli) added before dora. */
async function twoAccounts(): Promise<string> {
  const host = (await readFile(new URL("localhost.xml", DIR))).toString();
  const eli =
    "<user name='eli'><query xmlns='jabber:iq:roster'><item subscription='both' jid='fay@example.org'/>" +
    "<item subscription='none' jid='gus@example.org'/><item subscription='to' jid='hal@example.org'/></query></user>";
  return host.replace("<user name='dora'", `${eli}<user name='dora'`);
}

t.test("privacy lists: complete JID blocks of the default list become blocklist entries", async (t) => {
  const recs = await collect(readArchive([(await readFile(new URL("localhost.xml", DIR))).toString()]));
  const blocklist = recs.find((r) => r.kind === "blocklist");
  t.same(blocklist?.kind === "blocklist" && blocklist.jids, ["spam@example.com", "ads.example.org"]);
  const privacy = recs.find((r) => r.kind === "privacy");
  const skipped = privacy?.kind === "privacy" ? privacy.skipped : [];
  t.equal(skipped.length, 2);
  t.match(skipped[0], /deny jid troll@example\.net" for message only: a blocklist blocks everything/);
  t.match(skipped[1], /privacy list "work" \(1 rule\): not your default list/);
  const s = createSummary();
  for (const r of recs) s.add(r);
  const summary = s.result();
  t.equal(summary.counts["blocklist entries"], 2);
  t.equal(summary.counts["privacy rules not imported"], 2);
  t.match(summary.warnings.join("\n"), /not imported: privacy rule "deny jid troll@example\.net"/);
});

t.test("privacy rules that allow, or match groups, are reported, not blocked", async (t) => {
  const recs = await collect(
    readArchive([
      "<server-data xmlns='urn:xmpp:pie:0'><host jid='h'><user name='u'>" +
        "<query xmlns='jabber:iq:privacy'><default name='main'/><list name='main'>" +
        "<item action='allow' order='1' type='jid' value='friend@h'/>" +
        "<item action='deny' order='2' type='subscription' value='none'/>" +
        "<item action='deny' order='3' type='jid' value='foe@h'><message/><iq/><presence-in/><presence-out/></item>" +
        "<item action='deny' order='4'/></list></query></user></host></server-data>",
    ]),
  );
  const b = recs.find((r) => r.kind === "blocklist");
  t.same(b?.kind === "blocklist" && b.jids, ["foe@h"], "all four stanza kinds = a complete block");
  const p = recs.find((r) => r.kind === "privacy");
  t.same(p?.kind === "privacy" && p.skipped, [
    'privacy rule "allow jid friend@h": a blocklist only blocks',
    'privacy rule "deny subscription none": a blocklist only holds addresses',
    'privacy rule "deny everyone else": a blocklist only holds addresses',
  ]);
});

t.test("several accounts: the chosen one's records and counts only", async (t) => {
  const text = await twoAccounts();
  const first = await collect(selectAccount(readArchive([text])));
  t.match(first[0], { kind: "user", name: "eli" });
  t.equal(first[first.length - 1]?.kind, "user-end");
  t.notOk(
    first.some((r) => r.kind === "vcard"),
    "nothing of dora's",
  );
  const dora = await collect(selectAccount(readArchive([text]), "Dora@LOCALHOST"));
  t.same(
    dora.map((r) => r.kind),
    ["user", "offline", "vcard", "blocklist", "privacy", "roster", "private", "user-end"],
  );
  await t.rejects(collect(selectAccount(readArchive([text]), "zed@localhost")), AccountNotInArchive);

  const sum = async (account?: string) => {
    const s = createSummary(account);
    for await (const r of readArchive([text])) s.add(r);
    return s.result();
  };
  const a = await sum();
  t.same(a.users, ["eli@localhost", "dora@localhost"]);
  t.equal(a.account, "eli@localhost");
  t.equal(a.counts.contacts, 3);
  t.notOk(a.counts.vcard);
  const d = await sum("dora@localhost");
  t.equal(d.account, "dora@localhost");
  t.equal(d.counts.contacts, 2);
  t.equal(d.counts.vcard, 1);
});

t.test("ejabberd's main file: no account, the included file named", async (t) => {
  const s = createSummary();
  for await (const r of readArchive([(await readFile(new URL("main.xml", DIR))).toString()])) s.add(r);
  const r = s.result();
  t.same(r.users, []);
  t.same(r.includes, ["localhost.xml"]);
});
