import t from "tap";
import { RateLimiter } from "../../../src/moved/rate-limit.js";

t.test("burst then steady rate, per key", async (t) => {
  let now = 0;
  const rl = new RateLimiter({ burst: 3, perMinute: 60, now: () => now });
  t.same([rl.take("a"), rl.take("a"), rl.take("a"), rl.take("a")], [true, true, true, false]);
  t.ok(rl.take("b"), "other key unaffected");
  now += 1000;
  t.ok(rl.take("a"), "one token per second refilled");
  t.notOk(rl.take("a"));
  now += 60_000;
  t.same(
    [rl.take("a"), rl.take("a"), rl.take("a"), rl.take("a")],
    [true, true, true, false],
    "refill capped at burst",
  );
});
