// Memory benchmark: resident memory (RSS) of the compiled service, run as operators run it (a child
// process, `node dist/src/cli/main.js run`), with the embedded database and with Postgres in the same
// run: idle after start, peak, and after staging a large import upload through its HTTP link.
// Targets (issue 13): embedded idle ≤ 150 MB, after staging 500 MB ≤ 250 MB.
// Usage: npm run bench:memory [-- --mb 500]
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import http from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import { startProsody, REPO_ROOT, sleep, type Prosody } from "../test/harness/prosody.js";
import { connectClient } from "../test/harness/clients.js";
import { runCommand } from "../test/harness/commands.js";
import { freshPostgres } from "../test/harness/database.js";
import { freePort } from "../test/harness/ports.js";

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
}
const MB = arg("mb", 500);
const SETTLE_MS = 5000;
const TARGET_IDLE = 150;
const TARGET_AFTER = 250;

/** VmRSS and VmHWM (peak) of a process, in MiB. */
async function rss(pid: number): Promise<{ now: number; peak: number }> {
  const s = await readFile(`/proc/${pid}/status`, "utf8");
  const kb = (k: string): number => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(s)?.[1] ?? NaN);
  return { now: Math.round(kb("VmRSS") / 1024), peak: Math.round(kb("VmHWM") / 1024) };
}

async function healthy(port: number): Promise<boolean> {
  try {
    return (await fetch(`http://127.0.0.1:${port}/healthz`)).status === 200;
  } catch {
    return false;
  }
}

/** PUTs `mb` MiB of one repeated byte: staged in full, then refused as not an archive (answer 400). */
function upload(url: string, mb: number): Promise<number> {
  const block = Buffer.alloc(1024 * 1024, 0x5a);
  return new Promise((resolve, reject) => {
    const req = http.request(url, {
      method: "PUT",
      headers: { "content-length": String(mb * block.length) },
    });
    req.on("response", (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
    });
    req.on("error", reject);
    let sent = 0;
    const pump = (): void => {
      while (sent < mb) {
        sent++;
        if (!req.write(block)) return void req.once("drain", pump);
      }
      req.end();
    };
    pump();
  });
}

interface Row {
  mode: string;
  startMs: number;
  idle: number;
  peak: number;
  after: number;
  status: number;
}

async function measure(prosody: Prosody, mode: string, dbEnv: Record<string, string>): Promise<Row> {
  const port = await freePort();
  const t0 = Date.now();
  const child: ChildProcess = spawn(process.execPath, ["dist/src/cli/main.js", "run"], {
    cwd: REPO_ROOT,
    env: {
      ...process.env,
      NODE_ENV: "production",
      LOG_LEVEL: "warn",
      XMPP_SERVICE: prosody.componentService,
      XMPP_DOMAIN: prosody.component,
      XMPP_SECRET: prosody.secret,
      XMPP_HOSTS: prosody.hosts.join(","),
      HTTP_LISTEN: `127.0.0.1:${port}`,
      HTTP_PUBLIC_URL: `http://127.0.0.1:${port}`,
      UPLOAD_LIMIT_MB: String(MB + 10),
      ...dbEnv,
    },
    stdio: ["ignore", "ignore", "inherit"],
  });
  const pid = child.pid ?? 0;
  try {
    while (!(await healthy(port))) {
      if (child.exitCode !== null) throw new Error(`${mode}: service exited ${child.exitCode}`);
      await sleep(100);
    }
    const startMs = Date.now() - t0;
    await sleep(SETTLE_MS);
    const idle = (await rss(pid)).now;
    const alice = await connectClient(prosody, "alice", "localhost", "pw", `bench-${mode}`);
    let status = 0;
    try {
      const done = await runCommand(alice, prosody.component, "import", { source: "upload" });
      const url = done.getChild("x", "jabber:x:oob")?.getChildText("url");
      if (!url) throw new Error("no upload link");
      status = await upload(url, MB);
    } finally {
      await alice.stop();
    }
    await sleep(SETTLE_MS);
    const after = await rss(pid);
    return { mode, startMs, idle, peak: after.peak, after: after.now, status };
  } finally {
    child.kill("SIGTERM");
    await new Promise((r) => (child.exitCode !== null ? r(null) : child.once("exit", r)));
  }
}

// Measure what operators run: the compiled build.
const built = spawnSync(process.execPath, ["bin/build.js", "--if-stale"], {
  cwd: REPO_ROOT,
  stdio: "inherit",
});
if (built.status !== 0) process.exit(1);

const prosody = await startProsody();
const dataDir = await mkdtemp(path.join(tmpdir(), "portability-bench-mem-"));
const pg = await freshPostgres();
try {
  await prosody.register("alice", "localhost", "pw");
  const rows = [
    await measure(prosody, "embedded, first start", { DATA_DIR: dataDir }),
    await measure(prosody, "embedded, restart", { DATA_DIR: dataDir }),
    await measure(prosody, "postgres", { DATABASE_URL: pg.url ?? "" }),
  ];
  console.log(`\nStaging one ${MB} MiB upload through the import link; RSS in MiB (VmRSS, peak VmHWM).\n`);
  console.log(
    "| mode | ready after | idle | peak | after staging | upload answer |\n|---|---|---|---|---|---|",
  );
  for (const r of rows) {
    console.log(
      `| ${r.mode} | ${(r.startMs / 1000).toFixed(1)} s | ${r.idle} | ${r.peak} | ${r.after} | ${r.status} |`,
    );
  }
  const pgRow = rows[2];
  for (const r of rows.slice(0, 2)) {
    console.log(
      `${r.mode}: idle ${r.idle} MiB (target ≤ ${TARGET_IDLE}: ${r.idle <= TARGET_IDLE ? "met" : "MISSED"}), ` +
        `after staging ${r.after} MiB (target ≤ ${TARGET_AFTER}: ${r.after <= TARGET_AFTER ? "met" : "MISSED"}), ` +
        `idle ${(r.idle / (pgRow?.idle ?? 1)).toFixed(2)}× Postgres mode`,
    );
  }
} finally {
  await pg.cleanup();
  await prosody.cleanup();
  await rm(dataDir, { recursive: true, force: true });
}
