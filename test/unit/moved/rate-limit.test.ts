import t from "tap";
import { RateLimiter } from "../../../src/moved/rate-limit.js";

t.test("only charged notices count: burst, then the steady rate, per key", async (t) => {
  let now = 0;
  const rl = new RateLimiter({ burst: 3, perMinute: 60, now: () => now });
  let allowed = 0;
  for (let i = 0; i < 100; i++) if (rl.allows("a")) allowed++;
  t.equal(allowed, 100, "asking costs nothing");
  for (let i = 0; i < 3; i++) rl.charge("a");
  t.notOk(rl.allows("a"), "three rejections use up the burst");
  t.ok(rl.allows("b"), "other key unaffected");
  now += 1000;
  t.ok(rl.allows("a"), "one token per second refilled");
  rl.charge("a");
  t.notOk(rl.allows("a"));
  now += 60_000;
  rl.charge("a");
  rl.charge("a");
  t.ok(rl.allows("a"), "refill capped at burst: two charges leave one token");
  rl.charge("a");
  t.notOk(rl.allows("a"));
});

t.test("tracked keys are bounded, least recently used dropped first", async (t) => {
  const rl = new RateLimiter({ burst: 1, perMinute: 0, maxKeys: 2, now: () => 0 });
  rl.charge("a");
  rl.charge("b");
  rl.charge("c");
  t.ok(rl.allows("a"), "a was forgotten, so it has a fresh allowance");
  t.notOk(rl.allows("c"));
});
