import t from "tap";
import { PassThrough, Readable } from "node:stream";
import xml from "@xmpp/xml";
import { createArchiveWriter } from "../../../src/xep0227/writer.js";
import { readArchive } from "../../../src/xep0227/reader.js";
import type { ArchiveRecord } from "../../../src/xep0227/records.js";
import type { ArchivedMessage, PepNode } from "../../../src/account/model.js";

async function collect(input: Parameters<typeof readArchive>[0]): Promise<ArchiveRecord[]> {
  const out: ArchiveRecord[] = [];
  for await (const r of readArchive(input)) out.push(r);
  return out;
}

function toText(recs: ArchiveRecord[]): unknown[] {
  // Elements compared by serialisation.
  return JSON.parse(
    JSON.stringify(recs, (_k, v: unknown) =>
      v instanceof Map ? (Object.fromEntries(v) as unknown) : v instanceof xml.Element ? v.toString() : v,
    ),
  ) as unknown[];
}

const huge = "ü".repeat(300_000);
const messages: ArchivedMessage[] = [
  {
    id: "a1",
    stamp: "2025-01-02T03:04:05Z",
    message: xml(
      "message",
      { from: "bob@example.net/pc", to: "ada@old.example", type: "chat" },
      xml("body", {}, "hi 👋 <&>"),
    ),
  },
  {
    id: "a2",
    stamp: "2025-01-02T03:04:06Z",
    message: xml(
      "message",
      { from: "ada@old.example/p", to: "bob@example.net", type: "chat" },
      xml("body", {}, huge),
    ),
  },
];
const pep: PepNode[] = [
  {
    node: "urn:xmpp:bookmarks:1",
    config: new Map([
      ["pubsub#access_model", ["whitelist"]],
      ["pubsub#max_items", ["max"]],
    ]),
    affiliations: [{ jid: "ada@old.example", affiliation: "owner" }],
    items: [
      {
        id: "lounge@rooms.example.net",
        payload: xml(
          "conference",
          { xmlns: "urn:xmpp:bookmarks:1", name: "Lounge", autojoin: "true" },
          xml("nick", {}, "ada"),
        ),
      },
      {
        id: "café@rooms.example.net",
        payload: xml("conference", { xmlns: "urn:xmpp:bookmarks:1", name: "Café ☕" }),
        timestamp: "2024-05-05T00:00:00Z",
        publisher: "ada@old.example",
      },
    ],
  },
  {
    node: "http://jabber.org/protocol/nick",
    config: new Map(),
    affiliations: [],
    items: [{ id: "current", payload: xml("nick", { xmlns: "http://jabber.org/protocol/nick" }, "Ada") }],
  },
];

t.test("write → read gives the same records for every section", async (t) => {
  const sink = new PassThrough();
  const chunks: Buffer[] = [];
  sink.on("data", (c: Buffer) => chunks.push(c));
  const w = createArchiveWriter(sink);
  await w.begin("old.example", "ada");
  await w.scram([
    { mechanism: "SCRAM-SHA-1", iterations: 10000, salt: "c2FsdA==", serverKey: "c2s=", storedKey: "c3Q=" },
  ]);
  await w.roster(
    [
      {
        jid: "bob@example.net",
        name: "Bob “the builder”",
        subscription: "both",
        groups: ["Work", "Friends"],
      },
      { jid: "carol@example.org", subscription: "none", ask: "subscribe", groups: [] },
    ],
    [
      {
        from: "eve@example.org",
        payload: [xml("nick", { xmlns: "http://jabber.org/protocol/nick" }, "Eve")],
      },
    ],
  );
  await w.vcard(xml("vCard", { xmlns: "vcard-temp" }, xml("FN", {}, "Ada Lovelace")));
  await w.privateXml([
    xml("storage", { xmlns: "storage:rosternotes" }, xml("note", { jid: "bob@example.net" }, "likes tea")),
  ]);
  await w.blocklist(["spam@example.com"]);
  await w.pep(pep);
  await w.offlineMessage(
    xml("message", { from: "bob@example.net", to: "ada@old.example" }, xml("body", {}, "offline")),
  );
  for (const m of messages) await w.archiveMessage(m);
  await w.end();
  sink.end();
  const text = Buffer.concat(chunks).toString("utf8");
  t.match(
    text,
    /<presence xmlns="jabber:client" type="subscribe" from="eve@example.org">/,
    "pending presence in jabber:client",
  );
  // Read back in small chunks to exercise streaming across boundaries (including split UTF-8).
  const bytes = Buffer.concat(chunks);
  const pieces: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += 777) pieces.push(bytes.subarray(i, i + 777));
  const recs = await collect(Readable.from(pieces));
  const kinds = recs.map((r) => r.kind);
  t.same(kinds, [
    "host",
    "user",
    "scram",
    "roster",
    "pending",
    "vcard",
    "private",
    "blocklist",
    "pep-node",
    "pep-node",
    "pep-items",
    "pep-items",
    "offline",
    "archive",
    "archive",
    "user-end",
    "host-end",
  ]);
  const got = toText(recs);
  t.same(
    got[3],
    toText([
      {
        kind: "roster",
        items: [
          {
            jid: "bob@example.net",
            name: "Bob “the builder”",
            subscription: "both",
            groups: ["Work", "Friends"],
          },
          { jid: "carol@example.org", subscription: "none", ask: "subscribe", groups: [] },
        ],
      },
    ])[0],
  );
  const archive = recs.filter((r) => r.kind === "archive");
  t.same(
    archive.map(
      (r) => r.kind === "archive" && [r.message.id, r.message.stamp, r.message.message.getChildText("body")],
    ),
    [
      ["a1", "2025-01-02T03:04:05Z", "hi 👋 <&>"],
      ["a2", "2025-01-02T03:04:06Z", huge],
    ],
    "ids, stamps, unicode and huge bodies survive",
  );
  const items = recs.find((r) => r.kind === "pep-items");
  t.same(items?.kind === "pep-items" && items.items.map((i) => [i.id, i.timestamp, i.publisher]), [
    ["lounge@rooms.example.net", undefined, undefined],
    ["café@rooms.example.net", "2024-05-05T00:00:00Z", "ada@old.example"],
  ]);
  const node = recs.find((r) => r.kind === "pep-node");
  t.same(node?.kind === "pep-node" && [Object.fromEntries(node.config), node.affiliations], [
    { "pubsub#access_model": ["whitelist"], "pubsub#max_items": ["max"] },
    [{ jid: "ada@old.example", affiliation: "owner" }],
  ]);
  t.match(
    recs.find((r) => r.kind === "scram"),
    { credential: { mechanism: "SCRAM-SHA-1", iterations: 10000 } },
  );
  t.match(
    recs.find((r) => r.kind === "blocklist"),
    { jids: ["spam@example.com"] },
  );
});

t.test("an account with empty sections round-trips", async (t) => {
  const sink = new PassThrough();
  const chunks: Buffer[] = [];
  sink.on("data", (c: Buffer) => chunks.push(c));
  const w = createArchiveWriter(sink);
  await w.begin("h.example", "empty");
  await w.roster([]);
  await w.pep([]);
  await w.privateXml([]);
  await w.end();
  const recs = await collect([Buffer.concat(chunks)]);
  t.same(
    recs.map((r) => r.kind),
    ["host", "user", "roster", "user-end", "host-end"],
  );
});

t.test("backpressure: the writer waits for a slow sink", async (t) => {
  const sink = new PassThrough({ highWaterMark: 1024 });
  const w = createArchiveWriter(sink);
  await w.begin("h", "u");
  let drained = 0;
  const writing = (async () => {
    for (let i = 0; i < 2000; i++) await w.archiveMessage({ ...messages[0]!, id: `m${i}` });
    await w.end();
    sink.end();
  })();
  await new Promise((r) => setTimeout(r, 50));
  t.ok(sink.writableLength <= 256 * 1024, "writer did not run ahead of the sink");
  for await (const c of sink) drained += (c as Buffer).length;
  await writing;
  t.ok(drained > 2000 * 100);
});
