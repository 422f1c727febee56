import t from "tap";
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

t.test("a huge streamed archive is read with bounded memory", async (t) => {
  const n = 150_000;
  async function* gen(): AsyncGenerator<string> {
    yield `${OK_HEAD}<archive xmlns='urn:xmpp:pie:0#mam'>`;
    for (let i = 0; i < n; i += 1000) {
      let s = "";
      for (let j = i; j < i + 1000; j++) {
        s += `<result xmlns='urn:xmpp:mam:2' id='m${j}'><forwarded xmlns='urn:xmpp:forward:0'><delay xmlns='urn:xmpp:delay' stamp='2025-01-01T00:00:00Z'/><message xmlns='jabber:client' from='a@b' to='u@h'><body>${"x".repeat(200)}</body></message></forwarded></result>`;
      }
      yield s;
    }
    yield "</archive></user></host></server-data>";
  }
  global.gc?.();
  const before = process.memoryUsage().heapUsed;
  let count = 0;
  let peak = 0;
  for await (const r of readArchive(gen())) {
    if (r.kind === "archive") count++;
    if (count % 10_000 === 0) peak = Math.max(peak, process.memoryUsage().heapUsed - before);
  }
  t.equal(count, n, `${n} messages (~${Math.round((n * 330) / 1e6)} MB) streamed`);
  t.ok(peak < 120 * 1024 * 1024, `heap growth stayed bounded (${Math.round(peak / 1e6)} MB)`);
});
