import t from "tap";
import xml from "@xmpp/xml";
import {
  describeError,
  isStraggler,
  reconcileRows,
  settleContact,
  summarizeStates,
} from "../../../src/account-moves/contacts.js";
import { parseAnswer } from "../../../src/account-moves/requests.js";
import type { MoveContact } from "../../../src/storage/schema.js";
import type { RosterItem } from "../../../src/account/model.js";

const row = (jid: string, status: MoveContact["status"], detail: string | null = null): MoveContact => ({
  job_id: "j",
  contact_jid: jid,
  status,
  detail,
  attempts: 1,
  updated_at: new Date(0),
});
const item = (jid: string, subscription: RosterItem["subscription"], ask = false): RosterItem => ({
  jid,
  subscription,
  groups: [],
  ...(ask ? { ask: "subscribe" as const } : {}),
});

t.test("the roster decides approval; a pending ask does not undo a bounce", async (t) => {
  const pending = { status: "notified" as const, detail: null };
  t.same(settleContact(pending, item("a@x", "to")), { status: "approved", detail: "subscribed" });
  t.same(settleContact(pending, item("a@x", "both")).status, "approved");
  t.same(settleContact(pending, item("a@x", "none", true)), pending, "still pending");
  t.same(settleContact(pending, item("a@x", "from")), pending);
  const failed = { status: "failed" as const, detail: "not-allowed" };
  t.same(settleContact(failed, item("a@x", "none", true)), failed);
  t.same(
    settleContact(pending, item("a@x", "none"), { status: "declined", detail: "declined" }).status,
    "declined",
    "an observed answer wins over the recorded state",
  );
  t.same(
    settleContact({ status: "approved", detail: "accepted" }, item("a@x", "none")).status,
    "declined",
    "approval withdrawn later",
  );
});

t.test("reconcileRows returns only changes", async (t) => {
  const rows = [row("a@x", "notified"), row("b@x", "notified"), row("c@x", "approved", "subscribed")];
  const changed = reconcileRows(rows, [item("a@x", "both"), item("b@x", "none", true), item("c@x", "to")]);
  t.same(changed, [{ jid: "a@x", status: "approved", detail: "subscribed" }]);
});

t.test("summaries, stragglers and error details", async (t) => {
  t.equal(
    summarizeStates([row("a@x", "approved"), row("b@x", "notified"), row("c@x", "failed")]),
    "1 approved, 1 pending, 0 declined, 1 failed",
  );
  t.same((["notified", "approved", "declined", "failed"] as const).filter(isStraggler), [
    "notified",
    "failed",
  ]);
  t.equal(describeError("remote-server-not-found"), "unreachable (remote-server-not-found)");
  t.equal(describeError("not-allowed", "no s2s"), "not-allowed: no s2s");
});

t.test("answers to a request, from presences", async (t) => {
  t.same(parseAnswer(xml("presence", { from: "Bob@x/r", type: "subscribed" })), {
    jid: "bob@x",
    outcome: { status: "approved", detail: "accepted" },
  });
  t.equal(parseAnswer(xml("presence", { from: "bob@x", type: "unsubscribed" }))?.outcome.status, "declined");
  const bounced = xml(
    "presence",
    { from: "ghost@far.example", type: "error" },
    xml(
      "error",
      { type: "cancel" },
      xml("remote-server-not-found", { xmlns: "urn:ietf:params:xml:ns:xmpp-stanzas" }),
    ),
  );
  t.same(parseAnswer(bounced)?.outcome, {
    status: "failed",
    detail: "unreachable (remote-server-not-found)",
  });
  t.equal(parseAnswer(xml("presence", { from: "bob@x" })), null, "availability is not an answer");
  t.equal(parseAnswer(xml("message", { from: "bob@x", type: "error" })), null);
});
