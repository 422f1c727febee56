import t from "tap";
import xml from "@xmpp/xml";
import type { Element } from "@xmpp/xml";
import { startProsody, sleep } from "../harness/prosody.js";
import { connectClient, type TestClient } from "../harness/clients.js";
import { startTestApp } from "../harness/app.js";
import { completed, type Command } from "../../src/adhoc/command.js";

const NS_CMD = "http://jabber.org/protocol/commands";
const COMPONENT = "portability.localhost";

// A two-stage command of the test's own, so the framework is tested apart from product commands.
const greet = (): Command => ({
  node: "test-greet",
  name: "Greet",
  access: "user",
  async start() {
    return {
      status: "executing",
      action: "complete",
      form: { fields: [{ var: "name", type: "text-single", required: true }] },
      onSubmit: async (v, ctx) => completed(`hello ${v.text("name")} from ${ctx.user}`),
    };
  },
});

function command(attrs: Record<string, string>, ...kids: Element[]): Element {
  return xml("iq", { type: "set", to: COMPONENT }, xml("command", { xmlns: NS_CMD, ...attrs }, ...kids));
}
const submit = (name: string) =>
  xml("x", { xmlns: "jabber:x:data", type: "submit" }, xml("field", { var: "name" }, xml("value", {}, name)));

async function errorCondition(p: Promise<unknown>): Promise<string[]> {
  try {
    await p;
    return ["no error"];
  } catch (err) {
    const el = (err as { element?: Element }).element;
    return (el?.getChildElements() ?? []).map((c) => c.name).filter((n) => n !== "text");
  }
}

t.test("ad-hoc commands from real clients against real Prosody", async (t) => {
  const prosody = await startProsody();
  t.teardown(() => prosody.cleanup());
  await prosody.register("alice", "localhost", "pw");
  await prosody.register("bob", "localhost", "pw");
  await prosody.register("nina", "noperm.test", "pw");
  const app = await startTestApp(prosody, { XMPP_HOSTS: "localhost,example.test" }, { commands: [greet] });
  t.teardown(() => app.stop());
  const alice = await connectClient(prosody, "alice", "localhost", "pw", "phone");
  const bob = await connectClient(prosody, "bob", "localhost", "pw");
  const nina = await connectClient(prosody, "nina", "noperm.test", "pw");
  t.teardown(async () => {
    for (const c of [alice, bob, nina] as TestClient[]) await c.stop();
  });

  const info = await alice.request(
    xml(
      "iq",
      { type: "get", to: COMPONENT },
      xml("query", { xmlns: "http://jabber.org/protocol/disco#info" }),
    ),
  );
  t.ok(
    info
      .getChild("query")
      ?.getChildren("feature")
      .some((f) => f.attrs.var === NS_CMD),
    "advertises commands",
  );

  const list = await alice.request(
    xml(
      "iq",
      { type: "get", to: COMPONENT },
      xml("query", { xmlns: "http://jabber.org/protocol/disco#items", node: NS_CMD }),
    ),
  );
  const nodes =
    list
      .getChild("query")
      ?.getChildren("item")
      .map((i) => i.attrs.node) ?? [];
  t.ok(nodes.includes("test-greet"), "user sees user commands");
  t.notOk(nodes.includes("admin-selftest"), "user does not see admin commands");

  const s1 = (await alice.request(command({ node: "test-greet", action: "execute" }))).getChild("command");
  t.equal(s1?.attrs.status, "executing");
  const sid = s1?.attrs.sessionid ?? "";
  t.same(
    await errorCondition(
      bob.request(command({ node: "test-greet", sessionid: sid, action: "complete" }, submit("x"))),
    ),
    ["bad-request", "bad-sessionid"],
    "stolen session id",
  );
  const done = (
    await alice.request(command({ node: "test-greet", sessionid: sid, action: "complete" }, submit("Ann")))
  ).getChild("command");
  t.equal(done?.attrs.status, "completed");
  t.equal(done?.getChildText("note"), "hello Ann from alice@localhost");

  t.same(
    await errorCondition(nina.request(command({ node: "test-greet" }))),
    ["forbidden"],
    "user of an unserved domain",
  );
  const ninaList = await nina.request(
    xml(
      "iq",
      { type: "get", to: COMPONENT },
      xml("query", { xmlns: "http://jabber.org/protocol/disco#items", node: NS_CMD }),
    ),
  );
  t.equal(ninaList.getChild("query")?.getChildren("item").length, 0, "no commands listed for other domains");

  // Prosody restarts: the component reconnects with backoff and serves again.
  await prosody.restart();
  const alice2 = await connectClient(prosody, "alice", "localhost", "pw", "laptop");
  t.teardown(() => alice2.stop());
  let served = false;
  for (let i = 0; i < 60 && !served; i++) {
    try {
      const r = await alice2.request(command({ node: "test-greet" }), 2000);
      served = r.getChild("command")?.attrs.status === "executing";
    } catch {
      await sleep(250);
    }
  }
  t.ok(served, "component serves commands again after a Prosody restart");
});
