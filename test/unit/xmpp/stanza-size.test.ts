import t from "tap";
import xml from "@xmpp/xml";
import { batchByBytes } from "../../../src/account/companion.js";
import { StanzaTooLarge, checkStanzaSize, clip, stanzaBytes } from "../../../src/xmpp/stanza-size.js";

const message = (i: number, body: string) => ({
  id: `m${i}`,
  stamp: "2024-01-01T00:00:00Z",
  message: xml("message", { xmlns: "jabber:client", to: "a@b" }, xml("body", {}, body)),
});

t.test("batches split by bytes; an item too large alone is set apart", async (t) => {
  const items = Array.from({ length: 200 }, (_, i) => message(i, "x".repeat(4000)));
  items.splice(50, 0, message(999, "y".repeat(300_000)));
  const { batches, tooLarge } = batchByBytes(items, 100_000);
  t.same(
    tooLarge.map((m) => m.id),
    ["m999"],
  );
  t.equal(
    batches.reduce((n, b) => n + b.length, 0),
    200,
    "every other item is in a batch, in order",
  );
  t.same(
    batches.flat().map((el) => el.attrs.id),
    items.filter((m) => m.id !== "m999").map((m) => m.id),
  );
  for (const b of batches)
    t.ok(b.reduce((n, el) => n + stanzaBytes(el), 0) <= 100_000, "each batch within the budget");
  t.ok(batches.length >= 8, `${batches.length} batches`);
  t.same(batchByBytes([], 1000), { batches: [], tooLarge: [] });
});

t.test("size check counts UTF-8 bytes and says why", async (t) => {
  const el = xml("message", {}, xml("body", {}, "é".repeat(600)));
  t.ok(stanzaBytes(el) > 1200);
  t.doesNotThrow(() => checkStanzaSize(el, 4096));
  t.throws(() => checkStanzaSize(el, 1000), StanzaTooLarge);
  try {
    checkStanzaSize(el, 1000);
  } catch (err) {
    t.match((err as Error).message, /not-acceptable: too large to send \(2 KiB; the limit is 1 KiB\)/);
  }
  t.equal(clip("abc", 5), "abc");
  t.equal(clip("abcdefgh", 3), "abc… (5 more characters)");
});
