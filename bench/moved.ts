// Inbound XEP-0283 benchmark, on Prosody's internal storage and on SQL storage (SQLite), each run:
//  1. the peer: a client's disco#info round trip to the component, idle;
//  2. the ceiling: N verified moved notices to users of a VirtualHost where the companion module
//     verifies and applies moves itself (account_portability_selfverify, benchmark only): what
//     Prosody alone can do, without the component;
//  3. the component path: N notices to users of the normal host (held by the module, verified by the
//     component, applied by the module), as the ratio to the ceiling (target >= 90 %);
//     2 and 3 run as R pairs, one after the other (--repeat, default 3), and the median pair's ratio
//     is the result: on a shared machine one burst of a second or two varies by 20 % from run to run;
//  4. N more notices while a 20,000-message export runs, with the round trip's p99 (target < 50 ms).
// A notice counts as done when the moving contact's server receives the user's `subscribed`. The
// moving contacts live on a fake remote server (bench/lib/fake-remote.ts). Notices go to U users
// (default 100) with C other contacts each. Local accounts are cloned from one registered account's
// file so setup stays fast; rosters are written through privileges.
// Usage: npm run bench:moved [-- --notices N --users U --contacts C --rate R --storage internal|sql|both
//        --repeat R --page-ms MS --pin --profile DIR]
//   --pin: Prosody gets CPU 0 to itself; this process and Postgres share the others. Shows what the
//     ratio is where the server's one thread does not compete with the component for a core.
//   --profile DIR: a sampling CPU profile of Prosody per phase, by Lua function, into DIR.
import { access, copyFile, mkdir, readFile, rename, writeFile } from "node:fs/promises";
import path from "node:path";
import os from "node:os";
import { execFileSync } from "node:child_process";
import { monitorEventLoopDelay } from "node:perf_hooks";
import xml from "@xmpp/xml";
import { startProsody, sleep, type Prosody } from "../test/harness/prosody.js";
import { connectClient, type TestClient } from "../test/harness/clients.js";
import { startTestApp } from "../test/harness/app.js";
import { seedArchive, seedSqlArchive } from "./lib/seed-archive.js";
import { REMOTE_COMPONENT_CONFIG, startFakeRemote, type FakeRemote } from "./lib/fake-remote.js";

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
}
function textArg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? (process.argv[i + 1] ?? dflt) : dflt;
}
const N = arg("notices", 500);
const USERS = Math.max(1, Math.min(arg("users", 100), N));
const OTHER_CONTACTS = arg("contacts", 20);
/** Offered notices per second; 0 sends them all at once (measures capacity). */
const RATE = arg("rate", 0);
const REPEAT = Math.max(1, arg("repeat", 3));
/** The companion's archive page budget (account_portability_page_ms); the module's default is 5. */
const PAGE_MS = arg("page-ms", 5);
const PIN = process.argv.includes("--pin");

/** CPU affinity masks for --pin: every CPU, and every CPU but CPU 0 (Prosody's). */
const ALL_CPUS = (1 << os.cpus().length) - 1;
const NOT_CPU0 = ALL_CPUS - 1;

const postgresPids = (): string[] =>
  execFileSync("pgrep", ["-x", "postgres"], { encoding: "utf8" }).split("\n").filter(Boolean);

/** Sets the CPU affinity of every thread of a process (Linux taskset). */
function pin(pid: number | string, mask: number): void {
  execFileSync("taskset", ["-a", "-p", mask.toString(16), String(pid)], { stdio: "ignore" });
}

const exists = (file: string): Promise<boolean> =>
  access(file).then(
    () => true,
    () => false,
  );
const STORAGES =
  textArg("storage", "both") === "both" ? ["internal", "sql"] : [textArg("storage", "internal")];
const HOST = "localhost";
const CEILING = "ceiling.localhost";
const EXPORT_MESSAGES = 20_000;
const PROFILE_DIR = textArg("profile", "");

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

/** Prosody's data dir name for a host (it escapes dots). */
const hostDir = (host: string) => host.replace(/\./g, "%2e");

interface PhaseResult {
  done: number;
  seconds: number;
  prosodyCpuMs: number;
  nodeCpuMs: number;
}

async function benchStorage(storage: "internal" | "sql"): Promise<string[]> {
  const prosody: Prosody = await startProsody({
    companion: true,
    extraGlobal: REMOTE_COMPONENT_CONFIG,
    storage,
    logLevel: "info",
    companionPageMs: PAGE_MS,
    hosts: [HOST, "example.test", CEILING],
    hostOptions: { [CEILING]: "account_portability_selfverify = true" },
    ...(PROFILE_DIR
      ? {
          pluginPaths: [path.join(import.meta.dirname, "prosody")],
          extraModules: ["bench_profile"],
          // Before the fake remote's Component section, or it would be that component's option.
          extraGlobal: `bench_profile_file = "${path.resolve(PROFILE_DIR)}/profile"\n${REMOTE_COMPONENT_CONFIG}`,
        }
      : {}),
  });
  try {
    for (const u of ["template", "big"]) await prosody.register(u, HOST, "pw");
    if (storage === "sql") {
      // SQLite's file and tables appear on first use: one archive query.
      const c = await connectClient(prosody, "big", HOST, "pw");
      await c.request(xml("iq", { type: "set" }, xml("query", { xmlns: "urn:xmpp:mam:2" })));
      await c.stop();
    }
    await prosody.stop();
    const data = path.join(prosody.dir, "data");
    const template = path.join(data, HOST, "accounts", "template.dat");
    for (const host of [HOST, CEILING]) {
      const accounts = path.join(data, hostDir(host), "accounts");
      await mkdir(accounts, { recursive: true });
      for (let u = 0; u < USERS; u++) await copyFile(template, path.join(accounts, `user${u}.dat`));
    }
    if (storage === "internal") await seedArchive(data, "big", "user0", EXPORT_MESSAGES);
    else await seedSqlArchive(path.join(prosody.dir, "prosody.sqlite"), "big", "user0", EXPORT_MESSAGES);
    await prosody.start();
    const app = await startTestApp(prosody);
    const remote: FakeRemote = await startFakeRemote(prosody);
    const rosterSet = (owner: string, jid: string) =>
      app.link.request(
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
    // Notice i of phase p: old<p*N+i> moves, contact of user<i % USERS> on the phase's host.
    // Phases: REPEAT pairs (ceiling, component path), then the component path during an export.
    const phases = [...Array.from({ length: REPEAT }, () => [CEILING, HOST]).flat(), HOST];
    const userOf = (p: number, i: number) => `user${i % USERS}@${phases[p]}`;
    for (const host of [HOST, CEILING])
      await inParallel(USERS * OTHER_CONTACTS, 8, (k) =>
        rosterSet(`user${k % USERS}@${host}`, `friend${k}@elsewhere.example`),
      );
    for (let p = 0; p < phases.length; p++)
      await inParallel(N, 8, (i) => rosterSet(userOf(p, i), remote.oldJid(p * N + i)));
    // The normal host's users also hold the export phase's contacts; the ceiling's get as many spare
    // ones, so both save rosters of the same size (a roster save is most of a move's cost).
    await inParallel(N, 8, (i) => rosterSet(userOf(0, i), `spare${i}@elsewhere.example`));
    const probe = await connectClient(prosody, "template", HOST, "pw");
    const big = await connectClient(prosody, "big", HOST, "pw");
    const pid = (await readFile(path.join(prosody.dir, "prosody.pid"), "utf8")).trim();
    if (PIN) {
      pin(pid, 1);
      pin(process.pid, NOT_CPU0);
      for (const pg of postgresPids()) pin(pg, NOT_CPU0);
    }
    const prosodyCpuMs = async () => {
      const fields = (await readFile(`/proc/${pid}/stat`, "utf8")).split(") ")[1]?.split(" ") ?? [];
      return (Number(fields[11]) + Number(fields[12])) * 10; // utime + stime, in 10 ms ticks
    };

    const profile = async (cmd: string) => {
      if (!PROFILE_DIR) return;
      await writeFile(path.join(PROFILE_DIR, "profile.cmd"), cmd);
      // The module polls for the command every 200 ms and removes the file once done.
      for (let i = 0; i < 100 && (await exists(path.join(PROFILE_DIR, "profile.cmd"))); i++) await sleep(100);
    };

    async function runPhase(p: number): Promise<PhaseResult> {
      await profile("reset");
      const before = remote.approvals;
      const cpu0 = await prosodyCpuMs();
      const nodeCpu0 = process.cpuUsage();
      const t0 = process.hrtime.bigint();
      const ms = () => Number(process.hrtime.bigint() - t0) / 1e6;
      for (let i = 0; i < N; i++) {
        await remote.announce(p * N + i, userOf(p, i));
        if (RATE > 0) {
          const wait = ((i + 1) * 1000) / RATE - ms();
          if (wait > 0) await sleep(wait);
        }
      }
      // Done when all N are applied, or nothing more was applied for 10 s (those were delivered
      // unverified: admission wait or module hold ran out); the rate counts up to the last approval.
      const start = performance.now() - ms();
      while (remote.approvals - before < N && ms() < 300_000) {
        if (remote.approvals > before && performance.now() - remote.lastApprovalAt > 10_000) break;
        if (remote.approvals === before && ms() > 30_000) break;
        await sleep(5);
      }
      const seconds = Math.max(0.001, (remote.lastApprovalAt - start) / 1000);
      const nodeCpu = process.cpuUsage(nodeCpu0);
      if (PROFILE_DIR) {
        await profile("dump");
        await rename(path.join(PROFILE_DIR, "profile"), path.join(PROFILE_DIR, `${storage}-phase${p}.txt`));
      }
      return {
        done: remote.approvals - before,
        seconds,
        prosodyCpuMs: (await prosodyCpuMs()) - cpu0,
        nodeCpuMs: (nodeCpu.user + nodeCpu.system) / 1000,
      };
    }

    const rate = (r: PhaseResult) => r.done / r.seconds;
    const idleUntil = Date.now() + 3000;
    const idle = await pingWhile(probe, prosody.component, () => Date.now() > idleUntil);
    const pairs: { ceiling: PhaseResult; component: PhaseResult; ratio: number }[] = [];
    const notices: number[] = [];
    const ceilingNotices: number[] = [];
    for (let r = 0; r < REPEAT; r++) {
      let ceilingOnly = true;
      const duringCeiling = pingWhile(probe, prosody.component, () => !ceilingOnly);
      const ceiling = await runPhase(2 * r);
      ceilingOnly = false;
      ceilingNotices.push(...(await duringCeiling));
      await sleep(500);
      let noticesOnly = true;
      const duringNotices = pingWhile(probe, prosody.component, () => !noticesOnly);
      const component = await runPhase(2 * r + 1);
      noticesOnly = false;
      notices.push(...(await duringNotices));
      await sleep(500);
      pairs.push({ ceiling, component, ratio: rate(component) / rate(ceiling) });
    }
    notices.sort((a, b) => a - b);
    ceilingNotices.sort((a, b) => a - b);
    const byRatio = [...pairs].sort((a, b) => a.ratio - b.ratio);
    const median = byRatio[Math.floor(byRatio.length / 2)];
    if (!median) throw new Error("no pairs measured");
    const { ceiling, component } = median;

    let measuring = true;
    const loopDelay = monitorEventLoopDelay({ resolution: 5 });
    loopDelay.enable();
    const during = pingWhile(probe, prosody.component, () => !measuring);
    const NS_CMD = "http://jabber.org/protocol/commands";
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
    const withExport = await runPhase(phases.length - 1);
    // Keep measuring until the export is done (the notices may finish first).
    for (let i = 0; i < 1200; i++) {
      const job = await app.db
        .selectFrom("jobs")
        .select("status")
        .where("kind", "=", "export")
        .executeTakeFirst();
      if (job?.status === "done" || job?.status === "failed") break;
      await sleep(100);
    }
    measuring = false;
    const busy = await during;
    loopDelay.disable();
    const exportJob = await app.db
      .selectFrom("jobs")
      .select(["status", "progress", "created_at", "updated_at"])
      .where("kind", "=", "export")
      .executeTakeFirst();
    // Created when asked for, last updated when done.
    const exportSeconds = exportJob
      ? (new Date(exportJob.updated_at).getTime() - new Date(exportJob.created_at).getTime()) / 1000
      : NaN;
    const cpu = (r: PhaseResult) => `${(r.prosodyCpuMs / N).toFixed(2)} / ${(r.nodeCpuMs / N).toFixed(2)}`;
    const rows = [
      `| ${storage}: ceiling, module verifies and applies alone | ${ceiling.done}/${N} in ${ceiling.seconds.toFixed(2)} s = ${rate(ceiling).toFixed(0)}/s; CPU ms per notice Prosody / component ${cpu(ceiling)} |`,
      `| ${storage}: component path | ${component.done}/${N} in ${component.seconds.toFixed(2)} s = ${rate(component).toFixed(0)}/s = **${((100 * rate(component)) / rate(ceiling)).toFixed(0)} % of the ceiling** (target >= 90 %; the median of ${REPEAT} pairs: ${pairs.map((p) => `${(100 * p.ratio).toFixed(0)} %`).join(", ")}); CPU ${cpu(component)} |`,
      `| ${storage}: component path during an export of ${EXPORT_MESSAGES} messages | ${withExport.done}/${N} in ${withExport.seconds.toFixed(2)} s = ${rate(withExport).toFixed(0)}/s; export ${exportJob?.status ?? "?"} ${JSON.stringify(exportJob?.progress ?? {})} in ${exportSeconds.toFixed(1)} s (${(EXPORT_MESSAGES / exportSeconds).toFixed(0)} msg/s; page budget ${PAGE_MS} ms) |`,
      `| ${storage}: round trip idle (peer) p50 / p99 ms | ${percentile(idle, 0.5).toFixed(1)} / ${percentile(idle, 0.99).toFixed(1)} (${idle.length} samples) |`,
      `| ${storage}: round trip during the ceiling's notices (Prosody alone, no export) p50 / p99 / max ms | ${percentile(ceilingNotices, 0.5).toFixed(1)} / ${percentile(ceilingNotices, 0.99).toFixed(1)} / ${percentile(ceilingNotices, 1).toFixed(1)} (${ceilingNotices.length} samples) |`,
      `| ${storage}: round trip during the component path's notices (no export) p50 / p99 / max ms | ${percentile(notices, 0.5).toFixed(1)} / ${percentile(notices, 0.99).toFixed(1)} / ${percentile(notices, 1).toFixed(1)} (${notices.length} samples) |`,
      `| ${storage}: round trip during notices + export p50 / p99 / max ms | ${percentile(busy, 0.5).toFixed(1)} / **${percentile(busy, 0.99).toFixed(1)}** / ${percentile(busy, 1).toFixed(1)} (${busy.length} samples; target p99 < 50) |`,
      `| ${storage}: meanwhile, this process's event loop delay p50 / p99 / max ms (component, fake remote and clients share it) | ${(loopDelay.percentile(50) / 1e6).toFixed(1)} / ${(loopDelay.percentile(99) / 1e6).toFixed(1)} / ${(loopDelay.max / 1e6).toFixed(1)} |`,
    ];
    await probe.stop();
    await big.stop();
    await remote.stop();
    await app.stop();
    return rows;
  } finally {
    await prosody.cleanup();
  }
}

const out: string[] = [];
try {
  for (const s of STORAGES) out.push(...(await benchStorage(s === "sql" ? "sql" : "internal")));
} finally {
  // Postgres is the machine's, not the benchmark's: give it every CPU back.
  if (PIN) for (const pg of postgresPids()) pin(pg, ALL_CPUS);
}
console.log(
  `${PIN ? "Prosody pinned to CPU 0, the rest to the other CPUs. " : ""}${N} notices per phase to ${USERS} users with ${OTHER_CONTACTS} other contacts each, offered ${RATE > 0 ? `at ${RATE}/s` : "all at once"}\n`,
);
console.log("| what | value |\n|---|---|");
for (const line of out) console.log(line);
