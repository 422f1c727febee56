import t from "tap";
import { Writable } from "node:stream";
import { createLogger } from "../../../src/log/logger.js";

t.test("secrets never reach a log line", async (t) => {
  let out = "";
  const sink = new Writable({
    write(c: Buffer, _e, cb) {
      out += c.toString();
      cb();
    },
  });
  const log = createLogger("info", sink);
  log.info(
    { config: { xmppSecret: "s3cr3t-component", databaseUrl: "postgres://u:pw0rd@h/db" } },
    "starting",
  );
  log.info(
    { password: "hunter2", account: { password: "remote-pass" }, move: { passphrase: "correct horse" } },
    "move",
  );
  log.info({ secret: "x-secret-x" }, "plain");
  await new Promise((r) => setImmediate(r));
  for (const s of ["s3cr3t-component", "pw0rd", "hunter2", "remote-pass", "correct horse", "x-secret-x"]) {
    t.notMatch(out, s, `${s} redacted`);
  }
  t.match(out, /\[redacted\]/);
  t.match(out, /"msg":"move"/);
});
