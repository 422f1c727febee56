// collect → records → apply between two fake accounts: every section, the merge rules, resume.
import t from "tap";
import xml from "@xmpp/xml";
import { fakeAccount, type FakeAccount } from "../../doubles/fake-account.js";
import { collectAccount } from "../../../src/transfer/collect.js";
import { createApplier, type ApplyOptions } from "../../../src/transfer/apply.js";
import { TransferReport } from "../../../src/transfer/report.js";
import { SECTIONS } from "../../../src/account/model.js";
import type { ArchiveRecord } from "../../../src/xep0227/records.js";
import { XmppStanzaError } from "../../../src/xmpp/stanza-error.js";

const ALL = SECTIONS.filter((s) => s !== "offline");

function message(
  i: number,
  from = "old@a.test/phone",
  to = "friend@b.test",
): {
  id: string;
  stamp: string;
  message: ReturnType<typeof xml>;
} {
  return {
    id: `m${i}`,
    stamp: new Date(Date.UTC(2024, 0, 1, 0, 0, i)).toISOString(),
    message: xml(
      "message",
      { xmlns: "jabber:client", from, to, type: "chat" },
      xml("body", {}, `hello ${i}`),
    ),
  };
}

/** An account with something in every section. */
function populated(): FakeAccount {
  const a = fakeAccount("old@a.test");
  a.state.roster.set("friend@b.test", {
    jid: "friend@b.test",
    name: "Friend",
    subscription: "both",
    groups: ["Pals"],
  });
  a.state.roster.set("fan@b.test", { jid: "fan@b.test", subscription: "from", groups: [] });
  a.state.vcard = xml("vCard", { xmlns: "vcard-temp" }, xml("FN", {}, "Old Me"));
  a.state.pep.set("urn:xmpp:bookmarks:1", {
    config: new Map([["pubsub#max_items", ["max"]]]),
    items: [
      {
        id: "room@muc.b.test",
        payload: xml(
          "conference",
          { xmlns: "urn:xmpp:bookmarks:1", name: "Room", autojoin: "true" },
          xml("nick", {}, "me"),
          xml("extensions", {}, xml("state", { xmlns: "urn:example:ext" })),
        ),
      },
    ],
  });
  // Prosody's legacy view of the same bookmarks: must not travel twice.
  a.state.pep.set("storage:bookmarks", {
    config: new Map(),
    items: [{ id: "current", payload: xml("storage", { xmlns: "storage:bookmarks" }) }],
  });
  a.state.pep.set("http://jabber.org/protocol/nick", {
    config: new Map(),
    items: [{ id: "current", payload: xml("nick", { xmlns: "http://jabber.org/protocol/nick" }, "Oldie") }],
  });
  a.state.pep.set("urn:xmpp:omemo:2:devices", {
    config: new Map(),
    items: [{ id: "current", payload: xml("devices", { xmlns: "urn:xmpp:omemo:2" }) }],
  });
  a.state.privateXml.set(
    "storage storage:rosternotes",
    xml("storage", { xmlns: "storage:rosternotes" }, xml("note", { jid: "friend@b.test" }, "met at FOSDEM")),
  );
  a.state.blocklist.add("spam@c.test");
  for (let i = 0; i < 7; i++) a.state.archive.push(message(i));
  return a;
}

async function records(a: FakeAccount, sections = ALL, pageSize = 3): Promise<ArchiveRecord[]> {
  const out: ArchiveRecord[] = [];
  const c = collectAccount(a, { sections, pageSize });
  for await (const r of c.records) out.push(r);
  return out;
}

async function transfer(
  from: FakeAccount,
  to: FakeAccount,
  opts: Partial<ApplyOptions> = {},
): Promise<TransferReport> {
  const report = new TransferReport();
  const applier = createApplier(to, { sections: ALL, subscribe: true, ...opts }, report);
  for (const r of await records(from)) await applier.apply(r);
  await applier.subscribeContacts();
  return report;
}

t.test("collect yields every section in order, bookmarks once, device lists left out", async (t) => {
  const recs = await records(populated());
  t.same(
    recs.map((r) => r.kind).filter((k, i, a) => k !== a[i - 1]),
    [
      "user",
      "roster",
      "vcard",
      "pep-node",
      "pep-items",
      "pep-node",
      "pep-items",
      "private",
      "blocklist",
      "archive",
      "user-end",
    ],
  );
  const nodes = recs.flatMap((r) => (r.kind === "pep-node" ? [r.node] : []));
  t.same(
    nodes,
    ["urn:xmpp:bookmarks:1", "http://jabber.org/protocol/nick"],
    "XEP-0402 first, legacy view and OMEMO left out",
  );
  t.equal(recs.filter((r) => r.kind === "archive").length, 7, "all pages of history");
});

t.test("collect skips what the session cannot read, with the reason", async (t) => {
  const a = populated();
  a.without.add("blocklist");
  a.refuse.set("jabber:iq:private", "service-unavailable");
  const c = collectAccount(a, { sections: ALL });
  const kinds: string[] = [];
  for await (const r of c.records) kinds.push(r.kind);
  t.notOk(kinds.includes("blocklist"));
  t.notOk(kinds.includes("private"));
  t.same(c.skipped.map((s) => s.section).sort(), ["blocklist", "private"]);
  t.match(c.skipped.find((s) => s.section === "private")?.reason, /service-unavailable/);
});

t.test("a lost server after history went out ends the transfer instead of a partial archive", async (t) => {
  const a = populated();
  a.beforeArchivePage = (after) => {
    if (after) throw new XmppStanzaError("remote-server-timeout", "wait");
  };
  await t.rejects(records(a), /remote-server-timeout/);
  const b = populated();
  b.beforeArchivePage = () => {
    throw new XmppStanzaError("service-unavailable", "cancel");
  };
  const c = collectAccount(b, { sections: ALL });
  for await (const r of c.records) void r;
  t.same(
    c.skipped.map((s) => s.section),
    ["archive"],
    "nothing written yet: skipped with its reason",
  );
});

t.test(
  "into an empty account: everything applied, no faked subscriptions, moved-tagged requests",
  async (t) => {
    const to = fakeAccount("new@d.test");
    const report = await transfer(populated(), to);
    t.same(to.state.roster.get("friend@b.test"), {
      jid: "friend@b.test",
      name: "Friend",
      subscription: "none",
      groups: ["Pals"],
    });
    t.equal(to.state.vcard?.getChildText("FN"), "Old Me");
    const bm = to.state.pep.get("urn:xmpp:bookmarks:1");
    t.ok(bm?.items[0]?.payload.getChild("extensions"), "XEP-0402 extensions kept");
    t.equal(bm?.config.get("pubsub#access_model")?.[0], "whitelist", "XEP-0402 publish-options");
    t.notOk(to.state.pep.has("storage:bookmarks"), "legacy view not written");
    t.notOk(to.state.pep.has("urn:xmpp:omemo:2:devices"));
    t.ok(to.state.privateXml.has("storage storage:rosternotes"));
    t.ok(to.state.blocklist.has("spam@c.test"));
    t.equal(to.state.archive.length, 7);
    t.equal(
      to.state.archive[0]?.message.attrs.from,
      "new@d.test/phone",
      "own address remapped, resource kept",
    );
    t.same(
      to.presences.map((p) => [p.to, p.type, p.payload[0]?.getChildText("old-jid")]),
      [["friend@b.test", "subscribe", "old@a.test"]],
      "only contacts the old account followed; tagged with the old address",
    );
    t.match(report.summary(), /roster: 2 applied/);
    t.equal(report.sections.pep?.failed ?? 0, 0, "no failures on a clean transfer");
  },
);

t.test("merge: the account's own data wins unless the archive's is chosen", async (t) => {
  const mine = () => {
    const to = fakeAccount("new@d.test");
    to.state.roster.set("friend@b.test", {
      jid: "friend@b.test",
      name: "Buddy",
      subscription: "both",
      groups: ["Mine"],
    });
    to.state.vcard = xml("vCard", { xmlns: "vcard-temp" }, xml("FN", {}, "New Me"));
    to.state.pep.set("http://jabber.org/protocol/nick", {
      config: new Map(),
      items: [
        { id: "current", payload: xml("nick", { xmlns: "http://jabber.org/protocol/nick" }, "Newbie") },
      ],
    });
    to.state.pep.set("urn:xmpp:bookmarks:1", {
      config: new Map([
        ["pubsub#max_items", ["max"]],
        ["pubsub#access_model", ["whitelist"]],
        ["pubsub#persist_items", ["true"]],
        ["pubsub#send_last_published_item", ["never"]],
      ]),
      items: [
        {
          id: "room@muc.b.test",
          payload: xml("conference", { xmlns: "urn:xmpp:bookmarks:1", name: "My name" }),
        },
      ],
    });
    to.state.privateXml.set(
      "storage storage:rosternotes",
      xml("storage", { xmlns: "storage:rosternotes" }, xml("note", { jid: "x@y" }, "mine")),
    );
    return to;
  };
  const kept = mine();
  const report = await transfer(populated(), kept);
  t.equal(kept.state.roster.get("friend@b.test")?.name, "Buddy", "contact name kept");
  t.equal(kept.state.vcard?.getChildText("FN"), "New Me", "vCard kept");
  t.equal(
    kept.state.pep.get("http://jabber.org/protocol/nick")?.items[0]?.payload.getText(),
    "Newbie",
    "nick kept",
  );
  t.equal(
    kept.state.pep.get("urn:xmpp:bookmarks:1")?.items[0]?.payload.attrs.name,
    "My name",
    "own bookmark of the room kept",
  );
  t.match(kept.state.privateXml.get("storage storage:rosternotes")?.toString(), /mine/, "roster notes kept");
  t.equal(report.sections.vcard?.kept, 1);
  t.equal(report.sections.private?.kept, 1);
  t.equal(report.sections.roster?.kept, 1);

  const taken = mine();
  await transfer(populated(), taken, { replace: ["roster", "vcard", "pep", "private"] });
  t.equal(taken.state.roster.get("friend@b.test")?.name, "Friend");
  t.equal(taken.state.vcard?.getChildText("FN"), "Old Me");
  t.equal(taken.state.pep.get("http://jabber.org/protocol/nick")?.items[0]?.payload.getText(), "Oldie");
  t.equal(taken.state.pep.get("urn:xmpp:bookmarks:1")?.items[0]?.payload.attrs.name, "Room");
  t.match(taken.state.privateXml.get("storage storage:rosternotes")?.toString(), /FOSDEM/);
});

t.test("a vcard-temp holding only the avatar is not the person's own vCard", async (t) => {
  const to = fakeAccount("new@d.test");
  to.state.vcard = xml("vCard", { xmlns: "vcard-temp" }, xml("PHOTO", {}, xml("BINVAL", {}, "AAAA")));
  await transfer(populated(), to);
  t.equal(to.state.vcard?.getChildText("FN"), "Old Me");
});

t.test("a server without XEP-0402 gets the bookmarks as legacy private XML", async (t) => {
  const to = fakeAccount("new@d.test", "client");
  to.state.features.clear();
  const report = await transfer(populated(), to);
  t.notOk(to.state.pep.has("urn:xmpp:bookmarks:1"));
  const legacy = to.state.privateXml.get("storage storage:bookmarks");
  t.equal(legacy?.getChild("conference")?.attrs.jid, "room@muc.b.test");
  t.equal(legacy?.getChild("conference")?.getChildText("nick"), "me");
  t.match(report.notes.join("\n"), /no XEP-0402/);
});

t.test("history to an account that cannot take it is skipped with the reason", async (t) => {
  const to = fakeAccount("new@d.test", "client");
  to.without.add("archive-write");
  const report = await transfer(populated(), to);
  t.equal(to.state.archive.length, 0);
  t.equal(report.sections.archive?.skipped, 7);
  t.match(report.notes.join("\n"), /no archive-write/);
});

t.test("resume: records an earlier attempt applied are observed, not applied again", async (t) => {
  const from = populated();
  const recs = await records(from);
  const cut = recs.findIndex((r) => r.kind === "archive") + 2;
  const to = fakeAccount("new@d.test");
  const first = new TransferReport();
  const a1 = createApplier(to, { sections: ALL, subscribe: true }, first);
  for (const r of recs.slice(0, cut)) await a1.apply(r);
  await a1.flush();
  const setsBefore = to.sets.length;
  // The component dies here; a new attempt continues from the saved report and record count.
  const second = TransferReport.from(JSON.parse(JSON.stringify(first.toJSON())));
  const a2 = createApplier(to, { sections: ALL, subscribe: true }, second);
  for (const r of recs.slice(0, cut)) a2.observe(r);
  t.equal(to.sets.length, setsBefore, "observing sends nothing");
  for (const r of recs.slice(cut)) await a2.apply(r);
  await a2.subscribeContacts();
  t.equal(to.state.vcard?.getChildText("FN"), "Old Me", "held-back vCard applied after resume");
  t.ok(to.state.privateXml.has("storage storage:rosternotes"), "held-back private XML applied after resume");
  t.equal(to.presences.length, 1, "subscription request sent once");
  t.equal(to.state.archive.length, 7);
  t.equal(second.sections.roster?.applied, 2, "report carried over, contacts counted once");
  t.equal(second.sections.vcard?.applied, 1, "vCard counted once");
  t.equal(second.sections.archive?.applied, 7);
});

t.test("resume of the subscription requests continues after the last one sent", async (t) => {
  const from = populated();
  from.state.roster.set("pal@b.test", { jid: "pal@b.test", subscription: "to", groups: [] });
  const to = fakeAccount("new@d.test");
  const applier = createApplier(to, { sections: ALL, subscribe: true }, new TransferReport());
  for (const r of await records(from)) await applier.apply(r);
  t.same(applier.toSubscribe, ["friend@b.test", "pal@b.test"]);
  await applier.subscribeContacts({}, 1);
  t.same(
    to.presences.map((p) => p.to),
    ["pal@b.test"],
  );
});

t.test("credentials and offline messages are never applied", async (t) => {
  const to = fakeAccount("new@d.test");
  const report = new TransferReport();
  const applier = createApplier(to, { sections: ALL, subscribe: false }, report);
  await applier.apply({ kind: "user", host: "a.test", name: "old", hasPassword: true });
  await applier.apply({
    kind: "scram",
    credential: { mechanism: "SCRAM-SHA-1", iterations: 4096, salt: "s", serverKey: "k", storedKey: "k" },
  });
  await applier.apply({ kind: "offline", message: xml("message", {}, xml("body", {}, "hi")) });
  await applier.apply({ kind: "user-end", host: "a.test", name: "old" });
  t.equal(to.sets.length, 0);
  t.equal(report.sections.credentials?.skipped, 1);
  t.match(report.notes.join(), /password: never imported/);
});
