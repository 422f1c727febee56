// The service as operators run it: `npm start` (compiled JavaScript, node as npm's direct child)
// answers /healthz, stops within 5 s on SIGTERM with its running export handed back to the queue
// (an export writes its file again from the start), and a restarted service finishes that export. Permanent stream errors stop it with advice (exit 78),
// the example secret is refused, a Prosody that is down is waited for.
import t from "tap";
import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import { startProsody, REPO_ROOT, sleep, type Prosody } from "../harness/prosody.js";
import { connectClient } from "../harness/clients.js";
import { runCommand } from "../harness/commands.js";
import { freshPostgres } from "../harness/database.js";
import { freePort, portAccepts } from "../harness/ports.js";
import { getJob, listJobs } from "../../src/storage/jobs.js";
import { seedArchive } from "../../bench/lib/seed-archive.js";

interface Service {
  child: ChildProcess;
  output(): string;
  exited: Promise<number | null>;
}

function launch(command: string, args: string[], env: Record<string, string>): Service {
  const child = spawn(command, args, {
    cwd: REPO_ROOT,
    env: { ...process.env, LOG_LEVEL: "info", NODE_ENV: "production", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout?.setEncoding("utf8").on("data", (s: string) => (out += s));
  child.stderr?.setEncoding("utf8").on("data", (s: string) => (out += s));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return { child, output: () => out, exited };
}

function serviceEnv(prosody: Prosody, extra: Record<string, string>): Record<string, string> {
  return {
    XMPP_SERVICE: prosody.componentService,
    XMPP_DOMAIN: prosody.component,
    XMPP_SECRET: prosody.secret,
    XMPP_HOSTS: prosody.hosts.join(","),
    ...extra,
  };
}

async function health(port: number): Promise<{ status: number; body: Record<string, unknown> } | null> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/healthz`);
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  } catch {
    return null;
  }
}

async function until<T>(
  what: string,
  f: () => Promise<T | null | undefined | false>,
  ms: number,
): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(200);
  }
}

t.test(
  "npm start: healthz, SIGTERM within 5 s with the export handed back, resumed after restart",
  async (t) => {
    const prosody = await startProsody({ companion: true });
    t.teardown(() => prosody.cleanup());
    await prosody.register("alice", "localhost", "pw");
    await prosody.register("bob", "localhost", "pw");
    await prosody.stop();
    // Enough history that the export is still running when the signal comes.
    await seedArchive(path.join(prosody.dir, "data"), "alice", "bob", 12_000);
    const pg = await freshPostgres();
    t.teardown(() => pg.cleanup());
    const port = await freePort();
    const env = serviceEnv(prosody, {
      DATABASE_URL: pg.url ?? "",
      HTTP_LISTEN: `127.0.0.1:${port}`,
      HTTP_PUBLIC_URL: `http://127.0.0.1:${port}`,
    });

    // Prosody is down: the service waits for it (transient), and says so on /healthz.
    const first = launch("npm", ["start"], env);
    t.teardown(() => void first.child.kill("SIGKILL"));
    const down = await until("healthz while Prosody is down", () => health(port), 180_000);
    t.equal(down.status, 503, "503 while the XMPP link is down");
    t.match(down.body, { xmpp: "offline", database: "ok" });
    await prosody.start();
    const up = await until(
      "healthz 200",
      async () => {
        const h = await health(port);
        return h?.status === 200 && h;
      },
      60_000,
    );
    t.match(up.body, { xmpp: "ok", database: "ok", databaseKind: "postgres" }, "both ok: 200");
    t.match(first.output(), /"configuration":"[^"]*environment variables/, "says where the config came from");

    const alice = await connectClient(prosody, "alice", "localhost", "pw");
    t.teardown(() => alice.stop());
    t.equal((await runCommand(alice, prosody.component, "export", {}))?.attrs.status, "completed");
    const running = await until(
      "the export to make progress",
      async () => {
        const [job] = await listJobs(pg.db, "alice@localhost");
        return job?.status === "running" && job.progress && job;
      },
      120_000,
    );

    const t0 = Date.now();
    process.kill(first.child.pid ?? 0, "SIGTERM");
    const code = await first.exited;
    const stopMs = Date.now() - t0;
    t.equal(code, 0, "npm start exits 0");
    t.ok(stopMs < 5000, `stopped within 5 s (${stopMs} ms)`);
    t.notOk(await portAccepts(port), "the node process is gone too (its HTTP port is closed)");
    const handedBack = await getJob(pg.db, running.id);
    t.equal(handedBack?.status, "queued", "export handed back");
    t.equal(handedBack?.lease_owner, null, "lease released");
    t.ok(handedBack?.progress, "progress kept");

    // The compiled service again (node directly, as the Dockerfile and the systemd unit run it).
    const second = launch(process.execPath, ["dist/src/cli/main.js", "run"], env);
    t.teardown(() => void second.child.kill("SIGKILL"));
    await until(
      "the export to finish",
      async () => (await getJob(pg.db, running.id))?.status === "done",
      300_000,
    );
    t.ok(
      await alice.waitFor((m) => /is ready/.test(m.getChildText("body") ?? ""), 30_000),
      "alice gets her link",
    );
    second.child.kill("SIGINT");
    t.equal(await second.exited, 0, "SIGINT stops it cleanly too");
  },
);

t.test("permanent stream errors stop the service with advice; the example secret is refused", async (t) => {
  const prosody = await startProsody();
  t.teardown(() => prosody.cleanup());
  const pg = await freshPostgres();
  t.teardown(() => pg.cleanup());
  const cli = (env: Record<string, string>): Service =>
    launch(process.execPath, ["--import", "tsx", "src/cli/main.ts", "run"], {
      ...serviceEnv(prosody, { DATABASE_URL: pg.url ?? "", HTTP_LISTEN: "127.0.0.1:0" }),
      ...env,
    });

  const wrongSecret = cli({ XMPP_SECRET: "not-the-secret" });
  t.equal(await wrongSecret.exited, 78, "wrong secret: exit 78 (EX_CONFIG)");
  t.match(wrongSecret.output(), /refused the component secret.*XMPP_SECRET must equal component_secret/);
  t.notMatch(wrongSecret.output(), /not-the-secret/, "the secret is not echoed");

  const wrongDomain = cli({ XMPP_DOMAIN: "elsewhere.localhost" });
  t.equal(await wrongDomain.exited, 78, "unknown component name: exit 78");
  t.match(wrongDomain.output(), /has no component named elsewhere\.localhost.*XMPP_DOMAIN/);

  const example = cli({ XMPP_SECRET: "change-me" });
  t.equal(await example.exited, 2, "example secret: refused before starting");
  t.match(example.output(), /XMPP_SECRET is the example value "change-me"/);
});
