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

t.test("text, tags and comments are measured as they arrive, before saxes buffers them", async (t) => {
  const lim = { maxTextChars: 100_000 };
  const chunks = (body: string, size = 4096): string[] => {
    const out: string[] = [];
    for (let i = 0; i < body.length; i += size) out.push(body.slice(i, i + size));
    return out;
  };
  const tail = "</user></host></server-data>";
  const tooLong = /longer than 97 KiB/;
  // Between sections (ignored text, still buffered by saxes), a text node, an attribute, a comment.
  await rejects(t, chunks(`${OK_HEAD}${" ".repeat(300_000)}${tail}`), tooLong, lim);
  await rejects(
    t,
    chunks(`${OK_HEAD}<vCard xmlns='vcard-temp'><N>${"a".repeat(300_000)}</N></vCard>${tail}`),
    tooLong,
    lim,
  );
  await rejects(
    t,
    chunks(`${OK_HEAD}<vCard xmlns='vcard-temp' x="${"a".repeat(300_000)}"/>${tail}`),
    tooLong,
    lim,
  );
  await rejects(t, chunks(`${OK_HEAD}<!--${" ".repeat(300_000)}-->${tail}`), tooLong, lim);
  await rejects(t, chunks(`${OK_HEAD}<![CDATA[${"x".repeat(300_000)}]]>${tail}`), tooLong, lim);
  // Lexically tricky but small: quotes and '>' in text, comments, CDATA and PIs do not mislead it.
  const tricky =
    `<?xml version='1.0'?><?pi a="'>"?>${OK_HEAD}<!-- it's "quoted" > - -->` +
    `<vCard xmlns='vcard-temp'><NOTE>it's "fine" &gt; ok<![CDATA[ a " ' > ]] ]]></NOTE><FN a='x>"y'>z</FN></vCard>` +
    `${" ".repeat(90_000)}<vCard xmlns='vcard-temp'/>${tail}`;
  for (const size of [1, 7, 4096]) {
    const out = await read(chunks(tricky, size), lim);
    t.equal(out.filter((r) => r.kind === "vcard").length, 2, `tricky input accepted in ${size}-char chunks`);
  }
});

t.test("accounts, contacts, groups and field lengths are limited with clear messages", async (t) => {
  const roster = (items: string): string =>
    `${OK_HEAD}<query xmlns='jabber:iq:roster'>${items}</query></user></host></server-data>`;
  const item = (i: number, inner = "", name = "n"): string =>
    `<item jid='c${i}@example.org' name='${name}' subscription='both'>${inner}</item>`;
  const many = Array.from({ length: 11 }, (_, i) => item(i)).join("");
  await rejects(t, [roster(many)], /more than 10 contacts/, { maxContacts: 10 });
  t.equal((await read([roster(many)], { maxContacts: 11 })).filter((r) => r.kind === "roster").length, 1);
  await rejects(t, [roster(item(1, "<group>g</group>".repeat(4)))], /more than 3 groups/, { maxGroups: 3 });
  await rejects(
    t,
    [roster(item(1, "", "x".repeat(2000)))],
    /name of contact c1@example\.org is longer than 1024/,
  );
  await rejects(t, [roster(item(1, `<group>${"g".repeat(2000)}</group>`))], /group name .* longer than 1024/);
  const users = `<server-data xmlns='urn:xmpp:pie:0'><host jid='h'>${"<user name='u'/>".repeat(4)}</host></server-data>`;
  await rejects(t, [users], /more than 3 accounts/, { maxUsers: 3 });
  const nodes = `${OK_HEAD}<vCard xmlns='vcard-temp'>${"<X/>".repeat(2000)}</vCard></user></host></server-data>`;
  await rejects(t, [nodes], /more than 1000 elements/, { maxElementNodes: 1000 });
});

t.test(
  "4 concurrent 1.2 MB gzips inflating to 1.2 GB each stay under 160 MiB RSS (48 MB heap)",
  async (t) => {
    t.setTimeout(180_000);
    const fixture = new URL("../../fixtures/read-hostile-gzips.ts", import.meta.url).pathname;
    const run = (args: string[]) =>
      execFileP(process.execPath, ["--max-old-space-size=48", "--import", "tsx", fixture, ...args], {
        maxBuffer: 1 << 20,
      });
    const { stdout } = await run(["4"]);
    const out = JSON.parse(stdout) as { peakRssMiB: number; compressedBytes: number; results: string[] };
    t.comment(`peak RSS ${out.peakRssMiB} MiB for 4 readers of ${out.compressedBytes} gzip bytes each`);
    t.ok(out.compressedBytes < 1.5e6, "each upload is about 1.2 MB");
    t.equal(out.results.length, 4);
    for (const r of out.results) t.match(r, /longer than 2048 KiB/, "refused by the size guard");
    t.ok(out.peakRssMiB < 160, `peak RSS ${out.peakRssMiB} MiB < 160 MiB`);
    // Control: without the guard one such archive exhausts the same heap.
    const control = await run(["1", "1e12"]).then(
      () => "completed",
      (err: { stderr?: string }) => err.stderr ?? "failed",
    );
    t.match(control, /heap out of memory/, "without the guard the same input does not fit");
  },
);
