// Files written by other exporters: Prosody's single-line style, ejabberd's export_piefxis, a web migrator.
import t from "tap";
import { PassThrough } from "node:stream";
import { writeFile, mkdtemp } from "node:fs/promises";
import { gzipSync } from "node:zlib";
import { tmpdir } from "node:os";
import path from "node:path";
import xml from "@xmpp/xml";
import { readArchive } from "../../../src/xep0227/reader.js";
import type { ArchiveRecord } from "../../../src/xep0227/records.js";
import { runArchiveCommand } from "../../../src/cli/archive.js";

async function read(text: string): Promise<ArchiveRecord[]> {
  const out: ArchiveRecord[] = [];
  for await (const r of readArchive([text])) out.push(r);
  return out;
}

// Shape of mod_storage_xep0227 output: one line, ' quotes, pending presence WITHOUT a namespace.
const PROSODY =
  `<?xml version='1.0' encoding='utf-8'?><server-data xmlns='urn:xmpp:pie:0'><host jid='localhost'><user name='alice'><scram-credentials xmlns='urn:xmpp:pie:0#scram' mechanism='SCRAM-SHA-1'><server-key>c2s=</server-key><iter-count>10000</iter-count><salt>c2FsdA==</salt><stored-key>c3Q=</stored-key></scram-credentials><query version='3' xmlns='jabber:iq:roster'><item subscription='both' jid='bob@localhost' name='Bob'><group>Work</group></item></query><presence from='carol@localhost' type='subscribe'/><pubsub xmlns='http://jabber.org/protocol/pubsub#owner'><configure node='urn:xmpp:bookmarks:1'><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>http://jabber.org/protocol/pubsub#node_config</value></field><field var='pubsub#title'/><field var='pubsub#access_model'><value>whitelist</value></field></x></configure><affiliations node='urn:xmpp:bookmarks:1'><affiliation jid='alice@localhost' affiliation='owner'/></affiliations></configure></pubsub></user></host></server-data>`.replace(
    "</affiliations></configure></pubsub>",
    "</affiliations></pubsub>",
  );

const EJABBERD = `<?xml version='1.0' encoding='UTF-8'?>
<server-data xmlns='http://www.xmpp.org/extensions/xep-0227.html#ns' xmlns:xi='http://www.w3.org/2001/XInclude'>
<host jid='example.net'>
<user name='dora' password='secret'>
<query xmlns='jabber:iq:roster'><item jid='eve@example.org' name='Eve' subscription='to' ask='subscribe'><group>Friends</group></item></query>
<offline-messages><message xmlns='jabber:client' from='eve@example.org/x' to='dora@example.net' type='chat'><body>while you were away</body></message></offline-messages>
<query xmlns='jabber:iq:private'><storage xmlns='storage:bookmarks'><conference jid='room@muc.example.net' name='Room'/></storage></query>
<vCard xmlns='vcard-temp'><FN>Dora</FN></vCard>
<query xmlns='jabber:iq:privacy'><list name='blocked'><item type='jid' value='spam@example.com' action='deny' order='1'/></list></query>
</user>
</host>
</server-data>`;

t.test("Prosody-style file: pending presence without namespace, submit form with empty fields", async (t) => {
  const recs = await read(PROSODY);
  t.match(
    recs.find((r) => r.kind === "pending"),
    { subscription: { from: "carol@localhost" } },
  );
  t.match(
    recs.find((r) => r.kind === "roster"),
    { items: [{ jid: "bob@localhost", name: "Bob", groups: ["Work"] }] },
  );
  const node = recs.find((r) => r.kind === "pep-node");
  t.same(
    node?.kind === "pep-node" && Object.fromEntries(node.config),
    { "pubsub#access_model": ["whitelist"] },
    "empty fields mean default",
  );
  t.same(node?.kind === "pep-node" && node.affiliations, [{ jid: "alice@localhost", affiliation: "owner" }]);
  t.match(
    recs.find((r) => r.kind === "scram"),
    { credential: { iterations: 10000 } },
  );
});

t.test(
  "ejabberd export_piefxis: legacy namespace, password attribute, offline messages, privacy",
  async (t) => {
    const recs = await read(EJABBERD);
    t.match(
      recs.find((r) => r.kind === "user"),
      { name: "dora", host: "example.net", hasPassword: true },
    );
    t.match(
      recs.find((r) => r.kind === "roster"),
      { items: [{ jid: "eve@example.org", subscription: "to", ask: "subscribe" }] },
    );
    t.match(
      recs.find((r) => r.kind === "offline")?.kind === "offline" && recs.find((r) => r.kind === "offline"),
      { kind: "offline" },
    );
    t.ok(recs.some((r) => r.kind === "privacy"));
    t.ok(recs.some((r) => r.kind === "vcard"));
    const flat = recs
      .map((r) =>
        "element" in r
          ? r.element.toString()
          : JSON.stringify(r, (_k, v: unknown) => (v instanceof xml.Element ? v.toString() : v)),
      )
      .join("");
    t.notOk(flat.includes("secret"), "the password value is not carried in records");
  },
);

t.test("archive inspect and validate on .xml and .xml.gz, with --json", async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), "portability-cli-"));
  const plain = path.join(dir, "dora.xml");
  const gz = path.join(dir, "dora.xml.gz");
  const bad = path.join(dir, "bad.xml");
  await writeFile(plain, EJABBERD);
  await writeFile(gz, gzipSync(EJABBERD));
  await writeFile(bad, "<!DOCTYPE x [<!ENTITY a 'b'>]><server-data xmlns='urn:xmpp:pie:0'/>");
  const run = async (...args: string[]) => {
    const out = new PassThrough();
    const err = new PassThrough();
    let o = "";
    let e = "";
    out.on("data", (c: Buffer) => (o += c.toString()));
    err.on("data", (c: Buffer) => (e += c.toString()));
    const code = await runArchiveCommand(args, { stdout: out, stderr: err });
    return { code, o, e };
  };
  const json = await run("inspect", gz, "--json");
  t.equal(json.code, 0);
  const s = JSON.parse(json.o) as { users: string[]; counts: Record<string, number>; warnings: string[] };
  t.same(s.users, ["dora@example.net"]);
  t.equal(s.counts.contacts, 1);
  t.equal(s.counts["offline messages"], 1);
  t.match(s.warnings.join("\n"), /plaintext password/);
  const text = await run("inspect", plain);
  t.match(text.o, /users: dora@example.net/);
  t.equal((await run("validate", plain)).code, 0);
  const invalid = await run("validate", bad);
  t.equal(invalid.code, 1);
  t.match(invalid.e, /DOCTYPE/);
  t.equal((await run("validate", path.join(dir, "missing.xml"))).code, 1);
});

t.test("a real ejabberd 23.01 export_piefxis: per-host file as root, main file with XInclude", async (t) => {
  const { readFile } = await import("node:fs/promises");
  const dir = new URL("../../fixtures/xep0227/ejabberd-23.01/", import.meta.url);
  const host = await read((await readFile(new URL("localhost.xml", dir))).toString());
  t.same(
    host.map((r) => r.kind),
    ["host", "user", "offline", "vcard", "blocklist", "privacy", "roster", "private", "user-end", "host-end"],
  );
  t.match(host[1], { kind: "user", name: "dora", host: "localhost", hasPassword: true });
  t.match(
    host.find((r) => r.kind === "roster"),
    {
      items: [
        { jid: "hank@example.net", name: "Hank", subscription: "both", groups: ["Family"] },
        { jid: "ivy@example.org", name: "Ivy", subscription: "to", groups: ["Book club"] },
      ],
    },
  );
  const main = await read((await readFile(new URL("main.xml", dir))).toString());
  t.match(
    main.find((r) => r.kind === "unknown"),
    { where: "xinclude" },
    "XInclude reported, not followed",
  );
});
