// Hostile-upload benchmark: 4 users upload at once a 1.2 MB gzip inflating to 1.2 GB (whitespace between
// sections, one text node, one attribute, one comment) through the real HTTP upload path; the peer, in
// the same run, is 4 users uploading a legitimate archive of similar compressed size. Reports the
// component process's peak RSS for each and the answers. Usage: npm run bench:hostile-uploads
import { randomBytes } from "node:crypto";
import { gzipSync } from "node:zlib";
import { startProsody } from "../test/harness/prosody.js";
import { connectClient, type TestClient } from "../test/harness/clients.js";
import { startTestApp } from "../test/harness/app.js";
import { runCommand } from "../test/harness/commands.js";

const COMPONENT = "portability.localhost";
const HEAD = (u: string) => `<server-data xmlns='urn:xmpp:pie:0'><host jid='localhost'><user name='${u}'>`;
const TAIL = "</user></host></server-data>";

function hostile(i: number, user: string): Buffer {
  const spaces = gzipSync(Buffer.alloc(12 << 20, " "), { level: 9 });
  const letters = gzipSync(Buffer.alloc(12 << 20, "a"), { level: 9 });
  const shapes: [string, Buffer, string][] = [
    [`${HEAD(user)}<vCard xmlns='vcard-temp'/>`, spaces, TAIL],
    [`${HEAD(user)}<vCard xmlns='vcard-temp'><NOTE>`, letters, `</NOTE></vCard>${TAIL}`],
    [`${HEAD(user)}<vCard xmlns='vcard-temp' x='`, letters, `'/>${TAIL}`],
    [`${HEAD(user)}<!--`, letters, `-->${TAIL}`],
  ];
  const [head, block, tail] = shapes[i % 4] as [string, Buffer, string];
  return Buffer.concat([gzipSync(head), ...Array.from({ length: 100 }, () => block), gzipSync(tail)]);
}

/** An ordinary archive of about `size` gzip bytes (random message bodies barely compress). */
function legitimate(user: string, size: number): Buffer {
  const parts: string[] = [`${HEAD(user)}<archive xmlns='urn:xmpp:pie:0#mam'>`];
  let raw = 0;
  for (let n = 0; raw < size * 2.8; n++) {
    const m = `<result xmlns='urn:xmpp:mam:2' id='m${n}'><forwarded xmlns='urn:xmpp:forward:0'><delay xmlns='urn:xmpp:delay' stamp='2025-01-01T00:00:00Z'/><message xmlns='jabber:client' from='a@b' to='${user}@localhost' type='chat'><body>${randomBytes(150).toString("base64")}</body></message></forwarded></result>`;
    parts.push(m);
    raw += m.length;
  }
  return gzipSync(`${parts.join("")}</archive>${TAIL}`);
}

let peak = 0;
const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
const MiB = (b: number) => Math.round(b / 1024 / 1024);

const prosody = await startProsody({ companion: true });
const clients: TestClient[] = [];
try {
  const users = ["u1", "u2", "u3", "u4"];
  for (const u of users) await prosody.register(u, "localhost", "pw");
  const app = await startTestApp(prosody);
  for (const u of users) clients.push(await connectClient(prosody, u, "localhost", "pw"));
  const link = async (c: TestClient): Promise<string> => {
    const cmd = await runCommand(c, COMPONENT, "import", { source: "upload" });
    const url = cmd.getChild("x", "jabber:x:oob")?.getChildText("url") ?? "";
    return url.replace("127.0.0.1:8787", `127.0.0.1:${app.http.port}`);
  };
  const round = async (bodies: Buffer[]) => {
    const links = await Promise.all(clients.map(link));
    global.gc?.();
    const base = process.memoryUsage().rss;
    peak = base;
    const t0 = Date.now();
    const answers = await Promise.all(
      links.map(async (l, i) => {
        const res = await fetch(l, { method: "PUT", body: bodies[i] });
        return `${res.status} ${(await res.text()).trim()}`;
      }),
    );
    return { base, peak, seconds: (Date.now() - t0) / 1000, answers };
  };
  const hostileBodies = users.map((u, i) => hostile(i, u));
  const goodBodies = users.map((u) => legitimate(u, hostileBodies[0]?.length ?? 1_200_000));
  const good = await round(goodBodies);
  const bad = await round(hostileBodies);
  console.log(
    `compressed sizes: hostile ${hostileBodies.map((b) => b.length).join(", ")} bytes; legitimate ${goodBodies.map((b) => b.length).join(", ")} bytes`,
  );
  console.log(`legitimate (peer): RSS ${MiB(good.base)} → peak ${MiB(good.peak)} MiB in ${good.seconds} s`);
  for (const a of good.answers) console.log(`  ${a}`);
  console.log(`hostile: RSS ${MiB(bad.base)} → peak ${MiB(bad.peak)} MiB in ${bad.seconds} s`);
  for (const a of bad.answers) console.log(`  ${a}`);
  console.log(
    `peak growth hostile / legitimate: ${MiB(bad.peak - bad.base)} / ${MiB(good.peak - good.base)} MiB`,
  );
  await app.stop();
} finally {
  clearInterval(sampler);
  for (const c of clients) await c.stop();
  await prosody.cleanup();
}
