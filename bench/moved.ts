// Inbound XEP-0283 benchmark: N verified moved notices sent through the companion module to local
// users while an export of a 20,000-message account runs. Reports notices verified+applied per second
// and the p99 of a client's disco#info round trip to the component, against the same round trip
// measured idle at the start of the same run (the peer), plus Prosody's CPU time per notice.
// Shape: by default the notices are spread over 100 users (a provider closing down moves many users'
// contacts at once), each user having 20 other contacts; `--users 1` puts them all on one user.
// The moving contacts live on a fake remote server (bench/lib/fake-remote.ts). Local accounts are cloned
// from one registered account's file so setup stays fast; rosters are written through privileges.
// Usage: npm run bench:moved [-- --notices N --users U --contacts C --rate R --no-export]
import { copyFile, mkdir, readFile } from "node:fs/promises";
import path from "node:path";
import xml from "@xmpp/xml";
import { startProsody, sleep } from "../test/harness/prosody.js";
import { connectClient, type TestClient } from "../test/harness/clients.js";
import { startTestApp } from "../test/harness/app.js";
import { seedArchive } from "./lib/seed-archive.js";
import { REMOTE_COMPONENT_CONFIG, startFakeRemote } from "./lib/fake-remote.js";

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
}
const N = arg("notices", 500);
const USERS = Math.max(1, Math.min(arg("users", 100), N));
const OTHER_CONTACTS = arg("contacts", 20);
const HOST = "localhost";
const withExport = !process.argv.includes("--no-export");
/** Offered notices per second; 0 sends them all at once (measures capacity). */
const RATE = arg("rate", 0);
const userOf = (i: number) => `user${i % USERS}@${HOST}`;

/** Runs `f` over 0..n-1 with at most `width` in flight. */
async function inParallel(n: number, width: number, f: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(width, n) }, async () => {
      while (next < n) await f(next++);
    }),
  );
}

function percentile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
}

/** Round trips client → component → client, one after another, until `until()` says stop. */
async function pingWhile(probe: TestClient, component: string, until: () => boolean): Promise<number[]> {
  const out: number[] = [];
  while (!until()) {
    const t0 = process.hrtime.bigint();
    await probe.request(
      xml(
        "iq",
        { type: "get", to: component },
        xml("query", { xmlns: "http://jabber.org/protocol/disco#info" }),
      ),
    );
    out.push(Number(process.hrtime.bigint() - t0) / 1e6);
    await sleep(10);
  }
  return out.sort((a, b) => a - b);
}

const prosody = await startProsody({ companion: true, extraGlobal: REMOTE_COMPONENT_CONFIG });
try {
  for (const u of ["template", "big"]) await prosody.register(u, HOST, "pw");
  await prosody.stop();
  const accounts = path.join(prosody.dir, "data", HOST, "accounts");
  await mkdir(accounts, { recursive: true });
  const clone = (name: string) =>
    copyFile(path.join(accounts, "template.dat"), path.join(accounts, `${name}.dat`));
  for (let u = 0; u < USERS; u++) await clone(`user${u}`);
  await seedArchive(path.join(prosody.dir, "data"), "big", "user0", 20_000);
  await prosody.start();
  const app = await startTestApp(prosody);
  const remote = await startFakeRemote(prosody);
  const link = app.link;
  const rosterSet = (owner: string, jid: string) =>
    link.request(
      xml(
        "iq",
        { type: "set", to: owner },
        xml(
          "query",
          { xmlns: "jabber:iq:roster" },
          xml("item", { jid, name: jid, subscription: "both" }, xml("group", {}, "Friends")),
        ),
      ),
      30_000,
    );
  // Each user: OTHER_CONTACTS contacts who stay, plus the remote old accounts that move (phantom 'both'
  // subscriptions are fine for a benchmark); the remote answers each old account's statement.
  await inParallel(USERS * OTHER_CONTACTS, 8, (k) =>
    rosterSet(`user${k % USERS}@${HOST}`, `friend${k}@elsewhere.example`),
  );
  await inParallel(N, 8, (i) => rosterSet(userOf(i), remote.oldJid(i)));
  const probe = await connectClient(prosody, "template", HOST, "pw");
  const big = await connectClient(prosody, "big", HOST, "pw");
  const pid = (await readFile(path.join(prosody.dir, "prosody.pid"), "utf8")).trim();
  const prosodyCpuMs = async () => {
    const fields = (await readFile(`/proc/${pid}/stat`, "utf8")).split(") ")[1]?.split(" ") ?? [];
    return (Number(fields[11]) + Number(fields[12])) * 10; // utime + stime, in 10 ms ticks
  };

  // The peer: the same round trip with nothing else running.
  const idleUntil = Date.now() + 3000;
  const idle = await pingWhile(probe, prosody.component, () => Date.now() > idleUntil);

  let measuring = true;
  const during = pingWhile(probe, prosody.component, () => !measuring);
  const NS_CMD = "http://jabber.org/protocol/commands";
  if (withExport) {
    const s1 = (
      await big.request(
        xml("iq", { type: "set", to: prosody.component }, xml("command", { xmlns: NS_CMD, node: "export" })),
      )
    ).getChild("command");
    await big.request(
      xml(
        "iq",
        { type: "set", to: prosody.component },
        xml("command", { xmlns: NS_CMD, node: "export", sessionid: s1?.attrs.sessionid, action: "complete" }),
      ),
    );
  }
  const cpu0 = await prosodyCpuMs();
  const nodeCpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  // The new accounts ask, as a remote server delivers their requests: all at once, or paced.
  const sending = (async () => {
    for (let i = 0; i < N; i++) {
      await remote.announce(i, userOf(i));
      if (RATE > 0) {
        const due = Number(t0) / 1e6 + ((i + 1) * 1000) / RATE;
        const wait = due - Number(process.hrtime.bigint()) / 1e6;
        if (wait > 0) await sleep(wait);
      }
    }
  })();
  let decided = 0;
  while (decided < N) {
    const row = await app.db
      .selectFrom("moved_notices")
      .select((eb) => eb.fn.countAll<number>().as("n"))
      .where("decided_at", "is not", null)
      .executeTakeFirstOrThrow();
    decided = Number(row.n);
    if (Number(process.hrtime.bigint() - t0) / 1e9 > 600) throw new Error(`only ${decided} of ${N} decided`);
    if (decided < N) await sleep(20);
  }
  await sending;
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = (await prosodyCpuMs()) - cpu0;
  const nodeCpu = process.cpuUsage(nodeCpu0);
  measuring = false;
  const busy = await during;
  const exportJob = await app.db
    .selectFrom("jobs")
    .select(["status", "progress"])
    .where("kind", "=", "export")
    .executeTakeFirst();
  const statuses = await app.db.selectFrom("moved_notices").select(["status"]).execute();
  const applied = statuses.filter((s) => s.status === "applied").length;
  console.log("| what | value |\n|---|---|");
  console.log(
    `| notices sent / applied | ${N} / ${applied} (to ${USERS} users with ${OTHER_CONTACTS} other contacts each; offered ${RATE > 0 ? `at ${RATE}/s` : "all at once"}) |`,
  );
  console.log(`| seconds | ${seconds.toFixed(2)} |`);
  console.log(`| notices verified+applied per second | ${(applied / seconds).toFixed(0)} (target >= 500) |`);
  console.log(
    `| CPU per notice (ms): Prosody / this process | ${(cpu / N).toFixed(2)} / ${((nodeCpu.user + nodeCpu.system) / 1000 / N).toFixed(2)} (the export's share included when it runs) |`,
  );
  console.log(
    `| export during the run | ${withExport ? `${exportJob?.status ?? "?"}, ${JSON.stringify(exportJob?.progress ?? {})}` : "none (--no-export)"} |`,
  );
  console.log(
    `| round trip idle (peer) p50 / p99 ms, ${idle.length} samples | ${percentile(idle, 0.5).toFixed(1)} / ${percentile(idle, 0.99).toFixed(1)} |`,
  );
  console.log(
    `| round trip during the run p50 / p99 ms, ${busy.length} samples | ${percentile(busy, 0.5).toFixed(1)} / ${percentile(busy, 0.99).toFixed(1)} (target p99 < 50) |`,
  );
  console.log(`| p99 during / idle | ${(percentile(busy, 0.99) / percentile(idle, 0.99)).toFixed(1)}x |`);
  await probe.stop();
  await big.stop();
  await remote.stop();
  await app.stop();
} finally {
  await prosody.cleanup();
}
