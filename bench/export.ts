// Export benchmark: the component exporting a 50,000-message account (companion module, gzip, Postgres
// staging) against a plain client paging its own MAM archive, measured in the same run on loopback.
// Usage: npm run bench:export [-- --messages N]
import path from "node:path";
import xml from "@xmpp/xml";
import { startProsody } from "../test/harness/prosody.js";
import { connectClient } from "../test/harness/clients.js";
import { startTestApp } from "../test/harness/app.js";
import { seedArchive } from "./lib/seed-archive.js";

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
}
const N = arg("messages", 50_000);

const prosody = await startProsody({ companion: true, companionPageMs: 5 });
try {
  await prosody.register("alice", "localhost", "pw");
  await prosody.register("bob", "localhost", "pw");
  await prosody.stop();
  await seedArchive(path.join(prosody.dir, "data"), "alice", "bob", N);
  await prosody.start();
  const app = await startTestApp(prosody);
  const alice = await connectClient(prosody, "alice", "localhost", "pw");
  try {
    // Peer: a plain client pages its own archive (server page cap 100 in this config).
    let t = process.hrtime.bigint();
    let got = 0;
    let after: string | undefined;
    for (;;) {
      const before = alice.inbox.length;
      const fin = await alice.request(
        xml(
          "iq",
          { type: "set" },
          xml(
            "query",
            { xmlns: "urn:xmpp:mam:2", queryid: `q${got}` },
            xml(
              "set",
              { xmlns: "http://jabber.org/protocol/rsm" },
              xml("max", {}, "100"),
              after ? xml("after", {}, after) : null,
            ),
          ),
        ),
        60_000,
      );
      const page = alice.inbox.splice(before).filter((m) => m.getChild("result", "urn:xmpp:mam:2"));
      got += page.length;
      const f = fin.getChild("fin", "urn:xmpp:mam:2");
      after = f?.getChild("set", "http://jabber.org/protocol/rsm")?.getChildText("last") ?? undefined;
      if (f?.attrs.complete === "true" || page.length === 0 || !after) break;
    }
    const clientSeconds = Number(process.hrtime.bigint() - t) / 1e9;

    // Ours: the export command, until the link arrives (includes gzip and Postgres staging).
    t = process.hrtime.bigint();
    const NS_CMD = "http://jabber.org/protocol/commands";
    const s1 = (
      await alice.request(
        xml("iq", { type: "set", to: prosody.component }, xml("command", { xmlns: NS_CMD, node: "export" })),
      )
    ).getChild("command");
    await alice.request(
      xml(
        "iq",
        { type: "set", to: prosody.component },
        xml("command", { xmlns: NS_CMD, node: "export", sessionid: s1?.attrs.sessionid, action: "complete" }),
      ),
    );
    await alice.waitFor(
      (m) => m.attrs.from === prosody.component && /is ready/.test(m.getChildText("body") ?? ""),
      600_000,
    );
    const exportSeconds = Number(process.hrtime.bigint() - t) / 1e9;

    console.log("| what | messages | seconds | messages/s |\n|---|---|---|---|");
    console.log(
      `| plain client paging MAM (max 100) | ${got} | ${clientSeconds.toFixed(2)} | ${(got / clientSeconds).toFixed(0)} |`,
    );
    console.log(
      `| component export (companion, gzip, staged) | ${N} | ${exportSeconds.toFixed(2)} | ${(N / exportSeconds).toFixed(0)} |`,
    );
    console.log(
      `\nratio (export / client): ${(N / exportSeconds / (got / clientSeconds)).toFixed(2)}x (target >= 0.9x)`,
    );
  } finally {
    await alice.stop();
    await app.stop();
  }
} finally {
  await prosody.cleanup();
}
