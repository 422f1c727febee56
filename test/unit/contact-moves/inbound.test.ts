// Inbound moved notices against a scripted companion module: the one-request path (verify-move), what
// the component still judges itself (a <gone/> URI, a mismatch, no answer in time), and an older module
// without verify-move (the component fetches the statement with a privileged IQ, then applies).
import t from "tap";
import type { Test } from "@tapjs/test";
import xml from "@xmpp/xml";
import type { Element } from "@xmpp/xml";
import type { XmppLink } from "../../../src/xmpp/link.js";
import {
  CompanionOpMissing,
  type CompanionClient,
  type MovedSubscribe,
  type MoveToApply,
} from "../../../src/account/companion-api.js";
import type { Statement } from "../../../src/account/moved-statement.js";
import { startMovedInbound } from "../../../src/contact-moves/inbound.js";
import { XmppStanzaError } from "../../../src/xmpp/stanza-error.js";
import { createLogger } from "../../../src/log/logger.js";
import { freshPglite } from "../../harness/database.js";
import { until } from "../../harness/wait.js";
import { movedStatementPubsub } from "../../harness/moved-statement.js";

const NS_PRIVILEGE = "urn:xmpp:privilege:2";
const NS_FORWARD = "urn:xmpp:forward:0";

type VerifyAnswer =
  { applied: true; subscribedBack: boolean } | { applied: false; statement: Statement } | Error;

interface Script {
  /** What verify-move answers, per sender; missing = the module predates verify-move. */
  verify: Map<string, VerifyAnswer>;
  /** The statement a privileged fetch returns: names this JID. */
  privilegedStatement?: string;
}

function fakes(script: Script) {
  const calls = {
    verify: [] as MoveToApply[],
    apply: [] as MoveToApply[],
    released: [] as string[],
    fetches: 0,
  };
  let listener: ((n: MovedSubscribe) => void) | undefined;
  const unused = () => Promise.reject(new Error("not used here"));
  const companion: CompanionClient = {
    probe: () => Promise.resolve(true),
    readArchive: unused,
    appendArchive: unused,
    endArchiveImport: unused,
    sendPresence: unused,
    listUsers: unused,
    onPresenceBounce: () => () => undefined,
    onMovedSubscribe(l) {
      listener = l;
      return () => (listener = undefined);
    },
    async verifyAndApplyMove(_user, move) {
      calls.verify.push(move);
      const answer = script.verify.get(move.newJid);
      if (!answer) throw new CompanionOpMissing("verify-move");
      if (answer instanceof Error) throw answer;
      return answer;
    },
    async applyMove(_user, move) {
      calls.apply.push(move);
      return { subscribedBack: false };
    },
    async releaseMoved(_user, hold) {
      calls.released.push(hold);
      return true;
    },
  };
  const sent: Element[] = [];
  const link: XmppLink = {
    domain: "portability.localhost",
    async request(iq) {
      calls.fetches++;
      const inner = iq.getChild("privileged_iq", NS_PRIVILEGE)?.getChild("iq");
      const reply = xml(
        "iq",
        { type: "result", id: inner?.attrs.id, from: inner?.attrs.to },
        movedStatementPubsub(script.privilegedStatement ?? ""),
      );
      return xml(
        "iq",
        { type: "result" },
        xml("privilege", { xmlns: NS_PRIVILEGE }, xml("forwarded", { xmlns: NS_FORWARD }, reply)),
      );
    },
    send: async (el) => void sent.push(el),
    onStanza: () => () => undefined,
    handleIq: () => undefined,
    onOnline: () => () => undefined,
    onOffline: () => () => undefined,
  };
  return { companion, link, calls, sent, notice: (n: MovedSubscribe) => listener?.(n) };
}

function notice(from: string, hold: string): MovedSubscribe {
  return {
    user: "alice@localhost",
    from,
    oldJid: "bob@old.example",
    oldItem: { jid: "bob@old.example", subscription: "both", name: "Bob", groups: ["Climbing"] },
    senderItem: undefined,
    hold,
  };
}

/** Inbound notices for host "localhost", through the fakes, until the test ends. */
function listen(t: Test, f: ReturnType<typeof fakes>, d: Awaited<ReturnType<typeof freshPglite>>): void {
  const inbound = startMovedInbound({
    link: f.link,
    companion: f.companion,
    db: d.db,
    log: createLogger("silent"),
    hosts: ["localhost"],
  });
  t.teardown(() => inbound.stop());
}

async function statusOf(db: Awaited<ReturnType<typeof freshPglite>>["db"], from: string) {
  const row = await db
    .selectFrom("moved_notices")
    .select(["status", "reason"])
    .where("from_jid", "=", from)
    .executeTakeFirst();
  return row?.status === "received" ? undefined : row;
}

t.test("the module verifies and applies in one request; the component judges what it cannot", async (t) => {
  const d = await freshPglite();
  t.teardown(() => d.cleanup());
  const f = fakes({
    verify: new Map<string, VerifyAnswer>([
      ["bobnew@new.example", { applied: true, subscribedBack: true }],
      // A <gone/> URI is the component's to read: it names the sender, so the move is applied.
      [
        "bobgone@new.example",
        { applied: false, statement: { kind: "gone", uri: "xmpp:bobgone@new.example" } },
      ],
      ["eve@evil.example", { applied: false, statement: { kind: "moved", newJid: "bobnew@new.example" } }],
      ["slow@new.example", new XmppStanzaError("remote-server-timeout", "wait", "no reply in time")],
    ]),
  });
  listen(t, f, d);
  for (const [from, hold] of [
    ["bobnew@new.example", "h1"],
    ["bobgone@new.example", "h2"],
    ["eve@evil.example", "h3"],
    ["slow@new.example", "h4"],
  ] as const)
    f.notice(notice(from, hold));
  const decided = (from: string) => until(() => statusOf(d.db, from), Boolean, { what: `${from} decided` });

  t.match(await decided("bobnew@new.example"), { status: "applied" });
  t.match(
    f.calls.verify.find((m) => m.newJid === "bobnew@new.example"),
    { oldJid: "bob@old.example", name: "Bob", groups: ["Climbing"], hold: "h1" },
    "the module is asked with the old contact's name and groups and the hold",
  );
  t.match(await decided("bobgone@new.example"), { status: "applied" });
  t.same(
    f.calls.apply.map((m) => m.newJid),
    ["bobgone@new.example"],
    "only the move the module could not confirm is applied in a second request",
  );
  t.match(await decided("eve@evil.example"), { status: "rejected", reason: "statement-mismatch" });
  t.match(await decided("slow@new.example"), {
    status: "rejected",
    reason: "statement-timeout: remote-server-timeout",
  });
  await until(
    () => f.calls.released.length,
    (n) => n === 2,
    { what: "releases" },
  );
  t.same(f.calls.released.sort(), ["h3", "h4"], "what was not applied is delivered as it came");
  t.equal(f.calls.fetches, 0, "no statement fetched by the component");
});

t.test("an older module without verify-move: the component fetches the statement itself", async (t) => {
  const d = await freshPglite();
  t.teardown(() => d.cleanup());
  const f = fakes({ verify: new Map(), privilegedStatement: "bobnew@new.example" });
  listen(t, f, d);
  f.notice(notice("bobnew@new.example", "h1"));
  t.match(await until(() => statusOf(d.db, "bobnew@new.example"), Boolean), { status: "applied" });
  t.equal(f.calls.fetches, 1, "one privileged statement fetch");
  t.match(f.calls.apply, [{ newJid: "bobnew@new.example", oldJid: "bob@old.example", hold: "h1" }]);
  f.notice({ ...notice("eve@evil.example", "h2"), oldJid: "bob@old.example" });
  t.match(await until(() => statusOf(d.db, "eve@evil.example"), Boolean), {
    status: "rejected",
    reason: "statement-mismatch",
  });
  t.equal(f.calls.verify.length, 1, "verify-move is not tried again once the module said it lacks it");
  t.equal(f.calls.fetches, 2);
});
