import t from "tap";
import { startProsody, sleep } from "../harness/prosody.js";
import { startTestApp } from "../harness/app.js";
import { until } from "../harness/wait.js";

t.test("the component may start before Prosody: it connects once Prosody is up", async (t) => {
  const prosody = await startProsody();
  t.teardown(() => prosody.cleanup());
  await prosody.stop();
  const app = await startTestApp(prosody, {}, { waitOnline: false, database: "pglite" });
  t.teardown(() => app.stop());
  t.equal(app.link.online, false);
  await sleep(300);
  await prosody.start();
  await until(() => app.link.online, Boolean, { timeoutMs: 10_000, what: "the link to come online" });
  t.ok(app.link.online, "online after Prosody came up");
  t.ok(await app.privileges.waitFor("localhost", 3000), "privileges advertised on that connection");
});
