// "Export account" end to end: a real client runs the command, downloads over HTTP, and the file
// validates, holds every item, and prosody-migrator turns it back into a working account.
import t from "tap";
import { writeFile, mkdtemp } from "node:fs/promises";
import { createReadStream } from "node:fs";
import { gunzipSync } from "node:zlib";
import { tmpdir } from "node:os";
import path from "node:path";
import { PassThrough } from "node:stream";
import xml from "@xmpp/xml";
import type { Element } from "@xmpp/xml";
import { FULL_PRIVILEGES, startProsody, sleep } from "../harness/prosody.js";
import { connectClient, type TestClient } from "../harness/clients.js";
import { populateAccount } from "../harness/populate.js";
import { startTestApp } from "../harness/app.js";
import { createMigrator } from "../harness/migrator.js";
import { runArchiveCommand } from "../../src/cli/archive.js";
import { readArchive } from "../../src/xep0227/reader.js";
import { createArchiveWriter } from "../../src/xep0227/writer.js";
import type { PepNode } from "../../src/account/model.js";
import type { ArchiveRecord } from "../../src/xep0227/records.js";
import { getJob, listJobs, requeueJob } from "../../src/storage/jobs.js";

const NS_CMD = "http://jabber.org/protocol/commands";
const COMPONENT = "portability.localhost";
const MESSAGES = 2000;

async function runCommand(
  c: TestClient,
  node: string,
  fields: Record<string, string> = {},
): Promise<Element | undefined> {
  const s1 = (
    await c.request(xml("iq", { type: "set", to: COMPONENT }, xml("command", { xmlns: NS_CMD, node })))
  ).getChild("command");
  if (s1?.attrs.status !== "executing") return s1;
  const x = xml(
    "x",
    { xmlns: "jabber:x:data", type: "submit" },
    Object.entries(fields).map(([k, v]) => xml("field", { var: k }, xml("value", {}, v))),
  );
  return (
    await c.request(
      xml(
        "iq",
        { type: "set", to: COMPONENT },
        xml("command", { xmlns: NS_CMD, node, sessionid: s1.attrs.sessionid, action: "complete" }, x),
      ),
    )
  ).getChild("command");
}

/** The same archive with only the first `n` history messages (every other section kept). */
async function firstMessages(file: Buffer, n: number): Promise<Buffer> {
  const out = new PassThrough();
  const chunks: Buffer[] = [];
  out.on("data", (c: Buffer) => chunks.push(c));
  const w = createArchiveWriter(out);
  const nodes = new Map<string, PepNode>();
  let kept = 0;
  for await (const r of readArchive([file])) {
    if (r.kind === "user") await w.begin(r.host, r.name);
    if (r.kind === "roster") await w.roster(r.items);
    if (r.kind === "vcard") await w.vcard(r.vcard);
    if (r.kind === "private") await w.privateXml(r.payloads);
    if (r.kind === "blocklist") await w.blocklist(r.jids);
    if (r.kind === "pep-node")
      nodes.set(r.node, { node: r.node, config: r.config, affiliations: r.affiliations, items: [] });
    if (r.kind === "pep-items") {
      const node = nodes.get(r.node);
      if (node) node.items = r.items;
    }
    if (r.kind === "archive" && kept < n) {
      if (kept === 0) await w.pep([...nodes.values()]);
      await w.archiveMessage(r.message);
      kept++;
    }
  }
  await w.end();
  return Buffer.concat(chunks);
}

function linkOf(msg: Element): string {
  const url = msg.getChild("x", "jabber:x:oob")?.getChildText("url");
  if (!url) throw new Error(`no OOB url in ${msg.toString()}`);
  return url;
}

t.test(
  "export from a real client, download, validate, complete, importable by prosody-migrator",
  async (t) => {
    t.setTimeout(240_000);
    const prosody = await startProsody({ companion: true });
    t.teardown(() => prosody.cleanup());
    for (const u of ["alice", "bob", "eve"]) await prosody.register(u, "localhost", "pw");
    const alice = await connectClient(prosody, "alice", "localhost", "pw");
    const bob = await connectClient(prosody, "bob", "localhost", "pw");
    const eve = await connectClient(prosody, "eve", "localhost", "pw");
    t.teardown(async () => {
      for (const c of [alice, bob, eve]) await c.stop();
    });
    await populateAccount(alice, "alice@localhost", bob, "bob@localhost", { messages: MESSAGES });
    const app = await startTestApp(prosody);
    t.teardown(() => app.stop());

    const started = await runCommand(alice, "export");
    t.equal(started?.attrs.status, "completed");
    t.match(started?.getChildText("note"), /started/);
    const ready = await alice.waitFor(
      (m) =>
        m.name === "message" && m.attrs.from === COMPONENT && /is ready/.test(m.getChildText("body") ?? ""),
      120_000,
    );
    const url = linkOf(ready);
    t.match(
      url,
      new RegExp(`^http://127\\.0\\.0\\.1:8787/download/[A-Za-z0-9_-]{43}$`),
      "link under HTTP_PUBLIC_URL",
    );
    const res = await fetch(url.replace("127.0.0.1:8787", `127.0.0.1:${app.http.port}`));
    t.equal(res.status, 200);
    t.match(res.headers.get("content-disposition"), /alice@localhost-\d{4}-\d\d-\d\d\.xml\.gz/);
    const gz = Buffer.from(await res.arrayBuffer());
    t.equal(Number(res.headers.get("content-length")), gz.length);
    const dir = await mkdtemp(path.join(tmpdir(), "portability-export-"));
    const file = path.join(dir, "alice.xml.gz");
    await writeFile(file, gz);

    // (a) validates
    const out = new PassThrough();
    const err = new PassThrough();
    t.equal(
      await runArchiveCommand(["validate", file], { stdout: out, stderr: err }),
      0,
      "portability archive validate passes",
    );

    // (b) holds every item
    const recs: ArchiveRecord[] = [];
    for await (const r of readArchive(
      createReadStream(file).pipe((await import("node:zlib")).createGunzip()),
    ))
      recs.push(r);
    const roster = recs.find((r) => r.kind === "roster");
    t.match(roster?.kind === "roster" && roster.items.find((i) => i.jid === "bob@localhost"), {
      name: "Bob Builder",
      subscription: "both",
    });
    const nodes = recs
      .filter((r) => r.kind === "pep-items")
      .map((r) => (r.kind === "pep-items" ? `${r.node}:${r.items.length}` : ""));
    t.comment(nodes.join(" "));
    for (const n of [
      "urn:xmpp:bookmarks:1:2",
      "http://jabber.org/protocol/nick:1",
      "urn:xmpp:avatar:data:1",
      "urn:xmpp:avatar:metadata:1",
      "urn:xmpp:vcard4:1",
    ]) {
      t.ok(nodes.includes(n), `PEP ${n}`);
    }
    t.ok(
      recs.some((r) => r.kind === "vcard"),
      "vcard-temp",
    );
    t.match(
      recs.find((r) => r.kind === "private"),
      { kind: "private" },
    );
    t.match(
      recs.find((r) => r.kind === "blocklist"),
      { jids: ["spam@example.com"] },
    );
    const archive = recs.filter((r) => r.kind === "archive");
    t.equal(archive.length, MESSAGES, "every archived message");
    t.equal(
      new Set(archive.map((r) => (r.kind === "archive" ? r.message.id : ""))).size,
      MESSAGES,
      "ids unique",
    );

    // Other users: no status, no link.
    t.match((await runCommand(eve, "export-status"))?.getChildText("note"), /No exports yet/);
    t.equal((await fetch(`http://127.0.0.1:${app.http.port}/download/${"A".repeat(43)}`)).status, 404);
    const status = await runCommand(alice, "export-status");
    t.match(status?.toString(), /done/);

    // (c) prosody-migrator turns it into a working account on a fresh server.
    const migrator = await createMigrator();
    // The peer's archive import costs O(n²) (192 s for 2,000 messages, see bench/codec.ts), so it gets
    // our file with the history cut to its first 100 messages, rewritten by our own reader and writer.
    await writeFile(
      path.join(migrator.xep0227Dir, "alice@localhost.xml"),
      await firstMessages(gunzipSync(gz), 100),
    );
    const fresh = await startProsody();
    t.teardown(() => fresh.cleanup());
    await fresh.register("alice", "localhost", "pw");
    await fresh.stop();
    // No credentials in a component export: keep the registered account, migrate the rest.
    await migrator.run("xep0227-to-internal", path.join(fresh.dir, "data"), "localhost", [
      "roster",
      "private",
      "pep-pubsub",
      "archive-archive",
    ]);
    await fresh.start();
    const again = await connectClient(fresh, "alice", "localhost", "pw");
    t.teardown(() => again.stop());
    const r2 = await again.request(xml("iq", { type: "get" }, xml("query", { xmlns: "jabber:iq:roster" })));
    t.match(r2.toString(), /Bob Builder/);
    const bm = await again.request(
      xml(
        "iq",
        { type: "get", to: "alice@localhost" },
        xml(
          "pubsub",
          { xmlns: "http://jabber.org/protocol/pubsub" },
          xml("items", { node: "urn:xmpp:bookmarks:1" }),
        ),
      ),
    );
    t.match(bm.toString(), /tea@rooms\.example\.net/);
    const before = again.inbox.length;
    const fin = await again.request(
      xml(
        "iq",
        { type: "set" },
        xml(
          "query",
          { xmlns: "urn:xmpp:mam:2", queryid: "x" },
          xml("set", { xmlns: "http://jabber.org/protocol/rsm" }, xml("max", {}, "5")),
        ),
      ),
    );
    t.ok(fin.getChild("fin"), "MAM answers");
    await sleep(100);
    t.equal(
      again.inbox.slice(before).filter((m) => m.getChild("result", "urn:xmpp:mam:2")).length,
      5,
      "history is there",
    );
  },
);

t.test("an export interrupted by a component restart resumes and completes", async (t) => {
  t.setTimeout(240_000);
  const prosody = await startProsody({ companion: true });
  t.teardown(() => prosody.cleanup());
  for (const u of ["alice", "bob"]) await prosody.register(u, "localhost", "pw");
  const alice = await connectClient(prosody, "alice", "localhost", "pw");
  const bob = await connectClient(prosody, "bob", "localhost", "pw");
  t.teardown(async () => {
    await alice.stop();
    await bob.stop();
  });
  await populateAccount(alice, "alice@localhost", bob, "bob@localhost", { messages: 1200 });
  // Small pages make the export take a few seconds, so the restart lands mid-way.
  const first = await startTestApp(prosody, {}, { jobLeaseMs: 1000, exportPageSize: 5 });
  const dbUrl = (first.database.kind === "postgres" ? first.config.databaseUrl : undefined) as string;
  t.equal((await runCommand(alice, "export", { compress: "0" }))?.attrs.status, "completed");
  let job;
  for (let i = 0; i < 400; i++) {
    [job] = await listJobs(first.db, "alice@localhost");
    if (job && typeof job.progress?.messages === "number" && job.progress.messages >= 1) break;
    await sleep(25);
  }
  t.equal(job?.status, "running", "export is running");
  // Stop the first instance without dropping its database, then start another on the same database.
  await first.jobs.stop();
  await first.link.stop();
  await first.http.close();
  const second = await startTestApp(
    prosody,
    { DATABASE_URL: dbUrl },
    { jobLeaseMs: 1000, exportPageSize: 50 },
  );
  t.teardown(async () => {
    await second.stop();
    // The first instance's stop also drops the database both used.
    await first.stop().catch(() => undefined);
  });
  const ready = await alice.waitFor(
    (m) =>
      m.name === "message" && m.attrs.from === COMPONENT && /is ready/.test(m.getChildText("body") ?? ""),
    120_000,
  );
  const res = await fetch(linkOf(ready).replace("127.0.0.1:8787", `127.0.0.1:${second.http.port}`));
  const body = Buffer.from(await res.arrayBuffer());
  const recs: ArchiveRecord[] = [];
  for await (const r of readArchive([body])) recs.push(r);
  t.equal(recs.filter((r) => r.kind === "archive").length, 1200, "the resumed file is complete");
  const done = await getJob(second.db, job?.id as string);
  t.equal(done?.status, "done");
  t.equal(done?.attempts, 1, "handed back at the stop: the interrupted attempt is not counted");
});

t.test(
  "an export whose file was finished but whose job was not recorded done still sends its link",
  async (t) => {
    t.setTimeout(120_000);
    // No blocklist privilege, so the export leaves a section out and says why.
    const prosody = await startProsody({
      companion: true,
      privileges: FULL_PRIVILEGES.replace('["urn:xmpp:blocking"] = "both";', ""),
    });
    t.teardown(() => prosody.cleanup());
    await prosody.register("alice", "localhost", "pw");
    const alice = await connectClient(prosody, "alice", "localhost", "pw");
    t.teardown(() => alice.stop());
    const app = await startTestApp(prosody);
    t.teardown(() => app.stop());
    const isReady = (m: Element) =>
      m.name === "message" && m.attrs.from === COMPONENT && /is ready/.test(m.getChildText("body") ?? "");
    // Several sections, so the order of the counts shows (Postgres's jsonb keeps no key order).
    await alice.request(
      xml(
        "iq",
        { type: "set" },
        xml("query", { xmlns: "jabber:iq:roster" }, xml("item", { jid: "zed@example.net", name: "Zed" })),
      ),
    );
    await alice.request(
      xml("iq", { type: "set" }, xml("vCard", { xmlns: "vcard-temp" }, xml("FN", {}, "Alice"))),
    );
    t.equal((await runCommand(alice, "export", { compress: "0" }))?.attrs.status, "completed");
    const first = await alice.waitFor(isReady, 60_000);
    const contents = (m: Element) => /is ready \(([^)]*)\)/.exec(m.getChildText("body") ?? "")?.[1];
    t.match(contents(first), /^[\d.]+ KiB; roster: 1, vcard: 1/, "counts in the order of the file");
    const leftOut = (m: Element) =>
      (m.getChildText("body") ?? "").split("\n").filter((l) => /not included/.test(l));
    t.match(leftOut(first), [/^- blocklist not included: /], "the left-out section, with why");
    // The component stopped (or crashed) between finishing the file and recording the job done: the
    // ready message is sent only after that record, so the user was never told. The job runs again.
    const [job] = await listJobs(app.db, "alice@localhost");
    alice.inbox.length = 0;
    await requeueJob(app.db, job?.id as string, "stopped before it was recorded done");
    const again = await alice.waitFor(isReady, 60_000);
    const port = app.http.port;
    const res = await fetch(linkOf(again).replace("127.0.0.1:8787", `127.0.0.1:${port}`));
    t.equal(res.status, 200, "the new link downloads the finished file");
    t.equal(contents(again), contents(first), "the same size and counts, in the same order");
    t.same(leftOut(again), leftOut(first), "and the same left-out section");
    const recs: ArchiveRecord[] = [];
    for await (const r of readArchive([Buffer.from(await res.arrayBuffer())])) recs.push(r);
    t.ok(
      recs.some((r) => r.kind === "user"),
      "the file, not exported again",
    );
    t.equal((await getJob(app.db, job?.id as string))?.status, "done");
    t.equal(
      (await fetch(linkOf(first).replace("127.0.0.1:8787", `127.0.0.1:${port}`))).status,
      404,
      "only one link works (the first was never handed over in this case)",
    );
  },
);
