// Login latency during a large history import: logins one after another while the component imports
// N messages through the companion module, against logins on the same idle server in the same run.
// Usage: node --import tsx bench/import-login-latency.ts [--messages 50000] [--storage sql|internal] [--seconds 120]
//   [--seed N] (messages already in the archive, internal storage)
// The import stops after --seconds (canceled with the `cancel` command) or when it finishes.
import path from "node:path";
import { SQL_ARCHIVE_STORE, startProsody } from "../test/harness/prosody.js";
import { connectClient } from "../test/harness/clients.js";
import { startTestApp } from "../test/harness/app.js";
import { openStaged, uploadArchive } from "../test/harness/import-flow.js";
import { commandStage } from "../test/harness/commands.js";
import { messageArchive } from "../test/harness/archives.js";
import { loginsFor, percentile } from "../test/harness/login-latency.js";
import { seedArchive } from "./lib/seed-archive.js";
import { archiveCount } from "../test/harness/mam-query.js";

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? (process.argv[i + 1] ?? dflt) : dflt;
}
const N = Number(arg("messages", "50000"));
const storage = arg("storage", "sql");
const seconds = Number(arg("seconds", "120"));
const seed = Number(arg("seed", "0"));
const COMPONENT = "portability.localhost";

const prosody = await startProsody({
  companion: true,
  ...(storage === "sql" ? { extraGlobal: SQL_ARCHIVE_STORE } : {}),
});
try {
  await prosody.register("alice", "localhost", "pw");
  await prosody.register("bob", "localhost", "pw");
  if (seed > 0 && storage === "internal") {
    await prosody.stop();
    await seedArchive(path.join(prosody.dir, "data"), "alice", "bob", seed);
    await prosody.start();
  }
  const app = await startTestApp(prosody);
  const alice = await connectClient(prosody, "alice", "localhost", "pw");
  try {
    const idle = (await loginsFor(prosody, "bob", "localhost", "pw", 3000)).times;
    const file = await messageArchive("alice", "localhost", "bob@localhost", N);
    if ((await uploadArchive(alice, COMPONENT, app, file)).status !== 200) throw new Error("upload refused");
    const preview = await openStaged(alice, COMPONENT);
    const before = await archiveCount(alice);
    const t0 = Date.now();
    await commandStage(
      alice,
      COMPONENT,
      "import",
      preview.attrs.sessionid,
      { parts: ["archive"] },
      "complete",
    );
    let finished = false;
    void alice
      .waitFor(
        (m) => m.attrs.from === COMPONENT && /finished/.test(m.getChildText("body") ?? ""),
        seconds * 1000,
      )
      .then(
        () => (finished = true),
        () => undefined,
      );
    const busy: number[] = [];
    let failed = 0;
    while (!finished && Date.now() - t0 < seconds * 1000) {
      const r = await loginsFor(prosody, "bob", "localhost", "pw", 1000);
      busy.push(...r.times);
      failed += r.failed;
    }
    const elapsed = (Date.now() - t0) / 1000;
    if (!finished) {
      const c1 = await commandStage(alice, COMPONENT, "cancel");
      const job = c1
        .getChild("x")
        ?.getChildren("field")
        .find((f) => f.attrs.var === "job")
        ?.getChildText("value");
      await commandStage(alice, COMPONENT, "cancel", c1.attrs.sessionid, { job: job ?? "" }, "complete");
    }
    const imported = (await archiveCount(alice)) - before;
    const fmt = (v: number) => v.toFixed(0);
    console.log(`storage ${storage}${seed ? ` (archive seeded with ${seed})` : ""}`);
    console.log("| logins | n | p50 ms | p99 ms | max ms |\n|---|---|---|---|---|");
    console.log(
      `| idle | ${idle.length} | ${fmt(percentile(idle, 50))} | ${fmt(percentile(idle, 99))} | ${fmt(Math.max(...idle))} |`,
    );
    console.log(
      `| during import | ${busy.length} | ${fmt(percentile(busy, 50))} | ${fmt(percentile(busy, 99))} | ${fmt(Math.max(...busy))} |`,
    );
    console.log(`logins that gave up (client connect timeout): ${failed} of ${busy.length}`);
    console.log(
      `\nimported ${imported} of ${N} messages in ${elapsed.toFixed(0)} s (${(imported / elapsed).toFixed(0)}/s)${finished ? "" : ", then canceled"}`,
    );
    console.log(
      `ratio p99 during / p50 idle: ${(percentile(busy, 99) / percentile(idle, 50)).toFixed(1)}x; target: every login < 1000 ms (max ${fmt(Math.max(...busy))} ms)`,
    );
  } finally {
    await alice.stop();
    await app.stop();
  }
} finally {
  await prosody.cleanup();
}
// A login left hanging by a stalled server must not keep the benchmark alive.
process.exit(0);
