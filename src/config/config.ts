// Configuration from the environment, validated once at start. Pure: takes an env object, returns a
// frozen Config or throws one ConfigError naming every bad variable (never echoing secret values).
import path from "node:path";

export interface Config {
  /** Component endpoint, e.g. xmpp://127.0.0.1:5347. */
  xmppService: string;
  /** Component JID. */
  xmppDomain: string;
  xmppSecret: string;
  /** User domains served (local hosts whose users may use the commands). */
  xmppHosts: string[];
  /** Unset: embedded PGlite under dataDir. */
  databaseUrl: string | undefined;
  dataDir: string;
  httpListen: { host: string; port: number };
  httpPublicUrl: string;
  /** Bare JIDs allowed to run admin commands. */
  admins: string[];
  logLevel: string;
  /** How long download links stay valid. */
  archiveTtlHours: number;
  /** Ad-hoc session lifetime. */
  commandSessionTtlSeconds: number;
  /** Upload size limit for imports. */
  uploadLimitBytes: number;
  /** Hosts an import URL may name over plain http (https is always allowed). */
  importUrlHosts: string[];
  /**
   * Client endpoints for other servers (domain → xmpp://host:port, xmpps://host:port), instead of DNS SRV;
   * for moves. xmpp+insecure://loopback:port marks a trusted cleartext endpoint (tests, same machine).
   */
  clientServices: Record<string, string>;
  /** How long a move keeps the new account's session open for the contacts' answers. */
  moveWatchSeconds: number;
  /** Abuse limits (README "Security"). */
  limits: Limits;
  /** Largest stanza the component sends; must stay under Prosody's component_stanza_size_limit. */
  stanzaLimitBytes: number;
  /** SIGTERM/SIGINT: the process exits within this time (jobs are handed back to the queue). */
  shutdownSeconds: number;
  /** Jobs run at once (bulk exports keep at most this many exports in flight). */
  jobConcurrency: number;
  /** Postgres: a bulk export stops starting new exports once the database is this large. */
  databaseMaxMb: number;
  /** Embedded database: a bulk export stops once the data directory's disk has less free space. */
  minFreeDiskMb: number;
}

export interface Limits {
  /** Unused, unexpired upload links one user / one host may hold. */
  uploadLinksPerUser: number;
  uploadLinksPerHost: number;
  /** Bytes of staged import files (incl. transfers in progress) per user / per host. */
  stagedBytesPerUser: number;
  stagedBytesPerHost: number;
  /** How long a staged import file is kept. */
  importTtlHours: number;
  /** Queued or running jobs per user / per host. */
  jobsPerUser: number;
  jobsPerHost: number;
  /** Simultaneous transfers into staging (link fetches, attachments, uploads) per user. */
  transfersPerUser: number;
  /** Overall deadline for fetching an import link (headers and body). */
  fetchTimeoutMs: number;
  /** Archive reader: accounts per archive, contacts per account, groups per contact, chars per text run. */
  archiveMaxUsers: number;
  archiveMaxContacts: number;
  archiveMaxGroups: number;
  archiveMaxTextChars: number;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  - ${problems.join("\n  - ")}`);
    this.name = "ConfigError";
  }
}

/** The secret config.example.env and the README ship with. */
export const EXAMPLE_SECRET = "change-me";

const LOG_LEVELS = new Set(["fatal", "error", "warn", "info", "debug", "trace", "silent"]);
const JID_DOMAIN = /^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/i;
const BARE_JID = /^[^@/\s]+@[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/i;

type Env = Record<string, string | undefined>;

export function loadConfig(env: Env, cwd = process.cwd()): Config {
  const problems: string[] = [];
  const get = (name: string): string | undefined => {
    const v = env[name]?.trim();
    return v === "" ? undefined : v;
  };

  const xmppService = get("XMPP_SERVICE") ?? "xmpp://127.0.0.1:5347";
  if (!/^xmpp:\/\/[^/:]+(:\d+)?$/.test(xmppService)) {
    problems.push(`XMPP_SERVICE must look like xmpp://host:port (got "${xmppService}")`);
  }

  const xmppDomain = get("XMPP_DOMAIN") ?? "portability.localhost";
  if (!JID_DOMAIN.test(xmppDomain)) problems.push(`XMPP_DOMAIN must be a domain name (got "${xmppDomain}")`);

  const xmppSecret = get("XMPP_SECRET");
  if (!xmppSecret) problems.push("XMPP_SECRET is required (the component_secret from the Prosody config)");
  // The published example secret is a password anyone can read; it is only acceptable on a
  // development machine, and only when said so.
  if (xmppSecret === EXAMPLE_SECRET && get("NODE_ENV") !== "development") {
    problems.push(
      `XMPP_SECRET is the example value "${EXAMPLE_SECRET}": set your own component_secret (in Prosody's ` +
        "Component section and in .env), or run with NODE_ENV=development to accept it on a test setup",
    );
  }

  const hostsRaw = get("XMPP_HOSTS") ?? parentDomain(xmppDomain);
  const xmppHosts = splitList(hostsRaw);
  if (xmppHosts.length === 0) problems.push("XMPP_HOSTS must list at least one user domain");
  for (const h of xmppHosts)
    if (!JID_DOMAIN.test(h)) problems.push(`XMPP_HOSTS entry "${h}" is not a domain name`);

  const databaseUrl = get("DATABASE_URL");
  if (databaseUrl && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    problems.push("DATABASE_URL must be a postgres:// URL (unset it to use the embedded database)");
  }

  const dataDir = path.resolve(cwd, get("DATA_DIR") ?? "data");

  const listen = get("HTTP_LISTEN") ?? "127.0.0.1:8787";
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(listen);
  const port = m ? Number(m[3]) : NaN;
  if (!m || !(port >= 0 && port < 65536)) problems.push(`HTTP_LISTEN must be host:port (got "${listen}")`);
  const httpListen = { host: m?.[1] ?? m?.[2] ?? "127.0.0.1", port: Number.isFinite(port) ? port : 0 };

  const httpPublicUrl = (get("HTTP_PUBLIC_URL") ?? `http://${listen}`).replace(/\/+$/, "");
  if (!/^https?:\/\/[^/]+/.test(httpPublicUrl)) {
    problems.push(`HTTP_PUBLIC_URL must be an http(s) URL (got "${httpPublicUrl}")`);
  }

  const admins = splitList(get("ADMINS") ?? "");
  for (const a of admins) if (!BARE_JID.test(a)) problems.push(`ADMINS entry "${a}" is not a bare JID`);

  const logLevel = get("LOG_LEVEL") ?? "info";
  if (!LOG_LEVELS.has(logLevel)) problems.push(`LOG_LEVEL must be one of ${[...LOG_LEVELS].join(", ")}`);

  const archiveTtlHours = positiveNumber("ARCHIVE_TTL_HOURS", get("ARCHIVE_TTL_HOURS"), 24 * 7, problems);
  const commandSessionTtlSeconds = positiveNumber(
    "COMMAND_SESSION_TTL_SECONDS",
    get("COMMAND_SESSION_TTL_SECONDS"),
    600,
    problems,
  );
  const uploadLimitBytes =
    positiveNumber("UPLOAD_LIMIT_MB", get("UPLOAD_LIMIT_MB"), 500, problems) * 1024 * 1024;

  const importUrlHosts = splitList(get("IMPORT_URL_HOSTS") ?? "");
  const clientServices: Record<string, string> = {};
  for (const entry of splitList(get("XMPP_CLIENT_SERVICES") ?? "")) {
    const [domain, service] = entry.split("=");
    const m = service ? /^(xmpps?|xmpp\+insecure):\/\/(\[[^\]]+\]|[^/:]+)(:\d+)?$/.exec(service) : null;
    if (!domain || !service || !m) {
      problems.push(`XMPP_CLIENT_SERVICES entry "${entry}" must look like domain=xmpp://host:port`);
    } else if (m[1] === "xmpp+insecure" && !isLoopbackName(m[2] ?? "")) {
      // Cleartext logins send the user's password unencrypted: only to this very machine.
      problems.push(
        `XMPP_CLIENT_SERVICES entry "${entry}": xmpp+insecure:// is allowed only for loopback addresses`,
      );
    } else {
      clientServices[domain] = service;
    }
  }

  const moveWatchSeconds = positiveNumber("MOVE_WATCH_SECONDS", get("MOVE_WATCH_SECONDS"), 20, problems);
  // Half of Prosody's default component_stanza_size_limit (512 KiB) leaves room for what Prosody adds.
  const stanzaLimitBytes = positiveNumber("STANZA_LIMIT_KB", get("STANZA_LIMIT_KB"), 256, problems) * 1024;
  if (stanzaLimitBytes < 16 * 1024) problems.push("STANZA_LIMIT_KB must be at least 16");
  const shutdownSeconds = positiveNumber(
    "SHUTDOWN_TIMEOUT_SECONDS",
    get("SHUTDOWN_TIMEOUT_SECONDS"),
    10,
    problems,
  );

  const num = (name: string, dflt: number): number => positiveNumber(name, get(name), dflt, problems);
  const MiB = 1024 * 1024;
  const limits: Limits = Object.freeze({
    uploadLinksPerUser: num("UPLOAD_LINKS_PER_USER", 5),
    uploadLinksPerHost: num("UPLOAD_LINKS_PER_HOST", 500),
    stagedBytesPerUser: num("STAGED_MB_PER_USER", 1024) * MiB,
    stagedBytesPerHost: num("STAGED_MB_PER_HOST", 20 * 1024) * MiB,
    importTtlHours: num("IMPORT_TTL_HOURS", 24),
    jobsPerUser: num("JOBS_PER_USER", 3),
    jobsPerHost: num("JOBS_PER_HOST", 100),
    transfersPerUser: num("TRANSFERS_PER_USER", 2),
    fetchTimeoutMs: num("IMPORT_FETCH_TIMEOUT_SECONDS", 120) * 1000,
    archiveMaxUsers: num("ARCHIVE_MAX_USERS", 100),
    archiveMaxContacts: num("ARCHIVE_MAX_CONTACTS", 5000),
    archiveMaxGroups: num("ARCHIVE_MAX_GROUPS_PER_CONTACT", 100),
    archiveMaxTextChars: num("ARCHIVE_MAX_TEXT_KB", 2048) * 1024,
  });

  const jobConcurrency = positiveNumber("JOB_CONCURRENCY", get("JOB_CONCURRENCY"), 4, problems);
  const databaseMaxMb = positiveNumber("DATABASE_MAX_MB", get("DATABASE_MAX_MB"), 20_480, problems);
  const minFreeDiskMb = positiveNumber("MIN_FREE_DISK_MB", get("MIN_FREE_DISK_MB"), 1024, problems);

  if (problems.length > 0) throw new ConfigError(problems);
  return Object.freeze({
    xmppService,
    xmppDomain,
    xmppSecret: xmppSecret ?? "",
    xmppHosts,
    databaseUrl,
    dataDir,
    httpListen,
    httpPublicUrl,
    admins: admins.map((a) => a.toLowerCase()),
    logLevel,
    archiveTtlHours,
    commandSessionTtlSeconds,
    uploadLimitBytes,
    importUrlHosts,
    clientServices,
    moveWatchSeconds,
    limits,
    stanzaLimitBytes,
    shutdownSeconds,
    jobConcurrency: Math.floor(jobConcurrency),
    databaseMaxMb,
    minFreeDiskMb,
  });
}

function splitList(s: string): string[] {
  return s
    .split(",")
    .map((x) => x.trim().toLowerCase())
    .filter((x) => x.length > 0);
}

function isLoopbackName(host: string): boolean {
  return host === "localhost" || host === "[::1]" || /^127\.\d+\.\d+\.\d+$/.test(host);
}

function parentDomain(domain: string): string {
  const i = domain.indexOf(".");
  return i > 0 ? domain.slice(i + 1) : domain;
}

function positiveNumber(name: string, raw: string | undefined, dflt: number, problems: string[]): number {
  if (raw === undefined) return dflt;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) {
    problems.push(`${name} must be a positive number (got "${raw}")`);
    return dflt;
  }
  return n;
}

/** For logs: the config without secrets. */
export function describeConfig(c: Config): Record<string, unknown> {
  return {
    xmppService: c.xmppService,
    xmppDomain: c.xmppDomain,
    xmppHosts: c.xmppHosts,
    database: c.databaseUrl ? "postgres" : `pglite:${c.dataDir}`,
    httpListen: `${c.httpListen.host}:${c.httpListen.port}`,
    httpPublicUrl: c.httpPublicUrl,
    admins: c.admins,
    limits: c.limits,
  };
}
