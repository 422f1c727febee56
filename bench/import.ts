// Import benchmark: an N-message XEP-0227 history imported into a fresh account through the real
// component and companion module (upload link, import command), on Prosody's internal and SQL (sqlite)
// storage, each run in its own process (bench/import-child.ts) so peak RSS is that run's; beside it,
// prosody-migrator (xep0227 → internal) on the same kind of file in the same run, on a smaller one (its
// archive import is quadratic), compared per message. CPU seconds per run are printed too: on a
// machine shared with other work, wall time follows the load and CPU time does not.
// Usage: npm run bench:import [-- --full] [-- --sizes 10000,50000] [-- --peer-messages 1000]
import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { createMigrator } from "../test/harness/migrator.js";
import { writeHistoryArchive } from "../test/harness/history-archive.js";

const execFileP = promisify(execFile);

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : undefined;
}
const full = process.argv.includes("--full");
const sizes = (arg("sizes") ?? (full ? "10000,50000,100000" : "10000,50000")).split(",").map(Number);
const peerMessages = Number(arg("peer-messages") ?? 1000);

interface Run {
  storage: string;
  messages: number;
  stageSeconds: number;
  importSeconds: number;
  importCpu: { component: number; prosody: number };
  componentPeakRssMb: number;
  prosodyPeakRssMb: number;
}

async function measure(storage: "internal" | "sql", n: number): Promise<Run> {
  const { stdout } = await execFileP(
    process.execPath,
    ["--import", "tsx", "bench/import-child.ts", storage, String(n)],
    { maxBuffer: 16 * 1024 * 1024 },
  );
  const line = stdout.trim().split("\n").pop() ?? "";
  return JSON.parse(line) as Run;
}

async function migratorPeer(n: number): Promise<number> {
  const migrator = await createMigrator();
  const data = await mkdtemp(path.join(tmpdir(), "portability-bench-migrator-"));
  try {
    await writeHistoryArchive(path.join(migrator.xep0227Dir, "dora@old.example.xml"), {
      user: "dora",
      host: "old.example",
      peer: "bob@old.example",
      messages: n,
    });
    const t0 = process.hrtime.bigint();
    await migrator.run("xep0227-to-internal", data, "old.example", ["archive-archive"]);
    return Number(process.hrtime.bigint() - t0) / 1e9;
  } finally {
    await rm(data, { recursive: true, force: true });
    await rm(migrator.dir, { recursive: true, force: true });
  }
}

const runs: Run[] = [];
for (const storage of ["internal", "sql"] as const) {
  for (const n of sizes) {
    const r = await measure(storage, n);
    runs.push(r);
    console.error(`measured ${storage} ${n}: ${r.importSeconds.toFixed(1)} s`);
  }
}
const peerSeconds = await migratorPeer(peerMessages);

const f = (x: number, d = 0) => x.toFixed(d);
console.log(
  "| storage | messages | import s | msg/s | CPU µs/msg component | CPU µs/msg Prosody | msg per CPU-second (both) | upload+preview s | peak RSS component MB | peak RSS Prosody MB |",
);
console.log("|---|---|---|---|---|---|---|---|---|---|");
for (const r of runs) {
  console.log(
    `| ${r.storage} | ${r.messages} | ${f(r.importSeconds, 1)} | ${f(r.messages / r.importSeconds)} | ` +
      `${f((r.importCpu.component / r.messages) * 1e6)} | ${f((r.importCpu.prosody / r.messages) * 1e6)} | ` +
      `${f(r.messages / (r.importCpu.component + r.importCpu.prosody))} | ${f(r.stageSeconds, 1)} | ${f(r.componentPeakRssMb)} | ${f(r.prosodyPeakRssMb)} |`,
  );
}
console.log(
  `| prosody-migrator xep0227 → internal (peer) | ${peerMessages} | ${f(peerSeconds, 1)} | ${f(peerMessages / peerSeconds)} | | | | | | |`,
);
console.log("");
for (const storage of ["internal", "sql"]) {
  const at = (n: number) => runs.find((r) => r.storage === storage && r.messages === n);
  const big = at(100_000);
  const mid = at(50_000);
  const cpu = (r: Run) => r.importCpu.component + r.importCpu.prosody;
  if (big && mid)
    console.log(
      `${storage}: time ratio 100k/50k = ${f(big.importSeconds / mid.importSeconds, 2)} (target <= 2.2); ` +
        `CPU ratio ${f(cpu(big) / cpu(mid), 2)}`,
    );
  if (mid)
    console.log(
      `${storage}: ${f(mid.messages / mid.importSeconds)} msg/s at 50k${storage === "internal" ? " (target >= 1000)" : ""}; ` +
        `${f(mid.messages / mid.importSeconds / (peerMessages / peerSeconds), 1)}x prosody-migrator per message`,
    );
}
