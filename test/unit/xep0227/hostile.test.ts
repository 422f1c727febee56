import t from "tap";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import type { Test } from "@tapjs/test";
import { readArchive } from "../../../src/xep0227/reader.js";
import { ArchiveFormatError, type ArchiveRecord } from "../../../src/xep0227/records.js";

async function read(
  input: AsyncIterable<Buffer | string> | (Buffer | string)[],
  limits = {},
): Promise<ArchiveRecord[]> {
  const out: ArchiveRecord[] = [];
  for await (const r of readArchive(input, limits)) out.push(r);
  return out;
}

async function rejects(t: Test, input: Parameters<typeof read>[0], reason: RegExp, limits = {}) {
  try {
    await read(input, limits);
    t.fail(`accepted, expected ${reason}`);
  } catch (err) {
    t.ok(err instanceof ArchiveFormatError, "ArchiveFormatError");
    t.match((err as Error).message, reason);
    t.match((err as Error).message, /^line \d+, column \d+: /, "names line and column");
  }
}

const execFileP = promisify(execFile);
const OK_HEAD = "<server-data xmlns='urn:xmpp:pie:0'><host jid='h'><user name='u'>";

t.test("DOCTYPE and entity tricks are refused without expansion", async (t) => {
  const laughs = `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]><server-data xmlns='urn:xmpp:pie:0'>&lol2;</server-data>`;
  await rejects(t, [laughs], /DOCTYPE/);
  const xxe = `<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><server-data xmlns='urn:xmpp:pie:0'>&xxe;</server-data>`;
  await rejects(t, [xxe], /DOCTYPE/);
  await rejects(
    t,
    [`${OK_HEAD}<vCard xmlns='vcard-temp'><FN>&xxe;</FN></vCard></user></host></server-data>`],
    /entity/i,
  );
});

t.test("structure: wrong root, truncation, nesting, size, encoding", async (t) => {
  await rejects(t, ["<stream xmlns='jabber:client'/>"], /root element must be <server-data/);
  await rejects(t, ["<server-data xmlns='urn:other'/>"], /root element/);
  await rejects(t, [`${OK_HEAD}<query xmlns='jabber:iq:roster'><item jid='a@b'`], /truncated|unclosed|end/i);
  await rejects(t, [""], /empty/);
  await rejects(t, ["this is not xml"], /./);
  const deep = `${OK_HEAD}${"<a xmlns='x'>".repeat(10_000)}`;
  await rejects(t, [deep], /nested deeper than 48/);
  await rejects(
    t,
    [`${OK_HEAD}${"<x xmlns='y'>".repeat(10)}${"</x>".repeat(10)}</user></host></server-data>`],
    /nested deeper than 8/,
    { maxDepth: 8 },
  );
  const big = `${OK_HEAD}<vCard xmlns='vcard-temp'><NOTE>${"a".repeat(2_000_000)}</NOTE></vCard></user></host></server-data>`;
  await rejects(t, [big], /larger than 1000000 characters/, { maxElementChars: 1_000_000 });
  await rejects(
    t,
    [
      Buffer.concat([
        Buffer.from(OK_HEAD),
        Buffer.from([0xff, 0xfe, 0x41]),
        Buffer.from("</user></host></server-data>"),
      ]),
    ],
    /not valid UTF-8/,
  );
  await rejects(
    t,
    [`<?xml version='1.0' encoding='ISO-8859-1'?>${OK_HEAD}</user></host></server-data>`],
    /only UTF-8/,
  );
});

t.test("a huge streamed archive is read in a 40 MB heap (holding it would not fit)", async (t) => {
  const n = 150_000; // ~50 MB of XML
  const { stdout } = await execFileP(
    process.execPath,
    ["--max-old-space-size=40", "--import", "tsx", "test/fixtures/read-huge-archive.ts", String(n)],
    { maxBuffer: 1024 * 1024 },
  );
  t.equal(stdout.trim(), String(n), `${n} messages streamed`);
});
