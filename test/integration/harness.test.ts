import t from "tap";
import { xml } from "@xmpp/client";
import { startProsody } from "../harness/prosody.js";
import { connectClient } from "../harness/clients.js";

t.test("throwaway prosody starts, registers users, serves c2s, stops by pid", async (t) => {
  const prosody = await startProsody();
  t.teardown(() => prosody.cleanup());
  await prosody.register("alice", "localhost", "pw");
  const alice = await connectClient(prosody, "alice", "localhost", "pw");
  t.teardown(() => alice.stop());
  const res = await alice.request(xml("iq", { type: "get" }, xml("query", { xmlns: "jabber:iq:roster" })));
  t.equal(res.attrs.type, "result");
});
