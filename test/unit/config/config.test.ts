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
