// One measured side of the codec benchmark, in its own process so peak RSS is its own.
//   write FILE MESSAGES CONTACTS   → writes an archive with our writer
//   read FILE                      → parses it with our reader
import { createReadStream, createWriteStream } from "node:fs";
import { finished } from "node:stream/promises";
import xml from "@xmpp/xml";
import { createArchiveWriter } from "../src/xep0227/writer.js";
import { readArchive } from "../src/xep0227/reader.js";
import type { RosterItem } from "../src/account/model.js";

const [mode, file, a, b] = process.argv.slice(2);
const t0 = process.hrtime.bigint();
let items = 0;
if (mode === "write") {
  const messages = Number(a);
  const contacts = Number(b);
  const out = createWriteStream(file as string);
  const w = createArchiveWriter(out);
  await w.begin("localhost", "bench");
  // Credentials make the account exist for the peer's user iteration (values are arbitrary).
  await w.scram([
    {
      mechanism: "SCRAM-SHA-1",
      iterations: 4096,
      salt: "c2FsdHNhbHQ=",
      serverKey: "c2VydmVya2V5",
      storedKey: "c3RvcmVka2V5",
    },
  ]);
  const roster: RosterItem[] = [];
  for (let i = 0; i < contacts; i++) {
    roster.push({
      jid: `contact${i}@example.net`,
      name: `Contact ${i}`,
      subscription: "both",
      groups: [`Group ${i % 20}`],
    });
  }
  await w.roster(roster);
  for (let i = 0; i < messages; i++) {
    const out = i % 2 === 0;
    await w.archiveMessage({
      id: `msg-${i.toString(36)}`,
      stamp: new Date(1_600_000_000_000 + i * 1000).toISOString().replace(/\.\d+Z$/, "Z"),
      message: xml(
        "message",
        out
          ? {
              from: "bench@localhost/phone",
              to: `contact${i % contacts}@example.net`,
              type: "chat",
              id: `c${i}`,
            }
          : {
              from: `contact${i % contacts}@example.net/pc`,
              to: "bench@localhost",
              type: "chat",
              id: `c${i}`,
            },
        xml("body", {}, `Message number ${i}: the quick brown fox jumps over the lazy dog ✓`),
      ),
    });
  }
  await w.end();
  out.end();
  await finished(out);
  items = messages;
} else {
  for await (const r of readArchive(createReadStream(file as string))) if (r.kind === "archive") items++;
}
const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
process.stdout.write(
  JSON.stringify({ seconds, items, maxRssMb: process.resourceUsage().maxRSS / 1024 }) + "\n",
);
