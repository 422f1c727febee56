import t from "tap";
import xml from "@xmpp/xml";
import type { Element } from "@xmpp/xml";
import { FULL_PRIVILEGES, startProsody } from "../harness/prosody.js";
import { connectClient } from "../harness/clients.js";
import { startTestApp } from "../harness/app.js";

const NS_CMD = "http://jabber.org/protocol/commands";
const COMPONENT = "portability.localhost";

function tableRows(cmd: Element | undefined): Record<string, string>[] {
  const x = cmd?.getChild("x", "jabber:x:data");
  return (x?.getChildren("item") ?? []).map((item) =>
    Object.fromEntries(
      item.getChildren("field").map((f) => [f.attrs.var ?? "", f.getChildText("value") ?? ""]),
    ),
  );
}

async function submitSelftest(
  admin: Awaited<ReturnType<typeof connectClient>>,
): Promise<Element | undefined> {
  const s1 = (
    await admin.request(
      xml("iq", { type: "set", to: COMPONENT }, xml("command", { xmlns: NS_CMD, node: "admin-selftest" })),
    )
  ).getChild("command");
  return (
    await admin.request(
      xml(
        "iq",
        { type: "set", to: COMPONENT },
        xml(
          "command",
          { xmlns: NS_CMD, node: "admin-selftest", sessionid: s1?.attrs.sessionid ?? "", action: "complete" },
          xml(
            "x",
            { xmlns: "jabber:x:data", type: "submit" },
            xml("field", { var: "accounts" }, xml("value", {}, "admin@localhost")),
          ),
        ),
      ),
      30_000,
    )
  ).getChild("command");
}

async function runSelftest(prosodyCompanion: boolean, database: "postgres" | "pglite") {
  const prosody = await startProsody({ companion: prosodyCompanion });
  await prosody.register("admin", "localhost", "pw");
  await prosody.register("alice", "localhost", "pw");
  const app = await startTestApp(prosody, {}, { database });
  const admin = await connectClient(prosody, "admin", "localhost", "pw");
  const alice = await connectClient(prosody, "alice", "localhost", "pw");
  const cleanup = async () => {
    await admin.stop();
    await alice.stop();
    await app.stop();
    await prosody.cleanup();
  };
  try {
    const done = await submitSelftest(admin);
    const forbidden = await alice
      .request(
        xml("iq", { type: "set", to: COMPONENT }, xml("command", { xmlns: NS_CMD, node: "admin-selftest" })),
      )
      .then(
        () => "allowed",
        (e: { condition?: string }) => e.condition,
      );
    return { done, rows: tableRows(done), forbidden, cleanup };
  } catch (err) {
    await cleanup();
    throw err;
  }
}

t.test(
  "admin-selftest on stock Prosody (Postgres): XEP-0356 works, archive/presence missing with a fix",
  async (t) => {
    const r = await runSelftest(false, "postgres");
    t.teardown(r.cleanup);
    t.equal(r.done?.attrs.status, "completed");
    const local = r.rows.filter((row) => row.host === "localhost");
    const byName = (name: string) => local.find((row) => row.capability === name);
    for (const name of [
      "reading contacts",
      "profile, avatar and bookmarks (PEP)",
      "vCard",
      "private XML storage",
      "blocklist",
    ]) {
      t.match(byName(name), { granted: "yes", working: "yes" }, name);
    }
    t.match(
      byName("reading the message archive"),
      { working: "no" },
      "stock mod_privilege MAM crash detected",
    );
    t.match(byName("sending subscription presence as the user"), { working: "no" });
    const notes =
      r.done
        ?.getChildren("note")
        .map((n) => n.getText())
        .join("\n") ?? "";
    t.match(notes, /load mod_account_portability/, "tells the operator what to do");
    t.match(
      r.rows.find((row) => row.host === "example.test" && row.capability === "vCard"),
      { granted: "yes", detail: /not probed/ },
      "other domains: grants shown, not probed without an account",
    );
    t.equal(r.forbidden, "forbidden", "non-admins cannot run it");
  },
);

t.test("admin-selftest with the companion module (PGlite): everything works", async (t) => {
  const r = await runSelftest(true, "pglite");
  t.teardown(r.cleanup);
  const local = r.rows.filter((row) => row.host === "localhost");
  for (const row of local) t.equal(row.working, "yes", `${row.capability} works`);
  t.match(r.done?.getChildText("note"), /Everything probed works/);
});

t.test(
  "admin-selftest tells 'not offered by this server' (no mod_mam, no mod_private) from 'not granted'",
  async (t) => {
    const prosody = await startProsody({
      companion: true,
      withoutModules: ["mam", "private"],
      // Everything but the blocklist namespace.
      privileges: FULL_PRIVILEGES.replace(/\s*\["urn:xmpp:blocking"\] = "both";/, ""),
    });
    t.teardown(() => prosody.cleanup());
    await prosody.register("admin", "localhost", "pw");
    const app = await startTestApp(prosody, {}, { database: "postgres" });
    t.teardown(() => app.stop());
    const admin = await connectClient(prosody, "admin", "localhost", "pw");
    t.teardown(() => admin.stop());
    const done = await submitSelftest(admin);
    const byName = (name: string) =>
      tableRows(done).find((row) => row.host === "localhost" && row.capability === name);
    t.match(byName("private XML storage"), {
      granted: "yes",
      working: "no",
      detail: /^not offered by this server \(service-unavailable/,
    });
    t.match(byName("blocklist"), { granted: "no", working: "no", detail: /^not granted \(forbidden/ });
    t.match(byName("message archiving (MAM)"), {
      working: "no",
      detail: /not offered by this server.*mod_mam not loaded/,
    });
    const notes = done?.getChildren("note").map((n) => n.getText()) ?? [];
    t.ok(
      notes.some((n) => /private XML storage not offered by this server \(mod_private not loaded\)/.test(n)),
      "private: the note says the server lacks it, not that a grant is missing",
    );
    t.notOk(
      notes.some((n) => n.includes('grant iq ["jabber:iq:private"]')),
      "no advice to grant what is granted",
    );
    t.ok(
      notes.some((n) => n.includes('grant iq ["urn:xmpp:blocking"] = "both"')),
      "blocklist: the note asks for the grant",
    );
    t.ok(
      notes.some((n) =>
        /message archiving \(MAM\) not offered by this server \(mod_mam not loaded\)/.test(n),
      ),
      "archiving off is reported",
    );
  },
);
