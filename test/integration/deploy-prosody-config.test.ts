// deploy/prosody/prosody.cfg.lua (what docker-compose.yml's Prosody runs) is a working config:
// `prosodyctl check config` accepts it, and a real Prosody started from it (paths and ports moved to
// a temporary directory and loopback, nothing else changed) lets the component in with the secret
// from the environment, grants the privileges and loads the companion module.
import t from "tap";
import { execFile, spawn } from "node:child_process";
import { mkdtemp, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { openSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { COMPANION_DIR, REPO_ROOT, sleep } from "../harness/prosody.js";
import { freePort, portAccepts } from "../harness/ports.js";
import { createComponentLink } from "../../src/xmpp/component-link.js";
import { createPrivilegeRegistry } from "../../src/privilege/registry.js";
import { createCompanionClient } from "../../src/account/companion.js";
import { createLogger } from "../../src/log/logger.js";

const execFileP = promisify(execFile);

t.test("the compose Prosody config loads and serves the component", async (t) => {
  const original = await readFile(path.join(REPO_ROOT, "deploy/prosody/prosody.cfg.lua"), "utf8");
  const dir = await mkdtemp(path.join(tmpdir(), "portability-deploycfg-"));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await mkdir(path.join(dir, "data"));
  const c2s = await freePort();
  let comp = await freePort();
  while (comp === c2s) comp = await freePort();
  const replace = (s: string, from: string, to: string): string => {
    if (!s.includes(from)) throw new Error(`deploy config no longer contains ${from}`);
    return s.split(from).join(to);
  };
  let cfg = original;
  cfg = replace(cfg, `"/var/run/prosody/prosody.pid"`, JSON.stringify(path.join(dir, "prosody.pid")));
  cfg = replace(cfg, `"/var/lib/prosody"`, JSON.stringify(path.join(dir, "data")));
  cfg = replace(cfg, `"/opt/portability/prosody-module"`, JSON.stringify(COMPANION_DIR));
  cfg = replace(cfg, `{ "*" }`, `{ "127.0.0.1" }`);
  cfg = replace(cfg, `{ 5222 }`, `{ ${c2s} }`);
  cfg = replace(cfg, `{ 5347 }`, `{ ${comp} }`);
  if (process.getuid?.() === 0) cfg = `run_as_root = true\n${cfg}`;
  const configPath = path.join(dir, "prosody.cfg.lua");
  await writeFile(configPath, cfg);
  const env = { ...process.env, XMPP_SECRET: "compose-secret" };

  const check = await execFileP("prosodyctl", ["--config", configPath, "check", "config"], { env }).then(
    (r) => ({ code: 0, out: r.stdout + r.stderr }),
    (err: { code?: number; stdout?: string; stderr?: string }) => ({
      code: err.code ?? 1,
      out: `${err.stdout ?? ""}${err.stderr ?? ""}`,
    }),
  );
  t.equal(check.code, 0, check.code === 0 ? "prosodyctl check config passes" : check.out);

  const logPath = path.join(dir, "stdout.log");
  const fd = openSync(logPath, "a");
  const prosody = spawn("prosody", ["-F", "--config", configPath], { env, stdio: ["ignore", fd, fd] });
  const exited = new Promise((r) => prosody.once("exit", r));
  t.teardown(async () => {
    prosody.kill("SIGTERM");
    await exited;
  });
  const deadline = Date.now() + 20_000;
  while (!(await portAccepts(c2s)) || !(await portAccepts(comp))) {
    if (prosody.exitCode !== null || Date.now() > deadline)
      throw new Error(`prosody did not start:\n${await readFile(logPath, "utf8")}`);
    await sleep(50);
  }
  await sleep(100);

  const link = createComponentLink({
    service: `xmpp://127.0.0.1:${comp}`,
    domain: "portability.localhost",
    secret: "compose-secret",
    log: createLogger(process.env.TEST_LOG_LEVEL ?? "silent"),
  });
  const privileges = createPrivilegeRegistry(link);
  const companion = createCompanionClient(link);
  t.teardown(async () => {
    privileges.dispose();
    await link.stop();
  });
  await link.start();
  t.ok(link.online, "component accepted with the secret from the environment");
  const granted = await privileges.waitFor("localhost", 10_000);
  t.equal(granted?.roster, "both", "mod_privilege grants the roster");
  t.equal(granted?.iq.get("urn:xmpp:mam:2"), "both", "and the IQ namespaces");
  t.ok(await companion.probe("localhost"), "the companion module answers");
});
