import t from "tap";
import { xml } from "@xmpp/client";
import { startProsody, prosodyVersion } from "../harness/prosody.js";
import { connectClient } from "../harness/clients.js";

t.test("throwaway prosody starts, registers users, serves c2s, stops by pid", async (t) => {
  const prosody = await startProsody();
  t.teardown(() => prosody.cleanup());
  await prosody.register("alice", "localhost", "pw");
  const alice = await connectClient(prosody, "alice", "localhost", "pw");
  t.teardown(() => alice.stop());
  const res = await alice.request(xml("iq", { type: "get" }, xml("query", { xmlns: "jabber:iq:roster" })));
  t.equal(res.attrs.type, "result");
  // PROSODY_BIN_DIR picks the server; the running one must be that version, not the system's.
  t.match(await prosody.log(), `Hello and welcome to Prosody version ${prosodyVersion()}`);
});
