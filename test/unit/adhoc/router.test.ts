import t from "tap";
import xml from "@xmpp/xml";
import type { Element } from "@xmpp/xml";
import { createCommandRouter, CommandFailure } from "../../../src/adhoc/router.js";
import { completed, type Command } from "../../../src/adhoc/command.js";
import { createLogger } from "../../../src/log/logger.js";

const NS = "http://jabber.org/protocol/commands";
const log = createLogger("silent");

const wizard: Command = {
  node: "wizard",
  name: "Wizard",
  access: "user",
  async start() {
    return {
      status: "executing",
      action: "next",
      form: { fields: [{ var: "name", type: "text-single", required: true, label: "Name" }] },
      async onSubmit(v) {
        const name = v.text("name");
        return {
          status: "executing",
          form: { fields: [{ var: "ok", type: "boolean", label: "Sure?" }] },
          async onSubmit(v2, ctx) {
            if (name === "boom") throw new Error("internal detail /etc/secret");
            if (name === "fail") throw new CommandFailure("nope, visible");
            return completed(`${ctx.user} ${name} ${v2.bool("ok")}`);
          },
        };
      },
    };
  },
};
const admin: Command = {
  node: "admin-x",
  name: "Admin",
  access: "admin",
  start: async () => completed("hi admin"),
};

function setup(now?: () => number) {
  return createCommandRouter({
    commands: [wizard, admin],
    hosts: ["localhost"],
    admins: ["root@localhost"],
    sessionTtlMs: 1000,
    log,
    ...(now ? { now } : {}),
  });
}

function cmd(from: string, attrs: Record<string, string>, ...kids: Element[]): Element {
  return xml(
    "iq",
    { type: "set", from, to: "c.localhost", id: "1" },
    xml("command", { xmlns: NS, ...attrs }, ...kids),
  );
}
function submit(fields: Record<string, string>): Element {
  return xml(
    "x",
    { xmlns: "jabber:x:data", type: "submit" },
    Object.entries(fields).map(([k, v]) => xml("field", { var: k }, xml("value", {}, v))),
  );
}
function errorOf(el: Element): { cond?: string; specific?: string } {
  t.equal(el.name, "error");
  const kids = el.getChildElements();
  return {
    cond: kids.find((k) => k.getNS() === "urn:ietf:params:xml:ns:xmpp-stanzas" && k.name !== "text")?.name,
    specific: kids.find((k) => k.getNS() === NS)?.name,
  };
}

t.test("two-stage command with next, prev, execute-as-default and complete", async (t) => {
  const r = setup();
  const s1 = await r.handle(cmd("a@localhost/phone", { node: "wizard", action: "execute" }));
  t.equal(s1.attrs.status, "executing");
  t.equal(s1.getChild("actions")?.attrs.execute, "next");
  const sid = s1.attrs.sessionid as string;
  t.ok(sid);
  const s2 = await r.handle(
    cmd("a@localhost/phone", { node: "wizard", sessionid: sid, action: "next" }, submit({ name: "Ann" })),
  );
  t.equal(s2.attrs.status, "executing");
  t.ok(s2.getChild("actions")?.getChild("prev"), "prev offered on stage 2");
  const back = await r.handle(cmd("a@localhost/phone", { node: "wizard", sessionid: sid, action: "prev" }));
  t.equal(back.getChild("x")?.getChildren("field")[0]?.attrs.var, "name");
  await r.handle(
    cmd("a@localhost/phone", { node: "wizard", sessionid: sid, action: "next" }, submit({ name: "Bo" })),
  );
  // profanity submits the last stage with action=execute
  const done = await r.handle(
    cmd("a@localhost/phone", { node: "wizard", sessionid: sid, action: "execute" }, submit({ ok: "1" })),
  );
  t.equal(done.attrs.status, "completed");
  t.equal(done.getChildText("note"), "a@localhost Bo true");
  const again = await r.handle(
    cmd("a@localhost/phone", { node: "wizard", sessionid: sid, action: "complete" }, submit({ ok: "1" })),
  );
  t.same(errorOf(again), { cond: "not-allowed", specific: "session-expired" });
});

t.test(
  "access control: other domains forbidden, admin commands only for admins, hidden from lists",
  async (t) => {
    const r = setup();
    t.same(errorOf(await r.handle(cmd("eve@evil.example/x", { node: "wizard" }))).cond, "forbidden");
    t.same(
      errorOf(await r.handle(cmd("localhost", { node: "wizard" }))).cond,
      "forbidden",
      "server JID is not a user",
    );
    t.same(errorOf(await r.handle(cmd("a@localhost/x", { node: "admin-x" }))).cond, "forbidden");
    t.equal((await r.handle(cmd("root@localhost/x", { node: "admin-x" }))).attrs.status, "completed");
    t.same(
      r.visible("a@localhost/x").map((c) => c.node),
      ["wizard"],
    );
    t.same(
      r.visible("root@localhost/x").map((c) => c.node),
      ["wizard", "admin-x"],
    );
    t.same(r.visible("eve@evil.example/x"), []);
    t.same(errorOf(await r.handle(cmd("a@localhost/x", { node: "nope" }))).cond, "item-not-found");
  },
);

t.test("stolen, unknown and expired sessions; bad actions; missing fields", async (t) => {
  let now = 0;
  const r = setup(() => now);
  const s1 = await r.handle(cmd("a@localhost/phone", { node: "wizard" }));
  const sid = s1.attrs.sessionid as string;
  t.same(
    errorOf(
      await r.handle(cmd("b@localhost/phone", { node: "wizard", sessionid: sid }, submit({ name: "x" }))),
    ),
    {
      cond: "bad-request",
      specific: "bad-sessionid",
    },
  );
  t.same(
    errorOf(await r.handle(cmd("a@localhost/laptop", { node: "wizard", sessionid: sid }))).specific,
    "bad-sessionid",
  );
  t.same(
    errorOf(await r.handle(cmd("a@localhost/phone", { node: "wizard", sessionid: "forged" }))).specific,
    "bad-sessionid",
  );
  t.same(
    errorOf(await r.handle(cmd("a@localhost/phone", { node: "wizard", sessionid: sid, action: "dance" })))
      .specific,
    "malformed-action",
  );
  t.same(
    errorOf(await r.handle(cmd("a@localhost/phone", { node: "wizard", sessionid: sid, action: "prev" })))
      .specific,
    "bad-action",
  );
  t.same(
    errorOf(await r.handle(cmd("a@localhost/phone", { node: "wizard", sessionid: sid }, submit({}))))
      .specific,
    "bad-payload",
  );
  now = 5000;
  t.same(
    errorOf(
      await r.handle(cmd("a@localhost/phone", { node: "wizard", sessionid: sid }, submit({ name: "x" }))),
    ).specific,
    "session-expired",
  );
});

t.test("cancel ends the session; failures become error notes without internals", async (t) => {
  const r = setup();
  const sid = (await r.handle(cmd("a@localhost/p", { node: "wizard" }))).attrs.sessionid as string;
  const c = await r.handle(cmd("a@localhost/p", { node: "wizard", sessionid: sid, action: "cancel" }));
  t.equal(c.attrs.status, "canceled");
  for (const [name, expected] of [
    ["boom", /failed on the server/],
    ["fail", /nope, visible/],
  ] as const) {
    const id = (await r.handle(cmd("a@localhost/p", { node: "wizard" }))).attrs.sessionid as string;
    await r.handle(cmd("a@localhost/p", { node: "wizard", sessionid: id }, submit({ name })));
    const res = await r.handle(
      cmd("a@localhost/p", { node: "wizard", sessionid: id }, submit({ ok: "true" })),
    );
    t.equal(res.attrs.status, "completed");
    t.equal(res.getChild("note")?.attrs.type, "error");
    t.match(res.getChildText("note"), expected);
    t.notMatch(res.toString(), /etc\/secret/);
  }
  t.same(
    errorOf(await r.handle(cmd("a@localhost/p", { node: "wizard", action: "next" }))).specific,
    "bad-sessionid",
    "next without session",
  );
});
