// Shutdown-kit benchmark: admin-export-all over N accounts on a real Prosody (companion module,
// internal storage) and Postgres, exported end to end (XEP-0227, gzip, staged) and each user messaged
// with their link. Accounts are seeded by writing Prosody's storage files directly (util/datamanager
// layout, data/<host>/<store>/<user>.dat|.list): one template account is filled through a real client
// (vCard, avatar, nick, bookmarks, private XML, blocklist), its files are cloned per user, then each user
// gets a generated roster of --contacts entries and an archive of --messages messages.
// Prints accounts/minute, peak RSS of the component (this process) and Prosody, staged bytes, and the
// projection for 7,000 accounts. Peer measured in the same run: a single export-user of one account.
// Usage: npm run bench:exodus [-- --accounts N --contacts C --messages M --concurrency K]
import { readdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { startProsody } from "../test/harness/prosody.js";
import { connectClient } from "../test/harness/clients.js";
import { startTestApp } from "../test/harness/app.js";
import { populateAccount } from "../test/harness/populate.js";
import { runCommand } from "../test/harness/commands.js";
import { seedArchive } from "./lib/seed-archive.js";
import { stagedBytes } from "../src/exodus/storage-guard.js";
import { bulkProgress } from "../src/exodus/bulk.js";

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
}
const N = arg("accounts", 1000);
const CONTACTS = arg("contacts", 100);
const MESSAGES = arg("messages", 500);
const CONCURRENCY = arg("concurrency", 6);
const HOST = "localhost";
const userName = (i: number) => `user${String(i).padStart(5, "0")}`;

function rosterFile(i: number): string {
  const items: string[] = ['[false]={["version"]=1;["pending"]={};};'];
  for (let k = 0; k < CONTACTS; k++) {
    items.push(
      `["contact${k}-of-${i}@example.net"]={["subscription"]="both";["name"]="Contact ${k}";["groups"]={["Friends"]=true;};};`,
    );
  }
  return `return {\n${items.join("\n")}\n};\n`;
}

/** Peak resident set size of a process, from /proc (kB → bytes). */
async function peakRss(pid: number | "self"): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  const m = /VmHWM:\s+(\d+) kB/.exec(status);
  return m ? Number(m[1]) * 1024 : NaN;
}

/** CPU seconds (user + system) used so far by a process, from /proc/PID/stat. */
async function cpuSeconds(pid: number): Promise<number> {
  const fields = (await readFile(`/proc/${pid}/stat`, "utf8")).split(") ")[1]?.split(" ") ?? [];
  return (Number(fields[11]) + Number(fields[12])) / 100; // clock ticks; 100/s on Linux
}

async function prosodyPid(dir: string): Promise<number> {
  return Number((await readFile(path.join(dir, "prosody.pid"), "utf8")).trim());
}

const MiB = 1024 * 1024;
// Production log level: the harness's debug log would write every stanza and dominate Prosody's CPU.
const prosody = await startProsody({
  companion: true,
  companionPageMs: 5,
  extraGlobal: 'log = { { levels = { min = "warn" }, to = "file", filename = dir .. "/prosody.log" } }',
});
try {
  const t0 = Date.now();
  for (const u of ["admin", "tmpl", "peer"]) await prosody.register(u, HOST, "pw");
  const tmpl = await connectClient(prosody, "tmpl", HOST, "pw");
  const peer = await connectClient(prosody, "peer", HOST, "pw");
  await populateAccount(tmpl, `tmpl@${HOST}`, peer, `peer@${HOST}`, { messages: 0 });
  await tmpl.stop();
  await peer.stop();
  await prosody.stop();
  // Clone the template's files for every account (names and JIDs rewritten), then roster and archive.
  const hostDir = path.join(prosody.dir, "data", HOST);
  const templates: { store: string; ext: string; text: string }[] = [];
  for (const store of await readdir(hostDir)) {
    for (const f of await readdir(path.join(hostDir, store)).catch(() => [])) {
      const m = /^tmpl\.(dat|list)$/.exec(f);
      if (m && store !== "roster" && store !== "archive") {
        templates.push({
          store,
          ext: m[1] as string,
          text: await readFile(path.join(hostDir, store, f), "utf8"),
        });
      }
    }
  }
  for (let i = 0; i < N; i++) {
    const name = userName(i);
    for (const tpl of templates) {
      await writeFile(
        path.join(hostDir, tpl.store, `${name}.${tpl.ext}`),
        tpl.text.replaceAll(`tmpl@${HOST}`, `${name}@${HOST}`),
      );
    }
    await writeFile(path.join(hostDir, "roster", `${name}.dat`), rosterFile(i));
    await seedArchive(path.join(prosody.dir, "data"), name, `contact0-of-${i}@example.net`, MESSAGES);
  }
  const seedSeconds = (Date.now() - t0) / 1000;
  await prosody.start();

  const app = await startTestApp(prosody, { JOB_CONCURRENCY: String(CONCURRENCY) }, { bulkPollMs: 1000 });
  const admin = await connectClient(prosody, "admin", HOST, "pw");
  try {
    // Peer: one account exported alone through admin-export-user (same pipeline, no bulk driver).
    let t = Date.now();
    await runCommand(admin, prosody.component, "admin-export-user", { account: `${userName(0)}@${HOST}` });
    await admin.waitFor(
      (m) => m.attrs.from === prosody.component && /is ready/.test(m.getChildText("body") ?? ""),
      120_000,
    );
    const singleSeconds = (Date.now() - t) / 1000;
    const stagedBefore = await stagedBytes(app.db);

    const pid = await prosodyPid(prosody.dir);
    t = Date.now();
    const cpu0 = { component: process.cpuUsage(), prosody: await cpuSeconds(pid) };
    const started = await runCommand(admin, prosody.component, "admin-export-all", {
      host: HOST,
      days: "14",
      concurrency: String(CONCURRENCY),
      history: "true",
    });
    const ref = /Reference: (\S+)/.exec(
      started
        .getChildren("note")
        .map((n) => n.getText())
        .join("\n"),
    )?.[1];
    if (!ref) throw new Error("bulk export did not start");
    let lastPrint = 0;
    await admin.waitFor((m) => {
      if (Date.now() - lastPrint > 30_000) {
        lastPrint = Date.now();
        void bulkProgress(app.db, ref).then(
          (p) => p && console.error(`… ${p.done}/${p.total} (${p.failed} failed)`),
        );
      }
      return (
        m.attrs.from === prosody.component && /Bulk export of .* finished/.test(m.getChildText("body") ?? "")
      );
    }, 3_600_000);
    const seconds = (Date.now() - t) / 1000;
    const componentCpu = process.cpuUsage(cpu0.component);
    const cpu = {
      component: (componentCpu.user + componentCpu.system) / 1e6,
      prosody: (await cpuSeconds(pid)) - cpu0.prosody,
    };
    const sample = await app.db
      .selectFrom("archives")
      .select("section_counts")
      .where("owner_jid", "=", `${userName(N - 1)}@${HOST}`)
      .executeTakeFirst();
    const p = await bulkProgress(app.db, ref);
    const staged = (await stagedBytes(app.db)) - stagedBefore;
    // Every user messaged: offline users get the link as an offline message (mod_offline).
    const offlineDir = path.join(prosody.dir, "data", HOST, "offline");
    let messaged = 0;
    for (const f of await readdir(offlineDir).catch(() => [])) {
      if (
        /^user\d+\.list$/.test(f) &&
        (await readFile(path.join(offlineDir, f), "utf8")).includes("/download/")
      ) {
        messaged++;
      }
    }
    const accounts = p?.done ?? 0;
    const perMinute = (accounts / seconds) * 60;
    const componentRss = await peakRss("self");
    const prosodyRss = await peakRss(pid);

    console.log(
      `\nseeded ${N} accounts (${CONTACTS} contacts, ${MESSAGES} messages, vCard, avatar, bookmarks each) in ${seedSeconds.toFixed(1)} s`,
    );
    console.log("| what | value |\n|---|---|");
    console.log(`| accounts exported (of ${p?.total ?? "?"}) | ${accounts} (${p?.failed ?? "?"} failed) |`);
    console.log(`| users messaged with their link | ${messaged} |`);
    console.log(`| wall time | ${seconds.toFixed(1)} s |`);
    console.log(`| accounts/minute | ${perMinute.toFixed(0)} |`);
    console.log(`| concurrency | ${CONCURRENCY} |`);
    console.log(
      `| CPU per account: component / Prosody | ${((cpu.component / Math.max(1, accounts)) * 1000).toFixed(0)} ms / ${((cpu.prosody / Math.max(1, accounts)) * 1000).toFixed(0)} ms |`,
    );
    console.log(`| one archive's contents | ${JSON.stringify(sample?.section_counts ?? {})} |`);
    console.log(`| peak RSS component | ${(componentRss / MiB).toFixed(0)} MiB |`);
    console.log(`| peak RSS Prosody | ${(prosodyRss / MiB).toFixed(0)} MiB |`);
    console.log(
      `| staged bytes | ${staged} (${(staged / MiB).toFixed(1)} MiB, ${(staged / Math.max(1, accounts) / 1024).toFixed(1)} KiB/account) |`,
    );
    console.log(
      `| projection for 7,000 accounts | ${(7000 / perMinute).toFixed(1)} min, ${(((staged / Math.max(1, accounts)) * 7000) / MiB).toFixed(0)} MiB staged |`,
    );
    console.log(
      `\npeer (same run): one account alone via admin-export-user took ${singleSeconds.toFixed(2)} s; bulk averages ${(seconds / Math.max(1, accounts)).toFixed(3)} s/account (${((singleSeconds * accounts) / seconds).toFixed(1)}x the serial rate)`,
    );
    console.log(`target: 1,000 accounts in < 4.3 min (${(1000 / perMinute).toFixed(2)} min at this rate)`);
    // Prosody is single-threaded: its CPU per account bounds the rate however idle the machine is.
    const bound = Math.max(cpu.prosody, cpu.component) / Math.max(1, accounts);
    console.log(
      `CPU-bound ceiling (each process on its own core): ${(60 / bound).toFixed(0)} accounts/min, ` +
        `1,000 in ${((1000 * bound) / 60).toFixed(1)} min, 7,000 in ${((7000 * bound) / 60).toFixed(1)} min ` +
        `(limited by ${cpu.prosody >= cpu.component ? "Prosody" : "the component"})`,
    );
  } finally {
    await admin.stop();
    await app.stop();
  }
} finally {
  await prosody.cleanup();
}
