import t from "tap";
import { verify, precheck, statementTarget, type NoticeFacts } from "../../../src/contact-moves/verify.js";

const base: NoticeFacts = {
  user: "alice@localhost",
  from: "bob@new.example",
  oldJid: "bob@old.example",
  oldItem: { jid: "bob@old.example", name: "Bob", subscription: "both", groups: ["Friends", "Work"] },
  newItem: undefined,
  statement: { kind: "moved", newJid: "bob@new.example" },
};

t.test("a valid notice yields a plan copying name and groups", async (t) => {
  const v = verify(base);
  t.same(v, {
    ok: true,
    plan: {
      newItem: { jid: "bob@new.example", subscription: "none", groups: ["Friends", "Work"], name: "Bob" },
      approve: true,
      subscribeBack: true,
      retire: "bob@old.example",
    },
  });
});

t.test("subscribe back only when the old contact was both", async (t) => {
  const v = verify({ ...base, oldItem: { jid: "bob@old.example", subscription: "from", groups: [] } });
  t.equal(v.ok && v.plan.subscribeBack, false);
});

t.test("gone with an xmpp: URI counts; case is normalised", async (t) => {
  t.equal(statementTarget({ kind: "gone", uri: "xmpp:Bob@New.Example?subscribe" }), "bob@new.example");
  t.ok(
    verify({ ...base, from: "BOB@new.example", statement: { kind: "gone", uri: "xmpp:bob@new.example" } }).ok,
  );
  t.equal(statementTarget({ kind: "gone", uri: "https://x" }), undefined);
});

t.test("forged or inapplicable notices are rejected with a reason", async (t) => {
  const cases: [Partial<NoticeFacts>, string][] = [
    [{ oldJid: "bob@old.example/res" }, "old-jid-invalid"],
    [{ oldJid: "old.example" }, "old-jid-invalid"],
    [{ oldJid: "bob@new.example" }, "same-jid"],
    [{ oldItem: undefined }, "old-not-in-roster"],
    [{ oldItem: { jid: "bob@old.example", subscription: "to", groups: [] } }, "old-not-subscribed"],
    [{ oldItem: { jid: "bob@old.example", subscription: "none", groups: [] } }, "old-not-subscribed"],
    [{ statement: undefined }, "statement-missing"],
    [{ statement: { kind: "error", condition: "item-not-found" } }, "statement-missing"],
    [{ statement: { kind: "moved", newJid: "mallory@evil.example" } }, "statement-mismatch"],
    [{ newItem: { jid: "bob@new.example", subscription: "both", groups: [] } }, "already-subscribed"],
  ];
  for (const [patch, reason] of cases) {
    t.same(verify({ ...base, ...patch }), { ok: false, reason }, reason);
  }
  t.equal(precheck(base), null);
});
