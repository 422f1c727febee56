// Attacks on the import intake, against real Prosody, real HTTP and the real app:
// SSRF through the import link (loopback by literal, by name, by a served domain's port; DNS checked
// where the connection is made), leaks of remote status or content in error texts, a server dripping
// one byte every 2 s, many simultaneous fetches by one user, 8 simultaneous uploads to one link,
// and the quotas on links, staged bytes and jobs; expired staging is purged.
import t from "tap";
import http from "node:http";
import xml from "@xmpp/xml";
import { startProsody } from "../harness/prosody.js";
import { connectClient, type TestClient } from "../harness/clients.js";
import { startTestApp } from "../harness/app.js";
import { notes, runCommand } from "../harness/commands.js";
import type { App } from "../../src/app.js";
import { UrlRefused, fetchArchive } from "../../src/import/fetch-url.js";
import { purgeExpired } from "../../src/storage/archives.js";
import { createJob } from "../../src/storage/jobs.js";

const COMPONENT = "portability.localhost";
const SECRET_ROOT = "internal-admin-secrets";

interface Origin {
  port: number;
  hits: string[];
  close(): Promise<void>;
}

/** A loopback HTTP server: /secret answers internal XML, /denied 403, /drip one byte every 2 s. */
async function startOrigin(): Promise<Origin> {
  const hits: string[] = [];
  const timers = new Set<NodeJS.Timeout>();
  const server = http.createServer((req, res) => {
    hits.push(req.url ?? "");
    if (req.url === "/denied") {
      res.writeHead(403, { "content-type": "text/plain" });
      return void res.end("403 Forbidden: internal");
    }
    if (req.url === "/drip") {
      res.writeHead(200, { "content-type": "application/xml" });
      const iv = setInterval(() => res.write(" "), 2000);
      timers.add(iv);
      res.on("close", () => clearInterval(iv));
      return;
    }
    if (req.url === "/silent") return; // never answers, not even headers
    res.writeHead(200, { "content-type": "application/xml" });
    res.end(`<${SECRET_ROOT} xmlns='urn:corp'><password>hunter2</password></${SECRET_ROOT}>`);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const addr = server.address();
  return {
    port: typeof addr === "object" && addr ? addr.port : 0,
    hits,
    close: () =>
      new Promise<void>((r) => {
        for (const iv of timers) clearInterval(iv);
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

async function importByLink(c: TestClient, url: string): Promise<string> {
  return notes(await runCommand(c, COMPONENT, "import", { source: "upload", url }));
}

function uploadUrl(
  cmd: ReturnType<typeof runCommand> extends Promise<infer E> ? E : never,
  app: App,
): string {
  const url = cmd.getChild("x", "jabber:x:oob")?.getChildText("url") ?? "";
  return url.replace("127.0.0.1:8787", `127.0.0.1:${app.http.port}`);
}

t.test("import intake under attack", async (t) => {
  t.setTimeout(300_000);
  const prosody = await startProsody({ companion: true });
  t.teardown(() => prosody.cleanup());
  await prosody.register("mallory", "localhost", "pw");
  await prosody.register("carol", "example.test", "pw");
  const mallory = await connectClient(prosody, "mallory", "localhost", "pw");
  const carol = await connectClient(prosody, "carol", "example.test", "pw");
  t.teardown(async () => {
    await mallory.stop();
    await carol.stop();
  });
  const origin = await startOrigin();
  t.teardown(() => origin.close());

  await t.test("SSRF: loopback and private targets are refused before any request", async (t) => {
    const app = await startTestApp(prosody);
    t.teardown(() => app.stop());
    const p = origin.port;
    for (const url of [
      `https://127.0.0.1:${p}/secret`, // literal loopback, non-default port
      `https://localhost/secret`, // a name resolving to loopback
      `http://localhost:${p}/secret`, // a served domain (localhost) on another port
      `http://localhost/secret`, // a served domain on port 80 that resolves to loopback
      `https://[::1]/secret`,
      `https://169.254.169.254/latest/meta-data`,
      `https://10.1.2.3/x`,
    ]) {
      const text = await importByLink(mallory, url);
      t.match(text, /That link cannot be imported: (only https links|that link points to a private)/, url);
      t.notMatch(text, new RegExp(SECRET_ROOT));
    }
    t.same(origin.hits, [], "the origin never saw a request");
    // Below the form's checks: the connection itself refuses a name resolving to loopback, and a
    // literal loopback address (what a rebinding name would produce at connect time).
    for (const url of [`http://localhost:${p}/secret`, `http://127.0.0.1:${p}/secret`]) {
      const err = await fetchArchive(new URL(url), { limit: 1e6, timeoutMs: 5000, trustedHosts: [] }).then(
        () => null,
        (e: unknown) => e,
      );
      t.type(err, UrlRefused, url);
      t.match(String(err), /private or local address/);
    }
    t.same(origin.hits, [], "still no request reached the origin");
  });

  await t.test("remote failures get generic texts (no status, no content)", async (t) => {
    const app = await startTestApp(prosody, { IMPORT_URL_HOSTS: "127.0.0.1" });
    t.teardown(() => app.stop());
    const denied = await importByLink(mallory, `http://127.0.0.1:${origin.port}/denied`);
    t.match(denied, /the link could not be downloaded/);
    t.notMatch(denied, /403|Forbidden/);
    const secret = await importByLink(mallory, `http://127.0.0.1:${origin.port}/secret`);
    t.match(secret, /the linked file is not a XEP-0227 archive/);
    t.notMatch(secret, new RegExp(`${SECRET_ROOT}|urn:corp|hunter2`));
  });

  await t.test("a dripping server is cut at the deadline; 2 transfers per user at once", async (t) => {
    const app = await startTestApp(prosody, {
      IMPORT_URL_HOSTS: "127.0.0.1",
      IMPORT_FETCH_TIMEOUT_SECONDS: "4",
    });
    t.teardown(() => app.stop());
    const drip = `http://127.0.0.1:${origin.port}/drip`;
    const t0 = Date.now();
    const first = importByLink(mallory, drip);
    const second = importByLink(mallory, `http://127.0.0.1:${origin.port}/silent`);
    // Attachments share the same per-user slots.
    await new Promise((r) => setTimeout(r, 500));
    await mallory.xmpp.send(
      xml(
        "message",
        { to: COMPONENT, type: "chat" },
        xml("x", { xmlns: "jabber:x:oob" }, xml("url", {}, drip)),
      ),
    );
    const busy = await mallory.waitFor(
      (m) => m.attrs.from === COMPONENT && /could not use that file/.test(m.getChildText("body") ?? ""),
      10_000,
    );
    t.match(busy.getChildText("body"), /you already have 2 transfers in progress \(the limit is 2\)/);
    // An upload at the limit is refused, and its link is not used up by the refusal.
    const link = uploadUrl(await runCommand(mallory, COMPONENT, "import", { source: "upload" }), app);
    const archive =
      "<server-data xmlns='urn:xmpp:pie:0'><host jid='localhost'><user name='mallory'/></host></server-data>";
    const refused = await fetch(link, { method: "PUT", body: archive });
    t.equal(refused.status, 429, "an upload over the limit is refused");
    t.match(await refused.text(), /2 transfers in progress/);
    t.match(await first, /the download did not finish within 4 seconds/, "body drip cut");
    t.match(await second, /the download did not finish within 4 seconds/, "missing headers cut");
    const took = Date.now() - t0;
    t.ok(took < 9000, `both ended at the deadline (${took} ms)`);
    // Slots are free again: another user was never affected, and mallory can try again.
    t.match(await importByLink(mallory, `http://127.0.0.1:${origin.port}/denied`), /could not be downloaded/);
    t.equal(
      (await fetch(link, { method: "PUT", body: archive })).status,
      200,
      "the refused link still works",
    );
  });

  await t.test("8 simultaneous uploads to one link: exactly one accepted", async (t) => {
    const app = await startTestApp(prosody);
    t.teardown(() => app.stop());
    const link = uploadUrl(await runCommand(carol, COMPONENT, "import", { source: "upload" }), app);
    const archive =
      "<server-data xmlns='urn:xmpp:pie:0'><host jid='example.test'><user name='carol'/></host></server-data>";
    const statuses = await Promise.all(
      Array.from({ length: 8 }, () => fetch(link, { method: "PUT", body: archive }).then((r) => r.status)),
    );
    t.same(
      statuses.filter((s) => s === 200),
      [200],
      `one accepted (${statuses.join(",")})`,
    );
    t.equal(statuses.filter((s) => s === 404).length, 7, "the others find the link used");
    const staged = await app.db
      .selectFrom("archives")
      .select("id")
      .where("owner_jid", "=", "carol@example.test")
      .where("kind", "=", "import")
      .execute();
    t.equal(staged.length, 1, "one file staged");
  });

  await t.test("quotas: open links, staged bytes, jobs — with clear texts; purge", async (t) => {
    const app = await startTestApp(prosody, {
      UPLOAD_LINKS_PER_USER: "2",
      STAGED_MB_PER_USER: "1",
      JOBS_PER_USER: "1",
      ARCHIVE_MAX_CONTACTS: "5",
    });
    t.teardown(() => app.stop());
    const l1 = uploadUrl(await runCommand(carol, COMPONENT, "import", { source: "upload" }), app);
    await runCommand(carol, COMPONENT, "import", { source: "upload" });
    const third = notes(await runCommand(carol, COMPONENT, "import", { source: "upload" }));
    t.match(third, /you already have 2 unused upload links \(the limit is 2\)/);
    t.equal(
      notes(await runCommand(mallory, COMPONENT, "import", { source: "upload" })).includes("limit"),
      false,
      "another user is not affected",
    );

    const big = `<server-data xmlns='urn:xmpp:pie:0'><host jid='example.test'><user name='carol'>${" ".repeat(
      1_500_000,
    )}</user></host></server-data>`;
    const res = await fetch(l1, { method: "PUT", body: big });
    t.equal(res.status, 413);
    t.match(await res.text(), /your staged import files would exceed 1 MiB/);
    // Refused files leave nothing behind and the link can be used again.
    const ok = await fetch(l1, {
      method: "PUT",
      body: "<server-data xmlns='urn:xmpp:pie:0'><host jid='example.test'><user name='carol'/></host></server-data>",
    });
    t.equal(ok.status, 200, "the same link accepts a corrected file");

    // An account with more contacts than allowed is refused at upload, with the reason.
    const l3 = uploadUrl(await runCommand(carol, COMPONENT, "import", { source: "upload" }), app);
    const items = Array.from({ length: 6 }, (_, i) => `<item jid='c${i}@example.org' subscription='both'/>`);
    const crowded = await fetch(l3, {
      method: "PUT",
      body: `<server-data xmlns='urn:xmpp:pie:0'><host jid='example.test'><user name='carol'><query xmlns='jabber:iq:roster'>${items.join("")}</query></user></host></server-data>`,
    });
    t.equal(crowded.status, 400);
    t.match(await crowded.text(), /the account has more than 5 contacts/);

    await createJob(app.db, {
      kind: "held-for-test",
      owner: "carol@example.test",
      requestedBy: "carol@example.test",
    });
    const exp = notes(await runCommand(carol, COMPONENT, "export", {}));
    t.match(exp, /you already have 1 jobs queued or running \(the limit is 1\)/);

    // Expired staging and links are purged.
    const past = new Date(Date.now() - 1000);
    await app.db
      .updateTable("archives")
      .set({ expires_at: past })
      .where("owner_jid", "=", "carol@example.test")
      .execute();
    await app.db
      .updateTable("upload_links")
      .set({ expires_at: past })
      .where("owner_jid", "=", "carol@example.test")
      .execute();
    t.ok((await purgeExpired(app.db)) >= 1, "staged import purged");
    const left = await app.db
      .selectFrom("upload_links")
      .select("token_hash")
      .where("owner_jid", "=", "carol@example.test")
      .execute();
    t.equal(left.length, 0, "expired upload links purged");
  });
});
