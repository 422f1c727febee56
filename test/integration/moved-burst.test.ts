// Issue 15, attack 12: the moved rate limit was charged only after the asynchronous checks, so 2,000
// forged notices arriving in a burst started 160 verifications. Now each notice is charged on arrival
// (refunded when it turns out genuine): the (sender domain, local user) bucket allows 20 statement
// fetches, plus its refill (20 a minute) while the burst lasts.
import t from "tap";
import xml from "@xmpp/xml";
import { startProsody, sleep } from "../harness/prosody.js";
import { startTestApp } from "../harness/app.js";
import { until } from "../harness/wait.js";
import { REMOTE_COMPONENT_CONFIG, startFakeRemote } from "../../bench/lib/fake-remote.js";

const NOTICES = 2000;

t.test("2,000 forged moved notices in a burst: about 20 verifications", async (t) => {
  t.setTimeout(300_000);
  const prosody = await startProsody({ companion: true, extraGlobal: REMOTE_COMPONENT_CONFIG });
  t.teardown(() => prosody.cleanup());
  await prosody.register("alice", "localhost", "pw");
  const app = await startTestApp(prosody);
  t.teardown(() => app.stop());
  const remote = await startFakeRemote(prosody);
  t.teardown(() => remote.stop());
  await sleep(300);

  // Alice follows old0@remote.localhost. new<i> (i ≥ 1) claims to be old0, whose statement names new0:
  // each of these notices passes the roster precheck and costs a statement fetch, then fails.
  await app.link.request(
    xml(
      "iq",
      { type: "set", to: "alice@localhost" },
      xml(
        "query",
        { xmlns: "jabber:iq:roster" },
        xml("item", { jid: remote.oldJid(0), subscription: "both" }),
      ),
    ),
  );
  const t0 = Date.now();
  await Promise.all(Array.from({ length: NOTICES }, (_, i) => remote.announce(i + 1, "alice@localhost", 0)));
  // Wait until the component has every notice and has decided each one (admission waits at most 4 s):
  // verifications happen before decisions, so the count read then is final. (Waiting for the count to
  // stop changing was not enough: on a loaded machine Prosody can take seconds to pass the first on.)
  const counts = async () => {
    const rows = await app.db
      .selectFrom("moved_notices")
      .select(["status", app.db.fn.countAll<string>().as("n")])
      .groupBy("status")
      .execute();
    const by = new Map(rows.map((r) => [r.status, Number(r.n)]));
    return { all: [...by.values()].reduce((a, b) => a + b, 0), undecided: by.get("received") ?? 0 };
  };
  await until(counts, (c) => c.all === NOTICES && c.undecided === 0, {
    timeoutMs: 180_000,
    everyMs: 250,
    what: "every notice received and decided",
  });
  const seconds = (Date.now() - t0) / 1000;
  await sleep(500);
  const last = remote.statementQueries;
  t.comment(
    `${last} verifications for ${NOTICES} forged notices (all decided within ${seconds.toFixed(1)} s)`,
  );
  t.ok(last >= 10, "forgeries were verified up to the allowance");
  // One domain, one local user: that pair's bucket (20, refilled 20 a minute) bounds the work.
  t.ok(last <= 20 + Math.ceil((20 * seconds) / 60) + 2, "then only the pair's refill of 20 a minute");
  const rejected = await app.db.selectFrom("moved_notices").select("status").distinct().execute();
  t.same(
    rejected.map((r) => r.status).sort(),
    ["rate-limited", "rejected"],
    "forgeries are rejected once verified, the rest refused admission (and delivered as they came)",
  );
  t.ok(app.link.online, "the component stayed connected");
});
