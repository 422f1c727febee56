// export-schedule on a real Prosody and Postgres, with the schedule's clock injected (no sleeping):
// each run messages a link, the last N archives are kept, an encrypted schedule opens with the
// passphrase while only derived key material is stored, and export-status shows the latest run.
import t from "tap";
import xml from "@xmpp/xml";
import type { Element } from "@xmpp/xml";
import { startProsody } from "../harness/prosody.js";
import { connectClient } from "../harness/clients.js";
import { startTestApp } from "../harness/app.js";
import { freshPostgres } from "../harness/database.js";
import { notes, runCommand } from "../harness/commands.js";
import { EncryptedArchiveError, openArchiveBytes } from "../../src/xep0227/input.js";
import { readArchive } from "../../src/xep0227/reader.js";

const COMPONENT = "portability.localhost";
const DAY = 86_400_000;
const PASSPHRASE = "correct horse battery staple";

const linkOf = (m: Element) => m.getChild("x", "jabber:x:oob")?.getChildText("url") ?? undefined;

async function users(body: Buffer, passphrase?: string): Promise<string[]> {
  const bytes = await openArchiveBytes(
    (async function* () {
      yield body;
    })(),
    passphrase,
  );
  const out: string[] = [];
  for await (const r of readArchive(bytes)) if (r.kind === "user") out.push(`${r.name}@${r.host}`);
  return out;
}

t.test(
  "weekly encrypted schedule: runs on injected time, keeps the last 2, messages each link",
  async (t) => {
    t.setTimeout(120_000);
    const prosody = await startProsody({ companion: true });
    t.teardown(() => prosody.cleanup());
    await prosody.register("carol", "localhost", "pw");
    const carol = await connectClient(prosody, "carol", "localhost", "pw");
    t.teardown(() => carol.stop());
    await carol.request(
      xml("iq", { type: "set" }, xml("vCard", { xmlns: "vcard-temp" }, xml("FN", {}, "Carol"))),
    );
    const pg = await freshPostgres();
    t.teardown(() => pg.cleanup());
    let clock = Date.now();
    const app = await startTestApp(
      prosody,
      { DATABASE_URL: pg.url as string },
      { now: () => new Date(clock), scheduleKeyLog2n: 10 },
    );
    t.teardown(() => app.stop());

    /** Resolves once `cond` holds (jobs end just after their message is sent; no event for that). */
    const until = async (cond: () => Promise<boolean>): Promise<void> => {
      const deadline = Date.now() + 20_000;
      while (!(await cond())) {
        if (Date.now() > deadline) throw new Error("condition not reached");
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    const jobsEnded = () =>
      until(
        async () =>
          (await pg.db.selectFrom("jobs").select("id").where("status", "in", ["queued", "running"]).execute())
            .length === 0,
      );
    const links: string[] = [];
    const nextLink = async (): Promise<string> => {
      const m = await carol.waitFor(
        (el) =>
          el.attrs.from === COMPONENT &&
          /scheduled export/.test(el.getChildText("body") ?? "") &&
          !links.includes(linkOf(el) ?? ""),
        60_000,
      );
      const url = linkOf(m) as string;
      links.push(url);
      return url;
    };

    const set = await runCommand(carol, COMPONENT, "export-schedule", {
      frequency: "weekly",
      keep: "2",
      passphrase: PASSPHRASE,
    });
    t.match(
      notes(set),
      /Scheduled exports: weekly, next on .* the last 2 kept, encrypted with your passphrase/,
    );
    const first = await nextLink();
    await jobsEnded();

    t.same(await app.schedules.runDue(), [], "nothing due before a week has passed");
    clock += 8 * DAY;
    t.equal((await app.schedules.runDue()).length, 1, "due after a week");
    const second = await nextLink();
    await jobsEnded();
    clock += 7 * DAY;
    t.equal((await app.schedules.runDue()).length, 1, "and the week after");
    await nextLink();

    const body = async (url: string) => {
      const res = await fetch(url.replace("127.0.0.1:8787", `127.0.0.1:${app.http.port}`));
      return { status: res.status, bytes: Buffer.from(await res.arrayBuffer()) };
    };
    const latest = await body(links[2] as string);
    t.equal(latest.status, 200);
    t.same(await users(latest.bytes, PASSPHRASE), ["carol@localhost"], "opens with the passphrase");
    await t.rejects(users(latest.bytes), EncryptedArchiveError, "and only with it");
    t.same(await users((await body(second)).bytes, PASSPHRASE), ["carol@localhost"]);

    // The oldest of three is deleted once the third is ready (pruning follows the job's end).
    const readyScheduled = async () =>
      (await pg.db.selectFrom("archives").select("id").where("status", "=", "ready").execute()).length;
    const deadline = Date.now() + 10_000;
    while ((await readyScheduled()) > 2 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 100));
    t.equal(await readyScheduled(), 2, "last 2 kept");
    t.equal((await body(first)).status, 404, "the oldest link is gone");

    // Stored: salt, parameters and derived key, never the passphrase.
    const row = await pg.db.selectFrom("export_schedules").selectAll().executeTakeFirstOrThrow();
    t.equal(row.archive_key?.length, 32);
    t.equal(Number(row.nonce_counter), 3, "one nonce prefix per archive");
    const everything =
      JSON.stringify(await pg.db.selectFrom("jobs").selectAll().execute()) + JSON.stringify(row);
    t.notOk(everything.includes(PASSPHRASE), "passphrase stored nowhere");
    t.notOk(Buffer.from(row.archive_key ?? []).includes(Buffer.from(PASSPHRASE)));

    const status = await runCommand(carol, COMPONENT, "export-status");
    t.match(notes(status), /Latest export: started .* done, \d+ (bytes|KiB), link valid until/);
    t.match(notes(status), /Scheduled exports: weekly/);

    const off = await runCommand(carol, COMPONENT, "export-schedule", { frequency: "off", keep: "2" });
    t.match(notes(off), /Scheduled exports are off/);
    clock += 30 * DAY;
    t.same(await app.schedules.runDue(), [], "off means no more runs");
  },
);
