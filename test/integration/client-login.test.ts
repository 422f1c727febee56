// Attack: a server (or anyone on the path stripping STARTTLS) that offers PLAIN over plain TCP. The
// move commands must never send the password there; nor to a STARTTLS server whose certificate does not
// validate. Trusted cleartext is only possible for loopback endpoints the operator marked xmpp+insecure.
import t from "tap";
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { startProsody } from "../harness/prosody.js";
import { connectClient } from "../harness/clients.js";
import { startTestApp } from "../harness/app.js";
import { runCommand, notes } from "../harness/commands.js";
import { startFakeXmppServer } from "../harness/fake-xmpp-server.js";
import { LoginFailure, loginAsClient } from "../../src/xmpp/client-login.js";

const COMPONENT = "portability.localhost";
const PASSWORD = "Tr0ub4dor-never-in-clear";
const PLAIN_B64 = Buffer.from(`\0alice\0${PASSWORD}`).toString("base64");

function leaked(received: string): boolean {
  return received.includes(PASSWORD) || received.includes(PLAIN_B64) || /<auth[\s>]/.test(received);
}

t.test("move-away against a server offering PLAIN without STARTTLS: refused, no password sent", async (t) => {
  t.setTimeout(120_000);
  const fake = await startFakeXmppServer({ domain: "remote.test" });
  t.teardown(() => fake.close());
  const prosody = await startProsody({ companion: true });
  t.teardown(() => prosody.cleanup());
  await prosody.register("alice", "localhost", "pw");
  const app = await startTestApp(prosody, {
    // Not marked xmpp+insecure: this is what DNS would give an attacker-controlled endpoint.
    XMPP_CLIENT_SERVICES: `remote.test=xmpp://127.0.0.1:${fake.port}`,
  });
  t.teardown(() => app.stop());
  const alice = await connectClient(prosody, "alice", "localhost", "pw");
  t.teardown(() => alice.stop());

  const done = await runCommand(alice, COMPONENT, "move-away", {
    "new-jid": "alice@remote.test",
    password: PASSWORD,
  });
  t.match(notes(done), /Moving to alice@remote\.test/);
  const failed = await alice.waitFor(
    (m) => m.attrs.from === COMPONENT && /The move failed/.test(m.getChildText("body") ?? ""),
    60_000,
  );
  t.match(failed.getChildText("body"), /did not offer an encrypted connection .*password was not sent/);
  t.match(fake.received(), /<stream:stream/, "the component did connect");
  t.notOk(leaked(fake.received()), "no authentication attempt, no password");
});

t.test("STARTTLS with a certificate that does not validate: no password sent", async (t) => {
  t.setTimeout(60_000);
  const dir = await mkdtemp(path.join(tmpdir(), "portability-cert-"));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await promisify(execFile)("openssl", [
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-days",
    "1",
    "-subj",
    "/CN=remote.test",
    "-keyout",
    path.join(dir, "key.pem"),
    "-out",
    path.join(dir, "cert.pem"),
  ]);
  const fake = await startFakeXmppServer({
    domain: "remote.test",
    starttls: {
      key: await readFile(path.join(dir, "key.pem"), "utf8"),
      cert: await readFile(path.join(dir, "cert.pem"), "utf8"),
    },
  });
  t.teardown(() => fake.close());
  const err = await loginAsClient(`xmpp://127.0.0.1:${fake.port}`, "alice@remote.test", PASSWORD).then(
    () => null,
    (e: unknown) => e,
  );
  t.type(err, LoginFailure);
  t.match(fake.received(), /<starttls/, "STARTTLS was attempted");
  t.notOk(leaked(fake.received()), "the self-signed certificate stopped the login");
  t.notMatch(String(err), new RegExp(PASSWORD));
});

t.test("STARTTLS with a certificate the client trusts: the login goes ahead inside TLS", async (t) => {
  t.setTimeout(60_000);
  const dir = await mkdtemp(path.join(tmpdir(), "portability-ca-"));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const f = (n: string) => path.join(dir, n);
  const run = promisify(execFile);
  await run(
    "openssl",
    ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=Test CA"].concat([
      "-keyout",
      f("ca.key"),
      "-out",
      f("ca.pem"),
    ]),
  );
  await run(
    "openssl",
    ["req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=remote.test"].concat([
      "-keyout",
      f("key.pem"),
      "-out",
      f("req.csr"),
    ]),
  );
  await writeFile(f("ext.cnf"), "subjectAltName=DNS:remote.test\n");
  await run(
    "openssl",
    ["x509", "-req", "-in", f("req.csr"), "-CA", f("ca.pem"), "-CAkey", f("ca.key")].concat([
      "-CAcreateserial",
      "-days",
      "1",
      "-extfile",
      f("ext.cnf"),
      "-out",
      f("cert.pem"),
    ]),
  );
  const fake = await startFakeXmppServer({
    domain: "remote.test",
    starttls: { key: await readFile(f("key.pem"), "utf8"), cert: await readFile(f("cert.pem"), "utf8") },
  });
  t.teardown(() => fake.close());
  const fixture = new URL("../fixtures/login-once.ts", import.meta.url).pathname;
  const { stdout } = await run(
    process.execPath,
    ["--import", "tsx", fixture, `xmpp://127.0.0.1:${fake.port}`, "alice@remote.test", PASSWORD],
    { env: { ...process.env, NODE_EXTRA_CA_CERTS: f("ca.pem") } },
  );
  t.match(stdout, /check the address and password/, "the fake server refused the credentials");
  t.match(fake.received(), /<starttls/);
  t.match(fake.received(), /<auth [^>]*mechanism=.SCRAM-SHA-1/, "SCRAM preferred, sent only after TLS");
  t.notOk(fake.received().includes(PLAIN_B64), "no PLAIN when SCRAM is offered");
});

t.test("cleartext login only where the operator marked a loopback endpoint insecure", async (t) => {
  t.setTimeout(60_000);
  const fake = await startFakeXmppServer({ domain: "remote.test" });
  t.teardown(() => fake.close());
  await loginAsClient(`xmpp+insecure://127.0.0.1:${fake.port}`, "alice@remote.test", PASSWORD).catch(
    () => undefined,
  );
  t.match(fake.received(), /<auth /, "the trusted endpoint does get a login attempt (the control)");
});
