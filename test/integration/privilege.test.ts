import t from "tap";
import xml from "@xmpp/xml";
import { startProsody } from "../harness/prosody.js";
import { connectComponent } from "../harness/component.js";
import { createPrivilegeRegistry, type PrivilegeRegistry } from "../../src/privilege/registry.js";
import { privilegedIq } from "../../src/privilege/privileged-iq.js";
import { XmppStanzaError } from "../../src/xmpp/stanza-error.js";

t.test("privilege advertisement per host and privileged IQs against real Prosody", async (t) => {
  const prosody = await startProsody();
  t.teardown(() => prosody.cleanup());
  await prosody.register("alice", "localhost", "pw");
  await prosody.register("nina", "noperm.test", "pw");
  let registry!: PrivilegeRegistry;
  const link = await connectComponent(prosody, (l) => (registry = createPrivilegeRegistry(l)));
  t.teardown(() => link.stop());
  const p = await registry.waitFor("localhost");
  t.ok(p, "localhost advertised");
  t.equal(p?.roster, "both");
  t.equal(p?.message, "outgoing");
  t.equal(p?.iq.get("urn:xmpp:mam:2"), "both", "nested namespaces parsed");
  t.equal(p?.iq.get("http://jabber.org/protocol/disco#items"), "get");
  t.ok(await registry.waitFor("example.test"), "second host advertised");
  t.equal(await registry.waitFor("noperm.test", 300), undefined, "no grant, no advertisement");

  const inner = await privilegedIq(link, {
    user: "alice@localhost",
    type: "get",
    payload: xml("vCard", { xmlns: "vcard-temp" }),
  });
  t.equal(inner.attrs.type, "result");

  const forbidden = await privilegedIq(link, {
    user: "nina@noperm.test",
    type: "get",
    payload: xml("vCard", { xmlns: "vcard-temp" }),
  }).catch((e: unknown) => e);
  t.ok(
    forbidden instanceof XmppStanzaError && forbidden.condition === "forbidden",
    "ungranted host is forbidden",
  );
  const missing = await privilegedIq(link, {
    user: "alice@localhost",
    type: "get",
    payload: xml("pubsub", { xmlns: "http://jabber.org/protocol/pubsub" }, xml("items", { node: "nope" })),
  }).catch((e: unknown) => e);
  t.ok(
    missing instanceof XmppStanzaError && missing.condition === "item-not-found",
    "inner error inside outer result is surfaced",
  );
});
