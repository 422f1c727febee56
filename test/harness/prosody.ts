// A throwaway Prosody per test file: own dir, free loopback ports, killed by PID.
// Which Prosody: PROSODY_BIN_DIR (a folder with prosody, prosodyctl and prosody-migrator; default /usr/bin,
// Debian's 0.12). `.ci/prosody13.sh -- CMD` runs CMD against Prosody 13 unpacked beside it (docs/prosody-13.md).
// Why each setting: docs/server-facts.md, "Test harness".
import { spawn, execFile, type ChildProcess } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { mkdtemp, mkdir, writeFile, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { fileURLToPath } from "node:url";
import { freePort, portAccepts } from "./ports.js";

const execFileP = promisify(execFile);

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
export const COMPANION_DIR = path.join(REPO_ROOT, "prosody-module");

export const PROSODY_BIN_DIR = process.env.PROSODY_BIN_DIR || "/usr/bin";
export const PROSODY_BIN = path.join(PROSODY_BIN_DIR, "prosody");
export const PROSODYCTL_BIN = path.join(PROSODY_BIN_DIR, "prosodyctl");
export const PROSODY_MIGRATOR_BIN =
  process.env.PROSODY_MIGRATOR || path.join(PROSODY_BIN_DIR, "prosody-migrator");

/** Version of the Prosody under test, read from the source tree its launcher points at (e.g. "0.12.3"). */
export function prosodyVersion(): string {
  const launcher = readFileSync(PROSODY_BIN, "utf8");
  const sourceDir = /^CFG_SOURCEDIR='([^']+)'/m.exec(launcher)?.[1] ?? "/usr/lib/prosody";
  return readFileSync(path.join(sourceDir, "prosody.version"), "utf8").trim();
}

/** Major version as a number: 0.12 → 0.12, 13.0.1 → 13. */
export function prosodyMajor(): number {
  const [a = "0", b = "0"] = prosodyVersion().split(".");
  return a === "0" ? Number(`0.${b}`) : Number(a);
}

export const FULL_PRIVILEGES = `{
  roster = "both";
  message = "outgoing";
  presence = "managed_entity";
  iq = {
    ["http://jabber.org/protocol/pubsub"] = "both";
    ["http://jabber.org/protocol/pubsub#owner"] = "both";
    ["urn:xmpp:mam:2"] = "both";
    ["vcard-temp"] = "both";
    ["jabber:iq:private"] = "both";
    ["urn:xmpp:blocking"] = "both";
    ["http://jabber.org/protocol/disco#items"] = "get";
    ["http://jabber.org/protocol/disco#info"] = "get";
  };
}`;

/** Global config lines keeping only the message archive in SQLite (relative to the data directory). */
export const SQL_ARCHIVE_STORE = `storage = { archive = "sql" }\nsql = { driver = "SQLite3", database = "archive.sqlite" }`;

export interface ProsodyOptions {
  /** Component JID. */
  component?: string;
  secret?: string;
  /** VirtualHosts granting privileges to the component (first is the component's parent domain). */
  hosts?: string[];
  /** VirtualHosts that grant nothing. */
  unprivilegedHosts?: string[];
  /** Lua table text for privileged_entities values. */
  privileges?: string;
  /** Load this repo's companion module (prosody-module/) for the component. */
  companion?: boolean;
  /** Extra Lua appended to the global section (before VirtualHosts). */
  extraGlobal?: string;
  /** Extra global modules. */
  extraModules?: string[];
  /** Default global modules to leave out (e.g. "mam", "private"), to mimic servers that lack them. */
  withoutModules?: string[];
  /**
   * A whole config of the caller's own instead of the generated one (e.g. a Snikket-shaped one). It must
   * use `at.dir` for data and logs as the generated one does, and listen on `at.c2sPort` and
   * `at.componentPort` on 127.0.0.1.
   */
  config?: (at: RenderInput) => string | Promise<string>;
  /** Extra environment for prosody and prosodyctl (read by the config as ENV_*). */
  env?: Record<string, string>;
  /**
   * "sql": every store in SQLite (lua-dbi-sqlite3) except accounts, which stay in files so that
   * benchmarks can clone them. Default "internal".
   */
  storage?: "internal" | "sql";
  /** With storage "sql": the Lua `sql = { … }` line to use instead of a SQLite file (e.g. PostgreSQL). */
  sql?: string;
  /** Extra Lua lines in one VirtualHost's section, by host. */
  hostOptions?: Record<string, string>;
  /**
   * Lowest level written to prosody.log. Default "debug" (tests read it); benchmarks use "info", as in
   * production: debug logging costs Prosody CPU per stanza.
   */
  logLevel?: "debug" | "info";
  /**
   * The companion's archive page budget (account_portability_page_ms). Tests default to 1000 so that a
   * page's size does not depend on how busy the machine is; benchmarks pass the module's default, 5.
   */
  companionPageMs?: number;
  /** More module folders for plugin_paths (benchmarks load their own modules from bench/prosody). */
  pluginPaths?: string[];
}

export interface Prosody {
  dir: string;
  configPath: string;
  c2sPort: number;
  componentPort: number;
  component: string;
  secret: string;
  hosts: string[];
  componentService: string;
  register(user: string, host: string, password: string): Promise<void>;
  /** prosodyctl shell command through the admin socket (server must run). */
  shell(command: string): Promise<string>;
  start(): Promise<void>;
  stop(): Promise<void>;
  restart(): Promise<void>;
  log(): Promise<string>;
  /** Removes the dir after stopping. */
  cleanup(): Promise<void>;
}

export interface RenderInput {
  dir: string;
  c2sPort: number;
  componentPort: number;
}

// Plain values only: Lua globals such as tonumber() and error() are deprecated in Prosody 13's config, and
// their warning aborts the config loader when the config path is long (docs/prosody-13.md).
function renderConfig(
  o: Required<
    Omit<
      ProsodyOptions,
      | "extraGlobal"
      | "extraModules"
      | "withoutModules"
      | "config"
      | "env"
      | "storage"
      | "sql"
      | "hostOptions"
      | "logLevel"
      | "companionPageMs"
      | "pluginPaths"
    >
  > &
    ProsodyOptions,
  at: RenderInput,
): string {
  const mods = [
    "roster",
    "saslauth",
    "disco",
    "ping",
    "time",
    "version",
    "private",
    "vcard4",
    "vcard_legacy",
    "pep",
    "bookmarks",
    "blocklist",
    "carbons",
    "mam",
    "offline",
    "admin_shell",
    "posix",
    "privilege",
    ...(o.companion ? ["account_portability"] : []),
    ...(o.extraModules ?? []),
  ].filter((m) => !(o.withoutModules ?? []).includes(m));
  const hostBlocks = o.hosts
    .map(
      (h) =>
        `VirtualHost "${h}"\n  privileged_entities = { ["${o.component}"] = portability_privileges }\n` +
        (o.hostOptions?.[h] ? `  ${o.hostOptions[h]}\n` : ""),
    )
    .join("\n");
  const noPerm = o.unprivilegedHosts.map((h) => `VirtualHost "${h}"\n`).join("\n");
  return `-- generated by test/harness/prosody.ts
local dir = ${luaString(at.dir)}
run_as_root = true
pidfile = dir .. "/prosody.pid"
data_path = dir .. "/data"
certificates = dir .. "/certs"
plugin_paths = { ${[...(o.companion ? [COMPANION_DIR] : []), ...(o.pluginPaths ?? [])].map(luaString).join(", ")} }
log = {
  { levels = { min = "${o.logLevel ?? "debug"}" }, to = "file", filename = dir .. "/prosody.log" };
  { levels = { min = "error" }, to = "file", filename = dir .. "/prosody.err" };
}
interfaces = { "127.0.0.1" }
c2s_ports = { ${at.c2sPort} }
c2s_direct_tls_ports = { }
legacy_ssl_ports = { }
s2s_ports = { }
component_ports = { ${at.componentPort} }
component_interfaces = { "127.0.0.1" }
http_ports = { }
https_ports = { }
c2s_require_encryption = false
allow_unencrypted_plain_auth = true
authentication = "internal_hashed"
${
  o.storage === "sql"
    ? `default_storage = "sql"\nstorage = { accounts = "internal" }\n${o.sql ?? `sql = { driver = "SQLite3", database = dir .. "/prosody.sqlite" }`}`
    : `storage = "internal"`
}
archive_expires_after = "never"
default_archive_policy = true
max_archive_query_results = 100
modules_enabled = ${luaList(mods)}
modules_disabled = { "s2s"; "tls" }
${o.companion ? `account_portability_component = "${o.component}"\naccount_portability_page_ms = ${o.companionPageMs ?? 1000}` : ""}
${o.extraGlobal ?? ""}

local portability_privileges = ${o.privileges}

${hostBlocks}
${noPerm}
Component "${o.component}"
  component_secret = ENV_COMPONENT_SECRET
  modules_enabled = { "privilege" }
`;
}

function luaList(items: string[]): string {
  return `{ ${items.map(luaString).join("; ")} }`;
}

/** A Lua string literal (long-bracket form, so no escaping rules to get wrong). */
export function luaString(text: string): string {
  let eq = "";
  while (text.includes(`]${eq}]`)) eq += "=";
  return `[${eq}[${text}]${eq}]`;
}

export async function startProsody(options: ProsodyOptions = {}): Promise<Prosody> {
  const opts = {
    component: options.component ?? "portability.localhost",
    secret: options.secret ?? "test-secret",
    hosts: options.hosts ?? ["localhost", "example.test"],
    unprivilegedHosts: options.unprivilegedHosts ?? ["noperm.test"],
    privileges: options.privileges ?? FULL_PRIVILEGES,
    companion: options.companion ?? false,
    extraGlobal: options.extraGlobal,
    extraModules: options.extraModules,
    withoutModules: options.withoutModules,
    storage: options.storage,
    sql: options.sql,
    hostOptions: options.hostOptions,
    logLevel: options.logLevel,
    companionPageMs: options.companionPageMs,
    pluginPaths: options.pluginPaths,
  };
  const dir = await mkdtemp(path.join(tmpdir(), "portability-prosody-"));
  await mkdir(path.join(dir, "data"), { recursive: true });
  await mkdir(path.join(dir, "certs"), { recursive: true });
  const configPath = path.join(dir, "prosody.cfg.lua");
  const c2sPort = await freePort();
  let componentPort = await freePort();
  while (componentPort === c2sPort) componentPort = await freePort();
  const at = { dir, c2sPort, componentPort };
  await writeFile(configPath, options.config ? await options.config(at) : renderConfig(opts, at));
  const env = {
    ...process.env,
    ...options.env,
    PROSODY_DIR: dir,
    C2S_PORT: String(c2sPort),
    COMPONENT_PORT: String(componentPort),
    COMPONENT_SECRET: opts.secret,
  };

  let child: ChildProcess | null = null;
  let exited: Promise<void> = Promise.resolve();

  const start = async (): Promise<void> => {
    const out = path.join(dir, "stdout.log");
    const { openSync } = await import("node:fs");
    const fd = openSync(out, "a");
    const proc = spawn(PROSODY_BIN, ["-F", "--config", configPath], { env, stdio: ["ignore", fd, fd] });
    child = proc;
    let dead = false;
    exited = new Promise((resolve) => proc.once("exit", () => ((dead = true), resolve())));
    const deadline = Date.now() + 15_000;
    while (!(await portAccepts(c2sPort)) || !(await portAccepts(componentPort))) {
      if (dead || Date.now() > deadline) {
        const text = await readFile(out, "utf8").catch(() => "");
        throw new Error(
          `prosody did not start (${dead ? "exited" : "timeout"}):\n${text}\n${await readLog(dir)}`,
        );
      }
      await sleep(50);
    }
    // Signal handlers are installed on the first loop tick; a signal before that skips cleanup.
    await sleep(100);
  };

  const stop = async (): Promise<void> => {
    const proc = child;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    proc.kill("SIGTERM");
    const timer = setTimeout(() => proc.kill("SIGKILL"), 5000);
    await exited;
    clearTimeout(timer);
    child = null;
  };

  await start();

  return {
    dir,
    configPath,
    c2sPort,
    componentPort,
    component: opts.component,
    secret: opts.secret,
    hosts: opts.hosts,
    componentService: `xmpp://127.0.0.1:${componentPort}`,
    async register(user, host, password) {
      await execFileP(PROSODYCTL_BIN, ["--config", configPath, "register", user, host, password], { env });
    },
    async shell(command) {
      // mod_admin_socket may open its socket after the ports accept (sooner or later with more modules).
      const socket = path.join(dir, "data", "prosody.sock");
      for (const deadline = Date.now() + 10_000; !existsSync(socket) && Date.now() < deadline;)
        await sleep(50);
      const { stdout } = await execFileP(PROSODYCTL_BIN, ["--config", configPath, "shell", command], { env });
      return stdout;
    },
    start,
    stop,
    async restart() {
      await stop();
      await start();
    },
    log: () => readLog(dir),
    async cleanup() {
      await stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

async function readLog(dir: string): Promise<string> {
  return readFile(path.join(dir, "prosody.log"), "utf8").catch(() => "");
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
