// Inbound XEP-0283 benchmark: N verified moved notices for one local user, sent through the companion
// module while an export of a 20,000-message account runs; reports notices verified+applied per second
// and the p99 latency of a client's disco#info round trip to the component during that time.
// Accounts are cloned from one registered account's file (same password) so setup stays fast; rosters
// and statements are written through the component's privileges.
// Usage: npm run bench:moved [-- --notices N]
import { copyFile, mkdir } from "node:fs/promises";
import path from "node:path";
import xml from "@xmpp/xml";
import { startProsody, sleep } from "../test/harness/prosody.js";
import { connectClient } from "../test/harness/clients.js";
import { startTestApp } from "../test/harness/app.js";
import { publishMovedStatement } from "../src/account/moved-statement.js";
import { seedArchive } from "./lib/seed-archive.js";

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
}
const N = arg("notices", 500);
const HOST = "localhost";

const prosody = await startProsody({ companion: true });
try {
  await prosody.register("user", HOST, "pw");
  await prosody.register("template", HOST, "pw");
  await prosody.register("big", HOST, "pw");
  await prosody.stop();
  const accounts = path.join(prosody.dir, "data", HOST, "accounts");
  await mkdir(accounts, { recursive: true });
  for (let i = 0; i < N; i++) {
    await copyFile(path.join(accounts, "template.dat"), path.join(accounts, `old${i}.dat`));
    await copyFile(path.join(accounts, "template.dat"), path.join(accounts, `new${i}.dat`));
  }
  await seedArchive(path.join(prosody.dir, "data"), "big", "user", 20_000);
  await prosody.start();
  const app = await startTestApp(prosody);
  const link = app.link;
  const rosterSet = (owner: string, jid: string) =>
    link.request(
      xml(
        "iq",
        { type: "set", to: owner },
        xml("query", { xmlns: "jabber:iq:roster" }, xml("item", { jid, subscription: "both" })),
      ),
      30_000,
    );
  // Mutual 'both' between user and each old account (phantom subscriptions are fine for a benchmark),
  // and each old account's statement naming its new account.
  for (let i = 0; i < N; i++) {
    await rosterSet(`user@${HOST}`, `old${i}@${HOST}`);
    await rosterSet(`old${i}@${HOST}`, `user@${HOST}`);
    await publishMovedStatement(link, `old${i}@${HOST}`, `new${i}@${HOST}`);
  }
  console.error("setup done");
  const probe = await connectClient(prosody, "template", HOST, "pw");
  const big = await connectClient(prosody, "big", HOST, "pw");
  const latencies: number[] = [];
  let measuring = true;
  const pinger = (async () => {
    while (measuring) {
      const t0 = process.hrtime.bigint();
      await probe.request(
        xml(
          "iq",
          { type: "get", to: prosody.component },
          xml("query", { xmlns: "http://jabber.org/protocol/disco#info" }),
        ),
      );
      latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
      await sleep(10);
    }
  })();
  // An export runs meanwhile (unless --no-export, for a baseline).
  const NS_CMD = "http://jabber.org/protocol/commands";
  if (!process.argv.includes("--no-export")) {
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

    console.error("export started");
  }
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < N; i++) {
    await app.companion.sendPresence(`new${i}@${HOST}`, `user@${HOST}`, "subscribe", [
      xml("moved", { xmlns: "urn:xmpp:moved:1" }, xml("old-jid", {}, `old${i}@${HOST}`)),
    ]);
  }
  for (;;) {
    const row = await app.db
      .selectFrom("moved_notices")
      .select((eb) => eb.fn.countAll<number>().as("n"))
      .where("status", "in", ["applied", "rejected", "failed", "received"])
      .where("decided_at", "is not", null)
      .executeTakeFirstOrThrow();
    if (Number(row.n) >= N) break;
    if (process.env.BENCH_DEBUG) console.error("decided", row.n);
    if (Number(process.hrtime.bigint() - t0) / 1e9 > 600) throw new Error(`only ${row.n} of ${N} decided`);
    await sleep(50);
  }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  measuring = false;
  await pinger;
  const statuses = await app.db.selectFrom("moved_notices").select(["status"]).execute();
  const applied = statuses.filter((s) => s.status === "applied").length;
  latencies.sort((a, b) => a - b);
  const p = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? NaN;
  console.log("| what | value |\n|---|---|");
  console.log(`| notices sent | ${N} |\n| applied | ${applied} |\n| seconds | ${seconds.toFixed(2)} |`);
  console.log(`| notices verified+applied per second | ${(applied / seconds).toFixed(0)} (target >= 500) |`);
  console.log(
    `| client → component round trip p50 / p99 (ms), ${latencies.length} samples during the run | ${p(0.5).toFixed(1)} / ${p(0.99).toFixed(1)} (target p99 < 50) |`,
  );
  await probe.stop();
  await big.stop();
  await app.stop();
} finally {
  await prosody.cleanup();
}
