// admin-export-all end to end on a real Prosody and Postgres: 20 accounts with data, each exported into
// its own archive (validated, only its own account inside), each user messaged with their own link,
// and a component restart in the middle resumes without exporting or messaging anyone twice.
import t from "tap";
import xml from "@xmpp/xml";
import type { Element } from "@xmpp/xml";
import { startProsody } from "../harness/prosody.js";
import { connectClient, type TestClient } from "../harness/clients.js";
import { startTestApp } from "../harness/app.js";
import { freshPostgres } from "../harness/database.js";
import { notes, runCommand, tableRows } from "../harness/commands.js";
import { Writable } from "node:stream";
import { openArchiveBytes } from "../../src/xep0227/input.js";
import { runAdminCommand } from "../../src/cli/admin.js";
import { readArchive } from "../../src/xep0227/reader.js";
import type { ArchiveRecord } from "../../src/xep0227/records.js";
import { addContact } from "../harness/populate.js";
import { until } from "../harness/wait.js";

const USERS = 20;
const COMPONENT = "portability.localhost";
const name = (i: number) => `user${String(i).padStart(2, "0")}`;
const jidOf = (i: number) => `${name(i)}@localhost`;

function linkOf(msg: Element): string | undefined {
  return msg.getChild("x", "jabber:x:oob")?.getChildText("url") ?? undefined;
}

const isLinkMessage = (m: Element) =>
  m.name === "message" && m.attrs.from === COMPONENT && linkOf(m) !== undefined;

async function download(url: string, port: number): Promise<Response> {
  return fetch(url.replace("127.0.0.1:8787", `127.0.0.1:${port}`));
}

async function records(res: Response): Promise<ArchiveRecord[]> {
  const body = Buffer.from(await res.arrayBuffer());
  const out: ArchiveRecord[] = [];
  const bytes = await openArchiveBytes(
    (async function* () {
      yield body;
    })(),
  );
  for await (const r of readArchive(bytes)) out.push(r);
  return out;
}

t.test("admin-export-all: 20 accounts, own links only, restart mid-way without duplicates", async (t) => {
  t.setTimeout(300_000);
  const prosody = await startProsody({ companion: true });
  t.teardown(() => prosody.cleanup());
  await prosody.register("admin", "localhost", "pw");
  for (let i = 0; i < USERS; i++) await prosody.register(name(i), "localhost", "pw");

  const clients: TestClient[] = [];
  t.teardown(async () => {
    for (const c of clients) await c.stop();
  });
  const admin = await connectClient(prosody, "admin", "localhost", "pw");
  clients.push(admin);
  for (let i = 0; i < USERS; i++) clients.push(await connectClient(prosody, name(i), "localhost", "pw"));
  const user = (i: number) => clients[i + 1] as TestClient;
  // Each account: one contact of its own, a vCard with its own name, and messages to the next user.
  for (let i = 0; i < USERS; i++) {
    const c = user(i);
    await addContact(c, `friend-of-${name(i)}@example.net`, `Friend ${i}`);
    await c.request(
      xml("iq", { type: "set" }, xml("vCard", { xmlns: "vcard-temp" }, xml("FN", {}, `Person ${name(i)}`))),
    );
    const to = jidOf((i + 1) % USERS);
    for (let k = 0; k < 3; k++) {
      await c.xmpp.send(xml("message", { to, type: "chat", id: `m-${i}-${k}` }, xml("body", {}, `hi ${k}`)));
    }
  }
  // Messages are archived once delivered: wait until the last one arrived.
  await user(0).waitFor((m) => m.name === "message" && m.attrs.id === `m-${USERS - 1}-2`);

  const pg = await freshPostgres();
  t.teardown(() => pg.cleanup());
  const env = { DATABASE_URL: pg.url as string, JOB_CONCURRENCY: "2" };
  const appOpts = { jobLeaseMs: 1500, bulkPollMs: 300 };
  let app = await startTestApp(prosody, env, appOpts);
  let appStopped = false;
  t.teardown(async () => {
    if (!appStopped) await app.stop();
  });

  const form = await runCommand(admin, COMPONENT, "admin-export-all");
  t.equal(form.attrs.status, "executing", "admin gets the form");
  await t.rejects(runCommand(user(0), COMPONENT, "admin-export-all"), "a plain user cannot run it");
  await t.rejects(
    user(0).request(
      xml(
        "iq",
        { type: "get", to: "localhost" },
        xml("list-users", { xmlns: "urn:xmpp-account-portability:companion:0" }),
      ),
    ),
    /forbidden/,
    "only the component may list the accounts",
  );

  const started = await runCommand(admin, COMPONENT, "admin-export-all", {
    host: "localhost",
    days: "3",
    concurrency: "2",
    history: "true",
    text: "Goodbye {account}! Your archive ({contents}) until {expires}: {link}",
  });
  t.match(notes(started), /started/);

  // Restart the component once a few users got their link.
  const firstFew = Array.from({ length: USERS }, (_, i) => i).slice(0, 6);
  await Promise.all(firstFew.map((i) => user(i).waitFor(isLinkMessage, 120_000)));
  const mid = await runCommand(admin, COMPONENT, "admin-export-status");
  t.match(notes(mid), /localhost: running; \d+ of 21 exported/, "progress shows done/total while running");
  await app.stop();
  app = await startTestApp(prosody, env, appOpts);

  for (let i = 0; i < USERS; i++) await user(i).waitFor(isLinkMessage, 120_000);
  const finished = await admin.waitFor(
    (m) => m.attrs.from === COMPONENT && /finished/.test(m.getChildText("body") ?? ""),
    120_000,
  );
  t.match(finished.getChildText("body"), /21 of 21 exported, 0 failed/, "admin told when all are done");

  const links = new Set<string>();
  for (let i = 0; i < USERS; i++) {
    const msgs = user(i).inbox.filter(isLinkMessage);
    t.equal(msgs.length, 1, `${name(i)} messaged exactly once`);
    const msg = msgs[0] as Element;
    const body = msg.getChildText("body") ?? "";
    t.match(
      body,
      new RegExp(`^Goodbye ${jidOf(i)}! Your archive \\(roster: 1, vcard: 1.*archive: 6\\) until `),
      "admin's text, filled in",
    );
    const url = linkOf(msg) as string;
    t.ok(body.includes(url), "the link is in the text");
    links.add(url);
    const res = await download(url, app.http.port);
    t.equal(res.status, 200);
    const recs = await records(res);
    const users = recs.filter((r) => r.kind === "user").map((r) => (r.kind === "user" ? r.name : ""));
    t.same(users, [name(i)], `${name(i)}'s archive holds only ${name(i)}`);
    const roster = recs.find((r) => r.kind === "roster");
    t.same(
      roster?.kind === "roster" ? roster.items.map((x) => x.jid) : [],
      [`friend-of-${name(i)}@example.net`],
      "own contact only",
    );
    const vcard = recs.find((r) => r.kind === "vcard");
    t.equal(vcard?.kind === "vcard" ? vcard.vcard.getChildText("FN") : "", `Person ${name(i)}`);
    const messages = recs.filter((r) => r.kind === "archive");
    t.equal(messages.length, 6, "own history: 3 sent, 3 received");
  }
  t.equal(links.size, USERS, "every user has a different link");
  // A link is a bearer token for one archive: altering it does not reach anyone else's.
  const one = [...links][0] as string;
  const forged = one.slice(0, -1) + (one.endsWith("A") ? "B" : "A");
  t.equal((await download(forged, app.http.port)).status, 404, "an altered link fetches nothing");

  // No duplicates: one export job and one ready archive per account, all for this bulk export.
  const jobs = await pg.db
    .selectFrom("jobs")
    .select(["owner_jid", "status"])
    .where("kind", "=", "export")
    .execute();
  const perOwner = new Map<string, number>();
  for (const j of jobs) perOwner.set(j.owner_jid, (perOwner.get(j.owner_jid) ?? 0) + 1);
  t.equal(perOwner.size, USERS + 1, "admin's account exported too");
  t.ok(
    [...perOwner.values()].every((n) => n === 1),
    "each account exported once",
  );
  const archives = await pg.db.selectFrom("archives").select(["owner_jid", "status", "expires_at"]).execute();
  t.equal(archives.filter((a) => a.status === "ready").length, USERS + 1);
  const days = (new Date(archives[0]?.expires_at ?? 0).getTime() - Date.now()) / 86_400_000;
  t.ok(days > 2.9 && days <= 3, "links valid for the days the admin chose");

  const status = await runCommand(admin, COMPONENT, "admin-export-status");
  t.match(notes(status), /localhost: done; 21 of 21 exported, 0 failed/);
  t.match(notes(status), /Staged export archives: \d+ KiB\. Database size: /);
  t.same(tableRows(status)[0]?.done, "21/21");

  appStopped = true;
  await app.stop();
});

t.test(
  "admin-export-stop: unfinished exports canceled, nobody else messaged; running it again finishes the rest with the new text",
  async (t) => {
    t.setTimeout(180_000);
    const prosody = await startProsody({ companion: true });
    t.teardown(() => prosody.cleanup());
    const names = ["admin", "u0", "u1", "u2", "u3"];
    for (const n of names) await prosody.register(n, "localhost", "pw");
    const clients = new Map<string, TestClient>();
    t.teardown(async () => {
      for (const c of clients.values()) await c.stop();
    });
    for (const n of names) clients.set(n, await connectClient(prosody, n, "localhost", "pw"));
    const client = (n: string) => clients.get(n) as TestClient;
    // History, read a message per page below, so that each export takes a while.
    for (let i = 0; i < 4; i++) {
      for (let k = 0; k < 60; k++)
        await client(`u${i}`).xmpp.send(
          xml(
            "message",
            { to: `u${(i + 1) % 4}@localhost`, type: "chat", id: `s-${i}-${k}` },
            xml("body", {}, `m${k}`),
          ),
        );
    }
    await client("u0").waitFor((m) => m.name === "message" && m.attrs.id === "s-3-59");
    const pg = await freshPostgres();
    t.teardown(() => pg.cleanup());
    const app = await startTestApp(
      prosody,
      { DATABASE_URL: pg.url as string, JOB_CONCURRENCY: "2" },
      { exportPageSize: 1, bulkPollMs: 200 },
    );
    t.teardown(() => app.stop());
    const admin = client("admin");
    t.match(notes(await runCommand(admin, COMPONENT, "admin-export-stop")), /No bulk export is running/);
    const started = await runCommand(admin, COMPONENT, "admin-export-all", {
      host: "localhost",
      days: "3",
      concurrency: "2",
      history: "true",
      text: "First text {link}",
    });
    t.match(notes(started), /started/);
    const running = () =>
      pg.db
        .selectFrom("bulk_export_items as i")
        .innerJoin("jobs as j", "j.id", "i.job_id")
        .select("j.id")
        .where("j.status", "=", "running")
        .execute();
    await until(running, (r) => r.length > 0, { what: "an export running", timeoutMs: 60_000 });

    const form = await runCommand(admin, COMPONENT, "admin-export-stop");
    t.match(
      form
        .getChild("x", "jabber:x:data")
        ?.getChildren("instructions")
        .map((i) => i.getText())
        .join(" "),
      /those users get no message/,
      "the form says what stopping does",
    );
    const stopped = await runCommand(admin, COMPONENT, "admin-export-stop", { host: "localhost" });
    t.match(
      notes(stopped),
      /Stopped the bulk export of localhost\. [1-9]\d* exports? not finished yet (was|were) canceled/,
      "the export under way is canceled",
    );
    t.match(notes(stopped), /localhost: stopped; .*Stopped because admin@localhost stopped it\./s);
    // What was finished before the stop was messaged; nothing after.
    const linked = (n: string) => client(n).inbox.filter(isLinkMessage);
    await new Promise((r) => setTimeout(r, 2000));
    const doneBefore = await pg.db
      .selectFrom("bulk_export_items")
      .select("user_jid")
      .where("status", "=", "done")
      .execute();
    const messagedBefore = names.filter((n) => linked(n).length > 0);
    t.same(
      messagedBefore.map((n) => `${n}@localhost`).sort(),
      doneBefore.map((r) => r.user_jid).sort(),
      "only the accounts exported before the stop were messaged",
    );
    t.ok(messagedBefore.length < names.length, "some accounts were left for later");
    t.same(await running(), [], "no export runs after the stop");

    const resumed = await runCommand(admin, COMPONENT, "admin-export-all", {
      host: "localhost",
      days: "3",
      concurrency: "2",
      history: "true",
      text: "Second text {link}",
    });
    t.match(notes(resumed), /continues/);
    await admin.waitFor(
      (m) => m.attrs.from === COMPONENT && /finished/.test(m.getChildText("body") ?? ""),
      120_000,
    );
    // The admin's "finished" can overtake the last user's message (both follow the job's "done").
    await until(async () => names.every((n) => linked(n).length > 0), Boolean, {
      what: "every user messaged",
    });
    for (const n of names) {
      const msgs = linked(n);
      t.equal(msgs.length, 1, `${n} messaged exactly once`);
      t.match(
        msgs[0]?.getChildText("body"),
        messagedBefore.includes(n) ? /^First text / : /^Second text /,
        `${n}: the text in force when the account was exported`,
      );
    }
    const items = await pg.db.selectFrom("bulk_export_items").select(["status", "attempts"]).execute();
    t.same(
      items.map((i) => [i.status, i.attempts]),
      names.map(() => ["done", 1]),
      "every account done, the canceled attempt not counted",
    );
  },
);

t.test(
  "admin-export-all refuses without the companion module, and when storage is over its limit",
  async (t) => {
    t.setTimeout(60_000);
    const prosody = await startProsody({ companion: false });
    t.teardown(() => prosody.cleanup());
    await prosody.register("admin", "localhost", "pw");
    const admin = await connectClient(prosody, "admin", "localhost", "pw");
    t.teardown(() => admin.stop());
    const app = await startTestApp(prosody);
    t.teardown(() => app.stop());
    const r = await runCommand(admin, COMPONENT, "admin-export-all", { host: "localhost", days: "7" });
    t.match(notes(r), /needs the companion Prosody module/);

    const small = await startTestApp(prosody, { DATABASE_MAX_MB: "1" }, { waitOnline: false });
    t.teardown(() => small.stop());
    const reading = await small.bulk.storage();
    t.match(reading.limit, /DATABASE_MAX_MB/, "a database over its cap is reported as a limit");
    const refused = await small.bulk.start("localhost", "admin@localhost", {
      ttlDays: 1,
      concurrency: 1,
      text: "x {link}",
      history: true,
    });
    t.match(refused, { kind: "refused", reason: /Not starting: the database has reached DATABASE_MAX_MB/ });
  },
);

t.test(
  "portability admin export-all --host queues it for the running component and --wait follows it",
  async (t) => {
    t.setTimeout(120_000);
    const prosody = await startProsody({ companion: true });
    t.teardown(() => prosody.cleanup());
    for (const u of ["admin", "dora", "erin"]) await prosody.register(u, "localhost", "pw");
    const dora = await connectClient(prosody, "dora", "localhost", "pw");
    t.teardown(() => dora.stop());
    const app = await startTestApp(prosody, {}, { bulkPollMs: 200 });
    t.teardown(() => app.stop());
    let printed = "";
    const sink = new Writable({
      write(c: Buffer, _e, cb) {
        printed += c.toString();
        cb();
      },
    });
    const bad = await runAdminCommand(["export-all", "--host", "nowhere.test"], app.config, {
      stdout: sink,
      stderr: sink,
    });
    t.equal(bad, 2, "unknown host refused");
    const code = await runAdminCommand(
      ["export-all", "--host", "localhost", "--days", "2", "--wait"],
      app.config,
      { stdout: sink, stderr: sink },
      { pollMs: 200 },
    );
    t.equal(code, 0, printed);
    t.match(printed, /queued/);
    t.match(printed, /localhost: done; 3 of 3 exported, 0 failed/);
    const msg = await dora.waitFor(isLinkMessage, 30_000);
    t.match(msg.getChildText("body"), /Move my account away/, "default text explains how to move");
    printed = "";
    const stop = await runAdminCommand(["export-stop", "--host", "localhost"], app.config, {
      stdout: sink,
      stderr: sink,
    });
    t.equal(stop, 1, "nothing to stop once it is done");
    t.match(printed, /No bulk export of localhost is running/);
  },
);
