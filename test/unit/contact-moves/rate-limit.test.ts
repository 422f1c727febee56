import t from "tap";
import { FetchSlots, NoticeAdmission, TokenBuckets } from "../../../src/contact-moves/rate-limit.js";

const key = (sender: string, user = "alice@here.test") => ({
  sender,
  domain: sender.slice(sender.indexOf("@") + 1),
  user,
});

t.test("token buckets: burst, steady refill, capped, least recently used keys forgotten", async (t) => {
  let now = 0;
  const b = new TokenBuckets({ burst: 2, perMinute: 60, maxKeys: 2 }, () => now);
  b.take("a");
  b.take("a");
  t.equal(b.tokens("a"), 0);
  t.equal(b.msUntilToken("a"), 1000, "one token a second");
  now += 500;
  t.equal(b.tokens("a"), 0.5);
  now += 60_000;
  t.equal(b.tokens("a"), 2, "refill stops at the burst");
  b.take("a");
  b.take("b");
  b.take("c");
  t.equal(b.tokens("a"), 2, "a was forgotten: a fresh allowance");
});

t.test("charged on arrival, refunded when verified: genuine notices never use up an allowance", async (t) => {
  const adm = new NoticeAdmission({
    perSender: { burst: 2, perMinute: 0 },
    perDomainUser: { burst: 3, perMinute: 0 },
    maxWaiting: 10,
    now: () => 0,
  });
  for (let i = 0; i < 10; i++) {
    const ticket = await adm.admit(key("eve@other.test"), 0);
    t.ok(ticket, `genuine notice ${i} admitted`);
    ticket?.refund();
  }
  t.ok(await adm.admit(key("mallory@other.test"), 0));
  t.ok(await adm.admit(key("mallory@other.test"), 0));
  t.equal(await adm.admit(key("mallory@other.test"), 0), null, "a forger's own allowance runs out");
  t.ok(
    (await adm.admit(key("mallory@other.test", "bob@here.test"), 0)) === null,
    "its sender bucket is empty whoever it targets",
  );
  const eve = await adm.admit(key("eve@other.test"), 0);
  t.ok(eve, "another sender of the same domain, to the same user, still gets in (3rd domain-user token)");
  t.equal(await adm.admit(key("eve2@other.test"), 0), null, "until (domain, user) is used up");
  t.ok(await adm.admit(key("eve2@other.test", "bob@here.test"), 0), "another user of ours is unaffected");
});

t.test("a notice waits for a refund instead of being dropped, up to its deadline", async (t) => {
  const adm = new NoticeAdmission({
    perSender: { burst: 1, perMinute: 0 },
    perDomainUser: { burst: 100, perMinute: 0 },
    maxWaiting: 1,
    now: () => 0,
  });
  const first = await adm.admit(key("new@other.test"), 0);
  const waiting = adm.admit(key("new@other.test"), 5000);
  t.equal(adm.waitingCount, 1);
  t.equal(await adm.admit(key("new@other.test"), 5000), null, "the wait list is bounded");
  first?.refund();
  t.ok(await waiting, "admitted as soon as the first one verified");
  t.equal(await adm.admit(key("new@other.test"), 20), null, "no refund before the deadline: not admitted");
  t.equal(adm.waitingCount, 0);
});

t.test("fetch slots: at most N at once, the rest wait in order or give up", async (t) => {
  const slots = new FetchSlots(1);
  const a = await slots.acquire(0);
  t.ok(a);
  const order: string[] = [];
  const b = slots.acquire(1000).then((r) => (order.push("b"), r));
  const c = slots.acquire(1000).then((r) => (order.push("c"), r));
  t.equal(await slots.acquire(10), null, "timed out while all slots are in use");
  a?.();
  a?.(); // releasing twice frees one slot only
  (await b)?.();
  (await c)?.();
  t.same(order, ["b", "c"]);
  t.ok(await slots.acquire(0), "free again");
});
