import t from "tap";
import { SessionStore } from "../../../src/adhoc/sessions.js";

t.test("sessions are bound to the full JID and node, and expire", async (t) => {
  let now = 1000;
  const store = new SessionStore<{ n: number }>({ ttlMs: 100, now: () => now });
  const id = store.create("a@x/phone", "export", { n: 1 });
  t.match(store.get(id, "a@x/phone", "export"), { ok: true, state: { n: 1 } });
  t.same(store.get(id, "a@x/laptop", "export"), { ok: false, reason: "bad-sessionid" }, "other resource");
  t.same(store.get(id, "b@x/phone", "export"), { ok: false, reason: "bad-sessionid" }, "other user");
  t.same(store.get(id, "a@x/phone", "import"), { ok: false, reason: "bad-sessionid" }, "other node");
  t.same(store.get("nope", "a@x/phone", "export"), { ok: false, reason: "bad-sessionid" });
  now += 101;
  t.same(store.get(id, "a@x/phone", "export"), { ok: false, reason: "session-expired" });
  t.same(store.get(id, "a@x/phone", "export"), { ok: false, reason: "session-expired" }, "tombstone stays");
  now += 1000;
  store.create("c@x/r", "export", { n: 2 }); // sweeps
  t.same(store.get(id, "a@x/phone", "export"), { ok: false, reason: "bad-sessionid" }, "tombstone swept");
});

t.test("update refreshes expiry; ended sessions report session-expired", async (t) => {
  let now = 0;
  const store = new SessionStore<number>({ ttlMs: 100, now: () => now });
  const id = store.create("a@x/r", "n", 1);
  now = 90;
  store.update(id, 2);
  now = 150;
  t.match(store.get(id, "a@x/r", "n"), { ok: true, state: 2 });
  store.end(id);
  t.same(store.get(id, "a@x/r", "n"), { ok: false, reason: "session-expired" });
});

t.test("the number of live sessions is bounded", async (t) => {
  const store = new SessionStore<number>({ ttlMs: 1e9, maxSessions: 3 });
  for (let i = 0; i < 10; i++) store.create(`u${i}@x/r`, "n", i);
  t.equal(store.size, 3);
});
