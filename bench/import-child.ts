// One measured import (a child process, so peak RSS is this run's own): a fresh Prosody (internal or
// sqlite storage) with the companion, the real component, a user uploading an N-message XEP-0227 file
// of another address through the upload link and running the import command. Prints one JSON line.
// Usage: node --import tsx bench/import-child.ts internal|sql N
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { startProsody } from "../test/harness/prosody.js";
import { connectClient } from "../test/harness/clients.js";
import { startTestApp } from "../test/harness/app.js";
import { writeHistoryArchive } from "../test/harness/history-archive.js";
import { openStaged, runImport, uploadArchive } from "../test/harness/import-flow.js";

const storage = process.argv[2] === "sql" ? "sql" : "internal";
const n = Number(process.argv[3] ?? 10_000);

async function prosodyStats(dir: string): Promise<{ peakRssMb: number; cpuSeconds: number }> {
  const pid = (await readFile(path.join(dir, "prosody.pid"), "utf8")).trim();
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  // /proc/PID/stat fields 14 and 15: user and system time in clock ticks (100 per second here).
  const stat = (await readFile(`/proc/${pid}/stat`, "utf8")).split(") ")[1]?.split(" ") ?? [];
  return {
    peakRssMb: Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024,
    cpuSeconds: (Number(stat[11]) + Number(stat[12])) / 100,
  };
}

function componentCpuSeconds(): number {
  const u = process.resourceUsage();
  return (u.userCPUTime + u.systemCPUTime) / 1e6;
}

const seconds = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e9;

const dir = await mkdtemp(path.join(tmpdir(), "portability-bench-import-"));
const prosody = await startProsody({
  companion: true,
  extraGlobal: [
    // The internal driver's default quota is 10,000 messages per account.
    "storage_archive_item_limit = 1000000",
    ...(storage === "sql"
      ? ['storage = "sql"', 'sql = { driver = "SQLite3", database = "prosody.sqlite" }']
      : []),
  ].join("\n"),
});
try {
  await prosody.register("carol", "localhost", "pw");
  const file = path.join(dir, "dora.xml");
  await writeHistoryArchive(file, {
    user: "dora",
    host: "old.example",
    peer: "bob@old.example",
    messages: n,
  });
  const app = await startTestApp(prosody);
  const carol = await connectClient(prosody, "carol", "localhost", "pw");
  try {
    let t0 = process.hrtime.bigint();
    const cpu0 = { component: componentCpuSeconds(), prosody: (await prosodyStats(prosody.dir)).cpuSeconds };
    const up = await uploadArchive(carol, prosody.component, app, { file });
    if (up.status !== 200) throw new Error(`upload: ${up.status} ${await up.text()}`);
    const preview = await openStaged(carol, prosody.component);
    const stageSeconds = seconds(t0);
    t0 = process.hrtime.bigint();
    const cpu1 = { component: componentCpuSeconds(), prosody: (await prosodyStats(prosody.dir)).cpuSeconds };
    const report = await runImport(carol, prosody.component, preview, { parts: ["archive"] }, 3_600_000);
    const importSeconds = seconds(t0);
    if (!report.includes(`archive: ${n} applied`)) throw new Error(`unexpected report: ${report}`);
    const p = await prosodyStats(prosody.dir);
    const result = {
      storage,
      messages: n,
      stageSeconds,
      importSeconds,
      importCpu: { component: componentCpuSeconds() - cpu1.component, prosody: p.cpuSeconds - cpu1.prosody },
      stageCpu: { component: cpu1.component - cpu0.component, prosody: cpu1.prosody - cpu0.prosody },
      componentPeakRssMb: process.resourceUsage().maxRSS / 1024,
      prosodyPeakRssMb: p.peakRssMb,
    };
    console.log(JSON.stringify(result));
  } finally {
    await carol.stop();
    await app.stop();
  }
} finally {
  await prosody.cleanup();
  await rm(dir, { recursive: true, force: true });
}
