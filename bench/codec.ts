// Codec benchmark: our streaming XEP-0227 writer and reader against prosody-migrator (the peer),
// measured in the same run. Usage: npm run bench:codec [-- --messages N --contacts N --peer-messages N]
import { execFile } from "node:child_process";
import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { createMigrator } from "../test/harness/migrator.js";

const execFileP = promisify(execFile);

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
}

interface Side {
  seconds: number;
  items: number;
  maxRssMb: number;
}

async function child(...args: string[]): Promise<Side> {
  // A bounded heap makes the memory claim hard: a reader or writer that held the archive would crash.
  const { stdout } = await execFileP(
    process.execPath,
    ["--max-old-space-size=64", "--import", "tsx", "bench/codec-child.ts", ...args],
    {
      maxBuffer: 1024 * 1024,
    },
  );
  return JSON.parse(stdout.trim()) as Side;
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

const messages = arg("messages", 1_000_000);
const contacts = arg("contacts", 5_000);
// The peer's cost grows faster than linearly (measured here: 1,000 messages 35 s, 2,000 messages 192 s:
// its internal archive store rewrites the whole list on every keyed append), so 1e6 messages would take
// days. It is measured on a small archive and compared per byte, with both sides on that same file.
const peerMessages = arg("peer-messages", 500);

const dir = await mkdtemp(path.join(tmpdir(), "portability-bench-"));
try {
  const big = path.join(dir, "big.xml");
  const w = await child("write", big, String(messages), String(contacts));
  const size = (await stat(big)).size / 1e6;
  const r = await child("read", big);

  const migrator = await createMigrator();
  const peerFile = path.join(migrator.xep0227Dir, "bench@localhost.xml");
  const wSmall = await child("write", peerFile, String(peerMessages), String(contacts));
  const smallSize = (await stat(peerFile)).size / 1e6;
  const rSmall = await child("read", peerFile);
  const internal = path.join(dir, "internal");
  const peerImport = await timed(() => migrator.run("xep0227-to-internal", internal, "localhost"));
  await rm(peerFile);
  const peerExport = await timed(() => migrator.run("internal-to-xep0227", internal, "localhost"));
  const exported = (await stat(peerFile).catch(() => ({ size: 0 }))).size / 1e6;

  const mbps = (mb: number, s: number) => (s > 0 ? mb / s : 0);
  const rows = [
    ["ours: write", `${messages} msgs`, size, w.seconds, mbps(size, w.seconds), w.maxRssMb],
    ["ours: read", `${messages} msgs`, size, r.seconds, mbps(size, r.seconds), r.maxRssMb],
    [
      "ours: write",
      `${peerMessages} msgs`,
      smallSize,
      wSmall.seconds,
      mbps(smallSize, wSmall.seconds),
      wSmall.maxRssMb,
    ],
    [
      "ours: read",
      `${peerMessages} msgs`,
      smallSize,
      rSmall.seconds,
      mbps(smallSize, rSmall.seconds),
      rSmall.maxRssMb,
    ],
    [
      "prosody-migrator: 0227 → internal (reads 0227)",
      `${peerMessages} msgs`,
      smallSize,
      peerImport,
      mbps(smallSize, peerImport),
      NaN,
    ],
    [
      "prosody-migrator: internal → 0227 (writes 0227)",
      `${peerMessages} msgs`,
      exported,
      peerExport,
      mbps(exported, peerExport),
      NaN,
    ],
  ] as const;
  console.log("| what | data | MB | seconds | MB/s | peak RSS MB |\n|---|---|---|---|---|---|");
  for (const [what, data, mb, s, rate, rss] of rows) {
    console.log(
      `| ${what} | ${data} | ${mb.toFixed(1)} | ${s.toFixed(2)} | ${rate.toFixed(1)} | ${Number.isNaN(rss) ? "-" : rss.toFixed(0)} |`,
    );
  }
  const readRatio = mbps(smallSize, rSmall.seconds) / mbps(smallSize, peerImport);
  const writeRatio = exported > 0 ? mbps(smallSize, wSmall.seconds) / mbps(exported, peerExport) : NaN;
  console.log(
    `\nread ratio (ours / prosody-migrator, same ${peerMessages}-message file): ${readRatio.toFixed(1)}x (target >= 10x)`,
  );
  console.log(`write ratio (ours / prosody-migrator, MB/s): ${writeRatio.toFixed(1)}x (target >= 10x)`);
  console.log(
    `peak RSS at ${messages} messages: write ${w.maxRssMb.toFixed(0)} MB, read ${r.maxRssMb.toFixed(0)} MB (target < 150 MB)`,
  );
  console.log(
    "note: the migrator timings include its own conversion to/from Prosody's internal store (its only mode),",
  );
  console.log(
    `and its cost grows superlinearly, so the ratio at ${messages} messages would be far larger than at ${peerMessages}.`,
  );
} finally {
  await rm(dir, { recursive: true, force: true });
}
