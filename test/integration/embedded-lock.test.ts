// One process per embedded database directory: a second service or `db migrate` gets a clear error,
// and a holder killed with SIGKILL leaves nothing that blocks the next start.
import t from "tap";
import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { openDatabase } from "../../src/storage/database.js";
import { DataDirLockedError } from "../../src/storage/data-dir-lock.js";
import { REPO_ROOT } from "../harness/prosody.js";

function withoutDatabaseUrl(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const copy = { ...env };
  delete copy.DATABASE_URL;
  return copy;
}

function runCli(
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, ["--import", "tsx", "src/cli/main.ts", ...args], {
    cwd: REPO_ROOT,
    // The embedded database is the subject: a DATABASE_URL from the surroundings (CI) must not apply.
    env: { ...withoutDatabaseUrl(process.env), XMPP_SECRET: "lock-test-secret", LOG_LEVEL: "warn", ...env },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr.setEncoding("utf8").on("data", (s: string) => (stderr += s));
  return new Promise((resolve) => child.once("exit", (code) => resolve({ code, stderr })));
}

t.test("a second opener and `db migrate` are refused while the directory is in use", async (t) => {
  const dataDir = await mkdtemp(path.join(tmpdir(), "portability-lock-"));
  t.teardown(() => rm(dataDir, { recursive: true, force: true }));
  const first = await openDatabase({ dataDir });
  await t.rejects(openDatabase({ dataDir }), DataDirLockedError, "second opener in this process");

  const migrate = await runCli(["db", "migrate"], { DATA_DIR: dataDir });
  t.equal(migrate.code, 1, "db migrate exits non-zero");
  t.match(migrate.stderr, /embedded database in .* is in use by another running portability process/);

  await first.close();
  const again = await runCli(["db", "migrate"], { DATA_DIR: dataDir });
  t.equal(again.code, 0, `db migrate works once the holder closed (${again.stderr})`);
});

t.test("a holder killed with SIGKILL does not block the next start", async (t) => {
  const dataDir = await mkdtemp(path.join(tmpdir(), "portability-lock-"));
  t.teardown(() => rm(dataDir, { recursive: true, force: true }));
  const holder = spawn(
    process.execPath,
    [
      "--import",
      "tsx",
      "--input-type=module",
      "-e",
      `const { openDatabase } = await import(${JSON.stringify(path.join(REPO_ROOT, "src/storage/database.ts"))});
       await openDatabase({ dataDir: process.argv[1] }); process.stdout.write("open\\n");
       setInterval(() => {}, 1000);`,
      dataDir,
    ],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  await new Promise<void>((resolve, reject) => {
    holder.stdout.on("data", (b: Buffer) => b.toString().includes("open") && resolve());
    holder.once("exit", (c) => reject(new Error(`holder exited ${c}`)));
  });
  await t.rejects(openDatabase({ dataDir }), DataDirLockedError, "held by the live process");
  holder.kill("SIGKILL");
  await new Promise((r) => holder.once("exit", r));
  const reopened = await openDatabase({ dataDir });
  t.equal(reopened.kind, "pglite", "taken over after the holder died");
  await reopened.close();
});
