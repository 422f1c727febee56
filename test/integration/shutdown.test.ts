// Issue 15, attack 10: after SIGTERM, jobs kept sending subscription requests for 40 s and the process
// was still alive after 2 minutes. Now the real process (`portability run`) stops taking work, hands
// its running import back to the queue and exits within SHUTDOWN_TIMEOUT_SECONDS (10 s); no request
// goes out after that, and the next start resumes the job to the end.
import t from "tap";
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import xml from "@xmpp/xml";
import { startProsody, sleep, REPO_ROOT } from "../harness/prosody.js";
import { connectClient, type TestClient } from "../harness/clients.js";
import { freshPostgres } from "../harness/database.js";
import { freePort } from "../harness/ports.js";
import { openStaged, uploadArchive } from "../harness/import-flow.js";
import { commandStage } from "../harness/commands.js";
import { archiveText } from "../harness/archives.js";

const COMPONENT = "portability.localhost";
const CONTACTS = 60;

async function asked(c: TestClient): Promise<number> {
  const r = await c.request(xml("iq", { type: "get" }, xml("query", { xmlns: "jabber:iq:roster" })));
  return (r.getChild("query")?.getChildren("item") ?? []).filter((i) => i.attrs.ask === "subscribe").length;
}

t.test("SIGTERM: exits within 10 s, no requests after, the job resumes", async (t) => {
  t.setTimeout(300_000);
  const prosody = await startProsody({ companion: true });
  t.teardown(() => prosody.cleanup());
  await prosody.register("mallory", "localhost", "pw");
  const pg = await freshPostgres();
  await pg.close();
  t.teardown(() => pg.cleanup());
  const httpPort = await freePort();
  const env = {
    ...process.env,
    XMPP_SERVICE: prosody.componentService,
    XMPP_DOMAIN: COMPONENT,
    XMPP_SECRET: prosody.secret,
    XMPP_HOSTS: prosody.hosts.join(","),
    DATABASE_URL: pg.url,
    HTTP_LISTEN: `127.0.0.1:${httpPort}`,
    HTTP_PUBLIC_URL: `http://127.0.0.1:${httpPort}`,
    LOG_LEVEL: "info",
  };
  let logs = "";
  const run = async (): Promise<ChildProcess> => {
    const child = spawn(process.execPath, ["--import", "tsx", "src/cli/main.ts", "run"], {
      cwd: REPO_ROOT,
      env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    child.stdout?.on("data", (d: Buffer) => (logs += d.toString()));
    child.stderr?.on("data", (d: Buffer) => (logs += d.toString()));
    const end = Date.now() + 60_000;
    while (!/component online/.test(logs.slice(logs.lastIndexOf("starting")))) {
      if (Date.now() > end || child.exitCode !== null) throw new Error(`component did not start:\n${logs}`);
      await sleep(100);
    }
    await sleep(300);
    return child;
  };
  let child = await run();
  t.teardown(() => void child.kill("SIGKILL"));

  const mallory = await connectClient(prosody, "mallory", "localhost", "pw");
  t.teardown(() => mallory.stop());
  const file = await archiveText(async (w) => {
    await w.begin("localhost", "mallory");
    await w.roster(
      Array.from({ length: CONTACTS }, (_, i) => ({
        jid: `contact${i}@example.test`,
        subscription: "both" as const,
        groups: [],
      })),
    );
    await w.end();
  });
  t.equal((await uploadArchive(mallory, COMPONENT, { http: { port: httpPort } }, file)).status, 200);
  const preview = await openStaged(mallory, COMPONENT);
  await commandStage(
    mallory,
    COMPONENT,
    "import",
    preview.attrs.sessionid,
    { parts: ["roster"], subscribe: "true" },
    "complete",
  );
  while ((await asked(mallory)) < 3) await sleep(100);

  const t0 = Date.now();
  child.kill("SIGTERM");
  const [code] = (await once(child, "exit")) as [number | null];
  const ms = Date.now() - t0;
  t.ok(ms < 10_000, `exited ${ms} ms after SIGTERM (code ${code})`);
  const atExit = await asked(mallory);
  t.ok(atExit < CONTACTS, `${atExit} of ${CONTACTS} contacts asked before the exit`);
  await sleep(2000);
  t.equal(await asked(mallory), atExit, "no subscription request after the exit");
  const db = (await import("../../src/storage/database.js")).openDatabase;
  const opened = await db({ databaseUrl: pg.url, dataDir: ":memory:" });
  const job = await opened.db.selectFrom("jobs").selectAll().executeTakeFirstOrThrow();
  await opened.close();
  t.match(job, { status: "queued", lease_owner: null }, "the import was handed back to the queue");

  child = await run();
  const done = await mallory.waitFor(
    (m) =>
      m.attrs.from === COMPONENT &&
      /Import into mallory@localhost finished/.test(m.getChildText("body") ?? ""),
    120_000,
  );
  t.comment(done.getChildText("body") ?? "");
  t.equal(await asked(mallory), CONTACTS, "after a restart the job resumed and asked every contact");
  child.kill("SIGTERM");
  await once(child, "exit");
});
