// History import at the storage level, on Prosody's internal and SQL (sqlite) storage: an archive
// written out of time order lands in time order (a client paging backwards from the end sees the
// newest first; start/end queries come back in time order), a re-import adds nothing, and the
// component's own chat messages (upload received, import finished) never enter the history.
import t from "tap";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { gunzipSync } from "node:zlib";
import { startProsody } from "../harness/prosody.js";
import { connectClient } from "../harness/clients.js";
import { startTestApp } from "../harness/app.js";
import { historyStamp, writeHistoryArchive } from "../harness/history-archive.js";
import { commandStep, openStaged, realUrl, runImport, uploadArchive } from "../harness/import-flow.js";
import { archiveCount, mamPage, type MamItem } from "../harness/mam-query.js";
import { prosodyPostgres } from "../harness/database.js";
import xml from "@xmpp/xml";

const COMPONENT = "portability.localhost";
export const SQL_STORAGE = `storage = "sql"\nsql = { driver = "SQLite3", database = "prosody.sqlite" }`;
const N = 450;
const T0 = Date.UTC(2021, 0, 1) / 1000;
/** Hourly messages, written second half first: out of order across and within append batches. */
const when = (i: number) => T0 + i * 3600;
const order = (k: number) => (k < N / 2 ? k + N / 2 : k - N / 2);

// "postgresql": Prosody's SQL storage on PostgreSQL, whose column types are strict where SQLite's
// are not (the module's bulk insert and reorder run their own statements).
for (const storage of ["internal", "sql", "postgresql"] as const) {
  t.test(`history import on ${storage} storage: time order, idempotent, no component messages`, async (t) => {
    t.setTimeout(300_000);
    const pgStorage = storage === "postgresql" ? await prosodyPostgres() : undefined;
    if (pgStorage) t.teardown(() => pgStorage.cleanup());
    const prosody = await startProsody({
      companion: true,
      ...(pgStorage
        ? { storage: "sql", sql: pgStorage.config }
        : { extraGlobal: storage === "sql" ? SQL_STORAGE : "" }),
    });
    t.teardown(() => prosody.cleanup());
    for (const u of ["carol", "bob"]) await prosody.register(u, "localhost", "pw");
    const carol = await connectClient(prosody, "carol", "localhost", "pw");
    const bob = await connectClient(prosody, "bob", "localhost", "pw");
    t.teardown(async () => {
      await carol.stop();
      await bob.stop();
    });
    // Two live messages first: they are newer than everything in the file.
    for (const body of ["live 1", "live 2"]) {
      await bob.xmpp.send(xml("message", { to: "carol@localhost", type: "chat" }, xml("body", {}, body)));
      await carol.waitFor((m) => m.getChildText("body") === body);
    }
    const dir = await mkdtemp(path.join(tmpdir(), "portability-history-"));
    t.teardown(() => rm(dir, { recursive: true, force: true }));
    const file = path.join(dir, "carol.xml");
    await writeHistoryArchive(file, {
      user: "carol",
      host: "localhost",
      peer: "bob@localhost",
      messages: N,
      when,
      order,
    });
    const app = await startTestApp(prosody);
    t.teardown(() => app.stop());
    // The SQL driver caches each user's count once asked (Prosody 13's internal driver answers no
    // count to a max=0 query, so this is checked on SQL storage only).
    const counted = storage !== "internal";
    if (counted) t.equal(await archiveCount(carol), 2, "the server's count before the import");

    for (const round of [1, 2]) {
      t.equal((await uploadArchive(carol, COMPONENT, app, { file })).status, 200);
      const preview = await openStaged(carol, COMPONENT);
      const report = await runImport(carol, COMPONENT, preview, { parts: ["archive"] });
      t.match(
        report,
        round === 1 ? `archive: ${N} applied` : `archive: 0 applied, ${N} skipped`,
        `round ${round}: ${report}`,
      );
    }

    if (counted)
      t.equal(
        await archiveCount(carol),
        N + 2,
        "the server's own count (what clients and its archive quota read) includes the import",
      );
    // Backwards from the end, 100 at a time (the server's page cap here).
    const newest = await mamPage(carol, { max: 10, before: true });
    t.same(
      newest.items.map((m) => m.body).slice(-3),
      [`history message ${N - 1}: the quick brown fox jumps over the lazy dog`, "live 1", "live 2"],
      "the last page holds the newest messages, live ones last",
    );
    const all: MamItem[] = [];
    let before: string | true = true;
    for (let pages = 0; pages < 20; pages++) {
      const page = await mamPage(carol, { max: 100, before });
      all.unshift(...page.items);
      if (page.complete || !page.first) break;
      before = page.first;
    }
    t.equal(all.length, N + 2, "every message once");
    const stamps = all.map((m) => m.stamp);
    t.same(stamps, [...stamps].sort(), "paged backwards, the whole archive is in time order");
    t.same(
      all.slice(0, N).map((m) => m.id),
      Array.from({ length: N }, (_, i) => `h${i}`),
      "imported ids kept, oldest first",
    );

    // A time window: 2021-01-05 00:00 to 2021-01-06 00:00 holds messages 96…120.
    const window = await mamPage(carol, {
      max: 100,
      start: historyStamp(when(96)),
      end: historyStamp(when(120)),
    });
    t.same(
      window.items.map((m) => m.id),
      Array.from({ length: 25 }, (_, i) => `h${96 + i}`),
      "start/end query in time order",
    );

    if (pgStorage) {
      const rows = await pgStorage.query<{ n: number }>(
        `select count(*)::int as n from prosodyarchive where "user" = 'carol' and store = 'archive'`,
      );
      t.equal(rows.rows[0]?.n, N + 2, "stored in PostgreSQL, once each");
    }
    t.notOk(
      all.some((m) => m.from.startsWith(COMPONENT)),
      "the component's chat messages are not archived",
    );
    t.ok(
      carol.inbox.some((m) => m.attrs.from === COMPONENT && /finished/.test(m.getChildText("body") ?? "")),
      "…though the user got them",
    );

    if (storage === "internal") {
      // The export after the import: the user's own conversations only.
      const ex = await commandStep(carol, COMPONENT, "export");
      await commandStep(carol, COMPONENT, "export", { sessionid: ex.attrs.sessionid, action: "complete" });
      const ready = await carol.waitFor(
        (m) => m.attrs.from === COMPONENT && /is ready/.test(m.getChildText("body") ?? ""),
        120_000,
      );
      const url = realUrl(ready.getChild("x", "jabber:x:oob")?.getChildText("url") ?? "", app);
      const text = gunzipSync(new Uint8Array(await (await fetch(url)).arrayBuffer())).toString();
      t.equal(text.match(/<result /g)?.length, N + 2, "the export holds the history and the live messages");
      t.notMatch(text, /from=["']portability\.localhost/, "no component message in the export");
    }
  });
}

t.test("history import stops at the server's archive limit and says so", async (t) => {
  t.setTimeout(180_000);
  const prosody = await startProsody({ companion: true, extraGlobal: "storage_archive_item_limit = 100" });
  t.teardown(() => prosody.cleanup());
  await prosody.register("carol", "localhost", "pw");
  const carol = await connectClient(prosody, "carol", "localhost", "pw");
  t.teardown(() => carol.stop());
  const dir = await mkdtemp(path.join(tmpdir(), "portability-history-"));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = path.join(dir, "carol.xml");
  await writeHistoryArchive(file, { user: "carol", host: "localhost", peer: "bob@localhost", messages: 150 });
  const app = await startTestApp(prosody);
  t.teardown(() => app.stop());
  t.equal((await uploadArchive(carol, COMPONENT, app, { file })).status, 200);
  const report = await runImport(carol, COMPONENT, await openStaged(carol, COMPONENT), {
    parts: ["archive"],
  });
  t.match(report, "archive: 100 applied, 50 skipped");
  t.match(report, "the server's archive limit for your account was reached");
  const page = await mamPage(carol, { max: 100, before: true });
  t.equal(page.items.length, 100);
  t.equal(page.items[99]?.id, "h99", "the oldest 100, in order");
});
