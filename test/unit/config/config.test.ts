import t from "tap";
import { loadConfig, ConfigError, describeConfig } from "../../../src/config/config.js";

t.test("defaults for a local setup; only the secret is required", async (t) => {
  const c = loadConfig({ XMPP_SECRET: "s3cret" }, "/srv");
  t.equal(c.xmppService, "xmpp://127.0.0.1:5347");
  t.equal(c.xmppDomain, "portability.localhost");
  t.same(c.xmppHosts, ["localhost"], "parent domain of the component");
  t.equal(c.databaseUrl, undefined, "embedded database");
  t.equal(c.dataDir, "/srv/data");
  t.same(c.httpListen, { host: "127.0.0.1", port: 8787 });
  t.equal(c.archiveTtlHours, 168);
  t.ok(Object.isFrozen(c));
});

t.test("lists every bad variable at once, without echoing the secret", async (t) => {
  try {
    loadConfig({
      XMPP_SERVICE: "http://x",
      XMPP_HOSTS: "good.example, bad host",
      DATABASE_URL: "mysql://u:hunter2@x/db",
      HTTP_LISTEN: "nope",
      ADMINS: "notajid",
      LOG_LEVEL: "loud",
      ARCHIVE_TTL_HOURS: "-1",
    });
    t.fail("should throw");
  } catch (err) {
    t.ok(err instanceof ConfigError);
    const msg = (err as Error).message;
    for (const v of [
      "XMPP_SERVICE",
      "XMPP_SECRET",
      "XMPP_HOSTS",
      "DATABASE_URL",
      "HTTP_LISTEN",
      "ADMINS",
      "LOG_LEVEL",
      "ARCHIVE_TTL_HOURS",
    ]) {
      t.match(msg, v, `names ${v}`);
    }
    t.notMatch(msg, /hunter2/, "database password not echoed");
  }
});

t.test("parses lists, IPv6 listen, trims public URL; description hides secrets", async (t) => {
  const c = loadConfig({
    XMPP_SECRET: "topsecret",
    XMPP_HOSTS: "A.example,b.example",
    ADMINS: "Root@A.example",
    HTTP_LISTEN: "[::1]:9000",
    HTTP_PUBLIC_URL: "https://dl.example/",
    DATABASE_URL: "postgres://u:pw@127.0.0.1/db",
  });
  t.same(c.xmppHosts, ["a.example", "b.example"]);
  t.same(c.admins, ["root@a.example"]);
  t.same(c.httpListen, { host: "::1", port: 9000 });
  t.equal(c.httpPublicUrl, "https://dl.example");
  const d = JSON.stringify(describeConfig(c));
  t.notMatch(d, /topsecret|pw@/);
});

t.test("xmpp+insecure:// client endpoints are accepted for loopback only", async (t) => {
  const ok = loadConfig({
    XMPP_SECRET: "s",
    XMPP_CLIENT_SERVICES: "a.test=xmpp+insecure://127.0.0.1:5222,b.test=xmpps://b.test:5223",
  });
  t.same(ok.clientServices, { "a.test": "xmpp+insecure://127.0.0.1:5222", "b.test": "xmpps://b.test:5223" });
  t.throws(
    () => loadConfig({ XMPP_SECRET: "s", XMPP_CLIENT_SERVICES: "a.test=xmpp+insecure://10.0.0.5:5222" }),
    /xmpp\+insecure:\/\/ is allowed only for loopback/,
  );
});

t.test("abuse limits: defaults, overrides, bad values named", async (t) => {
  const d = loadConfig({ XMPP_SECRET: "s" }).limits;
  t.equal(d.uploadLinksPerUser, 5);
  t.equal(d.transfersPerUser, 2);
  t.equal(d.fetchTimeoutMs, 120_000);
  t.equal(d.archiveMaxTextChars, 2048 * 1024);
  const o = loadConfig({
    XMPP_SECRET: "s",
    STAGED_MB_PER_USER: "10",
    IMPORT_FETCH_TIMEOUT_SECONDS: "5",
  }).limits;
  t.equal(o.stagedBytesPerUser, 10 * 1024 * 1024);
  t.equal(o.fetchTimeoutMs, 5000);
  t.throws(
    () => loadConfig({ XMPP_SECRET: "s", JOBS_PER_USER: "0", ARCHIVE_MAX_CONTACTS: "many" }),
    /JOBS_PER_USER must be a positive number[\s\S]*ARCHIVE_MAX_CONTACTS must be a positive number/,
  );
});

t.test("the example secret is refused unless NODE_ENV=development says this is a test setup", async (t) => {
  t.throws(() => loadConfig({ XMPP_SECRET: "change-me" }), {
    name: "ConfigError",
    message: /XMPP_SECRET is the example value "change-me".*NODE_ENV=development/s,
  });
  t.throws(() => loadConfig({ XMPP_SECRET: "change-me", NODE_ENV: "production" }), { name: "ConfigError" });
  t.equal(loadConfig({ XMPP_SECRET: "change-me", NODE_ENV: "development" }).xmppSecret, "change-me");
  t.equal(loadConfig({ XMPP_SECRET: "something-else" }).xmppSecret, "something-else");
});

t.test("stanza limit and shutdown deadline: defaults, overrides, refusals", async (t) => {
  const c = loadConfig({ XMPP_SECRET: "s" });
  t.equal(c.stanzaLimitBytes, 256 * 1024, "half of Prosody's default component limit");
  t.equal(c.shutdownSeconds, 10);
  const d = loadConfig({ XMPP_SECRET: "s", STANZA_LIMIT_KB: "100", SHUTDOWN_TIMEOUT_SECONDS: "5" });
  t.equal(d.stanzaLimitBytes, 100 * 1024);
  t.equal(d.shutdownSeconds, 5);
  t.throws(
    () => loadConfig({ XMPP_SECRET: "s", STANZA_LIMIT_KB: "4" }),
    /STANZA_LIMIT_KB must be at least 16/,
  );
  t.throws(() => loadConfig({ XMPP_SECRET: "s", SHUTDOWN_TIMEOUT_SECONDS: "0" }), /SHUTDOWN_TIMEOUT_SECONDS/);
});
